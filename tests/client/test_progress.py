"""The CLI's progress display: a redrawn bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import io

from ltx2_client.enums import FrameFormat, Phase, SampleFormat
from ltx2_client.events import Accepted, ClipFormat, Completed, Progress, Timings, VideoChunk
from ltx2_client.progress import ProgressDisplay


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


FORMAT = ClipFormat(64, 64, 25, 24.0, 24000, 2, 24240, SampleFormat.S16LE, FrameFormat.RGB8, 7, 4, False)
EVENTS = [
    Accepted("job-1", 0, False, FORMAT),
    *[Progress("job-1", Phase.DENOISING, s, 4, 0, 25, 0.1 * s) for s in (1, 2, 3, 4)],
    VideoChunk(0, 9, 64, 64, FrameFormat.RGB8, 0.0, b""),
    VideoChunk(9, 16, 64, 64, FrameFormat.RGB8, 0.375, b""),
    Completed(7, 25, 24240, False, Timings()),
]


def test_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    display = ProgressDisplay(out)
    for event in EVENTS:
        display.update(event)
    lines = out.getvalue().splitlines()
    assert lines[0] == "job job-1 accepted (queue position 0), seed 7"
    assert lines[1:5] == [f"denoising step {s}/4" for s in (1, 2, 3, 4)]
    assert lines[5:7] == ["decoding 0.38/1.04 s", "decoding 1.04/1.04 s"]
    assert lines[7].startswith("done in")
    assert "\r" not in out.getvalue()


def test_bar_redrawn_in_place_on_a_terminal():
    out = Terminal()
    display = ProgressDisplay(out)
    for event in EVENTS[:3]:
        display.update(event)
    text = out.getvalue()
    assert "\rdenoising  [" + "#" * 15 + "-" * 15 + "] step 2/4" in text
    assert text.count("\n") == 1  # only the Accepted line is final; the bar stays on one line
    display.finish()
    assert out.getvalue().endswith("\n")


def test_quiet_writes_nothing():
    out = io.StringIO()
    display = ProgressDisplay(out, enabled=False)
    for event in EVENTS:
        display.update(event)
    assert out.getvalue() == ""
