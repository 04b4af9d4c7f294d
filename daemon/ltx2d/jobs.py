"""Domain types of the daemon: requests, events, errors and snapshots shared by both transports.

Nothing here knows about protobuf or msgpack; the transports translate to and from these types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

import ltx2


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


@dataclass(frozen=True)
class JobRequest:
    """One generation request as the service sees it, whichever transport brought it."""

    params: ltx2.GenerationParams
    priority: Priority = Priority.INTERACTIVE
    cache_policy: CachePolicy = CachePolicy.USE
    # A `time.monotonic()` instant; the job is cancelled with DEADLINE_EXCEEDED when it passes.
    deadline: float | None = None
    # Who asked (peer address, client name): for logs only.
    client: str = ""


@dataclass(frozen=True)
class Accepted:
    """The first event of every stream: the job was validated and queued, or found in the cache."""

    job_id: str
    # Jobs ahead of this one when it was queued (0: runs next or now).
    queue_position: int
    cache_hit: bool
    format: ltx2.ClipFormat


JobEvent = Accepted | ltx2.Progress | ltx2.AudioChunk | ltx2.VideoChunk | ltx2.Completed


class StatusCode(StrEnum):
    """Why a request failed, named as gRPC status codes (the bridge sends the same names)."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    CANCELLED = "CANCELLED"
    UNAVAILABLE = "UNAVAILABLE"
    NOT_FOUND = "NOT_FOUND"
    INTERNAL = "INTERNAL"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"


class ServiceError(Exception):
    """A request failed. `message` is shown to end users as is; `field` names the bad input."""

    def __init__(self, code: StatusCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"ServiceError({self.code.value}, {self.message!r}, field={self.field!r})"


@dataclass(frozen=True)
class ServiceInfo:
    """A snapshot of what the service holds: the model, the limits and the queue."""

    # The loaded model, or the last one loaded; None when no model was ever loaded.
    model: ltx2.ModelInfo | None
    loaded: bool
    limits: ltx2.Limits
    queue_depth: int
    queue_capacity: int
    # Empty when idle.
    running_job_id: str
    # Idle seconds before the model is unloaded; 0 means never.
    keep_alive_s: float


@dataclass(frozen=True)
class JobRecord:
    """What happened to one accepted job, handed to job listeners (metrics) when it ends."""

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
