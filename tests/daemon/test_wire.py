"""wire.py: proto <-> domain conversions and proto <-> msgpack maps, both ways."""

from __future__ import annotations

import dataclasses

import av
import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ltx2
from ltx2 import GenerationParams, Limits, SampleFormat, frames_for_duration
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb
from ltx2d import wire
from ltx2d.jobs import Accepted, CachePolicy, Priority, ServiceError, ServiceInfo, StatusCode

DEFAULTS = GenerationParams(prompt="", width=64, height=64, num_frames=9, steps=2)
LIMITS = Limits()


def convert(**fields: object) -> tuple[GenerationParams, wire.Delivery, Priority, CachePolicy]:
    job, delivery = wire.request_from_proto(pb.GenerateRequest(**fields), DEFAULTS, LIMITS)
    return job.params, delivery, job.priority, job.cache_policy


def refused(**fields: object) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        convert(**fields)
    assert info.value.code == StatusCode.INVALID_ARGUMENT
    return info.value


# --- requests ---


def test_unset_fields_take_the_configured_defaults() -> None:
    params, delivery, priority, cache_policy = convert(prompt="a bell")
    assert params == dataclasses.replace(DEFAULTS, prompt="a bell")
    assert params.seed is None
    assert delivery == wire.Delivery(pb.FRAME_FORMAT_RGB8, 90)
    assert priority == Priority.INTERACTIVE
    assert cache_policy == CachePolicy.USE


def test_set_fields_are_taken_as_given() -> None:
    params, delivery, priority, cache_policy = convert(
        prompt="a bell",
        negative_prompt="noise",
        width=128,
        height=96,
        num_frames=17,
        frame_rate=25.0,
        steps=3,
        seed=42,
        video_guidance_scale=2.5,
        audio_guidance_scale=4.0,
        chunk_frames=8,
        priority=pb.PRIORITY_REALTIME,
        audio_sample_rate=48000,
        sample_format=pb.SAMPLE_FORMAT_F32LE,
        frame_format=pb.FRAME_FORMAT_JPEG,
        jpeg_quality=70,
        cache_policy=pb.CACHE_POLICY_REFRESH,
        tags={"scene": "intro"},
        audio_only=True,
        stg_scale=0.0,
        modality_scale=1.0,
        guidance_rescale=0.7,
        preview=True,
    )
    assert params == GenerationParams(
        prompt="a bell",
        negative_prompt="noise",
        width=128,
        height=96,
        num_frames=17,
        frame_rate=25.0,
        steps=3,
        seed=42,
        video_guidance_scale=2.5,
        audio_guidance_scale=4.0,
        chunk_frames=8,
        audio_sample_rate=48000,
        sample_format=SampleFormat.F32LE,
        audio_only=True,
        stg_scale=0.0,
        modality_scale=1.0,
        guidance_rescale=0.7,  # the float32 on the wire comes back as the decimal the client meant
        preview=True,
    )
    assert params.tags == {"scene": "intro"}
    assert delivery == wire.Delivery(pb.FRAME_FORMAT_JPEG, 70)
    assert priority == Priority.REALTIME
    assert cache_policy == CachePolicy.REFRESH


@pytest.mark.parametrize(
    ("value", "expected"),
    [(pb.CACHE_POLICY_UNSPECIFIED, CachePolicy.USE), (pb.CACHE_POLICY_BYPASS, CachePolicy.BYPASS)],
)
def test_cache_policies(value: int, expected: CachePolicy) -> None:
    assert convert(prompt="x", cache_policy=value)[3] == expected


@pytest.mark.parametrize("duration", [0.5, 1.0, 2.0, 4.9])
def test_duration_becomes_an_8k_plus_1_frame_count(duration: float) -> None:
    params = convert(prompt="x", duration_s=duration, frame_rate=24.0)[0]
    assert params.num_frames == frames_for_duration(duration, 24.0)
    assert (params.num_frames - 1) % 8 == 0


def test_duration_and_num_frames_together_are_refused() -> None:
    error = refused(prompt="x", duration_s=1.0, num_frames=25)
    assert error.field == "duration_s"
    assert "num_frames" in error.message


@pytest.mark.parametrize(
    ("duration", "rule"), [(0.05, "gives num_frames=1"), (-1.0, "positive"), (100.0, "must be between 9 and 257")]
)
def test_bad_durations_name_duration(duration: float, rule: str) -> None:
    error = refused(prompt="x", duration_s=duration)
    assert error.field == "duration_s"
    assert error.message.startswith(f"duration_s={duration!r}")
    assert rule in error.message


@pytest.mark.parametrize(
    ("fields", "field", "value", "rule"),
    [
        ({"prompt": ""}, "prompt", "''", "non-empty"),
        ({"width": 65}, "width", "65", "multiple of 32"),
        ({"height": 32}, "height", "32", "between 64 and 1088"),
        ({"width": 4096}, "width", "4096", "between 64 and 1920"),
        ({"num_frames": 10}, "num_frames", "10", "8k+1"),
        ({"num_frames": 1001}, "num_frames", "1001", "between 9 and 257"),
        ({"steps": 1000}, "steps", "1000", "and 100"),
        ({"frame_rate": 0.5}, "frame_rate", "0.5", "between 1 and 60"),
        ({"video_guidance_scale": 0.5}, "video_guidance_scale", "0.5", "between 1 and 30"),
        ({"audio_guidance_scale": 99.0}, "audio_guidance_scale", "99.0", "between 1 and 30"),
        ({"guidance_rescale": 2.0}, "guidance_rescale", "2.0", "between 0 and 1"),
        ({"stg_scale": -1.0}, "stg_scale", "-1.0", "between 0 and 30"),
        ({"modality_scale": 0.0}, "modality_scale", "0.0", "between 1 and 30"),
        ({"chunk_frames": 12}, "chunk_frames", "12", "multiple of 8"),
        ({"audio_sample_rate": 100}, "audio_sample_rate", "100", "between 8000 and 192000"),
        ({"seed": 2**63}, "seed", str(2**63), "between 0 and"),
        ({"jpeg_quality": 0, "frame_format": pb.FRAME_FORMAT_JPEG}, "jpeg_quality", "0", "between 1 and 100"),
        ({"priority": 7}, "priority", "7", "PRIORITY_REALTIME (1)"),
        ({"sample_format": 9}, "sample_format", "9", "SAMPLE_FORMAT_F32LE (2)"),
        ({"frame_format": 5}, "frame_format", "5", "FRAME_FORMAT_JPEG (2)"),
        ({"cache_policy": 3}, "cache_policy", "3", "CACHE_POLICY_REFRESH (2)"),
    ],
)
def test_invalid_fields_name_field_value_and_rule(fields: dict, field: str, value: str, rule: str) -> None:
    error = refused(**{"prompt": "x", **fields})
    assert error.field == field
    assert error.message.startswith(f"{field}=")
    assert value in error.message
    assert rule in error.message


def test_prefetch_errors_name_the_request() -> None:
    request = pb.PrefetchRequest(requests=[pb.GenerateRequest(prompt="a"), pb.GenerateRequest(prompt="b", width=65)])
    with pytest.raises(ServiceError) as info:
        wire.prefetch_from_proto(request, DEFAULTS, LIMITS)
    assert info.value.field == "requests[1].width"
    assert info.value.message.startswith("requests[1].width=65")


def test_params_round_trip_through_the_proto() -> None:
    params = GenerationParams(
        prompt="p",
        width=96,
        height=128,
        num_frames=25,
        steps=5,
        seed=9,
        guidance_rescale=0.3,
        sample_format=SampleFormat.F32LE,
        tags={"a": "b"},
    )
    job, _ = wire.request_from_proto(wire.params_to_proto(params), DEFAULTS, LIMITS)
    assert job.params == params and job.params.tags == params.tags


# --- events ---

FORMAT = ltx2.ClipFormat(64, 64, 9, 24.0, 24000, 2, 9000, SampleFormat.S16LE, seed=5, steps=2)


def test_accepted_carries_the_clip_format_and_the_frame_format() -> None:
    msg = wire.event_to_proto("j1", Accepted("j1", 3, True, FORMAT), wire.Delivery(pb.FRAME_FORMAT_JPEG))
    assert msg.job_id == "j1"
    assert (msg.accepted.job_id, msg.accepted.queue_position, msg.accepted.cache_hit) == ("j1", 3, True)
    f = msg.accepted.format
    assert (f.width, f.height, f.num_frames, f.frame_rate, f.sample_rate, f.channels, f.num_samples) == (
        64,
        64,
        9,
        24.0,
        24000,
        2,
        9000,
    )
    assert (f.sample_format, f.frame_format, f.seed, f.steps, f.audio_only) == (
        pb.SAMPLE_FORMAT_S16LE,
        pb.FRAME_FORMAT_JPEG,
        5,
        2,
        False,
    )


def test_progress_audio_and_completed_keep_every_field() -> None:
    progress = ltx2.Progress(ltx2.Phase.DENOISING, 2, 4, 0, 9, 1.5, b"\x01\x02\x03", 1, 1)
    msg = wire.event_to_proto("j", progress, wire.Delivery()).progress
    assert (msg.phase, msg.step, msg.total_steps, msg.total_frames, msg.elapsed_s) == (pb.PHASE_DENOISING, 2, 4, 9, 1.5)
    assert (msg.preview_rgb, msg.preview_width, msg.preview_height) == (b"\x01\x02\x03", 1, 1)

    audio = ltx2.AudioChunk(4800, 2400, 24000, 2, SampleFormat.S16LE, bytes(range(256)) * 37 + b"x" * 8)
    msg = wire.event_to_proto("j", audio, wire.Delivery()).audio_chunk
    assert (msg.first_sample, msg.num_samples, msg.sample_rate, msg.channels) == (4800, 2400, 24000, 2)
    assert msg.sample_format == pb.SAMPLE_FORMAT_S16LE
    assert msg.pts_s == pytest.approx(0.2)
    assert msg.data == audio.data

    timings = ltx2.Timings(0.5, 0.25, 1.5, 0.75, 2.0, 3.0)
    msg = wire.event_to_proto("j", ltx2.Completed(7, 9, 9000, timings, True), wire.Delivery()).completed
    assert (msg.seed, msg.num_frames, msg.num_samples, msg.cache_hit) == (7, 9, 9000, True)
    t = msg.timings
    assert (t.queue_s, t.encode_s, t.denoise_s, t.decode_s, t.first_chunk_s, t.total_s) == (0.5, 0.25, 1.5, 0.75, 2, 3)


def _frames(n: int, h: int, w: int) -> bytes:
    # Smooth gradients (JPEG-friendly) that differ per frame.
    y, x = np.mgrid[0:h, 0:w]
    frames = [np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 40 * i)], axis=-1) for i in range(n)]
    return np.asarray(frames, dtype=np.uint8).tobytes()


def test_rgb8_video_chunks_carry_the_engine_bytes() -> None:
    chunk = ltx2.VideoChunk(8, 2, 64, 32, 24.0, _frames(2, 32, 64))
    msg = wire.event_to_proto("j", chunk, wire.Delivery()).video_chunk
    assert (msg.first_frame, msg.num_frames, msg.width, msg.height) == (8, 2, 64, 32)
    assert msg.frame_format == pb.FRAME_FORMAT_RGB8
    assert msg.pts_s == pytest.approx(8 / 24)
    assert msg.data == chunk.data
    assert not msg.jpeg_frames


def _decode_jpeg(data: bytes) -> np.ndarray:
    codec = av.CodecContext.create("mjpeg", "r")
    (frame,) = codec.decode(av.Packet(data))
    return frame.to_ndarray(format="rgb24")


def test_jpeg_video_chunks_hold_one_jpeg_per_frame_close_to_the_frames() -> None:
    chunk = ltx2.VideoChunk(0, 3, 64, 32, 24.0, _frames(3, 32, 64))
    assert not wire.is_slow_to_encode(chunk, wire.Delivery())
    assert wire.is_slow_to_encode(chunk, wire.Delivery(pb.FRAME_FORMAT_JPEG))
    msg = wire.event_to_proto("j", chunk, wire.Delivery(pb.FRAME_FORMAT_JPEG, 95)).video_chunk
    assert msg.frame_format == pb.FRAME_FORMAT_JPEG
    assert not msg.data
    assert len(msg.jpeg_frames) == 3
    original = np.frombuffer(chunk.data, np.uint8).reshape(3, 32, 64, 3).astype(int)
    for i, jpeg in enumerate(msg.jpeg_frames):
        assert jpeg[:2] == b"\xff\xd8"  # SOI
        decoded = _decode_jpeg(jpeg).astype(int)
        assert decoded.shape == (32, 64, 3)
        assert np.abs(decoded - original[i]).mean() < 4


def test_jpeg_quality_changes_the_size() -> None:
    chunk = ltx2.VideoChunk(
        0, 1, 64, 64, 24.0, np.random.default_rng(0).integers(0, 256, 64 * 64 * 3, np.uint8).tobytes()
    )
    low = wire.encode_jpeg_frames(chunk, 10)[0]
    high = wire.encode_jpeg_frames(chunk, 100)[0]
    assert len(low) < len(high)


# --- info ---


def test_info_reports_model_limits_defaults_and_queue() -> None:
    model = ltx2.ModelInfo("ltx2-tiny", "/m", "abc", "cpu", "float32", 24000, 2, {"vae": 10}, 1234)
    info = ServiceInfo(model, True, Limits(max_width=512), 2, 16, "j9", 30.0)
    msg = wire.info_to_proto(info, DEFAULTS)
    assert (msg.model_id, msg.model_path, msg.model_fingerprint, msg.device, msg.dtype) == (
        "ltx2-tiny",
        "/m",
        "abc",
        "cpu",
        "float32",
    )
    assert dict(msg.parameter_counts) == {"vae": 10}
    assert (msg.memory_bytes, msg.native_sample_rate, msg.loaded) == (1234, 24000, True)
    assert msg.limits.max_width == 512 and msg.limits.min_size == 64
    assert (msg.queue_depth, msg.queue_capacity, msg.running_job_id, msg.keep_alive_s) == (2, 16, "j9", 30.0)
    assert msg.protocol_version == 1 and msg.version
    assert msg.defaults.width == 64 and msg.defaults.steps == 2 and not msg.defaults.HasField("seed")

    empty = wire.info_to_proto(ServiceInfo(None, False, Limits(), 0, 16, "", 0.0), DEFAULTS)
    assert empty.model_id == "" and not empty.loaded


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
    assert wire.message_to_map(msg) == {
        "first_sample": 3,
        "num_samples": 2,
        "sample_rate": 24000,
        "channels": 2,
        "sample_format": 2,
        "pts_s": 0.125,
        "data": b"\x00\x01",
    }
    packed = msgpack.packb(wire.message_to_map(msg), use_bin_type=True)
    assert b"\xc4\x02\x00\x01" in packed  # bin 8 of two bytes


def test_unset_optional_fields_are_absent_and_nil_is_absent() -> None:
    as_map = wire.message_to_map(pb.GenerateRequest(prompt="x", width=64))
    assert as_map["width"] == 64 and "height" not in as_map and "seed" not in as_map
    msg = wire.map_to_message({"prompt": "x", "height": None, "seed": None}, pb.GenerateRequest)
    assert not msg.HasField("height") and not msg.HasField("seed")


def test_enum_names_are_accepted_as_strings() -> None:
    msg = wire.map_to_message({"priority": "PRIORITY_BATCH", "frame_format": 2}, pb.GenerateRequest)
    assert msg.priority == pb.PRIORITY_BATCH and msg.frame_format == pb.FRAME_FORMAT_JPEG


@pytest.mark.parametrize(
    ("data", "field", "rule"),
    [
        ({"prompt": "x", "wdth": 64}, "wdth", "unknown field"),
        ({"width": -1}, "width", "between 0 and 4294967295"),
        ({"width": 2**32}, "width", "between 0 and 4294967295"),
        ({"width": 64.0}, "width", "must be an integer"),
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
        wire.map_to_message(data, pb.GenerateRequest)
    assert info.value.code == StatusCode.INVALID_ARGUMENT
    assert info.value.field == field
    assert rule in info.value.message


def test_nested_errors_have_a_path() -> None:
    with pytest.raises(ServiceError) as info:
        wire.map_to_message({"requests": [{"prompt": "a"}, {"steps": "x"}]}, pb.PrefetchRequest)
    assert info.value.field == "requests[1].steps"
    with pytest.raises(ServiceError) as info:
        wire.map_to_message({"requests": {"prompt": "a"}}, pb.PrefetchRequest)
    assert info.value.field == "requests"
    with pytest.raises(ServiceError) as info:
        wire.map_to_message({"data": "text"}, pb.VideoChunk)
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
    packed = msgpack.packb(wire.message_to_map(msg), use_bin_type=True)
    assert wire.map_to_message(msgpack.unpackb(packed, raw=False), pb.GenerateRequest) == msg


def test_info_and_events_survive_map_round_trip() -> None:
    model = ltx2.ModelInfo("m", "/m", "f", "cpu", "float32", 24000, 2, {"vae": 10})
    info = wire.info_to_proto(ServiceInfo(model, True, Limits(), 1, 4, "", 0.0), DEFAULTS)
    assert wire.map_to_message(wire.message_to_map(info), pb.Info) == info
    event = wire.event_to_proto("j", Accepted("j", 0, False, FORMAT), wire.Delivery())
    assert wire.map_to_message(wire.message_to_map(event), pb.GenerateEvent) == event
