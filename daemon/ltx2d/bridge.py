"""The msgpack bridge: length-prefixed msgpack maps over TCP, for engines without gRPC (Godot).

Framing and maps are specified in docs/bridge-protocol.md. One `BridgeConnection` per client:
its read loop parses frames and starts one task per request (at most `MAX_REQUESTS` at once), so
several jobs run multiplexed on one connection by the client's `id`. One writer task per
connection writes whole frames, so frames never interleave: replies first, then the jobs' frames
in turn, one frame per job at a time. Each generate waits for room in its own lane of one frame,
so a job whose frames are large (or whose client is slow) holds at most that frame plus the one
being written, and never holds up the frames of the other jobs beyond a frame; a job that cannot
send for the daemon's stall limit is cancelled by the scheduler. A frame that has begun must
arrive whole within the stall limit. A malformed frame gets one `error` frame with `id` nil and
closes that connection; closing a connection cancels its jobs. Nothing here touches other
connections.

Translation only: framing and maps are `msgpack_codec`, events are `event_encoding` (the same
encoding as gRPC, packed without a protobuf in between), the service validates, and an exception
becomes its error map through `errors.service_error`, as on gRPC.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb

from . import __version__, proto_convert
from .auth import TokenAuth
from .domain import Accepted, ClipRequest, Delivery, ServiceInfo
from .errors import ServiceError, StatusCode, invalid, service_error
from .event_encoding import EncodedEvent, encode_event, is_slow_to_encode
from .msgpack_codec import MalformedFrame, encode_frame_parts, map_to_message, message_to_map, read_frame

if TYPE_CHECKING:
    from .service import Ltx2dService

log = logging.getLogger("ltx2d.bridge")

MAX_REQUESTS = 32  # request tasks per connection (generates included); more are refused
LANE_FRAMES = 1  # frames a generate may queue before it waits for the writer
REPLY_FRAMES = 64  # replies queued before the read loop waits (a client sending without reading)
REQUEST_TYPES = ("hello", "generate", "cancel", "info", "load", "unload", "prefetch", "ping")


def request_type(message: dict[str, Any]) -> str:
    """The `type` of a request map; MalformedFrame when it has none or an unknown one."""
    kind = message.get("type")
    if kind not in REQUEST_TYPES:
        raise MalformedFrame(f"type={kind!r}: must be one of {', '.join(REQUEST_TYPES)}", "type")
    return kind


def error_map(request_id: Any, error: ServiceError, job_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "error",
        "id": request_id,
        "code": str(error.code),
        "message": error.message,
    }
    if job_id:
        out["job_id"] = job_id
    if error.field is not None:
        out["field"] = error.field
    return out


@dataclass(eq=False)  # compared and hashed by identity: it names its lane
class _Generation:
    """A generate running on a connection, by the client's request id."""

    task: asyncio.Task[None] | None = None
    job_id: str | None = None
    cancel_requested: bool = False
    # Accepted waits for the model to choose the length: a cancel before it stops the task.
    defers_accepted: bool = False


@dataclass
class BridgeSettings:
    auth: TokenAuth
    max_frame: int
    # Seconds a frame that has begun may take to arrive whole (None: no limit).
    frame_timeout_s: float | None = 30.0


Frame = tuple[bytes, bytes]  # header, body


class _Lanes:
    """The frames waiting for a connection's writer: replies, and one bounded lane per job."""

    def __init__(self) -> None:
        self.replies: asyncio.Queue[Frame] = asyncio.Queue(REPLY_FRAMES)
        self.jobs: dict[object, asyncio.Queue[Frame]] = {}
        self.turns: collections.deque[object] = collections.deque()  # jobs with frames, in turn
        self.ended: set[object] = set()  # jobs done sending: their lane goes once it is empty
        self.pending = asyncio.Event()
        self.broken: BaseException | None = None

    def next_frame(self) -> Frame | None:
        if not self.replies.empty():
            return self.replies.get_nowait()
        while self.turns:
            lane = self.turns.popleft()
            queue = self.jobs.get(lane)
            if queue is None or queue.empty():
                continue
            frame = queue.get_nowait()
            if not queue.empty():
                self.turns.append(lane)  # next turn after the other jobs
            elif lane in self.ended:
                self.ended.discard(lane)
                del self.jobs[lane]
            return frame
        return None


class BridgeConnection:
    """One client connection: reads frames, runs requests, writes replies."""

    def __init__(
        self,
        service: Ltx2dService,
        settings: BridgeSettings,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self._service = service
        self._settings = settings
        self._reader = reader
        self._writer = writer
        self._lanes = _Lanes()
        self._writer_task: asyncio.Task[None] | None = None
        self._jobs: dict[Any, _Generation] = {}
        self._requests: set[asyncio.Task[None]] = set()
        self._authenticated = not settings.auth.required
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.client = ""

    async def run(self) -> None:
        """Serve until the client closes, a frame is malformed, or the server stops."""
        self._writer_task = asyncio.create_task(self._write_loop(), name=f"ltx2d-bridge-writer-{self.peer}")
        try:
            while True:
                try:
                    message = await self._read_frame()
                except MalformedFrame as exc:
                    log.warning("bridge %s: malformed frame: %s; closing", self.peer, exc)
                    await self.send(error_map(None, ServiceError(StatusCode.INVALID_ARGUMENT, str(exc), exc.field)))
                    return
                if message is None:
                    return
                if not await self._dispatch(message):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            await self._close()

    async def _write_loop(self) -> None:
        lanes = self._lanes
        try:
            while True:
                frame = lanes.next_frame()
                if frame is None:
                    lanes.pending.clear()
                    if (frame := lanes.next_frame()) is None:
                        await lanes.pending.wait()
                        continue
                header, body = frame
                self._writer.write(header)  # two writes: writelines joins (copies) them on 3.11
                self._writer.write(body)
                await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            lanes.broken = exc
            for queue in (lanes.replies, *lanes.jobs.values()):  # wake senders waiting for room
                while not queue.empty():
                    queue.get_nowait()

    async def _read_frame(self) -> dict[str, Any] | None:
        """The next map, None at a clean end of stream."""
        message = await read_frame(self._reader, self._settings.max_frame, self._settings.frame_timeout_s)
        if message is not None:
            request_type(message)
        return message

    async def send(self, message: dict[str, Any], lane: object = None) -> None:
        """Queue one frame for the writer: a reply (lane None) goes first; a job's frame (lane:
        its request id) waits for room in that job's lane, which is what paces the job."""
        lanes = self._lanes
        if lanes.broken is not None:
            raise ConnectionResetError(f"the connection is closed: {lanes.broken}")
        frame = encode_frame_parts(message)
        if lane is None:
            queue = lanes.replies
        elif (queue := lanes.jobs.get(lane)) is None:
            queue = lanes.jobs[lane] = asyncio.Queue(LANE_FRAMES)
        await queue.put(frame)
        if lanes.broken is not None:
            raise ConnectionResetError(f"the connection is closed: {lanes.broken}")
        if lane is not None:
            lanes.turns.append(lane)
        lanes.pending.set()

    def _close_lane(self, lane: object) -> None:
        """Forget a finished job's lane once its frames are written (a new job may reuse the id)."""
        queue = self._lanes.jobs.get(lane)
        if queue is not None and queue.empty():
            del self._lanes.jobs[lane]
        elif queue is not None:
            self._lanes.ended.add(lane)  # the writer drops it after its last frame

    async def _dispatch(self, message: dict[str, Any]) -> bool:
        """Start handling one request; False when the connection must close."""
        kind = message.pop("type")
        request_id = message.pop("id", None)
        if kind == "hello":
            return await self._hello(request_id, message)
        if not self._authenticated:
            await self.send(
                error_map(
                    request_id,
                    ServiceError(StatusCode.UNAUTHENTICATED, "send hello with a valid token first"),
                )
            )
            return False
        if kind not in ("ping", "cancel") and len(self._requests) + len(self._jobs) >= MAX_REQUESTS:
            error = ServiceError(
                StatusCode.RESOURCE_EXHAUSTED,
                f"this connection already has {MAX_REQUESTS} requests in progress; wait for one to finish",
            )
            await self.send(error_map(request_id, error))
            return True
        if kind == "generate":
            await self._start_generate(request_id, message)
        elif kind == "cancel":
            self._spawn(request_id, self._cancel(request_id, message))
        elif kind == "ping":
            await self._reply_checked(request_id, message, {}, {"type": "pong"})
        elif kind in ("info", "unload"):
            call = {"info": self._service.info, "unload": self._service.unload}[kind]
            self._spawn(request_id, self._info(request_id, message, call))
        elif kind == "load":
            self._spawn(request_id, self._load(request_id, message))
        elif kind == "prefetch":
            self._spawn(request_id, self._prefetch(request_id, message))
        return True

    def _spawn(self, request_id: Any, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except (asyncio.CancelledError, ConnectionError):
                raise
            except Exception as exc:
                await self.send(error_map(request_id, service_error(exc, f"bridge {self.peer} request {request_id!r}")))

        task = asyncio.create_task(run())
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    async def _reply_checked(
        self, request_id: Any, message: dict[str, Any], allowed: dict[str, type], reply: dict[str, Any]
    ) -> None:
        for key in message:
            if key not in allowed:
                await self.send(error_map(request_id, invalid(key, message[key], "unknown key for this request")))
                return
        await self.send({**reply, "id": request_id})

    async def _hello(self, request_id: Any, message: dict[str, Any]) -> bool:
        token = message.get("token")
        version = message.get("protocol_version")
        unknown = set(message) - {"token", "client", "protocol_version"}
        if unknown:
            key = sorted(unknown)[0]
            await self.send(error_map(request_id, invalid(key, message[key], "unknown key for hello")))
            return self._authenticated
        if version != proto_convert.PROTOCOL_VERSION:
            # Required, so that a client written for another version fails here, not mid-stream.
            rule = f"this daemon speaks version {proto_convert.PROTOCOL_VERSION}; hello must say which it speaks"
            await self.send(error_map(request_id, invalid("protocol_version", version, rule)))
            return False
        if not self._settings.auth.check(token):
            await self.send(error_map(request_id, ServiceError(StatusCode.UNAUTHENTICATED, "invalid token")))
            return False
        self._authenticated = True
        self.client = str(message.get("client") or "")
        await self.send(
            {
                "type": "hello",
                "id": request_id,
                "protocol_version": proto_convert.PROTOCOL_VERSION,
                "version": __version__,
            }
        )
        return True

    async def _start_generate(self, request_id: Any, message: dict[str, Any]) -> None:
        if request_id is None or isinstance(request_id, bool) or not isinstance(request_id, int | str):
            await self.send(error_map(None, invalid("id", request_id, "generate needs an integer or string id")))
            return
        if request_id in self._jobs:
            error = invalid("id", request_id, "already used by a running generate on this connection")
            await self.send(error_map(request_id, error))
            return
        try:
            request = map_to_message(message, pb.GenerateRequest)
            clip = proto_convert.request_from_proto(request, client=self._client_label())
        except Exception as exc:  # a conversion bug answers this request too; the connection stays up
            await self.send(error_map(request_id, service_error(exc, f"bridge {self.peer} generate {request_id!r}")))
            return
        entry = _Generation(defers_accepted=clip.defers_accepted)
        self._jobs[request_id] = entry
        entry.task = asyncio.create_task(self._generate(request_id, entry, clip))

    def _client_label(self) -> str:
        return f"bridge {self.peer}" + (f" {self.client}" if self.client else "")

    async def _generate(self, request_id: Any, entry: _Generation, clip: ClipRequest) -> None:
        events = self._service.generate(clip)
        delivery = Delivery()
        try:
            async for event in events:
                if isinstance(event, Accepted):
                    entry.job_id, delivery = event.job_id, event.delivery
                    if entry.cancel_requested:
                        # A cancel sent before `accepted` (answered found=true): the stream ends
                        # with the CANCELLED error alone; closing `events` below cancels the job.
                        await self._service.cancel(event.job_id)
                        raise ServiceError(StatusCode.CANCELLED, "the job was cancelled")
                if is_slow_to_encode(event, delivery):
                    encoded = await asyncio.to_thread(encode_event, event, delivery)
                else:
                    encoded = encode_event(event, delivery)
                if encoded.kind == "completed" and self._jobs.get(request_id) is entry:
                    del self._jobs[request_id]  # the stream ends here: the id is free again
                await self.send(event_map(request_id, entry.job_id or "", encoded), lane=entry)
        except ConnectionError:
            pass  # the client is gone: the job is cancelled below; the read loop closes the connection
        except asyncio.CancelledError:
            if not entry.cancel_requested:
                raise  # the connection is closing
            # A cancel before `accepted` of a job whose length the model was still to choose
            # (`_cancel` stopped this task): its stream is the CANCELLED error alone.
            error = ServiceError(StatusCode.CANCELLED, "the job was cancelled before the model chose its length")
            with contextlib.suppress(ConnectionError):
                await self.send(error_map(request_id, error), lane=entry)
        except Exception as exc:
            if self._jobs.get(request_id) is entry:
                del self._jobs[request_id]
            error = service_error(exc, f"bridge {self.peer} generate {request_id!r}")
            with contextlib.suppress(ConnectionError):
                await self.send(error_map(request_id, error, entry.job_id), lane=entry)
        finally:
            # Closing the iterator cancels the job when it has not ended (connection closed).
            await events.aclose()
            self._close_lane(entry)
            if self._jobs.get(request_id) is entry:  # not a new generate that reused the id
                del self._jobs[request_id]

    async def _cancel(self, request_id: Any, message: dict[str, Any]) -> None:
        unknown = set(message) - {"job_id"}
        if unknown:
            key = sorted(unknown)[0]
            raise invalid(key, message[key], "unknown key for cancel")
        job_id = message.get("job_id")
        if job_id is None and not isinstance(request_id, int | str):
            raise invalid("id", request_id, "must be an integer or string")
        if job_id is not None:
            if not isinstance(job_id, str):
                raise invalid("job_id", job_id, "must be a string")
            found = await self._service.cancel(job_id)
        elif (entry := self._jobs.get(request_id)) is None:
            found = False
        elif entry.job_id is None:
            # Not accepted yet: cancel as soon as it is, or now when accepted waits for the
            # model to choose the length (closing the stream cancels the job wherever it is).
            entry.cancel_requested = True
            if entry.defers_accepted and entry.task is not None:
                entry.task.cancel()
            found = True
        else:
            found = await self._service.cancel(entry.job_id)
        await self.send({"type": "cancel", "id": request_id, "found": bool(found)})

    async def _info(self, request_id: Any, message: dict[str, Any], call: Callable[[], Awaitable[Any]]) -> None:
        if message:
            key = sorted(message)[0]
            raise invalid(key, message[key], "unknown key for this request")
        await self._send_info(request_id, await call())

    async def _load(self, request_id: Any, message: dict[str, Any]) -> None:
        request = map_to_message(message, pb.LoadRequest)  # unknown keys refused, naming them
        await self._send_info(request_id, await self._service.load(request.model))

    async def _send_info(self, request_id: Any, info: ServiceInfo) -> None:
        await self.send({"type": "info", "id": request_id, **message_to_map(proto_convert.info_to_proto(info))})

    async def _prefetch(self, request_id: Any, message: dict[str, Any]) -> None:
        request = map_to_message(message, pb.PrefetchRequest)
        requests = proto_convert.prefetch_from_proto(request, client=self._client_label())
        job_ids, already_cached = await self._service.prefetch(requests)
        await self.send(
            {
                "type": "prefetch",
                "id": request_id,
                "job_ids": [j or "" for j in job_ids],
                "already_cached": already_cached,
            }
        )

    async def _close(self) -> None:
        tasks = [t for t in (*(j.task for j in self._jobs.values()), *self._requests) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._writer_task is not None:
            # Let replies already queued (an error about a malformed frame) go out first.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    while not self._lanes.replies.empty() and self._lanes.broken is None:
                        await asyncio.sleep(0.01)
            self._writer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer_task
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()


def event_map(request_id: Any, job_id: str, event: EncodedEvent) -> dict[str, Any]:
    """An encoded event as a bridge map: `type` is the event's kind, its fields at top level
    (the chunk's bytes as they came from the engine, not copied)."""
    return {"type": event.kind, "id": request_id, "job_id": job_id, **event.fields}


@dataclass
class BridgeServer:
    """Listens for bridge connections and serves each with a `BridgeConnection`."""

    service: Ltx2dService
    settings: BridgeSettings
    _server: asyncio.Server | None = None
    _connections: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self, host: str, port: int) -> int:
        """Bind and start accepting; returns the port bound (useful with port 0)."""
        self._server = await asyncio.start_server(self._accept, host, port)
        return self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:  # notice peers that vanish without closing (their jobs get cancelled)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        connection = BridgeConnection(self.service, self.settings, reader, writer)
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        log.info(
            "bridge %s: connected",
            connection.peer,
            extra={"event": "bridge_connected", "peer": connection.peer},
        )
        try:
            await connection.run()
        except asyncio.CancelledError:
            # close() cancels connections. This task is ours alone, and ending it normally spares
            # asyncio's client_connected_cb callback from calling exception() on a cancelled task.
            pass
        finally:
            self._connections.discard(task)
            log.info(
                "bridge %s: closed",
                connection.peer,
                extra={"event": "bridge_closed", "peer": connection.peer},
            )

    def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close()

    async def close(self) -> None:
        """Stop listening and close every connection (which cancels their jobs)."""
        self.stop_accepting()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
