"""Runs the headless GDScript suite (`godot_addon/test/run_tests.gd`) in the engine when GODOT_BIN is set.

    GODOT_BIN=../shared/bin/godot pytest tests/godot/test_headless_suite.py

The suite covers the msgpack codec (round trips, partial reads, the pinned protocol bytes), the
job state machine, the connection against a fake bridge, clips, the cutscene and foley players.
It runs in a private copy of the project (tests/godot/engine.py); without GODOT_BIN it is skipped.
Besides its own expectations, the run must be clean: no SCRIPT ERROR, no parse error, no leak at
exit, and no engine ERROR line other than the build's harmless ones and those a test announced.
"""

from __future__ import annotations

import re

from .engine import GodotProject, engine_problems


def test_import_writes_nothing_beside_the_scripts(imported_project: tuple[GodotProject, set[str]]) -> None:
    # Godot 4.4 writes a .uid beside every script it imports that has none: they are committed
    # (4.3 ignores them), so an import of a fresh checkout adds nothing outside .godot/.
    _project, added = imported_project
    assert added == set(), "commit the .uid files Godot wrote for new scripts"


def test_gdscript_suite_passes(godot_project: GodotProject) -> None:
    run = godot_project.run("--headless", "-s", "res://test/run_tests.gd", timeout=300)
    summary = re.findall(r"^(\d+) passed, (\d+) failed$", run.output, re.MULTILINE)
    assert summary, f"no summary line from the suite (exit {run.returncode}):\n{run.output}"
    passed, failed = (int(n) for n in summary[-1])
    assert failed == 0 and passed > 0, run.output
    run.assert_clean()


def test_the_log_check_refuses_what_it_must() -> None:
    log = "\n".join(
        [
            "EXPECTED ERROR: cannot encode a Vector2",
            "ERROR: LTX2Msgpack: cannot encode a Vector2",
            "   at: push_error (./core/variant/variant_utility.cpp:1098)",
            "ERROR: No renderers available.",
            'ERROR: Condition "!is_open()" is true. Returning: -1',
            "SCRIPT ERROR: Invalid call. Nonexistent function 'x'.",
            "WARNING: ObjectDB instances leaked at exit (run with --verbose for details).",
            "EXPECTED ERROR: never happens",
        ]
    )
    assert engine_problems(log) == [
        "SCRIPT ERROR: Invalid call. Nonexistent function 'x'.",
        "WARNING: ObjectDB instances leaked at exit (run with --verbose for details).",
        'ERROR: Condition "!is_open()" is true. Returning: -1',
        "announced but no such error: never happens",
    ]
