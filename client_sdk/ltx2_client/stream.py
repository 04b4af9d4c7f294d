"""The synchronous generation stream returned by `Client.generate()`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np

from .clip import Clip
from .events import Accepted, AudioChunk, Event, VideoChunk
from .stream_core import StreamState


class GenerationStream(StreamState):
    """Events of one generation, in order: Accepted, Progress*, (AudioChunk, VideoChunk+, Progress*)*, Completed.

    Iterate it for the typed events, or use `frames()` / `audio()` for just the arrays, or
    `result()` for the whole Clip. The call starts on first use. `cancel()` stops the job (from
    any thread); iteration then ends quietly and `result()` raises Cancelled. Used as a context
    manager, leaving the block early cancels the job.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._lock = threading.Lock()  # cancel() may come from another thread
        super().__init__(*args, **kwargs)

    # -- consuming ----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        event = next(self._events)
        self._core.mark_yielded(event)
        return event

    def wait_accepted(self) -> Accepted:
        """Read events until Accepted (the job then exists on the daemon) and return it."""
        while self._core.accepted is None:
            next(self)
        return self._core.accepted

    def frames(self) -> Iterator[np.ndarray]:
        """Each video chunk as uint8 (n, height, width, 3), as it arrives."""
        for event in self:
            if isinstance(event, VideoChunk):
                yield event.frames()

    def audio(self) -> Iterator[np.ndarray]:
        """Each audio chunk as float32 (n, channels), as it arrives."""
        for event in self:
            if isinstance(event, AudioChunk):
                yield event.float_samples()

    def result(self) -> Clip:
        """Wait for the end and return the whole Clip (indices checked contiguous)."""
        self._core.start_collecting()
        for _ in self._events:
            pass
        return self._core.clip()

    def cancel(self) -> None:
        """Cancel the job: ends the call and sends Cancel by job id. Safe to call twice."""
        with self._lock:
            if self._core.done:
                return
            self._core.cancelled = True
            call = self._call
        if call is not None:
            call.cancel()
        if self._core.accepted is not None:
            self._cancel_job(self._core.accepted.job_id)

    def __enter__(self) -> GenerationStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()

    # -- the call -----------------------------------------------------------------------------
    def _run(self) -> Iterator[Event]:
        core = self._core
        while not core.cancelled:
            with self._lock:
                if core.cancelled:
                    return
                call = self._call = self._open_call(core.remaining_timeout())
            try:
                for message in call:
                    yield core.on_message(message)
                core.on_end()
                return
            except grpc.RpcError as error:
                delay = core.after_error(error)  # raises the SDK's error when it is one
                if delay is None:
                    return
                time.sleep(delay)
            finally:
                if not core.done and call is not None:
                    # The consumer abandoned the stream (generator closed): do not leave the job running.
                    call.cancel()
