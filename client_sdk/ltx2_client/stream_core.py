"""What the sync and asyncio generation streams share: event bookkeeping and the retry rule."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc

from .clip import Clip, ClipBuilder
from .errors import Cancelled, Ltx2Error, ProtocolError, from_rpc_error, is_retryable
from .events import Accepted, AudioChunk, ClipFormat, Completed, Event, VideoChunk, event_from_pb
from .proto.ltx2d.v1 import ltx2d_pb2 as pb
from .retry import backoff_delays
from .stream_check import StreamChecker


class StreamCore:
    """State of one generation: what was received, whether to retry, how to end."""

    def __init__(self, retries: int, timeout: float | None) -> None:
        self.accepted: Accepted | None = None
        self.completed: Completed | None = None
        self.cancelled = False
        self.chunks_yielded = False
        self._checker = StreamChecker()
        self._builder: ClipBuilder | None = None
        self._delays = backoff_delays(retries)
        self._deadline = None if timeout is None else time.monotonic() + timeout

    @property
    def done(self) -> bool:
        return self.completed is not None or self.cancelled

    def remaining_timeout(self) -> float | None:
        """Seconds left of the caller's timeout, for the next attempt's gRPC deadline."""
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    def on_message(self, message: pb.GenerateEvent) -> Event:
        event = event_from_pb(message)
        self._checker.check(event)
        if isinstance(event, Accepted):
            self.accepted = event
        elif isinstance(event, Completed):
            self.completed = event
        if self._builder is not None:
            self._builder.add(event)
        return event

    def mark_yielded(self, event: Event) -> None:
        if isinstance(event, AudioChunk | VideoChunk) and self._builder is None:
            self.chunks_yielded = True

    def on_end(self) -> None:
        """The call ended without error: it must have completed."""
        if self.completed is None and not self.cancelled:
            raise ProtocolError("the stream ended without Completed")

    def retry_delay(self, error: grpc.RpcError) -> float | None:
        """Seconds to wait before reopening the stream, or None to give up.

        Only a connection failure before Accepted is retried: after Accepted the job exists on
        the daemon, and a second call would generate it twice. (A request that lets the model
        choose its length is Accepted only when its job runs, so it may have been queued: the
        daemon cancels a job whose stream broke, and drops queued ones with UNAVAILABLE at
        shutdown, so the retry still runs it once.)
        """
        if self.accepted is None and is_retryable(error) and self._delays:
            return self._delays.pop(0)
        return None

    def after_error(self, error: grpc.RpcError) -> float | None:
        """Seconds to wait before reopening the stream, or None to end it quietly (the echo of
        our own cancel()); raises the SDK error otherwise."""
        delay = self.retry_delay(error)
        if delay is not None:
            return delay
        translated = self.translate(error)
        if translated is None:
            return None
        raise translated from None

    def translate(self, error: grpc.RpcError) -> Ltx2Error | None:
        """The SDK error for `error`, or None when it is the echo of our own cancel()."""
        if self.cancelled and error.code() == grpc.StatusCode.CANCELLED:
            return None
        return from_rpc_error(error)

    def start_collecting(self) -> None:
        """Called by result(): from now on chunks are kept to build the Clip."""
        if self.chunks_yielded:
            raise RuntimeError("result() needs every chunk, but some were already consumed by iteration")
        if self._builder is None:
            self._builder = ClipBuilder()
            if self.accepted is not None:
                self._builder.add(self.accepted)

    def clip(self) -> Clip:
        if self.cancelled:
            raise Cancelled("the generation was cancelled", code="CANCELLED")
        assert self._builder is not None and self.completed is not None
        return self._builder.build(self.completed)

    @property
    def format(self) -> ClipFormat | None:
        return self.accepted.format if self.accepted else None


class StreamState:
    """What both stream classes share: the constructor, and the read-only view of their
    `StreamCore` (what has arrived). Each defines `_run()`, the generator of its events."""

    def __init__(
        self,
        open_call: Callable[[float | None], Any],
        cancel_job: Callable[[str], Any],
        *,
        retries: int,
        timeout: float | None,
    ) -> None:
        self._open_call = open_call
        self._cancel_job = cancel_job
        self._core = StreamCore(retries, timeout)
        self._call: Any = None
        self._events = self._run()

    def _run(self) -> Any:
        raise NotImplementedError

    @property
    def accepted(self) -> Accepted | None:
        """The Accepted event, once received."""
        return self._core.accepted

    @property
    def job_id(self) -> str | None:
        return self._core.accepted.job_id if self._core.accepted else None

    @property
    def format(self) -> ClipFormat | None:
        """The clip's shape (size, frames, sample rate, seed...), once Accepted arrived."""
        return self._core.format

    @property
    def completed(self) -> Completed | None:
        return self._core.completed

    @property
    def cancelled(self) -> bool:
        return self._core.cancelled
