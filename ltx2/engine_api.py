"""The one narrow interface between a scheduler and a model host.

The daemon's scheduler only ever talks to an `Engine`; tests can hand it a fake one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .control import JobControl
from .events import ClipFormat, Event
from .params import GenerationParams


@dataclass(frozen=True)
class ModelInfo:
    """What an engine has loaded."""

    model_id: str
    model_path: str
    fingerprint: str
    device: str
    dtype: str
    native_sample_rate: int
    channels: int
    parameter_counts: dict[str, int] = field(default_factory=dict)
    memory_bytes: int = 0
    load_s: float = 0.0
    # How the video is decoded (ltx2.decode.VideoDecodeMode): "streaming", or "whole: <why>".
    video_decode: str = "streaming"


@runtime_checkable
class Engine(Protocol):
    """A warm model that turns parameters into a stream of events.

    `generate` yields Progress events, then for each temporal chunk an AudioChunk followed by the
    VideoChunk of the same span, then one Completed. It calls `control.checkpoint()` after every
    denoising step and decoded chunk, so a cancel stops it within one step and a pause parks it.
    Several `generate` iterators may be alive at once (one running, others parked); an engine must
    keep per-job state apart.
    """

    def info(self) -> ModelInfo: ...

    def clip_format(self, params: GenerationParams) -> ClipFormat:
        """The shape of the clip `params` produce (seed must be resolved)."""
        ...

    def generate(self, params: GenerationParams, control: JobControl | None = None) -> Iterator[Event]:
        """The clip's events; `params` already validated with the seed resolved (`prepare_params`)."""
        ...

    def close(self) -> None:
        """Free the device memory held by the model."""
        ...
