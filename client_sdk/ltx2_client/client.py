"""The synchronous client: one gRPC channel to the daemon (the calls are in client_core.py)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar, Unpack

import grpc

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
from .stream import GenerationStream

T = TypeVar("T")


class Client(ClientBase):
    """Synchronous client of the ltx2d daemon.

    `address` defaults to $LTX2D_ADDRESS, else "127.0.0.1:50151"; `token` to $LTX2D_TOKEN (both
    read when the client is made). `timeout` is the deadline in seconds of each unary call
    (info, load, ...); `generate()` takes its own. Calls that cannot have reached the daemon
    (UNAVAILABLE) are retried `retries` times with exponential backoff when that is safe.

        with Client() as client:
            clip = client.generate("rain on a tin roof", num_frames=49).result()
    """

    def _connect(self) -> None:
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
        request = self._core.generate_request(prompt, options)

        def open_call(remaining: float | None) -> grpc.Call:
            return self._stub.Generate(request, timeout=remaining, metadata=self._core.metadata)

        return GenerationStream(open_call, self._cancel_quietly, retries=self._core.retries, timeout=timeout)

    def foley(
        self,
        frames: Frames | bytes | str | os.PathLike[str],
        prompt: str,
        *,
        timeout: float | None = None,
        **options: Unpack[GenerateOptions],
    ) -> GenerationStream:
        """Sound for `frames` (video-to-audio): `Frames`, a video file's bytes or its path. The
        stream carries audio of exactly the frames' duration, in sync with them; the frames set
        the length and rate (num_frames, frame_rate and duration_s must be unset).

            clip = client.foley(Frames(rgb, 30.0), "glass shatters on stone").result()
        """
        return self.generate(prompt, timeout=timeout, mode=Mode.VIDEO_TO_AUDIO, video_input=frames, **options)

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job by id; False when no such job is queued or running."""
        return self._run(self._core.cancel(job_id))

    def _cancel_quietly(self, job_id: str) -> None:
        # The call itself is already cancelled; this is belt and braces, so a failure is not news.
        with contextlib.suppress(Ltx2Error):
            self._run(self._core.cancel(job_id, quiet=True))

    # -- model and daemon ---------------------------------------------------------------------
    def info(self) -> Info:
        """What is loaded, where, the limits, the defaults and the queue."""
        return self._run(self._core.info())

    def load(self, model: str = "") -> Info:
        """Load a model onto its device (no-op when loaded): `model` names a configured one
        (Info.models), "" the default; the resident one is unloaded first. Returns the info after."""
        return self._run(self._core.load(model))

    def unload(self) -> Info:
        """Free the device; queued jobs reload the model on demand."""
        return self._run(self._core.unload())

    def prefetch(self, requests: Iterable[Mapping[str, Any]]) -> PrefetchResult:
        """Generate requests (dicts of generate options with "prompt") into the daemon's cache.

        All or nothing (see the proto's Prefetch); not retried: a lost reply may still have
        queued the jobs.
        """
        return self._run(self._core.prefetch(requests))

    def health(self, timeout: float = 5.0) -> bool:
        """True when the daemon answers its gRPC health check with SERVING; never raises."""
        try:
            data = self._health(HEALTH_REQUEST, timeout=timeout, metadata=self._core.metadata)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNIMPLEMENTED:
                return False
            try:  # a daemon without the health service: answering GetInfo is healthy enough
                self._stub.GetInfo(pb.GetInfoRequest(), timeout=timeout, metadata=self._core.metadata)
            except grpc.RpcError:
                return False
            return True
        return self._core.healthy(data)

    # -- plumbing -----------------------------------------------------------------------------
    def _run(self, call: Call[T]) -> T:
        method = getattr(self._stub, call.method)
        delays = self._core.delays(call)
        while True:
            try:
                return call.parse(method(call.request, **self._core.call_kwargs(call)))
            except grpc.RpcError as error:
                outcome = self._core.failed(error, delays)
                if isinstance(outcome, Ltx2Error):
                    raise outcome from None
                time.sleep(outcome)
