"""A/V sync of LTX2CutscenePlayer measured on what the engine recorded.

A daemon whose engine streams a marker clip (black frames, a white flash every `EVERY` frames
from `FIRST`, and a click starting at each flash's start time) feeds the scene
`res://test/av_sync/av_sync.tscn`, which plays it full screen through LTX2CutscenePlayer in Movie
Maker mode (`--write-movie out.avi --fixed-fps 24`) in a virtual display (Xvfb): once streamed
(and baked into the project), once from the baked clip with no daemon. The AVI holds exactly what
the game rendered and mixed; `measure` finds each flash in the video and each click in the audio
and returns their offsets (click minus flash: positive means the sound comes late).

    python -m tests.godot.markers --ready-file F [ltx2d flags]   # the marker daemon alone

Used by tests/godot/test_av_sync.py (a loose bound) and benchmarks/godot_av_sync.py (the figure).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import ltx2
from tests.fake_engine import FakeEngine

from .engine import GodotProject

FPS = 24.0
FIRST = 6  # first marker frame
EVERY = 12  # a marker every this many frames
CLICK_S = 0.002  # click length: a square burst, +0.9 then -0.9
SCENE = "res://test/av_sync/av_sync.tscn"
FRAMES = 97  # what the scene asks for (4 s)


def marker_frames(num_frames: int) -> list[int]:
    return list(range(FIRST, num_frames, EVERY))


class MarkerEngine(FakeEngine):
    """FakeEngine timing and events, marker content: flashes and clicks at known times."""

    def generate(self, params: ltx2.GenerationParams, control: ltx2.JobControl | None = None) -> Iterator[ltx2.Event]:
        marks = marker_frames(params.num_frames)
        for event in super().generate(params, control):
            if isinstance(event, ltx2.VideoChunk):
                frames = np.zeros((event.num_frames, event.height, event.width, 3), np.uint8)
                for f in marks:
                    if event.first_frame <= f < event.first_frame + event.num_frames:
                        frames[f - event.first_frame] = 255
                event = dataclasses.replace(event, data=frames.tobytes())
            elif isinstance(event, ltx2.AudioChunk):
                pcm = np.zeros((event.num_samples, event.channels), np.float32)
                half = max(1, round(CLICK_S * event.sample_rate / 2))
                for f in marks:
                    start = round(f * event.sample_rate / params.frame_rate) - event.first_sample
                    for offset, value in ((0, 0.9), (half, -0.9)):
                        lo, hi = max(0, start + offset), min(event.num_samples, start + offset + half)
                        if lo < hi:
                            pcm[lo:hi] = value
                if event.sample_format == ltx2.SampleFormat.S16LE:
                    data = (pcm * 32767).astype("<i2").tobytes()
                else:
                    data = pcm.astype("<f4").tobytes()
                event = dataclasses.replace(event, data=data)
            yield event


async def _serve(argv: list[str]) -> None:
    from ltx2d.config import DaemonConfig
    from ltx2d.server import Daemon

    daemon = Daemon(DaemonConfig.from_args(argv, os.environ), engine_factory=MarkerEngine)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await daemon.start()
    await stop.wait()
    await daemon.stop(0)


@contextlib.contextmanager
def marker_daemon() -> Iterator[int]:
    """A real daemon (bridge on port 0) on the marker engine; yields the bridge port."""
    with tempfile.TemporaryDirectory(prefix="ltx2d-markers-") as tmp:
        ready = Path(tmp) / "ready.json"
        argv = [sys.executable, "-m", "tests.godot.markers", "--ready-file", str(ready), "--host", "127.0.0.1"]
        argv += ["--grpc-port", "0", "--bridge-port", "0", "--cache-dir", str(Path(tmp) / "cache")]
        root = Path(__file__).resolve().parents[2]
        proc = subprocess.Popen(argv, cwd=root, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while not ready.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"marker daemon did not start: {proc.stderr.read().decode() if proc.stderr else ''}"
                    )
                time.sleep(0.05)
            yield int(json.loads(ready.read_text())["bridge_port"])
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def virtual_display() -> Iterator[str]:
    """An Xvfb display (`:N`, a free number Xvfb picks), stopped on exit."""
    read, write = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start")
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(10)


def has_virtual_display() -> bool:
    return shutil.which("Xvfb") is not None


@dataclass
class Recording:
    """One Movie Maker run of the scene: what it printed and what it recorded."""

    case: str
    facts: dict
    log: str
    problems: list[str]
    flashes: list[int]  # movie frames with a flash
    clicks_s: list[float]  # click onsets, seconds into the movie
    offsets_ms: list[float]  # click minus flash, per flash


def record(project: GodotProject, case: str, display: str, out: Path, port: int = 9) -> Recording:
    """Records the scene with `--case=case` into `out` (an .avi) and measures it."""
    project.env["DISPLAY"] = display
    run = project.run(
        "--rendering-driver",
        "opengl3",
        "--write-movie",
        str(out),
        "--fixed-fps",
        str(int(FPS)),
        "--quit-after",
        "2000",
        SCENE,
        user_args=(f"--case={case}", f"--ltx2-port={port}"),
        timeout=300,
    )
    facts_lines = run.lines("AV ")
    facts = json.loads(facts_lines[-1]) if facts_lines else {}
    flashes, clicks, offsets = measure(out) if out.exists() else ([], [], [])
    return Recording(
        case,
        facts,
        run.output,
        run.problems() + ([] if run.returncode == 0 else [f"exit {run.returncode}"]),
        flashes,
        clicks,
        offsets,
    )


def measure(avi: Path) -> tuple[list[int], list[float], list[float]]:
    """Flash frames, click onsets (s) and click-minus-flash offsets (ms) of a Movie Maker AVI."""
    import av

    with av.open(str(avi)) as container:
        video = container.streams.video[0]
        brightness = [float(frame.to_ndarray(format="gray").mean()) for frame in container.decode(video)]
    with av.open(str(avi)) as container:
        stream = container.streams.audio[0]
        rate = stream.rate
        chunks = [frame.to_ndarray() for frame in container.decode(stream)]
    channels = stream.channels
    # Packed (interleaved) formats come as one row of samples * channels: one row per channel.
    pcm = np.concatenate([c.reshape(-1, channels).T if c.shape[0] == 1 else c for c in chunks], axis=1)
    level = np.abs(pcm.astype(np.float64)).max(axis=0)
    level /= max(level.max(), 1.0)
    flashes = [i for i, b in enumerate(brightness) if b > 128 and (i == 0 or brightness[i - 1] <= 128)]
    loud = np.flatnonzero(level > 0.3)
    onsets = [int(loud[0])] if loud.size else []
    onsets += [int(b) for a, b in itertools.pairwise(loud) if b - a > rate * 0.1]
    clicks = [s / rate for s in onsets]
    offsets = []
    for frame in flashes:
        flash_s = frame / FPS
        nearest = min(clicks, key=lambda c: abs(c - flash_s), default=None)
        if nearest is not None:
            offsets.append((nearest - flash_s) * 1000.0)
    return flashes, clicks, offsets


def main(argv: list[str]) -> int:
    asyncio.run(_serve(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
