"""The asyncio client (grpc.aio), with the same surface as Client."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar, Unpack

import grpc

from .async_stream import AsyncGenerationStream
from .connection import CHANNEL_OPTIONS, TOKEN_ENV, call_metadata, resolve_address
from .errors import Ltx2Error, from_rpc_error, is_retryable
from .health import HEALTH_METHOD, HEALTH_REQUEST, SERVING, parse_health_status
from .info import Info, PrefetchResult
from .options import GenerateOptions
from .proto.ltx2d.v1 import ltx2d_pb2 as pb
from .proto.ltx2d.v1 import ltx2d_pb2_grpc as pb_grpc
from .request import build_request, request_from_mapping
from .retry import backoff_delays

T = TypeVar("T")


class AsyncClient:
    """Asyncio client of the ltx2d daemon; the same constructor and methods as Client, awaited.

        async with AsyncClient() as client:
            async for event in client.generate("door creak", audio_only=True, num_frames=25):
                ...

    The channel is opened on first use, inside the running event loop.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        token: str | None = None,
        timeout: float | None = None,
        retries: int = 3,
    ) -> None:
        self.address = resolve_address(address)
        self.timeout = timeout
        self.retries = retries
        self._metadata = call_metadata(token if token is not None else os.environ.get(TOKEN_ENV))
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
        request = build_request(prompt, **options)

        def open_call(remaining: float | None) -> grpc.aio.UnaryStreamCall:
            return self._ensure_stub().Generate(request, timeout=remaining, metadata=self._metadata)

        return AsyncGenerationStream(open_call, self._cancel_quietly, retries=self.retries, timeout=timeout)

    async def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job by id; False when no such job is queued or running."""
        stub = self._ensure_stub()
        return (await self._unary(stub.Cancel, pb.CancelRequest(job_id=job_id), retry=True)).found

    async def _cancel_quietly(self, job_id: str) -> None:
        try:
            stub = self._ensure_stub()
            await self._unary(stub.Cancel, pb.CancelRequest(job_id=job_id), retry=False, timeout=5.0)
        except Ltx2Error:
            pass

    async def info(self) -> Info:
        """What is loaded, where, the limits, the defaults and the queue."""
        stub = self._ensure_stub()
        return Info.from_pb(await self._unary(stub.GetInfo, pb.GetInfoRequest(), retry=True))

    async def load(self) -> Info:
        """Load the model onto its device (no-op when loaded)."""
        stub = self._ensure_stub()
        return Info.from_pb(await self._unary(stub.Load, pb.LoadRequest(), retry=True))

    async def unload(self) -> Info:
        """Free the device; queued jobs reload the model on demand."""
        stub = self._ensure_stub()
        return Info.from_pb(await self._unary(stub.Unload, pb.UnloadRequest(), retry=True))

    async def prefetch(self, requests: Iterable[Mapping[str, Any]]) -> PrefetchResult:
        """Generate requests (dicts with "prompt") into the daemon's cache. Not retried."""
        stub = self._ensure_stub()
        message = pb.PrefetchRequest(requests=[request_from_mapping(r) for r in requests])
        response = await self._unary(stub.Prefetch, message, retry=False)
        return PrefetchResult(list(response.job_ids), response.already_cached)

    async def health(self, timeout: float = 5.0) -> bool:
        """True when the daemon answers its gRPC health check with SERVING; never raises."""
        stub = self._ensure_stub()
        assert self._channel is not None
        check = self._channel.unary_unary(HEALTH_METHOD)
        try:
            data = await check(HEALTH_REQUEST, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNIMPLEMENTED:
                return False
            try:
                await stub.GetInfo(pb.GetInfoRequest(), timeout=timeout, metadata=self._metadata)
            except grpc.RpcError:
                return False
            return True
        return parse_health_status(data) == SERVING

    async def _unary(
        self,
        method: Callable[..., Awaitable[T]],
        request: object,
        *,
        retry: bool,
        timeout: float | None = None,
    ) -> T:
        delays = backoff_delays(self.retries) if retry else []
        while True:
            try:
                return await method(request, timeout=timeout or self.timeout, metadata=self._metadata)
            except grpc.RpcError as error:
                if delays and is_retryable(error):
                    await asyncio.sleep(delays.pop(0))
                    continue
                raise from_rpc_error(error) from None
