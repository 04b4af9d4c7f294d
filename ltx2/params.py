"""Generation parameters and their validation: the one place where limits live."""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import IntEnum

from .errors import InvalidParams

TEMPORAL_COMPRESSION = 8
SPATIAL_MULTIPLE = 32


class SampleFormat(IntEnum):
    """PCM encoding of audio chunks (numbers match the wire contract)."""

    S16LE = 1
    F32LE = 2

    @property
    def bytes_per_sample(self) -> int:
        return 2 if self is SampleFormat.S16LE else 4


@dataclass(frozen=True)
class Limits:
    """Every bound a request is checked against: the one place limits live.

    Defaults suit one 80 GB GPU; a daemon may lower or raise the deployment ones (sizes, frames,
    steps). The others are LTX-2's own rules, listed here so that clients can read every rule from
    GetInfo and pre-check a request.
    """

    min_size: int = 64
    max_width: int = 1920
    max_height: int = 1088
    # Width and height are multiples of this (the VAE's spatial compression).
    size_multiple: int = SPATIAL_MULTIPLE
    # Frame counts are frames_multiple * k + 1 (the VAE's temporal compression).
    frames_multiple: int = TEMPORAL_COMPRESSION
    min_frames: int = TEMPORAL_COMPRESSION + 1
    max_frames: int = 257
    # One step makes the flow-matching schedule's terminal stretch divide by zero (NaN output).
    min_steps: int = 2
    max_steps: int = 100
    # LTX-2's resolution-dependent noise schedule degenerates (all-NaN output) above about 46k video
    # tokens (width/32 x height/32 x latent frames) at few steps.
    max_video_tokens: int = 45_000
    max_prompt_chars: int = 4000
    max_negative_prompt_chars: int = 4000
    # Tags are copied into every log line of the job: keys and values together.
    max_tag_chars: int = 1024
    min_frame_rate: float = 1.0
    max_frame_rate: float = 60.0
    # Video, audio and modality guidance scales (1 disables each).
    min_guidance_scale: float = 1.0
    max_guidance_scale: float = 30.0
    # Spatio-temporal guidance (0 disables it).
    min_stg_scale: float = 0.0
    max_stg_scale: float = 30.0
    min_guidance_rescale: float = 0.0
    max_guidance_rescale: float = 1.0
    # Chunks are a multiple of frames_multiple frames (whole latent frames).
    min_chunk_frames: int = TEMPORAL_COMPRESSION
    max_chunk_frames: int = 256
    # A requested audio rate (0 keeps the model's native rate).
    min_audio_sample_rate: int = 8_000
    max_audio_sample_rate: int = 192_000
    # Seeds are non-negative int64 (torch.Generator.manual_seed).
    max_seed: int = 2**63 - 1


def frames_for_duration(duration_s: float, frame_rate: float) -> int:
    """The 8k+1 frame count closest to `duration_s` seconds at `frame_rate` (duration_s > 0)."""
    _finite("duration_s", duration_s)
    if duration_s <= 0:
        raise InvalidParams("duration_s", duration_s, "must be a positive number of seconds")
    _finite("frame_rate", frame_rate)
    k = max(0, round((duration_s * frame_rate - 1) / TEMPORAL_COMPRESSION))
    return TEMPORAL_COMPRESSION * k + 1


@dataclass(frozen=True)
class GenerationParams:
    """Everything that defines one clip and how it is streamed.

    Fields that change the output (everything except `chunk_frames`, which only changes how the
    same clip is cut) are listed by `output_key()`, which caches use.
    """

    prompt: str
    negative_prompt: str = ""
    width: int = 768
    height: int = 512
    num_frames: int = 121
    frame_rate: float = 24.0
    steps: int = 30
    seed: int | None = None
    video_guidance_scale: float = 3.0
    audio_guidance_scale: float = 7.0
    # LTX-2's recommended multi-guidance (diffusers' defaults): 4 transformer passes per step.
    stg_scale: float = 1.0
    modality_scale: float = 3.0
    guidance_rescale: float = 0.7
    chunk_frames: int = 24
    # Delivery: 0 keeps the model's native rate.
    audio_sample_rate: int = 0
    sample_format: SampleFormat = SampleFormat.S16LE
    # Foley: skip decoding video; audio is unchanged.
    audio_only: bool = False
    preview: bool = False
    tags: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.frame_rate

    @property
    def latent_frames(self) -> int:
        return (self.num_frames - 1) // TEMPORAL_COMPRESSION + 1

    @property
    def video_tokens(self) -> int:
        return (self.width // SPATIAL_MULTIPLE) * (self.height // SPATIAL_MULTIPLE) * self.latent_frames

    def with_seed(self, seed: int) -> GenerationParams:
        return replace(self, seed=seed)

    def validate(self, limits: Limits = Limits()) -> None:
        """Raise `InvalidParams` for the first rule broken; the message names field, value, rule."""
        check_params(self, limits)

    def output_key(self) -> dict[str, object]:
        """The fields that change the generated clip or its encoding (for cache keys)."""
        skip = {"chunk_frames", "tags", "preview"}
        out: dict[str, object] = {}
        for f in fields(self):
            if f.name in skip:
                continue
            value = getattr(self, f.name)
            out[f.name] = int(value) if isinstance(value, SampleFormat) else value
        return out


def _finite(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise InvalidParams(name, value, "must be a finite number")


def _integer(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidParams(name, value, "must be an integer")
    return value


def _number(value: float) -> str:
    """A bound as a person writes it: integers in full (9223372036854775807, not 9.22337e+18)."""
    return str(value) if isinstance(value, int) else f"{value:g}"


def _in_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise InvalidParams(name, value, f"must be between {_number(low)} and {_number(high)}")


def check_params(p: GenerationParams, limits: Limits) -> None:
    """Validate every field of `p` against `limits` (see `GenerationParams.validate`)."""
    if not isinstance(p.prompt, str) or not p.prompt.strip():
        raise InvalidParams("prompt", p.prompt, "must be a non-empty string")
    if len(p.prompt) > limits.max_prompt_chars:
        raise InvalidParams(
            "prompt", f"<{len(p.prompt)} characters>", f"must be at most {limits.max_prompt_chars} characters"
        )
    if not isinstance(p.negative_prompt, str):
        raise InvalidParams("negative_prompt", p.negative_prompt, "must be a string")
    if len(p.negative_prompt) > limits.max_negative_prompt_chars:
        raise InvalidParams(
            "negative_prompt",
            f"<{len(p.negative_prompt)} characters>",
            f"must be at most {limits.max_negative_prompt_chars} characters",
        )
    for name, maximum in (("width", limits.max_width), ("height", limits.max_height)):
        value = _integer(name, getattr(p, name))
        if value % limits.size_multiple:
            raise InvalidParams(name, value, f"must be a multiple of {limits.size_multiple}")
        _in_range(name, value, limits.min_size, maximum)
    frames = _integer("num_frames", p.num_frames)
    step = limits.frames_multiple
    if frames < 1 or (frames - 1) % step:
        below = max(1, frames - 1) // step * step + 1
        raise InvalidParams("num_frames", frames, f"must be {step}k+1 (for example {below} or {below + step})")
    _in_range("num_frames", frames, limits.min_frames, limits.max_frames)
    _finite("frame_rate", p.frame_rate)
    _in_range("frame_rate", p.frame_rate, limits.min_frame_rate, limits.max_frame_rate)
    _in_range("steps", _integer("steps", p.steps), limits.min_steps, limits.max_steps)
    if p.video_tokens > limits.max_video_tokens:
        raise InvalidParams(
            "num_frames",
            frames,
            f"{p.width}x{p.height}x{frames} is {p.video_tokens} video tokens; must be at most "
            f"{limits.max_video_tokens} (fewer frames or a smaller size)",
        )
    if p.seed is not None:
        _in_range("seed", _integer("seed", p.seed), 0, limits.max_seed)
    for name in ("video_guidance_scale", "audio_guidance_scale", "modality_scale"):
        value = getattr(p, name)
        _finite(name, value)
        _in_range(name, value, limits.min_guidance_scale, limits.max_guidance_scale)
    _finite("stg_scale", p.stg_scale)
    _in_range("stg_scale", p.stg_scale, limits.min_stg_scale, limits.max_stg_scale)
    _finite("guidance_rescale", p.guidance_rescale)
    _in_range("guidance_rescale", p.guidance_rescale, limits.min_guidance_rescale, limits.max_guidance_rescale)
    chunk = _integer("chunk_frames", p.chunk_frames)
    if chunk < 1 or chunk % limits.frames_multiple:
        raise InvalidParams("chunk_frames", chunk, f"must be a positive multiple of {limits.frames_multiple}")
    _in_range("chunk_frames", chunk, limits.min_chunk_frames, limits.max_chunk_frames)
    rate = _integer("audio_sample_rate", p.audio_sample_rate)
    if rate != 0:
        _in_range("audio_sample_rate", rate, limits.min_audio_sample_rate, limits.max_audio_sample_rate)
    try:
        SampleFormat(p.sample_format)
    except ValueError:
        raise InvalidParams("sample_format", p.sample_format, "must be S16LE (1) or F32LE (2)") from None
    if not isinstance(p.tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in p.tags.items()):
        raise InvalidParams("tags", p.tags, "must map strings to strings")
    tag_chars = sum(len(k) + len(v) for k, v in p.tags.items())
    if tag_chars > limits.max_tag_chars:
        raise InvalidParams(
            "tags",
            f"<{len(p.tags)} tags, {tag_chars} characters>",
            f"must be at most {limits.max_tag_chars} characters",
        )


def prepare_params(
    defaults: GenerationParams,
    values: Mapping[str, object],
    limits: Limits,
    *,
    duration_s: float | None = None,
) -> GenerationParams:
    """`defaults` with the fields a request set (`values`, by field name), validated against
    `limits`, with the seed resolved: what a daemon runs. Raises `InvalidParams` for the first
    rule broken.

    `duration_s` is the alternative to `num_frames`: it becomes the nearest 8k+1 frame count, and
    a frame count it gives that breaks a rule is reported against `duration_s`.
    """
    known = {f.name for f in fields(GenerationParams)}
    for name, value in values.items():
        if name not in known:
            raise InvalidParams(name, value, "is not a generation parameter")
    updates = dict(values)
    if duration_s is not None:
        if "num_frames" in updates:
            raise InvalidParams("duration_s", duration_s, "must not be set together with num_frames")
        updates["num_frames"] = frames_for_duration(duration_s, updates.get("frame_rate", defaults.frame_rate))  # type: ignore[arg-type]
    params = replace(defaults, **updates)  # type: ignore[arg-type]
    try:
        check_params(params, limits)
    except InvalidParams as exc:
        if exc.field == "num_frames" and duration_s is not None:
            # The client gave a duration: say so, with the frame count it turned into.
            raise InvalidParams(
                "duration_s", duration_s, f"gives num_frames={params.num_frames}, which {exc.rule}"
            ) from None
        raise
    return params if params.seed is not None else params.with_seed(secrets.randbits(63))
