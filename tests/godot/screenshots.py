"""Screenshots of the addon, rendered in a virtual display, to look at after a change.

    GODOT_BIN=../shared/bin/godot python -m tests.godot.screenshots OUT_DIR

Starts Xvfb and a daemon on the tiny model, and runs `res://test/screenshots/shot.tscn` in a
copy of the project: `level.png` is the example level once its cutscene (streamed from the
daemon when the ball reaches the gate) has played a second; `dock.png` is the LTX-2 dock's
controls in a panel of their own, after the dock read the daemon's limits (the same controls the
editor shows in its dock; the headless editor test checks that the plugin loads there: the
rendered editor, tried with the dock probe saving its window, had not come up after 400 s on
llvmpipe on 2026-12-02). Prints
what each shot saw; look at the PNGs (an image viewer) for layout, clipped controls, a missing
picture.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from ltx2d.testing import DaemonProcess

from .engine import GodotProject
from .markers import virtual_display


def take(out_dir: Path, binary: str) -> dict[str, dict]:
    """Writes level.png and dock.png into `out_dir`; returns what each shot printed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    facts = {}
    with tempfile.TemporaryDirectory(prefix="godot-shots-") as tmp:
        project = GodotProject.copy_of(binary, Path(tmp))
        project.run("--headless", "--import", timeout=300)
        with virtual_display() as display, DaemonProcess(["--preload", "--default-steps", "4"]) as daemon:
            project.env["DISPLAY"] = display
            for case in ("dock", "level"):
                target = (out_dir / f"{case}.png").resolve()
                run = project.run(
                    "--rendering-driver",
                    "opengl3",
                    "res://test/screenshots/shot.tscn",
                    user_args=(f"--case={case}", f"--out={target}", f"--ltx2-port={daemon.bridge_port}"),
                    timeout=300,
                )
                lines = run.lines("SHOT ")
                facts[case] = json.loads(lines[-1]) if lines else {"log": run.output}
                facts[case]["problems"] = run.problems()
    return facts


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not os.environ.get("GODOT_BIN"):
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(take(Path(argv[0]), os.environ["GODOT_BIN"]), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
