"""LTX2CaptureRecorder in a rendered game against a real `ltx2d` on the tiny model (GODOT_BIN and
Xvfb needed): one second of a changing screen is recorded at 12 fps and comes back as exactly one
second of sound, in the engine; then the frame on screen starts a cutscene (capture_viewport).

    GODOT_BIN=../shared/bin/godot pytest tests/godot/test_capture.py
"""

from __future__ import annotations

import json

import pytest

from ltx2d.testing import DaemonProcess

from . import markers
from .engine import GodotProject


def test_a_recorded_second_comes_back_as_a_second_of_sound(godot_project: GodotProject) -> None:
    if not markers.has_virtual_display():
        pytest.skip("Xvfb is not installed: the capture test renders in a virtual display (../shared/bin/GODOT.md)")
    with DaemonProcess(["--preload", "--default-steps", "4"]) as daemon, markers.virtual_display() as display:
        godot_project.env["DISPLAY"] = display
        run = godot_project.run(
            "--rendering-driver",
            "opengl3",
            "--fixed-fps",
            "24",
            "res://test/capture/capture.tscn",
            user_args=(f"--ltx2-port={daemon.bridge_port}",),
            timeout=240,
        )
    lines = run.lines("CAPTURE {")
    assert lines, run.output
    facts = json.loads("{" + lines[-1])
    assert facts.get("failed") == [] and "error" not in facts, facts
    assert facts["recorded"] == 12
    assert facts["frame_bytes"] == 12 * 96 * 64 * 3
    assert facts["distinct_frames"] == 12  # the screen changed every frame: each capture is its own
    # 12 frames at 12 fps: exactly one second at the model's rate, stereo, playing.
    assert facts["mix_rate"] == 24000 and facts["stereo"] is True
    assert facts["samples"] == 24000 and facts["length_s"] == pytest.approx(1.0)
    assert facts["playing"] is True
    # The frame on screen, captured, covered-and-cropped to 64x64, started a 17-frame cutscene.
    assert facts["image"] == [64, 64, 64 * 64 * 3]
    assert facts["cutscene"] == {"frames": 17, "done": True}, facts["cutscene"]
    run.assert_clean()
