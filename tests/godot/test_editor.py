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
    assert facts["auto_length_disabled"], facts  # the 2.0 model has no duration head


def test_dock_generates_from_a_picture_then_continues(godot_project: GodotProject, tmp_path: Path) -> None:
    """The dock as a designer uses it, in the editor against a real daemon: Generate from a
    picture file, then Continue (the next shot, numbered on from the first); the viewport start
    says plainly that a headless editor has no picture."""
    from ltx2.tiny import ensure_tiny_checkpoint

    project = _with_probe(godot_project, tmp_path / "probe")
    # LTX-2.5 (tiny): it continues shots like 2.0, and has the duration head the dock can use.
    with DaemonProcess(["--model", str(ensure_tiny_checkpoint(version="2.5"))]) as daemon:
        run = project.run(
            "--headless",
            "--editor",
            "--quit-after",
            "20000",
            user_args=(f"--ltx2-port={daemon.bridge_port}", "--probe=generate"),
            timeout=240,
        )
    run.assert_clean()
    probes = run.lines("PROBE ")
    assert probes, run.output
    report = json.loads(probes[-1])["generate"]
    assert "no picture" in report["viewport_status"], report
    assert report["first_request_has_image"]
    first, second = report["first"], report["second"]
    assert first["job_id"] and first["last_job_id_changed"], first
    assert first["status"].startswith("Done"), first
    assert first["first_frame"] == 0 and first["frames_received"] == first["num_frames"] == 25
    assert first["clip_frames"] == 25 and first["continue_enabled"]
    assert first["played"] and first["last_frame_shown"] == 24, first
    assert report["continue_request"] == {"clip": {"job_id": first["job_id"]}, "overlap_frames": 17}
    # The next shot: 25 frames of which the 17 of overlap are held and not sent again.
    assert second["status"].startswith("Done"), second
    assert second["job_id"] != first["job_id"] and second["last_job_id_changed"]
    assert second["first_frame"] == 25 and second["num_frames"] == 25 - 17, second
    assert second["frames_received"] == second["clip_frames"] == 8
    # The preview plays the continuation from its own first frame to its last.
    assert second["played"] and second["last_frame_shown"] == 7, second
    # "Let the model choose the length": no frame count sent, at most 57 frames (2.375 s at 24 fps).
    assert report["auto_length_enabled"] and report["auto_request"] == [False, 57 / 24], report
    auto = report["auto"]
    assert auto["status"].startswith("Done") and auto["first_frame"] == 0, auto
    assert 24 <= auto["num_frames"] <= 57 and (auto["num_frames"] - 1) % 8 == 0, auto
    assert auto["frames_received"] == auto["clip_frames"] == auto["num_frames"] and auto["played"]
