"""The synchronous client: one gRPC channel to the daemon."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, Unpack

import grpc

from .connection import CHANNEL_OPTIONS, TOKEN_ENV, call_metadata, resolve_address
from .errors import Ltx2Error, from_rpc_error, is_retryable
from .health import HEALTH_METHOD, HEALTH_REQUEST, SERVING, parse_health_status
from .info import Info, PrefetchResult
from .options import GenerateOptions
from .proto.ltx2d.v1 import ltx2d_pb2 as pb
from .proto.ltx2d.v1 import ltx2d_pb2_grpc as pb_grpc
from .request import build_request, request_from_mapping
from .retry import backoff_delays
from .stream import GenerationStream

T = TypeVar("T")


class Client:
    """Synchronous client of the ltx2d daemon.

    `address` defaults to $LTX2D_ADDRESS, else "127.0.0.1:50151"; `token` to $LTX2D_TOKEN (both
    read when the client is made). `timeout` is the deadline in seconds of each unary call
    (info, load, ...); `generate()` takes its own. Calls that cannot have reached the daemon
    (UNAVAILABLE) are retried `retries` times with exponential backoff when that is safe.

        with Client() as client:
            clip = client.generate("rain on a tin roof", num_frames=49).result()
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
        self._channel = grpc.insecure_channel(self.address, options=CHANNEL_OPTIONS)
        self._stub = pb_grpc.Ltx2dStub(self._channel)
        self._health = self._channel.unary_unary(HEALTH_METHOD)

    # -- lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        """Close the channel; streams still open are cancelled."""
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- generation ---------------------------------------------------------------------------
    def generate(
        self, prompt: str, *, timeout: float | None = None, **options: Unpack[GenerateOptions]
    ) -> GenerationStream:
        """Queue a generation and return its stream (the call starts when the stream is used).

        `timeout` bounds the whole generation (DeadlineExceeded after it). The other options are
        GenerateRequest fields (see GenerateOptions); unset ones take the daemon's defaults.
        """
        request = build_request(prompt, **options)

        def open_call(remaining: float | None) -> grpc.Call:
            return self._stub.Generate(request, timeout=remaining, metadata=self._metadata)

        return GenerationStream(open_call, self._cancel_quietly, retries=self.retries, timeout=timeout)

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job by id; False when no such job is queued or running."""
        response = self._unary(self._stub.Cancel, pb.CancelRequest(job_id=job_id), retry=True)
        return response.found

    def _cancel_quietly(self, job_id: str) -> None:
        # The call itself is already cancelled; this is belt and braces, so a failure is not news.
        with contextlib.suppress(Ltx2Error):
            self._unary(self._stub.Cancel, pb.CancelRequest(job_id=job_id), retry=False, timeout=5.0)

    # -- model and daemon ---------------------------------------------------------------------
    def info(self) -> Info:
        """What is loaded, where, the limits, the defaults and the queue."""
        return Info.from_pb(self._unary(self._stub.GetInfo, pb.GetInfoRequest(), retry=True))

    def load(self) -> Info:
        """Load the model onto its device (no-op when loaded); returns the info after loading."""
        return Info.from_pb(self._unary(self._stub.Load, pb.LoadRequest(), retry=True))

    def unload(self) -> Info:
        """Free the device; queued jobs reload the model on demand."""
        return Info.from_pb(self._unary(self._stub.Unload, pb.UnloadRequest(), retry=True))

    def prefetch(self, requests: Iterable[Mapping[str, Any]]) -> PrefetchResult:
        """Generate requests (dicts of generate options with "prompt") into the daemon's cache.

        Not retried: a lost reply may still have queued the jobs.
        """
        message = pb.PrefetchRequest(requests=[request_from_mapping(r) for r in requests])
        response = self._unary(self._stub.Prefetch, message, retry=False)
        return PrefetchResult(list(response.job_ids), response.already_cached)

    def health(self, timeout: float = 5.0) -> bool:
        """True when the daemon answers its gRPC health check with SERVING; never raises."""
        try:
            data = self._health(HEALTH_REQUEST, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNIMPLEMENTED:
                return False
            try:  # a daemon without the health service: answering GetInfo is healthy enough
                self._stub.GetInfo(pb.GetInfoRequest(), timeout=timeout, metadata=self._metadata)
            except grpc.RpcError:
                return False
            return True
        return parse_health_status(data) == SERVING

    # -- plumbing -----------------------------------------------------------------------------
    def _unary(self, method: Callable[..., T], request: object, *, retry: bool, timeout: float | None = None) -> T:
        delays = backoff_delays(self.retries) if retry else []
        while True:
            try:
                return method(request, timeout=timeout or self.timeout, metadata=self._metadata)
            except grpc.RpcError as error:
                if delays and is_retryable(error):
                    time.sleep(delays.pop(0))
                    continue
                raise from_rpc_error(error) from None
