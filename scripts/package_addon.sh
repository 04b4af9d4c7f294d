#!/usr/bin/env bash
# Package the Godot addon as Godot users expect: a zip holding only addons/ltx2/ (the scripts,
# their .uid files, plugin.cfg, the icon), with LICENSE and a short README inside it. The version
# comes from plugin.cfg.
#
#   scripts/package_addon.sh [OUT_DIR]     # default: dist/ -> dist/ltx2-godot-addon-<version>.zip
#
# Godot's import files (*.import) and its cache are left out: the engine writes them again in
# the project that installs the addon. Entries are sorted and dated 1980-01-01, so the same tree
# gives the same bytes. Written to a temporary name, then renamed.
set -euo pipefail
cd "$(dirname "$0")/.."
addon=godot_addon/addons/ltx2
out_dir="${1:-dist}"
version="$(sed -n 's/^version="\(.*\)"$/\1/p' "$addon/plugin.cfg")"
if [[ -z "$version" ]]; then
    echo "package_addon: no version=\"...\" line in $addon/plugin.cfg" >&2
    exit 1
fi
mkdir -p "$out_dir"
zip_path="$out_dir/ltx2-godot-addon-$version.zip"
python3 - "$addon" "$zip_path" LICENSE <<'PY'
import os
import sys
import zipfile
from pathlib import Path

addon, target, licence = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
entries = {
    "addons/ltx2/" + p.relative_to(addon).as_posix(): p
    for p in addon.rglob("*")
    if p.is_file() and p.suffix != ".import" and ".tmp" not in p.name
}
entries["addons/ltx2/LICENSE"] = licence
tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
    for name in sorted(entries):
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        archive.writestr(info, entries[name].read_bytes())
os.replace(tmp, target)
PY
echo "$zip_path"
