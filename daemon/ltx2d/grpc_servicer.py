"""The gRPC transport: `ltx2d.v1.Ltx2d` on grpc.aio, translating with `wire` and calling the service.

Errors: a `ServiceError` ends the call with its status code and message, plus trailing metadata
`ltx2d-field` naming the offending field when there is one; any other exception is logged and
ends the call with INTERNAL (one place: `_grpc_errors`), and the server keeps serving.
Cancellation: when the client goes away or its deadline passes, grpc.aio cancels the handler,
which closes the service's event iterator, which cancels the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import grpc

from ltx2 import GenerationParams, Limits
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2_grpc as pb_grpc

from . import wire
from .jobs import Accepted, ServiceError, StatusCode

if TYPE_CHECKING:
    from .service import Ltx2dService

log = logging.getLogger("ltx2d.grpc")

FIELD_METADATA_KEY = "ltx2d-field"


async def abort_with(context: grpc.aio.ServicerContext, error: ServiceError) -> None:
    """End the call with `error`'s status, message and (when known) its field."""
    trailing = ((FIELD_METADATA_KEY, error.field),) if error.field else ()
    await context.abort(grpc.StatusCode[StatusCode(error.code).value], error.message, trailing_metadata=trailing)


def _internal(exc: BaseException) -> ServiceError:
    return ServiceError(StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}")


def _grpc_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turn ServiceError into its status and anything unexpected into INTERNAL (unary methods)."""

    @functools.wraps(method)
    async def wrapper(self: Ltx2dServicer, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except ServiceError as exc:
            await abort_with(context, exc)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            log.exception("%s failed", method.__name__)
            await abort_with(context, _internal(exc))

    return wrapper


def _grpc_stream_errors(method: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    """The same as `_grpc_errors` for server-streaming methods."""

    @functools.wraps(method)
    async def wrapper(self: Ltx2dServicer, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            # aclosing: a cancel that lands while this wrapper waits at `yield` still closes the
            # inner generator (and so the job) at once, not whenever it is garbage-collected.
            async with contextlib.aclosing(method(self, request, context)) as items:
                async for item in items:
                    yield item
        except ServiceError as exc:
            await abort_with(context, exc)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            log.exception("%s failed", method.__name__)
            await abort_with(context, _internal(exc))

    return wrapper


def deadline_of(context: grpc.aio.ServicerContext) -> float | None:
    """The call's deadline as a `time.monotonic()` instant, or None without one."""
    remaining = context.time_remaining()
    if remaining is None:
        return None
    return time.monotonic() + max(0.0, remaining)


class Ltx2dServicer(pb_grpc.Ltx2dServicer):
    """Serves `ltx2d.v1.Ltx2d` from one `Ltx2dService`."""

    def __init__(self, service: Ltx2dService, *, defaults: GenerationParams, limits: Limits) -> None:
        self._service = service
        self._defaults = defaults
        self._limits = limits

    @_grpc_stream_errors
    async def Generate(
        self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.GenerateEvent]:
        job, delivery = wire.request_from_proto(
            request,
            self._defaults,
            self._limits,
            client=f"grpc {context.peer()}",
            deadline=deadline_of(context),
        )
        events = self._service.generate(job)
        job_id = ""
        try:
            async for event in events:
                if isinstance(event, Accepted):
                    job_id = event.job_id
                if wire.is_slow_to_encode(event, delivery):
                    yield await asyncio.to_thread(wire.event_to_proto, job_id, event, delivery)
                else:
                    yield wire.event_to_proto(job_id, event, delivery)
        finally:
            # Also runs when grpc.aio cancels this handler (client gone, deadline): cancels the job.
            await events.aclose()

    @_grpc_errors
    async def Cancel(self, request: pb.CancelRequest, context: grpc.aio.ServicerContext) -> pb.CancelResponse:
        return pb.CancelResponse(found=await self._service.cancel(request.job_id))

    @_grpc_errors
    async def GetInfo(self, request: pb.GetInfoRequest, context: grpc.aio.ServicerContext) -> pb.Info:
        return wire.info_to_proto(await self._service.info(), self._defaults)

    @_grpc_errors
    async def Load(self, request: pb.LoadRequest, context: grpc.aio.ServicerContext) -> pb.Info:
        return wire.info_to_proto(await self._service.load(), self._defaults)

    @_grpc_errors
    async def Unload(self, request: pb.UnloadRequest, context: grpc.aio.ServicerContext) -> pb.Info:
        return wire.info_to_proto(await self._service.unload(), self._defaults)

    @_grpc_errors
    async def Prefetch(self, request: pb.PrefetchRequest, context: grpc.aio.ServicerContext) -> pb.PrefetchResponse:
        jobs = wire.prefetch_from_proto(request, self._defaults, self._limits, client=f"grpc {context.peer()}")
        job_ids, already_cached = await self._service.prefetch(jobs)
        return pb.PrefetchResponse(job_ids=[j or "" for j in job_ids], already_cached=already_cached)
