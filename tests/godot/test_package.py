"""`scripts/package_addon.sh`: the zip Godot users install, and the engine loading the plugin
from it in an empty project (that part needs GODOT_BIN).

    GODOT_BIN=../shared/bin/godot pytest tests/godot/test_package.py
"""

from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from .engine import ADDON, GodotProject, godot_binary

ROOT = ADDON.parent
# An empty project in which the plugin was enabled (Project Settings > Plugins), as a user has it.
PROJECT_GODOT = """config_version=5

[application]

config/name="Fresh project"

[autoload]

LTX2="*res://addons/ltx2/net/connection.gd"

[editor_plugins]

enabled=PackedStringArray("res://addons/ltx2/plugin.cfg")
"""
# A game script of that project using the addon's classes and its autoload.
CHECK_GD = """extends SceneTree


func _initialize() -> void:
	var player := LTX2CutscenePlayer.new()
	var request := LTX2Requests.cutscene("a gate opens", 256, 256, 49)
	var autoload := root.get_node_or_null("LTX2") as LTX2Connection
	print("PACKAGE ", autoload != null, " ", request["width"], " ", player.get_state())
	player.free()
	quit()
"""


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [str(ROOT / "scripts/package_addon.sh"), str(out)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip().splitlines()[-1])


def test_zip_holds_only_the_addon_with_licence_readme_and_icon(package: Path) -> None:
    version = re.search(r'^version="(.+)"$', (ADDON / "addons/ltx2/plugin.cfg").read_text(), re.MULTILINE)
    assert version is not None
    assert package.name == f"ltx2-godot-addon-{version.group(1)}.zip"
    names = set(zipfile.ZipFile(package).namelist())
    assert all(name.startswith("addons/ltx2/") for name in names), names
    for required in ("LICENSE", "README.md", "icon.svg", "plugin.cfg", "plugin.gd"):
        assert f"addons/ltx2/{required}" in names
    scripts = {
        "addons/ltx2/" + p.relative_to(ADDON / "addons/ltx2").as_posix() for p in ADDON.glob("addons/ltx2/**/*.gd")
    }
    assert scripts <= names and {s + ".uid" for s in scripts} <= names
    assert not any(name.endswith(".import") for name in names)


def test_the_same_tree_gives_the_same_zip(package: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(ROOT / "scripts/package_addon.sh"), str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert Path(proc.stdout.strip()).read_bytes() == package.read_bytes()


def test_engine_loads_the_plugin_from_the_zip_in_an_empty_project(package: Path, tmp_path: Path) -> None:
    binary = godot_binary()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    zipfile.ZipFile(package).extractall(fresh)
    (fresh / "project.godot").write_text(PROJECT_GODOT)
    (fresh / "check.gd").write_text(CHECK_GD)
    project = GodotProject.copy_of(binary, tmp_path / "engine", source=fresh)
    imported = project.run("--headless", "--import", timeout=300)
    assert imported.returncode == 0, imported.output
    project.run("--headless", "--editor", "--quit-after", "200", timeout=180).assert_clean()
    game = project.run("--headless", "-s", "res://check.gd", timeout=60)
    game.assert_clean()
    assert game.lines("PACKAGE ") == ["true 256 0"], game.output
