"""The asyncio generation stream returned by `AsyncClient.generate()`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import numpy as np

from .clip import Clip
from .events import Accepted, AudioChunk, Event, VideoChunk
from .stream_core import StreamState


class AsyncGenerationStream(StreamState):
    """The asyncio twin of GenerationStream: `async for` the events, `frames()` / `audio()`
    async iterators, `await result()`, `await cancel()`, `async with` (cancels when left early).
    """

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        event = await self._events.__anext__()
        self._core.mark_yielded(event)
        return event

    async def wait_accepted(self) -> Accepted:
        """Read events until Accepted and return it."""
        while self._core.accepted is None:
            await self.__anext__()
        return self._core.accepted

    async def frames(self) -> AsyncIterator[np.ndarray]:
        """Each video chunk as uint8 (n, height, width, 3), as it arrives."""
        async for event in self:
            if isinstance(event, VideoChunk):
                yield event.frames()

    async def audio(self) -> AsyncIterator[np.ndarray]:
        """Each audio chunk as float32 (n, channels), as it arrives."""
        async for event in self:
            if isinstance(event, AudioChunk):
                yield event.float_samples()

    async def result(self) -> Clip:
        """Wait for the end and return the whole Clip."""
        self._core.start_collecting()
        async for _ in self._events:
            pass
        return self._core.clip()

    async def cancel(self) -> None:
        """Cancel the job: ends the call and sends Cancel by job id. Safe to call twice."""
        if self._core.done:
            return
        self._core.cancelled = True
        if self._call is not None:
            self._call.cancel()
        if self._core.accepted is not None:
            await self._cancel_job(self._core.accepted.job_id)

    async def __aenter__(self) -> AsyncGenerationStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cancel()

    async def _run(self) -> AsyncIterator[Event]:
        core = self._core
        while not core.cancelled:
            call = self._call = self._open_call(core.remaining_timeout())
            try:
                async for message in call:
                    yield core.on_message(message)
                core.on_end()
                return
            except asyncio.CancelledError:
                # grpc.aio raises CancelledError out of a call we cancelled ourselves.
                if core.cancelled and call.cancelled():
                    return
                raise
            except grpc.RpcError as error:
                delay = core.after_error(error)  # raises the SDK's error when it is one
                if delay is None:
                    return
                await asyncio.sleep(delay)
            finally:
                if not core.done:
                    call.cancel()
