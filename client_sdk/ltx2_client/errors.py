"""Typed errors of the SDK, mapped from the daemon's gRPC status codes."""

from __future__ import annotations

import grpc

FIELD_METADATA_KEY = "ltx2d-field"


class Ltx2Error(Exception):
    """Base class of every error the SDK raises on purpose.

    `code` is the gRPC status name ("INVALID_ARGUMENT", ...) or "" for errors raised by the SDK
    itself; `message` is the daemon's message, unchanged.
    """

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class InvalidArgument(Ltx2Error, ValueError):
    """The daemon refused a request field; `field` names it (from the `ltx2d-field` trailer)."""

    def __init__(self, message: str, *, field: str = "", code: str = "INVALID_ARGUMENT") -> None:
        super().__init__(message, code=code)
        self.field = field


class Busy(Ltx2Error):
    """RESOURCE_EXHAUSTED: the queue is full or the GPU ran out of memory. Try again later."""


class DeadlineExceeded(Ltx2Error, TimeoutError):
    """The call's deadline passed before the daemon finished."""


class Unavailable(Ltx2Error, ConnectionError):
    """The daemon could not be reached (not running, wrong address, connection lost)."""


class Unauthenticated(Ltx2Error, PermissionError):
    """The daemon wants a token (`authorization: Bearer ...`) and got none or a wrong one."""


class Cancelled(Ltx2Error):
    """The job was cancelled (by this client, by a Cancel call, or by the daemon)."""


class ProtocolError(Ltx2Error):
    """The stream broke the wire contract (missing Accepted, gaps in indices, wrong sizes)."""


class MissingDependency(Ltx2Error, ImportError):
    """An optional dependency (PyAV, for media export and JPEG frames) is not installed."""


_BY_CODE: dict[grpc.StatusCode, type[Ltx2Error]] = {
    grpc.StatusCode.RESOURCE_EXHAUSTED: Busy,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.CANCELLED: Cancelled,
}


def _field_from(error: grpc.RpcError) -> str:
    trailing = getattr(error, "trailing_metadata", None)
    try:
        items = trailing() if callable(trailing) else ()
    except Exception:  # a call that never connected has no trailers
        items = ()
    for key, value in items or ():
        if key == FIELD_METADATA_KEY:
            return value.decode() if isinstance(value, bytes) else str(value)
    return ""


def from_rpc_error(error: grpc.RpcError) -> Ltx2Error:
    """The SDK error for a failed gRPC call (sync or asyncio), carrying the daemon's message."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message = (error.details() if hasattr(error, "details") else None) or str(code)
    name = code.name if isinstance(code, grpc.StatusCode) else str(code)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidArgument(message, field=_field_from(error), code=name)
    return _BY_CODE.get(code, Ltx2Error)(message, code=name)


def is_retryable(error: grpc.RpcError) -> bool:
    """True for failures that prove nothing reached the daemon's scheduler (connection trouble)."""
    return hasattr(error, "code") and error.code() == grpc.StatusCode.UNAVAILABLE
