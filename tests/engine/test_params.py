"""Every validation rule of GenerationParams, with its message naming field, value and rule."""

from __future__ import annotations

import math

import pytest

from ltx2 import GenerationParams, InvalidParams, Limits, frames_for_duration, prepare_params

OK = {"prompt": "a cat purrs"}


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"prompt": ""}, "prompt", "non-empty"),
        ({"prompt": "   "}, "prompt", "non-empty"),
        ({"prompt": "x" * 4001}, "prompt", "at most 4000 characters"),
        ({"negative_prompt": "x" * 4001}, "negative_prompt", "at most 4000 characters"),
        ({"width": 100}, "width", "multiple of 32"),
        ({"width": 32}, "width", "between 64 and 1920"),
        ({"width": 1952}, "width", "between 64 and 1920"),
        ({"height": 65}, "height", "multiple of 32"),
        ({"height": 1120}, "height", "between 64 and 1088"),
        ({"width": 128.0}, "width", "integer"),
        ({"num_frames": 120}, "num_frames", "8k+1 (for example 113 or 121)"),
        ({"num_frames": 1}, "num_frames", "between 9 and 257"),
        ({"num_frames": 265}, "num_frames", "between 9 and 257"),
        (
            {"width": 1920, "height": 1088, "num_frames": 257},
            "num_frames",
            "1920x1088x257 is 67320 video tokens; must be at most 45000",
        ),
        ({"frame_rate": 0.0}, "frame_rate", "between 1 and 60"),
        ({"frame_rate": math.nan}, "frame_rate", "finite"),
        ({"steps": 1}, "steps", "between 2 and 100"),
        ({"steps": 101}, "steps", "between 2 and 100"),
        ({"seed": -1}, "seed", "between 0 and 9223372036854775807"),
        ({"seed": 2**63}, "seed", "between 0 and 9223372036854775807"),
        ({"video_guidance_scale": math.inf}, "video_guidance_scale", "finite"),
        ({"video_guidance_scale": 0.5}, "video_guidance_scale", "between 1 and 30"),
        ({"audio_guidance_scale": 31.0}, "audio_guidance_scale", "between 1 and 30"),
        ({"audio_guidance_scale": math.nan}, "audio_guidance_scale", "finite"),
        ({"stg_scale": -0.1}, "stg_scale", "between 0 and 30"),
        ({"modality_scale": 0.0}, "modality_scale", "between 1 and 30"),
        ({"guidance_rescale": 1.5}, "guidance_rescale", "between 0 and 1"),
        ({"chunk_frames": 12}, "chunk_frames", "multiple of 8"),
        ({"chunk_frames": 0}, "chunk_frames", "multiple of 8"),
        ({"chunk_frames": 512}, "chunk_frames", "between 8 and 256"),
        ({"audio_sample_rate": 100}, "audio_sample_rate", "between 8000 and 192000"),
        ({"sample_format": 7}, "sample_format", "S16LE (1) or F32LE (2)"),
        ({"tags": {"scene": 3}}, "tags", "strings to strings"),
        ({"tags": {"scene": "x" * 1020}}, "tags", "<1 tags, 1025 characters>': must be at most 1024 characters"),
    ],
)
def test_each_rule_is_refused_with_field_value_and_rule(changes, field, rule):
    params = GenerationParams(**{**OK, **changes})
    with pytest.raises(InvalidParams) as caught:
        params.validate()
    err = caught.value
    assert err.field == field
    assert rule in str(err)
    assert str(err).startswith(f"{field}=")
    if field not in ("prompt", "negative_prompt", "tags") or changes.get(field, "") in ("", "   ", {"scene": 3}):
        assert repr(changes[field]) in str(err)


def test_defaults_are_valid_and_limits_are_per_deployment():
    GenerationParams(**OK).validate()
    small = Limits(max_width=256, max_height=256, max_frames=49, max_steps=10)
    with pytest.raises(InvalidParams, match=r"width=768: must be between 64 and 256"):
        GenerationParams(**OK).validate(small)
    GenerationParams(**OK, width=256, height=256, num_frames=49, steps=10).validate(small)


def test_num_frames_rule_suggests_neighbours():
    with pytest.raises(InvalidParams, match=r"num_frames=100: must be 8k\+1 \(for example 97 or 105\)"):
        GenerationParams(**OK, num_frames=100).validate()


@pytest.mark.parametrize(
    ("seconds", "fps", "frames"), [(5.0, 24.0, 121), (1.0, 24.0, 25), (2.0, 30.0, 57), (0.1, 24, 1)]
)
def test_frames_for_duration_rounds_to_8k_plus_1(seconds, fps, frames):
    assert frames_for_duration(seconds, fps) == frames
    assert (frames - 1) % 8 == 0


def test_output_key_ignores_chunking_and_tags_but_not_seed():
    a = GenerationParams(**OK, seed=1, chunk_frames=8, tags={"a": "b"})
    b = GenerationParams(**OK, seed=1, chunk_frames=48)
    c = GenerationParams(**OK, seed=2)
    assert a.output_key() == b.output_key()
    assert a.output_key() != c.output_key()


def test_each_rule_reads_its_bound_from_limits():
    """Every number a rule uses is a field of Limits (what GetInfo reports), so changing the field
    changes the rule: a client that pre-checks against Limits agrees with the daemon."""
    strict = Limits(
        min_steps=4,
        min_frames=17,
        min_guidance_scale=2.0,
        max_stg_scale=5.0,
        min_audio_sample_rate=16_000,
        max_negative_prompt_chars=10,
        max_seed=100,
        min_chunk_frames=16,
        max_video_tokens=100,
    )
    cases = [
        ({"steps": 3}, "steps=3: must be between 4 and 100"),
        ({"num_frames": 9}, "num_frames=9: must be between 17 and 257"),
        ({"audio_guidance_scale": 1.5}, "audio_guidance_scale=1.5: must be between 2 and 30"),
        ({"stg_scale": 6.0}, "stg_scale=6.0: must be between 0 and 5"),
        ({"audio_sample_rate": 8000}, "audio_sample_rate=8000: must be between 16000 and 192000"),
        ({"negative_prompt": "x" * 11}, "must be at most 10 characters"),
        ({"seed": 101}, "seed=101: must be between 0 and 100"),
        ({"chunk_frames": 8}, "chunk_frames=8: must be between 16 and 256"),
    ]
    base = {**OK, "width": 64, "height": 64, "num_frames": 17, "steps": 4, "video_guidance_scale": 2.0}
    base |= {"audio_guidance_scale": 2.0, "modality_scale": 2.0, "chunk_frames": 16}
    GenerationParams(**base).validate(strict)
    for changes, message in cases:
        with pytest.raises(InvalidParams, match=message):
            GenerationParams(**{**base, **changes}).validate(strict)
    with pytest.raises(InvalidParams, match="is 192 video tokens; must be at most 100"):
        GenerationParams(**{**base, "width": 1024}).validate(strict)


def test_prepare_params_applies_a_request_once_and_resolves_the_seed():
    defaults = GenerationParams(prompt="defaults", width=64, height=64, num_frames=25, steps=2)
    params = prepare_params(defaults, {"prompt": "rain", "width": 128}, Limits())
    assert (params.prompt, params.width, params.height) == ("rain", 128, 64)
    assert params.seed is not None and 0 <= params.seed <= Limits().max_seed
    assert prepare_params(defaults, {"seed": 5}, Limits()).seed == 5
    assert prepare_params(defaults, {"frame_rate": 12.0}, Limits(), duration_s=2.0).num_frames == 25
    with pytest.raises(InvalidParams, match=r"duration_s=1.0: must not be set together with num_frames"):
        prepare_params(defaults, {"num_frames": 9}, Limits(), duration_s=1.0)
    with pytest.raises(InvalidParams, match=r"duration_s=0.0: must be a positive number of seconds"):
        prepare_params(defaults, {}, Limits(), duration_s=0.0)
    with pytest.raises(InvalidParams, match=r"duration_s=60.0: gives num_frames=1441, which must be between 9 and 257"):
        prepare_params(defaults, {}, Limits(), duration_s=60.0)
    with pytest.raises(InvalidParams, match=r"colour='red': is not a generation parameter"):
        prepare_params(defaults, {"colour": "red"}, Limits())
