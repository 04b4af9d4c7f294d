"""A whole generated clip in memory, and collecting one from stream events."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .enums import SampleFormat
from .errors import ProtocolError
from .events import Accepted, AudioChunk, ClipFormat, Completed, Event, Timings, VideoChunk


@dataclass
class Clip:
    """Frames uint8 (N, H, W, 3) and audio float32 (S, channels) of one generation."""

    frames: np.ndarray = field(repr=False)
    audio: np.ndarray = field(repr=False)
    sample_rate: int
    frame_rate: float
    seed: int = 0
    timings: Timings = field(default_factory=Timings)
    job_id: str = ""
    cache_hit: bool = False
    # Where a continuation's frames and samples sit in the clip it continues (0 otherwise).
    first_frame: int = 0
    first_sample: int = 0
    # How its sound was streamed (float32 here either way): a continuation or retake of this clip
    # sends it back in the same encoding, so a retake keeps it bit for bit.
    sample_format: SampleFormat = SampleFormat.S16LE

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def channels(self) -> int:
        return int(self.audio.shape[1])

    @property
    def duration_s(self) -> float:
        """Video duration in seconds (0 for an audio-only clip)."""
        return self.num_frames / self.frame_rate if self.frame_rate else 0.0

    @property
    def audio_duration_s(self) -> float:
        return self.audio.shape[0] / self.sample_rate if self.sample_rate else 0.0


class ClipBuilder:
    """Collects the chunks of a stream (already order-checked) into a Clip."""

    def __init__(self) -> None:
        self._accepted: Accepted | None = None
        self._frames: list[np.ndarray] = []
        self._audio: list[np.ndarray] = []

    def add(self, event: Event) -> None:
        if isinstance(event, Accepted):
            self._accepted = event
        elif isinstance(event, AudioChunk):
            self._audio.append(event.float_samples())
        elif isinstance(event, VideoChunk):
            self._frames.append(event.frames())

    def build(self, completed: Completed) -> Clip:
        if self._accepted is None:
            raise ProtocolError("the stream ended without Accepted")
        fmt: ClipFormat = self._accepted.format
        channels = fmt.channels or 2
        frames = np.concatenate(self._frames) if self._frames else np.zeros((0, fmt.height, fmt.width, 3), np.uint8)
        audio = np.concatenate(self._audio) if self._audio else np.zeros((0, channels), np.float32)
        return Clip(
            frames=frames,
            audio=audio,
            sample_rate=fmt.sample_rate,
            frame_rate=fmt.frame_rate,
            seed=completed.seed,
            timings=completed.timings,
            job_id=self._accepted.job_id,
            cache_hit=completed.cache_hit,
            first_frame=fmt.first_frame,
            first_sample=fmt.first_sample,
            sample_format=fmt.sample_format,
        )
