"""proto_convert.py: GenerateRequest -> ClipRequest (then validated once, by `validation.prepare`),
and ServiceInfo -> Info. The request tests run both, as the service does."""

from __future__ import annotations

import dataclasses

import pytest

import ltx2
from ltx2 import GenerationParams, Limits, SampleFormat, frames_for_duration
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb
from ltx2d import proto_convert, validation
from ltx2d.domain import CachePolicy, Delivery, FrameFormat, Priority, ServiceInfo
from ltx2d.errors import ServiceError, StatusCode

DEFAULTS = GenerationParams(prompt="", width=64, height=64, num_frames=9, steps=2)
LIMITS = Limits()


def convert(**fields: object) -> tuple[GenerationParams, Delivery, Priority, CachePolicy]:
    clip = proto_convert.request_from_proto(pb.GenerateRequest(**fields))
    prepared = validation.prepare(clip, DEFAULTS, LIMITS)
    return prepared.params, prepared.delivery, prepared.priority, prepared.cache_policy


def refused(**fields: object) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        convert(**fields)
    assert info.value.code == StatusCode.INVALID_ARGUMENT
    return info.value


# --- requests ---


def test_unset_fields_take_the_configured_defaults() -> None:
    params, delivery, priority, cache_policy = convert(prompt="a bell")
    assert params.seed is not None  # resolved by the service, once
    assert params == dataclasses.replace(DEFAULTS, prompt="a bell", seed=params.seed)
    assert delivery == Delivery(FrameFormat.RGB8, 90)
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
    assert delivery == Delivery(FrameFormat.JPEG, 70)
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
        ({"seed": 2**63}, "seed", str(2**63), "between 0 and 9223372036854775807"),
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
        for i, clip in enumerate(proto_convert.prefetch_from_proto(request)):
            validation.prepare(clip, DEFAULTS, LIMITS, f"requests[{i}].")
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
    clip = proto_convert.request_from_proto(proto_convert.params_to_proto(params))
    prepared = validation.prepare(clip, DEFAULTS, LIMITS)
    assert prepared.params == params and prepared.params.tags == params.tags


# --- info ---


def test_info_reports_model_limits_defaults_and_queue() -> None:
    model = ltx2.ModelInfo("ltx2-tiny", "/m", "abc", "cuda:0", "float32", 24000, 2, {"vae": 10}, 1234)
    info = ServiceInfo(model, True, Limits(max_width=512), 2, 16, "j9", 30.0, DEFAULTS)
    msg = proto_convert.info_to_proto(info)
    assert (msg.model_id, msg.model_path, msg.model_fingerprint, msg.device, msg.dtype) == (
        "ltx2-tiny",
        "/m",
        "abc",
        "cuda:0",
        "float32",
    )
    assert dict(msg.parameter_counts) == {"vae": 10}
    assert (msg.memory_bytes, msg.native_sample_rate, msg.loaded) == (1234, 24000, True)
    assert msg.limits.max_width == 512 and msg.limits.min_size == 64
    assert (msg.queue_depth, msg.queue_capacity, msg.running_job_id, msg.keep_alive_s) == (2, 16, "j9", 30.0)
    assert msg.protocol_version == 1 and msg.version
    assert msg.defaults.width == 64 and msg.defaults.steps == 2 and not msg.defaults.HasField("seed")

    empty = proto_convert.info_to_proto(ServiceInfo(None, False, Limits(), 0, 16, "", 0.0, DEFAULTS))
    assert empty.model_id == "" and not empty.loaded


def test_memory_bytes_is_device_memory_zero_on_cpu_and_when_unloaded() -> None:
    on = {"model_id": "m", "model_path": "/m", "fingerprint": "f", "dtype": "bfloat16"}
    on |= {"native_sample_rate": 24000, "channels": 2, "memory_bytes": 5000}
    gpu = ltx2.ModelInfo(device="cuda:0", **on)  # type: ignore[arg-type]
    cpu = ltx2.ModelInfo(device="cpu", **on)  # type: ignore[arg-type]

    def memory(model: ltx2.ModelInfo, loaded: bool) -> int:
        return proto_convert.info_to_proto(ServiceInfo(model, loaded, LIMITS, 0, 1, "", 0.0, DEFAULTS)).memory_bytes

    assert (memory(gpu, True), memory(gpu, False), memory(cpu, True), memory(cpu, False)) == (5000, 0, 0, 0)


def test_every_limit_is_in_info_so_a_client_can_pre_check_every_rule() -> None:
    """Each ltx2.Limits field, the one place limits live, is an Info.limits field of the same name."""
    limits = Limits()
    msg = proto_convert.info_to_proto(ServiceInfo(None, False, limits, 0, 1, "", 0.0, DEFAULTS)).limits
    for f in dataclasses.fields(limits):
        assert f.name in pb.Limits.DESCRIPTOR.fields_by_name, f"Info.limits lacks {f.name}"
        assert getattr(msg, f.name) == pytest.approx(getattr(limits, f.name)), f.name
    assert msg.max_seed == 2**63 - 1 and msg.min_steps == 2 and msg.min_frames == 9


def test_info_defaults_spell_out_every_enum() -> None:
    """Info.defaults says what an unset enum becomes: no field is left UNSPECIFIED (0) but
    cache_policy, whose 0 is the default policy (use the cache)."""
    defaults = proto_convert.info_to_proto(ServiceInfo(None, False, LIMITS, 0, 1, "", 0.0, DEFAULTS)).defaults
    assert defaults.priority == pb.PRIORITY_INTERACTIVE
    assert defaults.frame_format == pb.FRAME_FORMAT_RGB8
    assert defaults.sample_format == pb.SAMPLE_FORMAT_S16LE
    assert defaults.cache_policy == pb.CACHE_POLICY_UNSPECIFIED
