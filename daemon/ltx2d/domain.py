"""Domain types of the daemon: requests, stream events and snapshots shared by both transports.

Nothing here knows about protobuf or msgpack; the transports translate to and from these types.
A request travels as a `ClipRequest` (what the client sent, not yet checked) to the service,
which validates it once (`validation.prepare`) into a `PreparedRequest`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from enum import IntEnum

import ltx2

DEFAULT_JPEG_QUALITY = 90


class Priority(IntEnum):
    """Scheduling class (numbers match the wire contract). Lower runs first."""

    REALTIME = 1
    INTERACTIVE = 2
    BATCH = 3


class CachePolicy(IntEnum):
    """How a request uses the result cache (numbers match the wire contract)."""

    USE = 0  # serve a hit; store a miss
    BYPASS = 1  # neither read nor write the cache
    REFRESH = 2  # always generate; overwrite the entry


# The most frame bytes one video message carries: a decoded chunk bigger than this (a 24-frame
# chunk of 1280x736 RGB8 is 68 MB) goes out as several VideoChunk messages of whole frames. Each
# buffer of a 68 MB message is a fresh mmap on both sides, whose page faults cost more than the
# copy itself (27 ms against 4 ms for one 68 MB copy on the CI machine); messages of a few MB
# reuse the allocator's memory: a cache hit at 1280x736 replayed 3.5-4x faster
# (benchmarks/RESULTS.md). The 64 KiB left under 4 MiB keep every message inside gRPC's default
# receive limit for frames of up to 1.37 Mpx, so a client in any language streams 1280x736 as is.
MAX_VIDEO_MESSAGE_BYTES = 4 * 1024 * 1024 - 64 * 1024


def stream_messages(event: ltx2.Event) -> Iterator[ltx2.Event]:
    """An engine event as the stream sends it: video in runs of whole frames of at most
    MAX_VIDEO_MESSAGE_BYTES, each copied out as it goes. The scheduler calls it in the job's
    engine thread: splitting copies the frames (40 ms of CPU for a 68 MB chunk on the CI
    machine), which must not hold up the event loop and every other stream on it."""
    if isinstance(event, ltx2.VideoChunk):
        yield from event.pieces(MAX_VIDEO_MESSAGE_BYTES)
    else:
        yield event


class FrameFormat(IntEnum):
    """How video frames travel (numbers match the wire contract)."""

    RGB8 = 1
    JPEG = 2


@dataclass(frozen=True)
class Delivery:
    """How one stream's frames are encoded: a transport concern, not part of the generation."""

    frame_format: FrameFormat = FrameFormat.RGB8
    jpeg_quality: int = DEFAULT_JPEG_QUALITY


@dataclass(frozen=True)
class ClipRequest:
    """A request for one clip as a transport received it: translated, not yet validated.

    `values` holds the generation parameters the client set, by `GenerationParams` field name
    (unset ones take the daemon's defaults). Enum fields hold the wire numbers, None when unset.
    """

    values: Mapping[str, object]
    duration_s: float | None = None
    priority: int | None = None
    cache_policy: int | None = None
    frame_format: int | None = None
    jpeg_quality: int | None = None
    # A `time.monotonic()` instant; the job is cancelled with DEADLINE_EXCEEDED when it passes.
    deadline: float | None = None
    # Who asked (peer address, client name): for logs only.
    client: str = ""
    # The configured model to run on (--model NAME=PATH); empty for the default one.
    model: str = ""

    @property
    def defers_accepted(self) -> bool:
        """Whether Accepted waits for the model to choose the length (auto duration): until the
        job's text encoder has run, which may be after a wait in the queue."""
        return any(self.values.get(name) is not None for name in ("min_seconds", "max_seconds"))

    @classmethod
    def for_params(
        cls,
        params: ltx2.GenerationParams,
        priority: Priority | None = None,
        cache_policy: CachePolicy | None = None,
        deadline: float | None = None,
        **kw: object,
    ) -> ClipRequest:
        """The request that asks for exactly `params` (in-process callers and tests)."""
        values = {f.name: getattr(params, f.name) for f in fields(params) if getattr(params, f.name) is not None}
        return cls(values, priority=priority, cache_policy=cache_policy, deadline=deadline, **kw)  # type: ignore[arg-type]


@dataclass(frozen=True)
class PreparedRequest:
    """A validated request: parameters with the seed resolved, and how to schedule and deliver it."""

    params: ltx2.GenerationParams
    priority: Priority = Priority.INTERACTIVE
    cache_policy: CachePolicy = CachePolicy.USE
    delivery: Delivery = Delivery()
    deadline: float | None = None
    client: str = ""
    # The configured model's name ("" for the default).
    model: str = ""


@dataclass(frozen=True)
class Accepted:
    """The first event of every stream: the request was validated and queued, or found in the cache."""

    job_id: str
    # Jobs ahead of this one when it was queued (0: runs next or now).
    queue_position: int
    cache_hit: bool
    format: ltx2.ClipFormat
    # How the stream's frames are encoded (the transports read it here).
    delivery: Delivery = Delivery()


StreamEvent = Accepted | ltx2.Progress | ltx2.AudioChunk | ltx2.VideoChunk | ltx2.Completed


@dataclass(frozen=True)
class ModelEntry:
    """One configured model (--model NAME=PATH), as GetInfo lists it."""

    name: str
    loaded: bool
    default: bool
    # Known once the model was described from its checkpoint or loaded; empty before.
    model_path: str = ""
    version: str = ""
    # Times it was loaded since start (metrics).
    loads: int = 0


@dataclass(frozen=True)
class ServiceInfo:
    """A snapshot of what the service holds: the model, the limits, the defaults and the queue."""

    # The resident model, else the default one as last loaded or described; None when neither.
    model: ltx2.ModelInfo | None
    loaded: bool
    limits: ltx2.Limits
    queue_depth: int
    queue_capacity: int
    # Empty when idle.
    running_job_id: str
    # Idle seconds before the model is unloaded; 0 means never.
    keep_alive_s: float
    # What unset request fields become.
    defaults: ltx2.GenerationParams = field(default_factory=lambda: ltx2.GenerationParams(prompt=""))
    # Since start: jobs paused for another (a REALTIME job, or others while a consumer stalled),
    # and jobs and replays cancelled because their consumer read nothing for the stall limit.
    preemptions: int = 0
    stalls: int = 0
    # The configured models (the default first) and the one on the device ("" when none).
    models: tuple[ModelEntry, ...] = ()
    resident_model: str = ""

    @property
    def device_memory_bytes(self) -> int:
        """GPU memory held by the weights now: 0 on CPU and while unloaded."""
        model = self.model
        if model is None or not self.loaded or model.device.startswith("cpu"):
            return 0
        return model.memory_bytes


@dataclass(frozen=True)
class StreamRecord:
    """What happened to one accepted request's stream, handed to listeners (metrics) when it ends."""

    job_id: str
    priority: Priority
    # "OK", or the StatusCode name the stream ended with.
    outcome: str
    cache_hit: bool
    # Seconds from acceptance to the start of the run (0 for a cache hit).
    queue_s: float
    # Seconds from acceptance to the first audio or video chunk; None when none was sent.
    first_chunk_s: float | None
    # Seconds from acceptance to the end of the stream.
    total_s: float
    tags: dict[str, str] = field(default_factory=dict)
