"""The editor plugin in the real engine (GODOT_BIN needed): it loads with no error, and its dock
reads the form's limits from a real daemon's `info`.

    GODOT_BIN=../shared/bin/godot pytest tests/godot/test_editor.py
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ltx2d.testing import DaemonProcess

from .engine import GodotProject

# Limits unlike the defaults, so a dock that kept its constants cannot pass.
LIMITS = {"max_width": 1024, "max_height": 640, "max_frames": 129, "max_steps": 50}


def test_editor_loads_the_plugin_headless(godot_project: GodotProject) -> None:
    # The command users and GODOT.md give; the plugin is enabled in project.godot.
    run = godot_project.run("--headless", "--editor", "--quit-after", "200", timeout=180)
    run.assert_clean()


def _with_probe(project: GodotProject, root: Path) -> GodotProject:
    """A clone of the imported project with the test-only dock probe plugin enabled."""
    clone = GodotProject(project.binary, root, {})
    shutil.copytree(project.root, root, dirs_exist_ok=True)
    clone.env = {k: v.replace(str(project.root), str(root)) for k, v in project.env.items()}
    settings = clone.path / "project.godot"
    text = settings.read_text()
    enabled = 'enabled=PackedStringArray("res://addons/ltx2/plugin.cfg")'
    assert enabled in text
    probe = 'enabled=PackedStringArray("res://addons/ltx2/plugin.cfg", "res://test/editor_probe/plugin.cfg")'
    settings.write_text(text.replace(enabled, probe))
    return clone


def test_dock_reads_its_limits_from_the_daemon(godot_project: GodotProject, tmp_path: Path) -> None:
    project = _with_probe(godot_project, tmp_path / "probe")
    args = [f"--{k.replace('_', '-')}={v}" for k, v in LIMITS.items()]
    with DaemonProcess(args) as daemon:
        run = project.run(
            "--headless",
            "--editor",
            "--quit-after",
            "5000",
            user_args=(f"--ltx2-port={daemon.bridge_port}",),
            timeout=180,
        )
    run.assert_clean()
    probes = run.lines("PROBE ")
    assert probes, run.output
    facts = json.loads(probes[-1])
    assert facts["dock"] and facts["source"] == "daemon", facts
    ranges = facts["ranges"]
    assert ranges["width"] == [64, LIMITS["max_width"]]
    assert ranges["height"] == [64, LIMITS["max_height"]]
    assert ranges["frames"][1] == LIMITS["max_frames"]
    assert ranges["steps"][1] == LIMITS["max_steps"]
    assert ranges["video_guidance"][1] == ranges["audio_guidance"][1] == 30.0
