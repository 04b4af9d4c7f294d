"""Auto duration: the model chooses the clip's length (LTX-2.5's duration head).

A request sets `max_seconds` (and optionally `min_seconds`) instead of `num_frames` or
`duration_s`; the duration head reads the prompt's connector outputs and predicts a length, clamped
to the window and snapped to the VAE's 8k+1 grid (diffusers' `LTX2DurationHead.predict_num_frames`,
the pipeline's own call when `num_frames` is omitted). Until the engine has run the text encoder
the length is not known, so `num_frames` holds the longest the model may choose: every limit and
memory bound is checked against it, and the engine replaces it with the choice.

Unlike diffusers, an unset `num_frames` still means the deployment's default length: a request's
length never depends on which model happens to be resident unless it asks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import InvalidParams

if TYPE_CHECKING:
    from .params import GenerationParams, Limits

# diffusers' defaults for the window (pipeline_ltx2.py).
DEFAULT_MIN_SECONDS = 1.0
DEFAULT_MAX_SECONDS = 20.0
FIELDS = ("min_seconds", "max_seconds")
# Inputs that set the length, or need it known before the text encoder runs (keyframe indices,
# a continuation's overlap inside the clip).
LENGTH_SETTERS = ("video_input", "audio_input", "retake", "conditions", "continue_from")


def bound_frames(max_seconds: float, frame_rate: float, step: int) -> int:
    """The longest clip the head may choose: the last 8k+1 count within max_seconds."""
    return max(0, round(max_seconds * frame_rate) - 1) // step * step + 1


def prepare_auto_duration(
    updates: Mapping[str, object], defaults: GenerationParams, limits: Limits, duration_s: float | None
) -> dict[str, object]:
    """`updates` with the longest clip the window allows as num_frames, when the request set
    either end; InvalidParams for a window set with num_frames or duration_s, or not a number.
    An end left unset stays None (`window` gives its default), so errors name what was set."""
    out = dict(updates)
    given = [name for name in FIELDS if out.get(name) is not None]
    if not given:
        return out
    name = given[-1]
    _refuse_length_setters(name, out[name], out.get)
    if "num_frames" in out or duration_s is not None:
        other = "num_frames" if "num_frames" in out else "duration_s"
        rule = f"must not be set together with {other}: it lets the model choose the length"
        raise InvalidParams(name, out[name], rule)
    for end in given:
        _number(end, out[end])
    rate = out.get("frame_rate", defaults.frame_rate)
    if not isinstance(rate, int | float) or not math.isfinite(rate) or rate <= 0:
        return out  # check_params names frame_rate
    high = out.get("max_seconds")
    if high is None:  # diffusers' default, no longer than the deployment allows
        high = min(DEFAULT_MAX_SECONDS, limits.max_frames / rate)
    out["num_frames"] = bound_frames(float(high), float(rate), limits.frames_multiple)  # type: ignore[arg-type]
    return out


def window(p: GenerationParams) -> tuple[float, float]:
    """The window `p` asks for: diffusers' 1 s for an unset lower end; for an unset upper one the
    bound's own length (what `prepare_auto_duration` made num_frames from)."""
    low = DEFAULT_MIN_SECONDS if p.min_seconds is None else p.min_seconds
    high = p.num_frames / p.frame_rate if p.max_seconds is None else p.max_seconds
    return low, high


def window_field(p: GenerationParams) -> str:
    """The end of the window a refusal names: the one the client set (the upper if both)."""
    return "max_seconds" if p.max_seconds is not None else "min_seconds"


def check_auto_duration(p: GenerationParams, limits: Limits) -> None:
    """The window's rules (see the module docstring); nothing when the request set no window.
    An unset max_seconds is the bound's own length, so the check holds under any limits the
    bound was made with (the engine checks again with its defaults)."""
    if not p.auto_duration:
        return
    for name in FIELDS:
        if getattr(p, name) is not None:
            _number(name, getattr(p, name))
    rate, step = p.frame_rate, limits.frames_multiple
    low, high = window(p)
    if round(low * rate) < limits.min_frames:
        unset = " (unset: 1 s; set min_seconds)" if p.min_seconds is None else ""
        rule = (
            f"must give at least {limits.min_frames} frames at {rate:g} fps ({limits.min_frames / rate:.3f} s){unset}"
        )
        raise InvalidParams("min_seconds", low, rule)
    if high < low + step / rate - 1e-9:
        # Named as the client set it: an end left unset is not the client's to fix.
        name = window_field(p)
        value = high if name == "max_seconds" else low
        rule = (
            f"must leave at least one frame step ({step} frames, {step / rate:.3f} s at {rate:g} fps) "
            f"between min_seconds={low:g} and max_seconds={high:g}"
        )
        raise InvalidParams(name, value, rule)
    bound = bound_frames(high, rate, step)
    if p.max_seconds is not None and p.num_frames != bound:
        rule = f"must be {bound}, the longest max_seconds={high:g} allows (prepare_params sets it)"
        raise InvalidParams("num_frames", p.num_frames, rule)
    name = window_field(p)
    _refuse_length_setters(name, getattr(p, name), lambda medium: getattr(p, medium))


def _refuse_length_setters(name: str, value: object, given: Callable[[str], object]) -> None:
    for medium in LENGTH_SETTERS:
        if given(medium):
            raise InvalidParams(name, value, f"must not be set with {medium}: the length must be known")


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidParams(name, value, "must be a finite number of seconds")
    if value <= 0:
        raise InvalidParams(name, value, "must be a positive number of seconds")
    return float(value)


def choose_frames(pipe: Any, prompt_embeds: Any, prompt_mask: Any, params: GenerationParams) -> int:
    """The frame count the checkpoint's duration head chooses for the prompt, as the pipeline does
    when `num_frames` is omitted: from the positive prompt's video and audio connector outputs."""
    side = getattr(getattr(pipe, "tokenizer", None), "padding_side", "left")
    video, audio, _ = pipe.connectors(prompt_embeds[:1], prompt_mask[:1], padding_side=side)
    low, high = window(params)
    frames = pipe.duration_head.predict_num_frames(
        video,
        audio,
        frame_rate=params.frame_rate,
        temporal_compression_ratio=pipe.vae_temporal_compression_ratio,
        min_seconds=low,
        max_seconds=high,
    )
    # The window admits a grid point (check_auto_duration), so the head's choice lies within it;
    # the clamp only guards the bound every limit was checked against. An unset max_seconds is
    # the bound's length (the same choice: both floor to the grid).
    return min(int(frames), params.num_frames)
