"""Why a request failed, and the one mapping from an exception to that answer.

`ServiceError` carries a status (named as gRPC status codes; the bridge sends the same names), a
message shown to end users as is, and the offending field. `service_error` turns any exception
into one: both transports call it (the gRPC `ErrorInterceptor` and the bridge), so an exception
means the same status and message whichever way the request came.
"""

from __future__ import annotations

import logging
from enum import StrEnum

import ltx2

log = logging.getLogger("ltx2d.errors")


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


def invalid(field: str, value: object, rule: str) -> ServiceError:
    """An INVALID_ARGUMENT error whose message names the field, the value and the rule."""
    return ServiceError(StatusCode.INVALID_ARGUMENT, f"{field}={value!r}: {rule}", field)


def service_error(exc: BaseException, where: str = "request") -> ServiceError:
    """The answer a client gets for `exc`: a ServiceError as is, the engine's own errors by kind,
    anything else INTERNAL (logged with its traceback, since it is a bug)."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, ltx2.InvalidParams):
        return ServiceError(StatusCode.INVALID_ARGUMENT, str(exc), field=exc.field)
    if isinstance(exc, ltx2.OutOfMemory):
        return ServiceError(
            StatusCode.RESOURCE_EXHAUSTED,
            f"GPU out of memory while generating this clip; try a smaller size, fewer frames or audio_only ({exc})",
        )
    if isinstance(exc, ltx2.Cancelled):
        return ServiceError(StatusCode.CANCELLED, "the job was cancelled")
    log.error("%s failed", where, exc_info=exc)
    return ServiceError(StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}")
