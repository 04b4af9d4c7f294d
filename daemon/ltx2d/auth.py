"""Shared-token authentication, checked the same way on both transports.

With no token configured (the loopback default) everything is allowed. With a token, every gRPC
call must carry `authorization: Bearer <token>` metadata and every bridge connection must start
with a `hello` that carries it; anything else is UNAUTHENTICATED.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable

import grpc

AUTH_METADATA_KEY = "authorization"
UNAUTHENTICATED_MESSAGE = "a valid token is required (gRPC metadata 'authorization: Bearer <token>')"


class TokenAuth:
    """Compares presented tokens with the configured one in constant time."""

    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None

    @property
    def required(self) -> bool:
        return self._token is not None

    def check(self, presented: str | None) -> bool:
        """True when no token is required, or `presented` is the token."""
        if self._token is None:
            return True
        if not isinstance(presented, str):
            return False
        return hmac.compare_digest(presented.encode(), self._token)

    def check_metadata(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> bool:
        """True when gRPC metadata carries `authorization: Bearer <token>` (or no token is needed)."""
        if self._token is None:
            return True
        for key, value in metadata or ():
            if key.lower() != AUTH_METADATA_KEY or not isinstance(value, str):
                continue
            scheme, _, presented = value.partition(" ")
            if scheme.lower() == "bearer" and self.check(presented.strip()):
                return True
        return False


class GrpcAuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses every gRPC call (health and reflection included) that lacks the token."""

    def __init__(self, auth: TokenAuth) -> None:
        self._auth = auth

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or self._auth.check_metadata(handler_call_details.invocation_metadata):
            return handler
        return _denying_handler(handler)


def _denying_handler(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that ends the call with UNAUTHENTICATED."""

    async def deny(_request: object, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE)

    codecs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(deny, **codecs)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(deny, **codecs)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(deny, **codecs)
    return grpc.unary_unary_rpc_method_handler(deny, **codecs)
