"""The gRPC transport: `ltx2d.v1.Ltx2d` on grpc.aio, translating with `proto_convert` and calling
the service.

Translation only: the service validates, and `ErrorInterceptor` (grpc_interceptor.py) turns any
exception into its status. Cancellation: when the client goes away or its deadline passes,
grpc.aio cancels the handler, which closes the service's event iterator, which cancels the job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc

from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2_grpc as pb_grpc

from . import proto_convert
from .domain import Accepted, Delivery
from .event_encoding import encode_event, is_slow_to_encode

if TYPE_CHECKING:
    from .service import Ltx2dService


def deadline_of(context: grpc.aio.ServicerContext) -> float | None:
    """The call's deadline as a `time.monotonic()` instant, or None without one."""
    # The clock is read before grpc's remaining time, never after: a thread switch between the two
    # would otherwise put our deadline after grpc's own, and a call grpc cancelled at its deadline
    # would be recorded as CANCELLED (seen under load in CI).
    now = time.monotonic()
    remaining = context.time_remaining()
    if remaining is None:
        return None
    return now + max(0.0, remaining)


class Ltx2dServicer(pb_grpc.Ltx2dServicer):
    """Serves `ltx2d.v1.Ltx2d` from one `Ltx2dService`."""

    def __init__(self, service: Ltx2dService) -> None:
        self._service = service

    async def Generate(
        self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.GenerateEvent]:
        clip = proto_convert.request_from_proto(request, client=f"grpc {context.peer()}", deadline=deadline_of(context))
        events = self._service.generate(clip)
        job_id, delivery = "", Delivery()
        try:
            async for event in events:
                if isinstance(event, Accepted):
                    job_id, delivery = event.job_id, event.delivery
                if is_slow_to_encode(event, delivery):
                    encoded = await asyncio.to_thread(encode_event, event, delivery)
                else:
                    encoded = encode_event(event, delivery)
                yield proto_convert.event_message(job_id, encoded)
        finally:
            # Also runs when grpc.aio cancels this handler (client gone, deadline): cancels the job.
            await events.aclose()

    async def Cancel(self, request: pb.CancelRequest, context: grpc.aio.ServicerContext) -> pb.CancelResponse:
        return pb.CancelResponse(found=await self._service.cancel(request.job_id))

    async def GetInfo(self, request: pb.GetInfoRequest, context: grpc.aio.ServicerContext) -> pb.Info:
        return proto_convert.info_to_proto(await self._service.info())

    async def Load(self, request: pb.LoadRequest, context: grpc.aio.ServicerContext) -> pb.Info:
        return proto_convert.info_to_proto(await self._service.load(request.model))

    async def Unload(self, request: pb.UnloadRequest, context: grpc.aio.ServicerContext) -> pb.Info:
        return proto_convert.info_to_proto(await self._service.unload())

    async def Prefetch(self, request: pb.PrefetchRequest, context: grpc.aio.ServicerContext) -> pb.PrefetchResponse:
        requests = proto_convert.prefetch_from_proto(request, client=f"grpc {context.peer()}")
        job_ids, already_cached = await self._service.prefetch(requests)
        return pb.PrefetchResponse(job_ids=[j or "" for j in job_ids], already_cached=already_cached)
