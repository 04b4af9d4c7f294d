"""Generation parameters and their validation: the one place where limits live.

Sampling fields a preset governs (`PRESET_FIELDS`: steps and the guidance knobs) may be left None:
`resolve_preset` fills them from the request's preset, or the checkpoint's default preset (`dev`, or
`distilled` for a distilled checkpoint), and fields set explicitly win over the preset.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import IntEnum

from .errors import InvalidParams
from .versions import PRESETS, Preset

TEMPORAL_COMPRESSION = 8
SPATIAL_MULTIPLE = 32
# Fields a preset fills when a request leaves them None.
PRESET_FIELDS = (
    "steps",
    "video_guidance_scale",
    "audio_guidance_scale",
    "stg_scale",
    "audio_stg_scale",
    "modality_scale",
    "audio_modality_scale",
    "guidance_rescale",
)


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
    # LoRA adapters one request may use, and the strength of each (0 gives the base model).
    max_loras: int = 8
    max_lora_strength: float = 2.0


def sample_at(frame: int, frame_rate: float, sample_rate: int) -> int:
    """Index of the audio sample presented together with video frame `frame`."""
    return round(frame * sample_rate / frame_rate)


def frames_for_duration(duration_s: float, frame_rate: float) -> int:
    """The 8k+1 frame count closest to `duration_s` seconds at `frame_rate` (duration_s > 0)."""
    _finite("duration_s", duration_s)
    if duration_s <= 0:
        raise InvalidParams("duration_s", duration_s, "must be a positive number of seconds")
    _finite("frame_rate", frame_rate)
    k = max(0, round((duration_s * frame_rate - 1) / TEMPORAL_COMPRESSION))
    return TEMPORAL_COMPRESSION * k + 1


@dataclass(frozen=True)
class LoraWeight:
    """One adapter a request uses: the name it was loaded under, and its strength (0 to 2; None: the
    strength it was loaded with, `NAME=PATH:STRENGTH`, else 1)."""

    name: str
    strength: float | None = None


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
    # None (here and in every PRESET_FIELDS field): from the preset; see `resolve_preset`.
    steps: int | None = None
    seed: int | None = None
    video_guidance_scale: float | None = None
    audio_guidance_scale: float | None = None
    # Spatio-temporal guidance (0 disables it) and modality-isolation guidance (1 disables it), per stream.
    stg_scale: float | None = None
    audio_stg_scale: float | None = None
    modality_scale: float | None = None
    audio_modality_scale: float | None = None
    guidance_rescale: float | None = None
    # "" (the checkpoint's default), "dev" (the version's recommended steps and guidance) or "distilled"
    # (8 fixed sigmas, all guidance neutral: one transformer pass a step).
    preset: str = ""
    # Adapters loaded at start, switched per job.
    loras: tuple[LoraWeight, ...] = ()
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
            if isinstance(value, SampleFormat):
                value = int(value)
            elif f.name == "loras":
                value = [[lora.name, lora.strength] for lora in value]
            out[f.name] = value
        return out

    @property
    def resolved(self) -> bool:
        """True when every preset-governed field has a value."""
        return all(getattr(self, name) is not None for name in PRESET_FIELDS)


def resolve_preset(params: GenerationParams, preset: Preset) -> GenerationParams:
    """`params` with every PRESET_FIELDS field left None taken from `preset`, and `preset` named.

    Raises InvalidParams when an explicit `steps` contradicts a preset with fixed sigmas.
    """
    if preset.sigmas is not None and params.steps is not None and params.steps != len(preset.sigmas):
        raise InvalidParams(
            "steps",
            params.steps,
            f"must be {len(preset.sigmas)} (or unset) with preset={preset.name!r}: its sigma schedule is fixed",
        )
    filled = {name: value for name, value in preset.knobs().items() if getattr(params, name) is None}
    return replace(params, preset=preset.name, **filled)


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
    if p.steps is not None:  # None: the preset's
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
    # None: the preset's value.
    for name, low, high in (
        ("video_guidance_scale", limits.min_guidance_scale, limits.max_guidance_scale),
        ("audio_guidance_scale", limits.min_guidance_scale, limits.max_guidance_scale),
        ("modality_scale", limits.min_guidance_scale, limits.max_guidance_scale),
        ("audio_modality_scale", limits.min_guidance_scale, limits.max_guidance_scale),
        ("stg_scale", limits.min_stg_scale, limits.max_stg_scale),
        ("audio_stg_scale", limits.min_stg_scale, limits.max_stg_scale),
        ("guidance_rescale", limits.min_guidance_rescale, limits.max_guidance_rescale),
    ):
        value = getattr(p, name)
        if value is not None:
            _finite(name, value)
            _in_range(name, value, low, high)
    if p.preset not in ("", *PRESETS):
        raise InvalidParams("preset", p.preset, f"must be one of {', '.join(PRESETS)} (or empty: the checkpoint's)")
    check_loras(p.loras, limits)
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
    if updates.get("preset"):
        # A preset fills what the request left unset, not the deployment's defaults.
        updates = {**dict.fromkeys(PRESET_FIELDS), **updates}
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


def check_loras(loras: object, limits: Limits) -> None:
    """Each adapter named once, with a strength between 0 and `limits.max_lora_strength`."""
    if not isinstance(loras, tuple | list) or not all(isinstance(lora, LoraWeight) for lora in loras):
        raise InvalidParams("loras", loras, "must be a list of {name, strength}")
    if len(loras) > limits.max_loras:
        raise InvalidParams("loras", f"<{len(loras)} adapters>", f"must be at most {limits.max_loras}")
    seen: set[str] = set()
    for i, lora in enumerate(loras):
        if not isinstance(lora.name, str) or not lora.name:
            raise InvalidParams(f"loras[{i}].name", lora.name, "must be a non-empty string")
        if lora.name in seen:
            raise InvalidParams(f"loras[{i}].name", lora.name, "must not be listed twice")
        seen.add(lora.name)
        if lora.strength is not None:
            _finite(f"loras[{i}].strength", lora.strength)
            _in_range(f"loras[{i}].strength", lora.strength, 0.0, limits.max_lora_strength)
