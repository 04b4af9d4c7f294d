"""Engine fixtures: one warm tiny engine per test session, and helpers to collect a stream."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ltx2 import AudioChunk, Completed, Event, GenerationParams, Progress, SampleFormat, VideoChunk
from ltx2.engine import Ltx2Engine


@pytest.fixture(scope="session")
def engine(tiny_checkpoint: Path) -> Ltx2Engine:
    return Ltx2Engine.load(tiny_checkpoint)


@dataclass
class Collected:
    """A generation's events, with the clip reassembled from its chunks."""

    events: list[Event]
    frames: np.ndarray  # uint8 (N, H, W, 3)
    audio: np.ndarray  # float32 (S, C) for F32LE, int16 for S16LE

    @property
    def completed(self) -> Completed:
        assert isinstance(self.events[-1], Completed)
        return self.events[-1]

    @property
    def progress(self) -> list[Progress]:
        return [e for e in self.events if isinstance(e, Progress)]


def collect(events: list[Event] | object, params: GenerationParams) -> Collected:
    events = list(events)
    video = [e for e in events if isinstance(e, VideoChunk)]
    audio = [e for e in events if isinstance(e, AudioChunk)]
    frames = (
        np.concatenate([np.frombuffer(c.data, np.uint8).reshape(c.num_frames, c.height, c.width, 3) for c in video])
        if video
        else np.zeros((0, params.height, params.width, 3), np.uint8)
    )
    dtype = "<f4" if params.sample_format == SampleFormat.F32LE else "<i2"
    pcm = np.concatenate([np.frombuffer(c.data, dtype).reshape(c.num_samples, c.channels) for c in audio])
    return Collected(events, frames, pcm)


def small(**overrides: object) -> GenerationParams:
    """A fast clip: 64x64, 25 frames, 3 steps, f32 audio so comparisons are exact."""
    base = {
        "prompt": "a wooden door slams shut in an empty hall",
        "width": 64,
        "height": 64,
        "num_frames": 25,
        "steps": 3,
        "seed": 1234,
        "chunk_frames": 8,
        "sample_format": SampleFormat.F32LE,
    }
    base.update(overrides)
    return GenerationParams(**base)


@pytest.fixture(scope="session")
def version_checkpoints() -> dict[str, Path]:
    """One tiny checkpoint per LTX-2 version (2.0 is the embedded default), built once per machine."""
    from ltx2.tiny import VERSIONS, ensure_tiny_checkpoint

    return {version: ensure_tiny_checkpoint(version=version) for version in VERSIONS}


@pytest.fixture(scope="session")
def version_engines(version_checkpoints: dict[str, Path], engine: Ltx2Engine) -> dict[str, Ltx2Engine]:
    """A warm engine per version (2.0 reuses the session's engine); decode context fixed to keep it fast."""
    out = {"2.0": engine}
    for version, path in version_checkpoints.items():
        if version != "2.0":
            out[version] = Ltx2Engine.load(path)
    return out
