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
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import InvalidParams

if TYPE_CHECKING:
    from .params import GenerationParams, Limits

# diffusers' defaults for the window (pipeline_ltx2.py).
DEFAULT_MIN_SECONDS = 1.0
DEFAULT_MAX_SECONDS = 20.0
FIELDS = ("min_seconds", "max_seconds")


def bound_frames(max_seconds: float, frame_rate: float, step: int) -> int:
    """The longest clip the head may choose: the last 8k+1 count within max_seconds."""
    return max(0, round(max_seconds * frame_rate) - 1) // step * step + 1


def prepare_auto_duration(
    updates: Mapping[str, object], defaults: GenerationParams, limits: Limits, duration_s: float | None
) -> dict[str, object]:
    """`updates` with both window ends and the bound as num_frames, when the request set either
    end; InvalidParams for a window set with num_frames or duration_s, or not a number."""
    out = dict(updates)
    given = [name for name in FIELDS if out.get(name) is not None]
    if not given:
        return out
    name = given[-1]
    if "num_frames" in out or duration_s is not None:
        other = "num_frames" if "num_frames" in out else "duration_s"
        rule = f"must not be set together with {other}: it lets the model choose the length"
        raise InvalidParams(name, out[name], rule)
    rate = out.get("frame_rate", defaults.frame_rate)
    for end in given:
        _number(end, out[end])
    if not isinstance(rate, int | float) or not math.isfinite(rate) or rate <= 0:
        return out  # check_params names frame_rate
    out.setdefault("min_seconds", DEFAULT_MIN_SECONDS)
    if out.get("max_seconds") is None:
        out["max_seconds"] = min(DEFAULT_MAX_SECONDS, limits.max_frames / rate)
    out["num_frames"] = bound_frames(float(out["max_seconds"]), float(rate), limits.frames_multiple)  # type: ignore[arg-type]
    return out


def check_auto_duration(p: GenerationParams, limits: Limits) -> None:
    """The window's rules (see the module docstring); nothing when the request set no window."""
    if p.min_seconds is None and p.max_seconds is None:
        return
    if p.min_seconds is None or p.max_seconds is None:
        missing = "min_seconds" if p.min_seconds is None else "max_seconds"
        raise InvalidParams(missing, None, "must be set with the other end of the window (prepare_params does it)")
    low, high = _number("min_seconds", p.min_seconds), _number("max_seconds", p.max_seconds)
    rate, step = p.frame_rate, limits.frames_multiple
    if round(low * rate) < limits.min_frames:
        rule = f"must give at least {limits.min_frames} frames at {rate:g} fps ({limits.min_frames / rate:.3f} s)"
        raise InvalidParams("min_seconds", low, rule)
    if high < low + step / rate - 1e-9:
        rule = (
            f"must be at least one frame step ({step} frames, {step / rate:.3f} s at {rate:g} fps) "
            f"above min_seconds={low:g}"
        )
        raise InvalidParams("max_seconds", high, rule)
    bound = bound_frames(high, rate, step)
    if p.num_frames != bound:
        rule = f"must be {bound}, the longest max_seconds={high:g} allows (prepare_params sets it)"
        raise InvalidParams("num_frames", p.num_frames, rule)
    for name, value in (
        ("video_input", p.video_input),
        ("audio_input", p.audio_input),
        ("retake", p.retake),
        ("conditions", p.conditions or None),
    ):
        if value is not None:
            raise InvalidParams("max_seconds", high, f"must not be set with {name}: the length must be known")


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
    frames = pipe.duration_head.predict_num_frames(
        video,
        audio,
        frame_rate=params.frame_rate,
        temporal_compression_ratio=pipe.vae_temporal_compression_ratio,
        min_seconds=params.min_seconds,
        max_seconds=params.max_seconds,
    )
    # The window admits a grid point (check_auto_duration), so the head's choice lies within it;
    # the clamp only guards the bound every limit was checked against.
    return min(int(frames), params.num_frames)
