"""Every GDScript file of the Godot addon parses with gdtoolkit and passes gdlint.

No Godot binary is needed. gdlint's defaults apply, or `godot_addon/gdlintrc` when present;
rules are relaxed only inline (`# gdlint: disable=...`) with a comment saying why.
"""

from __future__ import annotations

from pathlib import Path

import pytest

gdparser = pytest.importorskip("gdtoolkit.parser", reason="gdtoolkit is not installed").parser
linter = pytest.importorskip("gdtoolkit.linter", reason="gdtoolkit is not installed")

ADDON = Path(__file__).resolve().parents[2] / "godot_addon"
SCRIPTS = sorted(p for p in ADDON.rglob("*.gd") if ".godot" not in p.parts)


def _config():
    rc = ADDON / "gdlintrc"
    if not rc.exists():
        return linter.DEFAULT_CONFIG
    import yaml

    config = dict(linter.DEFAULT_CONFIG)
    config.update(yaml.safe_load(rc.read_text()) or {})
    return config


def test_the_addon_has_scripts() -> None:
    names = {p.relative_to(ADDON).as_posix() for p in SCRIPTS}
    for expected in (
        "addons/ltx2/plugin.gd",
        "addons/ltx2/net/msgpack.gd",
        "addons/ltx2/net/connection.gd",
        "addons/ltx2/job.gd",
        "addons/ltx2/nodes/cutscene_player.gd",
        "addons/ltx2/nodes/foley_player.gd",
        "addons/ltx2/clip.gd",
        "addons/ltx2/editor/dock.gd",
        "test/run_tests.gd",
    ):
        assert expected in names


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.relative_to(ADDON).as_posix())
def test_script_parses_and_lints(path: Path) -> None:
    code = path.read_text()
    gdparser.parse(code)  # Raises with the line and column of a syntax error.
    problems = linter.lint_code(code, _config())
    assert not problems, "\n".join(f"{path.relative_to(ADDON)}:{p.line}: {p.name}: {p.description}" for p in problems)


def test_class_names_are_unique() -> None:
    seen: dict[str, Path] = {}
    for path in SCRIPTS:
        for line in path.read_text().splitlines():
            if line.startswith("class_name "):
                name = line.split()[1]
                assert name not in seen, f"{name} in {path} and {seen[name]}"
                seen[name] = path
    assert "LTX2Msgpack" in seen and "LTX2Job" in seen
