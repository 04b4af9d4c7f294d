"""The asyncio client (grpc.aio), with the same surface as Client (the calls are in client_core.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar, Unpack

import grpc

from .async_stream import AsyncGenerationStream
from .client_core import Call, ClientBase
from .connection import CHANNEL_OPTIONS
from .enums import Mode
from .errors import Ltx2Error
from .health import HEALTH_METHOD, HEALTH_REQUEST
from .info import Info, PrefetchResult
from .inputs import Frames
from .options import GenerateOptions
from .proto.ltx2d.v1 import ltx2d_pb2 as pb
from .proto.ltx2d.v1 import ltx2d_pb2_grpc as pb_grpc

T = TypeVar("T")


class AsyncClient(ClientBase):
    """Asyncio client of the ltx2d daemon; the same constructor and methods as Client, awaited.

        async with AsyncClient() as client:
            async for event in client.generate("door creak", audio_only=True, num_frames=25):
                ...

    The channel is opened on first use, inside the running event loop.
    """

    def _connect(self) -> None:
        # grpc.aio channels belong to a running loop: opened on first use (`_ensure_stub`).
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.Ltx2dStub | None = None

    def _ensure_stub(self) -> pb_grpc.Ltx2dStub:
        if self._stub is None:
            self._channel = grpc.aio.insecure_channel(self.address, options=CHANNEL_OPTIONS)
            self._stub = pb_grpc.Ltx2dStub(self._channel)
        return self._stub

    async def close(self) -> None:
        """Close the channel; streams still open are cancelled."""
        if self._channel is not None:
            await self._channel.close()
            self._channel = self._stub = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def generate(
        self, prompt: str, *, timeout: float | None = None, **options: Unpack[GenerateOptions]
    ) -> AsyncGenerationStream:
        """Queue a generation and return its stream (not awaited: `async for` it, or
        `await stream.result()`). Options as for Client.generate."""
        request = self._core.generate_request(prompt, options)

        def open_call(remaining: float | None) -> grpc.aio.UnaryStreamCall:
            return self._ensure_stub().Generate(request, timeout=remaining, metadata=self._core.metadata)

        return AsyncGenerationStream(open_call, self._cancel_quietly, retries=self._core.retries, timeout=timeout)

    def foley(
        self,
        frames: Frames | bytes | str | os.PathLike[str],
        prompt: str,
        *,
        timeout: float | None = None,
        **options: Unpack[GenerateOptions],
    ) -> AsyncGenerationStream:
        """Sound for `frames` (video-to-audio): `Frames`, a video file's bytes or its path. The
        stream carries audio of exactly the frames' duration, in sync with them; the frames set
        the length and rate (num_frames, frame_rate and duration_s must be unset).

            clip = client.foley(Frames(rgb, 30.0), "glass shatters on stone").result()
        """
        return self.generate(prompt, timeout=timeout, mode=Mode.VIDEO_TO_AUDIO, video_input=frames, **options)

    async def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job by id; False when no such job is queued or running."""
        return await self._run(self._core.cancel(job_id))

    async def _cancel_quietly(self, job_id: str) -> None:
        with contextlib.suppress(Ltx2Error):
            await self._run(self._core.cancel(job_id, quiet=True))

    async def info(self) -> Info:
        """What is loaded, where, the limits, the defaults and the queue."""
        return await self._run(self._core.info())

    async def load(self, model: str = "") -> Info:
        """Load a model onto its device (no-op when loaded): `model` names a configured one, ""
        the default; the resident one is unloaded first."""
        return await self._run(self._core.load(model))

    async def unload(self) -> Info:
        """Free the device; queued jobs reload the model on demand."""
        return await self._run(self._core.unload())

    async def prefetch(self, requests: Iterable[Mapping[str, Any]]) -> PrefetchResult:
        """Generate requests (dicts with "prompt") into the daemon's cache. All or nothing; not retried."""
        return await self._run(self._core.prefetch(requests))

    async def health(self, timeout: float = 5.0) -> bool:
        """True when the daemon answers its gRPC health check with SERVING; never raises."""
        stub = self._ensure_stub()
        assert self._channel is not None
        check = self._channel.unary_unary(HEALTH_METHOD)
        try:
            data = await check(HEALTH_REQUEST, timeout=timeout, metadata=self._core.metadata)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNIMPLEMENTED:
                return False
            try:
                await stub.GetInfo(pb.GetInfoRequest(), timeout=timeout, metadata=self._core.metadata)
            except grpc.RpcError:
                return False
            return True
        return self._core.healthy(data)

    async def _run(self, call: Call[T]) -> T:
        method = getattr(self._ensure_stub(), call.method)
        delays = self._core.delays(call)
        while True:
            try:
                return call.parse(await method(call.request, **self._core.call_kwargs(call)))
            except grpc.RpcError as error:
                outcome = self._core.failed(error, delays)
                if isinstance(outcome, Ltx2Error):
                    raise outcome from None
                await asyncio.sleep(outcome)
