"""One place where a gRPC handler's exception becomes a status (after text-generation-inference's
`interceptor.py`).

Every `ltx2d.v1.Ltx2d` handler runs inside `ErrorInterceptor`: an exception ends the call with the
status and message `errors.service_error` gives it (the bridge uses the same function), plus the
trailing metadata `ltx2d-field` naming the offending field when there is one. An unexpected
exception is logged and becomes INTERNAL; the server keeps serving.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from .errors import ServiceError, StatusCode, service_error

FIELD_METADATA_KEY = "ltx2d-field"


async def abort_with(context: grpc.aio.ServicerContext, error: ServiceError) -> None:
    """End the call with `error`'s status, message and (when known) its field."""
    trailing = ((FIELD_METADATA_KEY, error.field),) if error.field else ()
    await context.abort(grpc.StatusCode[StatusCode(error.code).value], error.message, trailing_metadata=trailing)


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Maps the exceptions of the handlers of `service` (a full service name) to statuses."""

    def __init__(self, service: str) -> None:
        self._prefix = f"/{service}/"

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith(self._prefix) or handler.request_streaming:
            return handler
        codecs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(_streaming(handler.unary_stream, method), **codecs)
        return grpc.unary_unary_rpc_method_handler(_unary(handler.unary_unary, method), **codecs)


def _unary(behaviour: Callable[..., Awaitable[Any]], method: str) -> Callable[..., Awaitable[Any]]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await behaviour(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await abort_with(context, service_error(exc, method))

    return call


def _streaming(behaviour: Callable[..., AsyncIterator[Any]], method: str) -> Callable[..., AsyncIterator[Any]]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            # aclosing: a cancel that lands while this wrapper waits at `yield` still closes the
            # handler (and so the job) at once, not whenever it is garbage-collected.
            async with contextlib.aclosing(behaviour(request, context)) as items:
                async for item in items:
                    yield item
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await abort_with(context, service_error(exc, method))

    return call
