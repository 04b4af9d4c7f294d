"""Auto duration (LTX-2.5's duration head): the window's rules, the length the engine chooses
against diffusers' own pipeline call with `num_frames` omitted, and the stream it makes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import ltx2
from ltx2 import GenerationParams, InvalidParams, LengthChosen, Limits, SampleFormat, prepare_params
from ltx2.duration import bound_frames

from .conftest import collect

DEFAULTS = GenerationParams(prompt="x", width=64, height=64)


def _prepare(duration_s: float | None = None, **values: object) -> GenerationParams:
    values = {"prompt": "a bell rings twice", **values}
    return prepare_params(DEFAULTS, values, Limits(), duration_s=duration_s)


def test_a_window_sets_the_longest_clip_as_num_frames():
    p = _prepare(max_seconds=5.0)
    assert (p.min_seconds, p.max_seconds, p.auto_duration) == (None, 5.0, True)
    assert p.num_frames == bound_frames(5.0, 24.0, 8) == 113  # 120 frames -> the last 8k+1 under it
    only_min = _prepare(min_seconds=3.0)
    assert only_min.max_seconds is None and only_min.num_frames == 257  # the deployment's longest
    assert not _prepare(num_frames=25).auto_duration


@pytest.mark.parametrize(
    ("values", "field", "rule"),
    [
        ({"max_seconds": 5.0, "num_frames": 25}, "max_seconds", "must not be set together with num_frames"),
        ({"min_seconds": 2.0, "duration_s": 3.0}, "min_seconds", "must not be set together with duration_s"),
        ({"max_seconds": float("nan")}, "max_seconds", "finite number of seconds"),
        ({"max_seconds": -1.0}, "max_seconds", "positive number of seconds"),
        ({"max_seconds": "5"}, "max_seconds", "finite number of seconds"),
        ({"max_seconds": 30.0}, "max_seconds", "allows up to num_frames=713, which must be between 9 and 257"),
        ({"min_seconds": 0.1}, "min_seconds", "at least 9 frames at 24 fps"),
        ({"min_seconds": 2.0, "max_seconds": 2.1}, "max_seconds", "at least one frame step (8 frames, 0.333 s"),
        ({"min_seconds": 10.6}, "min_seconds", "between min_seconds=10.6 and max_seconds=10.7083"),
        ({"max_seconds": 20.0, "frame_rate": 8.0}, "min_seconds", "at least 9 frames at 8 fps (1.125 s) (unset: 1 s"),
        ({"min_seconds": 2.0, "width": 1920, "height": 1088}, "min_seconds", "(max_seconds unset: the longest"),
    ],
)
def test_bad_windows_are_refused_naming_the_field(values, field, rule):
    with pytest.raises(InvalidParams) as err:
        _prepare(**values)
    assert err.value.field == field and rule in err.value.rule, err.value


def test_a_model_without_a_duration_head_refuses_a_window(engine):
    with pytest.raises(InvalidParams) as err:
        engine.info().resolve(_prepare(max_seconds=3.0, seed=1))
    assert err.value.field == "max_seconds" and "duration head (LTX-2.5)" in err.value.rule
    assert "LTX-2.0" in err.value.rule


def _auto(**overrides: object) -> GenerationParams:
    values = {"steps": 2, "seed": 5, "chunk_frames": 16, "sample_format": SampleFormat.F32LE, **overrides}
    return _prepare(**values)


@pytest.mark.parametrize(("low", "high"), [(0.4, 4.0), (2.0, 2.4), (0.4, None)])
def test_the_engine_chooses_the_length_diffusers_chooses(version_engines, low, high):
    engine = version_engines["2.5"]
    params = _auto(min_seconds=low, max_seconds=high)  # max unset: the longest the limits allow
    got = collect(engine.generate(params), params)
    chosen = got.events[0]
    assert isinstance(chosen, LengthChosen), got.events[0]
    frames = chosen.format.num_frames
    assert round(low * 24) <= frames <= params.num_frames and (frames - 1) % 8 == 0
    if low == 0.4:
        assert 10 < frames < 96  # the head's own choice, not a clamp to either end
    if (low, high) == (2.0, 2.4):
        assert frames == 49  # the only 8k+1 count in [48, 57.6] frames
    assert got.completed.num_frames == len(got.frames) == frames
    assert got.completed.num_samples == chosen.format.num_samples == len(got.audio)
    # diffusers' pipeline with num_frames omitted runs its duration head the same way.
    kwargs = engine.pipeline_kwargs(replace_frames(params, frames))
    del kwargs["num_frames"]
    out = engine.pipeline(
        prompt=params.prompt, negative_prompt="", output_type="np", min_seconds=low, max_seconds=high or 20.0, **kwargs
    )
    assert out.frames[0].shape[0] == frames
    # The clip is the one asked for with that length set: the same frames and sound.
    fixed = replace_frames(params, frames)
    again = collect(engine.generate(fixed), fixed)
    assert not any(isinstance(e, LengthChosen) for e in again.events)
    assert np.array_equal(again.frames, got.frames) and np.array_equal(again.audio, got.audio)


def replace_frames(params: GenerationParams, frames: int) -> GenerationParams:
    return replace(params, num_frames=frames, min_seconds=None, max_seconds=None)


def test_a_window_with_inputs_that_fix_the_length_is_refused_naming_the_window():
    from ltx2.earlier_clip import Continuation, EarlierClip
    from ltx2.media_input import RawFrames

    frames = RawFrames(64, 64, 24.0, bytes(64 * 64 * 3 * 17))
    earlier = Continuation(EarlierClip(video=frames), overlap_frames=9)
    with pytest.raises(InvalidParams) as err:
        _prepare(max_seconds=3.0, continue_from=earlier)
    assert err.value.field == "max_seconds" and "must not be set with continue_from" in err.value.rule
    v2a = {"mode": ltx2.Mode.VIDEO_TO_AUDIO, "video_input": frames}
    with pytest.raises(InvalidParams) as err:
        _prepare(min_seconds=1.0, **v2a)
    assert err.value.field == "min_seconds" and "must not be set with video_input" in err.value.rule


def test_a_window_under_the_deployments_own_limits_runs(version_engines):
    """The bound comes from the deployment's max_frames; the engine checks again with its own
    defaults, which must not refuse it."""
    engine = version_engines["2.5"]
    limits = Limits(max_frames=57)
    values = {"prompt": "a bell rings twice", "min_seconds": 2.0, "steps": 2, "seed": 5, "chunk_frames": 16}
    params = prepare_params(DEFAULTS, values, limits)
    assert params.num_frames == 57 and params.max_seconds is None
    events = list(engine.generate(params))
    assert isinstance(events[0], LengthChosen) and 48 <= events[0].format.num_frames <= 57
