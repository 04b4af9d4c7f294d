"""What the sync and asyncio clients share, with no I/O: each RPC and option is written once here.

A `Call` says which stub method to call with which request, whether a failure that never reached
the daemon may be retried, and how to turn the reply into the SDK's type. `Client` and
`AsyncClient` only run calls (blocking or awaited) through the same retry rule.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import grpc

from .connection import TOKEN_ENV, call_metadata, resolve_address
from .errors import Ltx2Error, from_rpc_error, is_retryable
from .health import SERVING, parse_health_status
from .info import Info, PrefetchResult
from .proto.ltx2d.v1 import ltx2d_pb2 as pb
from .request import build_request, request_from_mapping
from .retry import backoff_delays

T = TypeVar("T")


@dataclass(frozen=True)
class Call(Generic[T]):
    """One unary RPC: `method` (an `Ltx2dStub` attribute), its request, and its reply's meaning."""

    method: str
    request: Any
    retry: bool
    parse: Callable[[Any], T]
    timeout: float | None = None


class ClientCore:
    """Address, token, timeout and retries of a client, and the calls it makes."""

    def __init__(self, address: str | None, token: str | None, timeout: float | None, retries: int) -> None:
        self.address = resolve_address(address)
        self.timeout = timeout
        self.retries = retries
        self.metadata = call_metadata(token if token is not None else os.environ.get(TOKEN_ENV))

    # -- the calls ------------------------------------------------------------------------------
    @staticmethod
    def generate_request(prompt: str, options: Mapping[str, Any]) -> pb.GenerateRequest:
        return build_request(prompt, **options)

    @staticmethod
    def cancel(job_id: str, *, quiet: bool = False) -> Call[bool]:
        # Quiet: the belt-and-braces cancel after a stream was cancelled; not retried, short.
        return Call("Cancel", pb.CancelRequest(job_id=job_id), not quiet, lambda r: r.found, 5.0 if quiet else None)

    @staticmethod
    def info() -> Call[Info]:
        return Call("GetInfo", pb.GetInfoRequest(), True, Info.from_pb)

    @staticmethod
    def load(model: str = "") -> Call[Info]:
        return Call("Load", pb.LoadRequest(model=model), True, Info.from_pb)

    @staticmethod
    def unload() -> Call[Info]:
        return Call("Unload", pb.UnloadRequest(), True, Info.from_pb)

    @staticmethod
    def prefetch(requests: Iterable[Mapping[str, Any]]) -> Call[PrefetchResult]:
        # Not retried: a lost reply may still have queued the jobs.
        message = pb.PrefetchRequest(requests=[request_from_mapping(r) for r in requests])
        return Call("Prefetch", message, False, lambda r: PrefetchResult(list(r.job_ids), r.already_cached))

    # -- running them ---------------------------------------------------------------------------
    def call_kwargs(self, call: Call[Any]) -> dict[str, Any]:
        return {"timeout": call.timeout or self.timeout, "metadata": self.metadata}

    def delays(self, call: Call[Any]) -> list[float]:
        """Waits before each retry of `call` (empty when it must not be retried)."""
        return backoff_delays(self.retries) if call.retry else []

    @staticmethod
    def failed(error: grpc.RpcError, delays: list[float]) -> float | Ltx2Error:
        """After `error`: the seconds to wait before trying again, or the error to raise."""
        if delays and is_retryable(error):
            return delays.pop(0)
        return from_rpc_error(error)

    @staticmethod
    def healthy(data: bytes) -> bool:
        return parse_health_status(data) == SERVING


class ClientBase:
    """The constructor both clients share; each opens its channel in `_connect()`."""

    def __init__(
        self,
        address: str | None = None,
        *,
        token: str | None = None,
        timeout: float | None = None,
        retries: int = 3,
    ) -> None:
        self._core = ClientCore(address, token, timeout, retries)
        self._connect()

    def _connect(self) -> None:
        raise NotImplementedError

    @property
    def address(self) -> str:
        """The daemon's `host:port`."""
        return self._core.address
