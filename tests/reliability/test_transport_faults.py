"""Garbage, oversize and cut-short traffic on both transports of a real daemon (tiny model).

Bridge: random frames and bytes (the daemon answers a malformed frame with one `error`, id nil,
INVALID_ARGUMENT, then closes; it never hangs), length prefixes larger than the data, frames over
--bridge-max-frame. gRPC: requests over the server's receive limit, calls cancelled or channels
closed at any point of a stream (the job is cancelled), and raw bytes on the gRPC port. After each
batch the daemon still serves both transports.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from typing import Any

import grpc
import msgpack
import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2_grpc as pb_grpc
from ltx2d.config import DaemonConfig
from ltx2d.server import MAX_RECEIVE_BYTES
from ltx2d.testing import DaemonProcess
from tests.reliability.harness import (
    CHANNEL_OPTIONS,
    MAX_FRAME,
    RawBridge,
    assert_serving,
    count,
    outcome_of,
    tiny_generation,
    wait_idle,
)
from tests.reliability.oracle import grpc_problems

SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Request types that leave no state behind (load, unload and prefetch would change what later
# tests see; they are covered elsewhere).
SAFE_TYPES = ["hello", "generate", "cancel", "info", "ping"]
REQUEST_TYPES = ("hello", "generate", "cancel", "info", "load", "unload", "prefetch", "ping")
HELLO = {"type", "id", "token", "client", "protocol_version"}
REPLY_TYPES = {"hello", "accepted", "progress", "audio_chunk", "video_chunk", "completed", "error"}
REPLY_TYPES |= {"info", "cancel", "prefetch", "pong"}


# --- what the bridge must do with a byte stream (docs/bridge-protocol.md, "Framing") ---


def frames_until_trouble(data: bytes) -> str:
    """'malformed' when the daemon must answer a malformed frame, 'closed' when a well-formed
    request closes the connection first (a hello of another protocol version), else 'ok'."""
    pos = 0
    while pos < len(data):
        if len(data) - pos < 4:
            return "malformed"  # the connection ends inside a header
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        if length == 0 or length > MAX_FRAME or len(data) - pos - 4 < length:
            return "malformed"
        try:
            message = msgpack.unpackb(data[pos + 4 : pos + 4 + length], raw=False, strict_map_key=False)
        except Exception:
            return "malformed"
        if not isinstance(message, dict) or not all(isinstance(k, str) for k in message):
            return "malformed"
        if message.get("type") not in REQUEST_TYPES:
            return "malformed"
        if message["type"] == "hello" and message.get("protocol_version") not in (None, 1) and set(message) <= HELLO:
            return "closed"
        pos += 4 + length
    return "ok"


msgpack_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**64 - 1),
        st.floats(),
        st.text(max_size=10),
        st.binary(max_size=10),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8,
)
# Ids are scalars: an array id in a cancel is test_known_bugs.py::test_a_cancel_with_an_array_id.
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(), st.text(max_size=10))
request_maps = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(SAFE_TYPES), st.text(max_size=8))},
    optional={
        "id": scalars,
        "prompt": msgpack_values,
        "junk": msgpack_values,
        "protocol_version": st.integers(0, 3),
    },
)
bodies = st.one_of(
    st.binary(min_size=1, max_size=64),
    msgpack_values.map(lambda v: msgpack.packb(v, use_bin_type=True)),
    request_maps.map(lambda m: msgpack.packb(m, use_bin_type=True)),
    st.dictionaries(st.integers(0, 9), st.integers(0, 9), min_size=1, max_size=2).map(msgpack.packb),
)


@st.composite
def frame(draw: st.DrawFn) -> bytes:
    """One frame whose length prefix is right, too large, too small, zero or anything."""
    body = draw(bodies)
    prefix = draw(
        st.one_of(
            st.just(len(body)),
            st.integers(len(body) + 1, len(body) + 8),
            st.integers(0, len(body)),
            st.sampled_from([MAX_FRAME, MAX_FRAME + 1, 2**32 - 1]),
            st.integers(0, 2**32 - 1),
        )
    )
    return struct.pack(">I", prefix) + body


hellos = st.fixed_dictionaries(
    {"type": st.just("hello"), "id": st.integers(0, 9), "protocol_version": st.integers(0, 3)}
)
good_frames = st.one_of(request_maps.filter(lambda m: m["type"] in SAFE_TYPES), hellos).map(
    lambda m: (lambda body: struct.pack(">I", len(body)) + body)(msgpack.packb(m, use_bin_type=True))
)
byte_streams = st.one_of(
    st.binary(min_size=1, max_size=200),
    # Well-formed frames (requests right or wrong), then nothing, a bad frame or stray bytes.
    st.tuples(
        st.lists(good_frames, min_size=1, max_size=3).map(b"".join),
        st.one_of(st.just(b""), frame(), st.binary(min_size=1, max_size=3)),
    ).map(lambda t: t[0] + t[1]),
    st.lists(frame(), min_size=1, max_size=3).map(b"".join),
    st.tuples(st.lists(frame(), min_size=1, max_size=2).map(b"".join), st.binary(min_size=1, max_size=3)).map(
        lambda t: t[0] + t[1]
    ),
)


def test_bridge_byte_streams(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub) -> None:
    @settings(SETTINGS, max_examples=150)
    @given(byte_streams)
    def check(data: bytes) -> None:
        count("bridge byte streams")
        expected = frames_until_trouble(data)
        count(f"bridge byte streams (of which {expected})")
        with RawBridge(daemon.bridge_address, timeout=10) as bridge:
            bridge.send_raw(data)
            bridge.shutdown_write()
            replies = []
            while (reply := bridge.recv()) is not None:  # socket.timeout here: the daemon hangs
                replies.append(reply)
        assert all(r["type"] in REPLY_TYPES for r in replies), replies
        last = replies[-1] if replies else None
        if expected == "malformed":
            assert last is not None and last["type"] == "error", (data, replies)
            assert (last["id"], last["code"]) == (None, "INVALID_ARGUMENT") and last["message"], last
        elif expected == "closed":  # a hello of another protocol version is refused, then the connection closes
            assert last is not None and (last["type"], last.get("field")) == ("error", "protocol_version"), last
        for r in replies:
            if r["type"] == "error":
                assert r["code"] in ("INVALID_ARGUMENT", "CANCELLED"), r

    check()
    wait_idle(stub)
    assert_serving(daemon.grpc_address, stub, daemon.bridge_address)


def test_bridge_clients_that_vanish_inside_a_frame(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub) -> None:
    """A length prefix larger than the data, then the client closes (no reading): nothing breaks."""

    @settings(SETTINGS, max_examples=30)
    @given(st.integers(1, MAX_FRAME), st.data())
    def check(length: int, data: st.DataObject) -> None:
        count("bridge vanishing clients")
        sent = data.draw(st.binary(max_size=min(length - 1, 64)))
        sock = socket.create_connection(daemon.bridge_address.rsplit(":", 1), timeout=5)
        sock.sendall(struct.pack(">I", length) + sent)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST, not FIN
        sock.close()

    check()
    assert_serving(daemon.grpc_address, stub, daemon.bridge_address)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(struct.pack(">I", MAX_FRAME + 1) + b"\x80" * (MAX_FRAME + 1), id="over the limit, body sent"),
        pytest.param(struct.pack(">I", 2**32 - 1) + b"\x80" * 1024, id="a 4 GiB prefix"),
        pytest.param(struct.pack(">I", MAX_FRAME) + b"\x00" * MAX_FRAME, id="at the limit, not msgpack"),
    ],
)
def test_bridge_oversize_frames(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub, data: bytes) -> None:
    count("bridge oversize frames")
    with RawBridge(daemon.bridge_address) as bridge:
        # The daemon may answer and close before it has read everything.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            bridge.send_raw(data)
        reply = bridge.recv()
        assert reply is not None and (reply["type"], reply["id"], reply["code"]) == ("error", None, "INVALID_ARGUMENT")
        assert bridge.recv() is None
    assert_serving(daemon.grpc_address, stub, daemon.bridge_address)


def test_a_bridge_frame_at_the_limit_is_served(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub) -> None:
    """A frame of exactly the size limit is read and answered, not treated as malformed."""
    count("bridge oversize frames")
    message = {"type": "generate", "id": 1, "prompt": "x", "audio_only": True, "tags": {"pad": ""}}
    message["tags"]["pad"] = "n" * (MAX_FRAME - len(msgpack.packb(message, use_bin_type=True)) - 2)
    assert len(msgpack.packb(message, use_bin_type=True)) == MAX_FRAME  # str16 header: 2 more bytes
    with RawBridge(daemon.bridge_address) as bridge:
        bridge.send(message)
        refused = bridge.recv()
        # 64 KiB of tags is over the tag limit: a field error, and the connection stays open.
        assert refused is not None and (refused["type"], refused["code"], refused["field"]) == (
            "error",
            "INVALID_ARGUMENT",
            "tags",
        )
        bridge.send({"type": "generate", "id": 2, "prompt": "x", "audio_only": True})
        replies = [bridge.recv()]
        while replies[-1] is not None and replies[-1]["type"] not in ("completed", "error"):
            replies.append(bridge.recv())
    assert replies[0]["type"] == "accepted" and replies[-1]["type"] == "completed", replies[-1]


def test_grpc_requests_over_the_receive_limit(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub) -> None:
    count("grpc oversize requests", 3)
    huge = "a" * (MAX_RECEIVE_BYTES + 1)
    with pytest.raises(grpc.RpcError) as info:
        list(stub.Generate(pb.GenerateRequest(prompt=huge), timeout=60))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, info.value.details()
    with pytest.raises(grpc.RpcError) as info:
        stub.Prefetch(pb.PrefetchRequest(requests=[pb.GenerateRequest(prompt=huge)]), timeout=60)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, info.value.details()
    # Under the limit: refused by the prompt rule, and the message does not echo the prompt.
    with pytest.raises(grpc.RpcError) as info:
        list(stub.Generate(pb.GenerateRequest(prompt="b" * (MAX_RECEIVE_BYTES // 2)), timeout=60))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == f"prompt='<{MAX_RECEIVE_BYTES // 2} characters>': must be at most 4000 characters"
    assert_serving(daemon.grpc_address, stub, daemon.bridge_address)


LONG = {"prompt": "a long cutscene", "seed": 3, "steps": 8, "num_frames": 33, "cache_policy": pb.CACHE_POLICY_BYPASS}


def test_grpc_streams_cut_at_any_event(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub) -> None:
    """The client cancels its call, or closes its channel, after reading `n` events.

    The job is cancelled, unless the daemon had already sent the whole stream (it runs ahead of
    a client that reads slowly); either way the daemon is idle afterwards and the next job runs.
    """
    total = len(list(stub.Generate(pb.GenerateRequest(**LONG), timeout=120)))
    outcomes = []

    @settings(SETTINGS, max_examples=16)
    @given(st.integers(1, total - 1), st.sampled_from(["cancel the call", "close the channel"]))
    def check(n: int, how: str) -> None:
        count("grpc streams cut short")
        channel = grpc.insecure_channel(daemon.grpc_address, options=CHANNEL_OPTIONS)
        call = pb_grpc.Ltx2dStub(channel).Generate(pb.GenerateRequest(**LONG), timeout=120)
        events = [next(call) for _ in range(n)]
        if how == "cancel the call":
            call.cancel()
        channel.close()
        outcomes.append(outcome_of(daemon, events[0].accepted.job_id))
        assert outcomes[-1] in ("CANCELLED", "OK"), outcomes[-1]
        wait_idle(stub)

    check()
    assert "CANCELLED" in outcomes
    assert_serving(daemon.grpc_address, stub, daemon.bridge_address)


def test_grpc_deadlines_that_pass_at_any_moment(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub) -> None:
    """A deadline passing before, during or after the job: DEADLINE_EXCEEDED (or the whole clip), the
    job is stopped, and the daemon is idle afterwards."""
    outcomes = []

    @settings(SETTINGS, max_examples=12)
    @given(st.floats(0.001, 0.6))
    def check(timeout: float) -> None:
        count("grpc deadlines")
        events = []
        try:
            for event in stub.Generate(pb.GenerateRequest(**LONG), timeout=timeout):
                events.append(event)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED, exc.details()
        else:
            assert events[-1].HasField("completed")
        if events:
            outcomes.append(outcome_of(daemon, events[0].accepted.job_id))
            # CANCELLED when grpc.aio, which also watches the deadline, cancels the handler before the
            # scheduler's own deadline check fires: a race the client never sees.
            assert outcomes[-1] in ("DEADLINE_EXCEEDED", "CANCELLED", "OK"), outcomes[-1]
        wait_idle(stub)

    check()
    assert {"DEADLINE_EXCEEDED", "CANCELLED"} & set(outcomes), outcomes  # some jobs were stopped
    assert_serving(daemon.grpc_address, stub, daemon.bridge_address)


HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def test_raw_bytes_on_the_grpc_port(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub) -> None:
    """Garbage, or an HTTP/2 preface followed by garbage or a frame cut short, then a close."""
    cut_frame = struct.pack(">I", 0x4000)[1:] + b"\x01\x04" + struct.pack(">I", 1) + b"\x82\x86"  # HEADERS, cut

    @settings(SETTINGS, max_examples=20)
    @given(
        st.sampled_from([b"", HTTP2_PREFACE, HTTP2_PREFACE + cut_frame]),
        st.binary(max_size=100),
        st.booleans(),
    )
    def check(head: bytes, tail: bytes, reset: bool) -> None:
        count("grpc port byte streams")
        sock = socket.create_connection(daemon.grpc_address.rsplit(":", 1), timeout=5)
        try:
            sock.sendall(head + tail)
            if reset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                sock.shutdown(socket.SHUT_WR)
                sock.settimeout(5)
                while sock.recv(4096):  # the server answers (settings, goaway) and closes
                    pass
        except (ConnectionResetError, BrokenPipeError):
            pass
        finally:
            sock.close()

    check()
    assert_serving(daemon.grpc_address, stub, daemon.bridge_address)


def test_many_clients_abandon_streams_at_once(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub) -> None:
    """Eight clients each start a job and drop their channel after the first event, concurrently."""
    job_ids: list[str] = []
    lock = threading.Lock()

    def client(i: int) -> None:
        channel = grpc.insecure_channel(daemon.grpc_address, options=CHANNEL_OPTIONS)
        call = pb_grpc.Ltx2dStub(channel).Generate(pb.GenerateRequest(**{**LONG, "seed": 100 + i}), timeout=120)
        first = next(call)
        with lock:
            job_ids.append(first.accepted.job_id)
        channel.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    count("grpc streams cut short", len(threads))
    assert len(job_ids) == len(threads)
    assert {outcome_of(daemon, job_id) for job_id in job_ids} == {"CANCELLED"}
    wait_idle(stub)
    assert_serving(daemon.grpc_address, stub, daemon.bridge_address)


def test_a_stalled_client_holds_up_no_one(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub) -> None:
    """Clients that ask for a 6 MB clip and never read it (bridge, then gRPC) do not stall the
    daemon: the next client's job runs; when the stalled ones go, so do their jobs."""
    count("stalled clients", 2)
    big = {"prompt": "a storm", "width": 256, "height": 256, "num_frames": 33, "cache_policy": 1}
    stalled = RawBridge(daemon.bridge_address)
    stalled.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    assert stalled.request({"type": "generate", "id": 1, **big})["type"] == "accepted"  # then never read again
    channel = grpc.insecure_channel(daemon.grpc_address, options=CHANNEL_OPTIONS)
    try:
        call = pb_grpc.Ltx2dStub(channel).Generate(pb.GenerateRequest(**big), timeout=120)
        assert next(call).HasField("accepted")  # then never read again
        events = tiny_generation(stub)  # queued behind both big jobs, which must let it through
        assert events[0].accepted.queue_position >= 1
    finally:
        stalled.close()
        channel.close()
    assert outcome_of(daemon, events[0].job_id) == "OK"
    wait_idle(stub)
    assert_serving(daemon.grpc_address, stub, daemon.bridge_address)


def present_fields(message: pb.GenerateRequest) -> dict[str, Any]:
    """The fields a parsed GenerateRequest sets, as the oracle takes them."""
    out: dict[str, Any] = {"prompt": message.prompt}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.has_presence and message.HasField(field.name):
            out[field.name] = value
        elif not field.has_presence and (dict(value) if field.name == "tags" else value):
            out[field.name] = dict(value) if field.name == "tags" else value
    return out


@st.composite
def request_bytes(draw: st.DrawFn) -> bytes:
    """Random bytes, or a valid request's wire bytes with a few bytes changed, cut or added."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=48))
    data = bytearray(
        pb.GenerateRequest(prompt="a bell", width=64, seed=3, frame_rate=24.0, cache_policy=1).SerializeToString()
    )
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["flip", "cut", "insert"]))
        if edit == "flip" and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        elif edit == "cut":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
    return bytes(data)


def test_grpc_request_bytes(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub, config: DaemonConfig) -> None:
    """Arbitrary bytes as a GenerateRequest: what parses is judged by the oracle, what does not is
    refused by gRPC itself (UNKNOWN: the servicer never sees it), and the daemon keeps serving."""
    raw = grpc.insecure_channel(daemon.grpc_address, options=CHANNEL_OPTIONS)
    generate = raw.unary_stream(
        "/ltx2d.v1.Ltx2d/Generate", request_serializer=lambda b: b, response_deserializer=pb.GenerateEvent.FromString
    )

    @settings(SETTINGS, max_examples=80)
    @given(request_bytes())
    def check(data: bytes) -> None:
        count("grpc request bytes")
        try:
            fields = present_fields(pb.GenerateRequest.FromString(data))
        except DecodeError:
            fields = None
        call = generate(data, timeout=30)
        try:
            first = next(call)
        except grpc.RpcError as exc:
            if fields is None:
                assert exc.code() == grpc.StatusCode.UNKNOWN and "DecodeError" in exc.details(), exc.details()
                return
            bad, _ = grpc_problems(fields, config.defaults, config.limits)
            assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, (fields, exc.details())
            assert dict(exc.trailing_metadata() or ())["ltx2d-field"] in bad, (fields, bad, exc.details())
            return
        call.cancel()
        assert fields is not None and first.HasField("accepted")
        assert not grpc_problems(fields, config.defaults, config.limits)[0], fields
        wait_idle(stub)

    try:
        check()
    finally:
        raw.close()
    assert_serving(daemon.grpc_address, stub, daemon.bridge_address)
