"""Shared pieces of the reliability suite: the daemon's arguments, a raw-socket bridge client, gRPC
helpers that tell whether the daemon still serves, and the count of cases run.

Everything runs against a real `python -m ltx2d` with the tiny model on loopback (port 0).
"""

from __future__ import annotations

import collections
import socket
import time
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2_grpc as pb_grpc
from ltx2d.msgpack_codec import MalformedFrame, encode_frame, recv_frame

if TYPE_CHECKING:
    from ltx2d.testing import DaemonProcess

# Small clips: a generation takes a fraction of a second on a CPU.
TINY_ARGS = [
    "--default-width", "64",
    "--default-height", "64",
    "--default-num-frames", "17",
    "--default-steps", "2",
    "--default-chunk-frames", "8",
    "--preload",
]  # fmt: skip
# Small limits keep every valid request of the property tests small (they are accepted, then
# cancelled). The oracle reads the same values through DaemonConfig.
MAX_FRAME = 64 * 1024
LIMIT_ARGS = [
    "--max-width", "256",
    "--max-height", "256",
    "--max-frames", "33",
    "--max-steps", "8",
    "--bridge-max-frame", str(MAX_FRAME),
]  # fmt: skip
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", -1)]

# Cases run per kind, printed at the end of the session (conftest.py).
CASES: collections.Counter[str] = collections.Counter()


def count(kind: str, n: int = 1) -> None:
    CASES[kind] += n


class RawBridge:
    """A blocking socket client of the msgpack bridge: frames in, frames out, nothing checked."""

    def __init__(self, address: str, timeout: float = 10.0) -> None:
        host, _, port = address.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.settimeout(timeout)

    def send(self, message: dict[str, Any]) -> None:
        self.send_raw(encode_frame(message))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def shutdown_write(self) -> None:
        """Half-close: the daemon sees the end of the stream, the client can still read."""
        self.sock.shutdown(socket.SHUT_WR)

    def recv(self) -> dict[str, Any] | None:
        """The next map, None when the daemon closed the connection (socket.timeout if it hangs)."""
        try:
            message = recv_frame(self.sock)
        except MalformedFrame as exc:
            raise AssertionError(f"the daemon sent a malformed frame: {exc}") from None
        assert message is None or isinstance(message.get("type"), str), message
        return message

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send `message`; the first reply with its id (others, from earlier jobs, are dropped)."""
        self.send(message)
        while True:
            reply = self.recv()
            assert reply is not None, f"the daemon closed the connection after {message!r}"
            if reply.get("id") == message.get("id"):
                return reply

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawBridge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def outcome_of(daemon: DaemonProcess, job_id: str, timeout: float = 30.0) -> str:
    """The outcome the daemon logged for `job_id` (its 'job finished' line)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in daemon.stderr.splitlines():
            if "job finished" in line and job_id in line and "outcome=" in line:
                return line.split("outcome=", 1)[1].split()[0]
        time.sleep(0.02)
    raise AssertionError(f"no 'job finished' line for {job_id}")


def healthy(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def wait_idle(stub: pb_grpc.Ltx2dStub, timeout: float = 60.0) -> pb.Info:
    """Wait until no job runs or waits (cancelled jobs stop at their next step or chunk)."""
    deadline = time.monotonic() + timeout
    while True:
        info = stub.GetInfo(pb.GetInfoRequest(), timeout=10)
        if not info.running_job_id and info.queue_depth == 0:
            return info
        assert time.monotonic() < deadline, f"the daemon is still busy: {info}"
        time.sleep(0.02)


def tiny_generation(stub: pb_grpc.Ltx2dStub, **fields: Any) -> list[pb.GenerateEvent]:
    """A whole tiny clip over gRPC (cache bypassed unless asked), checked for completeness."""
    fields.setdefault("prompt", "a wooden door creaks open")
    fields.setdefault("seed", 7)
    fields.setdefault("cache_policy", pb.CACHE_POLICY_BYPASS)
    events = list(stub.Generate(pb.GenerateRequest(**fields), timeout=120))
    assert events[0].HasField("accepted") and events[-1].HasField("completed"), events[-1]
    fmt = events[0].accepted.format
    frames = sum(e.video_chunk.num_frames for e in events if e.HasField("video_chunk"))
    samples = sum(e.audio_chunk.num_samples for e in events if e.HasField("audio_chunk"))
    assert frames == events[-1].completed.num_frames == (0 if fmt.audio_only else fmt.num_frames), (frames, fmt)
    assert samples == fmt.num_samples == events[-1].completed.num_samples
    return events


def assert_serving(address: str, stub: pb_grpc.Ltx2dStub, bridge_address: str | None = None) -> None:
    """Health SERVING, a tiny generation completes, and (when given) the bridge answers a ping."""
    assert healthy(address)
    wait_idle(stub)
    tiny_generation(stub)
    if bridge_address is not None:
        with RawBridge(bridge_address) as bridge:
            assert bridge.request({"type": "ping", "id": "alive"}) == {"type": "pong", "id": "alive"}


# Lines a daemon must never log: an exception nobody handled.
UNHANDLED = ("Task exception was never retrieved", "Exception in callback", "Unhandled exception")


def unhandled_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if any(marker in line for marker in UNHANDLED)]
