"""Runs the headless GDScript suite (`godot_addon/test/run_tests.gd`) when GODOT_BIN is set.

    GODOT_BIN=/path/to/godot4 pytest tests/godot/test_headless_suite.py

The suite covers the msgpack codec (round trips, partial reads, the pinned protocol bytes), the
job state machine, the connection against a fake bridge, clips and the cutscene player. It needs
a Godot 4.3+ binary; without GODOT_BIN it is skipped.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ADDON = Path(__file__).resolve().parents[2] / "godot_addon"


@pytest.fixture(scope="module")
def godot() -> str:
    binary = os.environ.get("GODOT_BIN", "")
    if not binary:
        pytest.skip(
            "GODOT_BIN is not set: the headless GDScript suite needs a Godot 4.3+ binary "
            "(GODOT_BIN=/path/to/godot pytest tests/godot/test_headless_suite.py)"
        )
    if not Path(binary).exists():
        pytest.fail(f"GODOT_BIN={binary}: no such file")
    # The first run of a project must build Godot's global class cache (class_name lookups).
    subprocess.run(
        [binary, "--headless", "--path", str(ADDON), "--import"],
        capture_output=True,
        timeout=300,
        check=False,
    )
    return binary


def test_gdscript_suite_passes(godot: str) -> None:
    proc = subprocess.run(
        [godot, "--headless", "--path", str(ADDON), "-s", "res://test/run_tests.gd"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = proc.stdout + proc.stderr
    summary = re.findall(r"^(\d+) passed, (\d+) failed$", proc.stdout, re.MULTILINE)
    assert summary, f"no summary line from the suite (exit {proc.returncode}):\n{output}"
    passed, failed = (int(n) for n in summary[-1])
    assert proc.returncode == 0 and failed == 0 and passed > 0, output
    # A runtime error inside a test ends that test early without failing an expectation: refuse it.
    assert "SCRIPT ERROR" not in output, output
