"""msgpack_codec.py: framing, and proto messages <-> msgpack maps both ways."""

from __future__ import annotations

import asyncio
import socket

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ltx2
from ltx2 import GenerationParams, Limits, SampleFormat
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb
from ltx2d.domain import Accepted, Delivery, ServiceInfo
from ltx2d.errors import ServiceError, StatusCode
from ltx2d.event_encoding import encode_event
from ltx2d.msgpack_codec import MalformedFrame, encode_frame, map_to_message, message_to_map, read_frame, recv_frame
from ltx2d.proto_convert import event_message, info_to_proto

DEFAULTS = GenerationParams(prompt="", width=64, height=64, num_frames=9, steps=2)
FORMAT = ltx2.ClipFormat(64, 64, 9, 24.0, 24000, 2, 9000, SampleFormat.S16LE, seed=5, steps=2)


# --- maps ---


def test_maps_use_field_names_numbers_for_enums_and_bin_for_bytes() -> None:
    msg = pb.AudioChunk(
        first_sample=3,
        num_samples=2,
        sample_rate=24000,
        channels=2,
        sample_format=pb.SAMPLE_FORMAT_F32LE,
        pts_s=0.125,
        data=b"\x00\x01",
    )
    assert message_to_map(msg) == {
        "first_sample": 3,
        "num_samples": 2,
        "sample_rate": 24000,
        "channels": 2,
        "sample_format": 2,
        "pts_s": 0.125,
        "data": b"\x00\x01",
    }
    packed = msgpack.packb(message_to_map(msg), use_bin_type=True)
    assert b"\xc4\x02\x00\x01" in packed  # bin 8 of two bytes


def test_unset_optional_fields_are_absent_and_nil_is_absent() -> None:
    as_map = message_to_map(pb.GenerateRequest(prompt="x", width=64))
    assert as_map["width"] == 64 and "height" not in as_map and "seed" not in as_map
    msg = map_to_message({"prompt": "x", "height": None, "seed": None}, pb.GenerateRequest)
    assert not msg.HasField("height") and not msg.HasField("seed")


def test_enum_names_are_accepted_as_strings() -> None:
    msg = map_to_message({"priority": "PRIORITY_BATCH", "frame_format": 2}, pb.GenerateRequest)
    assert msg.priority == pb.PRIORITY_BATCH and msg.frame_format == pb.FRAME_FORMAT_JPEG


@pytest.mark.parametrize(
    ("data", "field", "rule"),
    [
        ({"prompt": "x", "wdth": 64}, "wdth", "unknown field"),
        ({"width": -1}, "width", "between 0 and 4294967295"),
        ({"width": 2**32}, "width", "between 0 and 4294967295"),
        ({"width": 64.5}, "width", "must be an integer"),
        ({"width": float("inf")}, "width", "must be an integer"),
        ({"width": True}, "width", "must be an integer"),
        ({"frame_rate": "fast"}, "frame_rate", "must be a number"),
        ({"audio_only": 1}, "audio_only", "true or false"),
        ({"prompt": b"bytes"}, "prompt", "must be a string"),
        ({"priority": "PRIORITY_SOON"}, "priority", "PRIORITY_REALTIME (1)"),
        ({"priority": 9}, "priority", "PRIORITY_REALTIME (1)"),
        ({"tags": {"a": 1}}, "tags['a']", "must be a string"),
        ({"tags": ["a"]}, "tags", "must be a map"),
    ],
)
def test_bad_map_values_name_the_key(data: dict, field: str, rule: str) -> None:
    with pytest.raises(ServiceError) as info:
        map_to_message(data, pb.GenerateRequest)
    assert info.value.code == StatusCode.INVALID_ARGUMENT
    assert info.value.field == field
    assert rule in info.value.message


def test_nested_errors_have_a_path() -> None:
    with pytest.raises(ServiceError) as info:
        map_to_message({"requests": [{"prompt": "a"}, {"steps": "x"}]}, pb.PrefetchRequest)
    assert info.value.field == "requests[1].steps"
    with pytest.raises(ServiceError) as info:
        map_to_message({"requests": {"prompt": "a"}}, pb.PrefetchRequest)
    assert info.value.field == "requests"
    with pytest.raises(ServiceError) as info:
        map_to_message({"data": "text"}, pb.VideoChunk)
    assert info.value.field == "data" and "bin" in info.value.message


_u32 = st.integers(0, 2**32 - 1)
_f32 = st.floats(-1e6, 1e6, allow_nan=False, width=32)
requests = st.builds(
    pb.GenerateRequest,
    prompt=st.text(max_size=20),
    negative_prompt=st.text(max_size=5),
    width=_u32 | st.none(),
    num_frames=_u32 | st.none(),
    frame_rate=_f32 | st.none(),
    seed=st.integers(0, 2**64 - 1) | st.none(),
    guidance_rescale=_f32 | st.none(),
    priority=st.sampled_from([0, 1, 2, 3]),
    frame_format=st.sampled_from([0, 1, 2]),
    tags=st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    audio_only=st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(requests)
def test_any_request_survives_map_and_msgpack_round_trip(msg: pb.GenerateRequest) -> None:
    packed = msgpack.packb(message_to_map(msg), use_bin_type=True)
    assert map_to_message(msgpack.unpackb(packed, raw=False), pb.GenerateRequest) == msg


def test_info_and_events_survive_map_round_trip() -> None:
    model = ltx2.ModelInfo("m", "/m", "f", "cpu", "float32", 24000, 2, {"vae": 10})
    info = info_to_proto(ServiceInfo(model, True, Limits(), 1, 4, "", 0.0, DEFAULTS))
    assert map_to_message(message_to_map(info), pb.Info) == info
    event = event_message("j", encode_event(Accepted("j", 0, False, FORMAT), Delivery()))
    assert map_to_message(message_to_map(event), pb.GenerateEvent) == event


def test_integral_floats_are_integers() -> None:
    msg = map_to_message({"width": 64.0, "seed": 9.0e15, "priority": 3.0}, pb.GenerateRequest)
    assert (msg.width, msg.seed, msg.priority) == (64, 9 * 10**15, pb.PRIORITY_BATCH)


def test_the_example_frame_of_the_protocol_document() -> None:
    """docs/bridge-protocol.md shows this frame with its length prefix: the prefix is right."""
    message = {"type": "generate", "id": 1, "prompt": "a door slams", "priority": 1, "audio_only": True}
    frame = encode_frame(message)
    assert frame[:4] == bytes.fromhex("0000003d") and len(frame) - 4 == 0x3D == 61


def test_framing_round_trips_on_sockets_and_streams() -> None:
    messages = [{"type": "ping", "id": 1}, {"type": "x", "data": b"\x00" * 70_000}]
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"".join(encode_frame(m) for m in messages))
        a.shutdown(socket.SHUT_WR)
        assert [recv_frame(b), recv_frame(b), recv_frame(b)] == [*messages, None]

    async def read_all(data: bytes, max_bytes: int | None = None) -> list[object]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        out = []
        while (message := await read_frame(reader, max_bytes)) is not None:
            out.append(message)
        return out

    assert asyncio.run(read_all(b"".join(encode_frame(m) for m in messages))) == messages
    for data, field in [(b"\x00\x00", "length"), (b"\x00\x00\x00\x00", "length"), (b"\x00\x00\x00\x01\xc1", "frame")]:
        with pytest.raises(MalformedFrame) as info:
            asyncio.run(read_all(data))
        assert info.value.field == field
    with pytest.raises(MalformedFrame, match="exceeds the limit of 10 bytes"):
        asyncio.run(read_all(encode_frame(messages[1]), max_bytes=10))
