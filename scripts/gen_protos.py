#!/usr/bin/env python3
"""Generate the Python protobuf and gRPC modules from protos/ into `ltx2_client.proto`, their public home.

The generated modules are checked in (so the SDK installs without grpcio-tools); imports are
rewritten to be package-relative. `--check` regenerates into a temporary folder and fails when
the result differs from what is checked in (run by the test suite).
"""

from __future__ import annotations

import argparse
import filecmp
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT = ROOT / "client_sdk" / "ltx2_client" / "proto"
PROTOS = ["ltx2d/v1/ltx2d.proto"]


def generate(out: Path) -> list[Path]:
    from grpc_tools import protoc  # dev dependency only

    out.mkdir(parents=True, exist_ok=True)
    args = ["protoc", f"-I{PROTO_ROOT}", f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}"]
    if protoc.main([*args, *PROTOS]) != 0:
        raise SystemExit("protoc failed")
    written = []
    for path in sorted(out.rglob("*.py*")):
        if path.suffix not in (".py", ".pyi"):
            continue
        text = path.read_text()
        # protoc writes absolute imports (`from ltx2d.v1 import ltx2d_pb2`); make them relative.
        text = re.sub(r"^from ltx2d\.v1 import (\w+)", r"from . import \1", text, flags=re.M)
        path.write_text(text)
        written.append(path)
    for pkg in {p.parent for p in written} | {out / "ltx2d"}:
        init = pkg / "__init__.py"
        if not init.exists():
            init.write_text("")
    (out / "__init__.py").write_text('"""The wire contract (protos/ltx2d/v1/ltx2d.proto) as generated Python modules, public to the SDK and the daemon alike (scripts/gen_protos.py writes them; do not edit)."""\n')
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if regeneration differs from the checked-in files")
    args = parser.parse_args()
    if not args.check:
        # Generated aside first: a failure (grpcio-tools missing) leaves the checked-in code alone.
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / "proto"
            generate(fresh)
            shutil.rmtree(OUT, ignore_errors=True)
            shutil.copytree(fresh, OUT)
        print(f"generated into {OUT.relative_to(ROOT)}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "proto"
        generate(fresh)
        diffs = []
        for path in sorted(fresh.rglob("*")):
            if path.is_file():
                mine = OUT / path.relative_to(fresh)
                if not mine.exists() or not filecmp.cmp(path, mine, shallow=False):
                    diffs.append(str(mine.relative_to(ROOT)))
        if diffs:
            print("generated protobuf code is stale; run scripts/gen_protos.py:", *diffs, sep="\n  ")
            return 1
    print("generated protobuf code is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
