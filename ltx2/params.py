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

import numpy as np

from .duration import check_auto_duration, prepare_auto_duration, window_field
from .earlier_clip import Continuation, Retake, check_continuation, check_retake, prepare_earlier
from .errors import InvalidParams
from .keyframes import Keyframe, check_keyframes, prepare_keyframes
from .media_input import AudioInput, MediaFile, RawAudio, RawFrames, VideoInput, decode_audio_input, decode_video
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


class Mode(IntEnum):
    """What a job generates and from what (numbers match the wire contract; 0 there is the default).

    TEXT_TO_AUDIO_VIDEO: a clip, picture and sound. AUDIO_ONLY: sound from the prompt, with the least
    video work the model allows (no VideoChunk). VIDEO_TO_AUDIO: sound for the request's frames
    (`video_input`), which are held clean while the audio is denoised (no VideoChunk: the client has
    the frames). AUDIO_TO_VIDEO: picture for the request's sound (`audio_input`), held clean; the
    stream's audio is that sound.
    """

    TEXT_TO_AUDIO_VIDEO = 1
    AUDIO_ONLY = 2
    VIDEO_TO_AUDIO = 3
    AUDIO_TO_VIDEO = 4

    @property
    def label(self) -> str:
        return self.name.lower()


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
    # Media a request carries (video_input, audio_input), as sent: under the daemon's 16 MiB gRPC
    # message limit, with room for the rest of the request.
    max_input_bytes: int = 12 * 1024 * 1024
    # video_input's frames at the size they are encoded at (width x height x 3 bytes each): what a
    # queued job holds (768x512x121 is 143 MB; 1280x704x257 is 695 MB and must be sent smaller).
    max_input_frame_bytes: int = 256 * 1024 * 1024
    # Keyframes (`image` and `conditions`) one request may carry, and the bytes of one picture file
    # as sent (decoded, a picture is at most 3840x2160 and counts against max_input_frame_bytes).
    max_conditions: int = 8
    max_image_bytes: int = 12 * 1024 * 1024


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
    # Skip decoding the clip's video (its audio is unchanged); Mode.AUDIO_ONLY instead generates sound
    # only, with far less video work, and a different sound.
    audio_only: bool = False
    mode: Mode = Mode.TEXT_TO_AUDIO_VIDEO
    # The frames of Mode.VIDEO_TO_AUDIO, the sound of Mode.AUDIO_TO_VIDEO, decoded (`prepare_params`
    # decodes what a transport sends). They set num_frames (and, for frames, frame_rate and size).
    video_input: VideoInput | None = None
    audio_input: AudioInput | None = None
    # Keyframes: the picture the clip starts from (image-to-video), and pictures or frames placed
    # at pixel frame indices (`ltx2.keyframes`); decoded by `prepare_params` like the media above.
    image: Keyframe | None = None
    conditions: tuple[Keyframe, ...] = ()
    # An earlier clip this one continues, or regenerates part of (`ltx2.earlier_clip`).
    continue_from: Continuation | None = None
    retake: Retake | None = None
    # The model chooses the length (LTX-2.5's duration head) within [min_seconds, max_seconds];
    # num_frames then holds the longest it may choose (`ltx2.duration`), the engine the choice.
    min_seconds: float | None = None
    max_seconds: float | None = None
    preview: bool = False
    tags: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.frame_rate

    @property
    def auto_duration(self) -> bool:
        """Whether the model chooses the length (either end of the window set); num_frames is then
        the longest it may choose."""
        return self.min_seconds is not None or self.max_seconds is not None

    @property
    def generates_video(self) -> bool:
        """Whether the job denoises a video (the modes that do not hold it or do without it)."""
        return self.mode in (Mode.TEXT_TO_AUDIO_VIDEO, Mode.AUDIO_TO_VIDEO)

    @property
    def sends_video(self) -> bool:
        """Whether the stream carries VideoChunks."""
        return self.generates_video and not self.audio_only

    @property
    def delivered_frames(self) -> int:
        """Frames the stream spans: the given frames for video-to-audio (num_frames pads them to 8k+1),
        the frames after the overlap for a continuation."""
        if self.video_input is not None:
            return self.video_input.num_frames
        return self.num_frames - self.overlap_frames

    @property
    def overlap_frames(self) -> int:
        """Frames at the clip's start held from the clip it continues, which the stream skips."""
        return self.continue_from.overlap_frames if isinstance(self.continue_from, Continuation) else 0

    @property
    def first_frame(self) -> int:
        """The index of the stream's first frame: where the continued clip ended, else 0."""
        return self.continue_from.clip.ends_at if isinstance(self.continue_from, Continuation) else 0

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
            if f.name in skip or (f.name in ("min_seconds", "max_seconds") and getattr(self, f.name) is None):
                continue  # (an unset window leaves the keys of clips cached before it existed as they were)
            value = getattr(self, f.name)
            if isinstance(value, SampleFormat | Mode):
                value = int(value)
            elif isinstance(value, VideoInput | AudioInput):
                value = value.digest
            elif isinstance(value, Keyframe | Continuation | Retake):
                value = value.key()
            elif f.name == "conditions":
                value = [kf.key() for kf in value]
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


def _check_size(name: str, value: object, limits: Limits) -> None:
    """Width or height: an integer multiple of `limits.size_multiple` within the size limits."""
    value = _integer(name, value)
    if value % limits.size_multiple:
        raise InvalidParams(name, value, f"must be a multiple of {limits.size_multiple}")
    _in_range(name, value, limits.min_size, getattr(limits, f"max_{name}"))


def _check_frame_rate(value: object, limits: Limits) -> None:
    _finite("frame_rate", value)  # type: ignore[arg-type]
    _in_range("frame_rate", value, limits.min_frame_rate, limits.max_frame_rate)  # type: ignore[arg-type]


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
    _check_size("width", p.width, limits)
    _check_size("height", p.height, limits)
    frames = _integer("num_frames", p.num_frames)
    step = limits.frames_multiple
    if frames < 1 or (frames - 1) % step:
        below = max(1, frames - 1) // step * step + 1
        raise InvalidParams("num_frames", frames, f"must be {step}k+1 (for example {below} or {below + step})")
    _in_range("num_frames", frames, limits.min_frames, limits.max_frames)
    _check_frame_rate(p.frame_rate, limits)
    check_auto_duration(p, limits)
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
    check_mode(p, limits)
    check_keyframes(
        p.image,
        p.conditions,
        num_frames=frames,
        width=p.width,
        height=p.height,
        frames_multiple=limits.frames_multiple,
        max_conditions=limits.max_conditions,
        held_budget=limits.max_input_frame_bytes,
        finite=_finite,  # type: ignore[arg-type]
    )
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
    updates = _prepare_inputs(defaults, updates, limits, duration_s)
    updates = prepare_auto_duration(updates, defaults, limits, duration_s)
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
        if exc.field == "num_frames" and params.auto_duration and "num_frames" not in values:
            # The client gave a window: the bound it turned into broke the rule.
            name = window_field(params)
            unset = " (max_seconds unset: the longest the limits allow; set it)" if params.max_seconds is None else ""
            rule = f"allows up to num_frames={params.num_frames}{unset}, which {exc.rule}"
            raise InvalidParams(name, getattr(params, name), rule) from None
        raise
    return params if params.seed is not None else params.with_seed(secrets.randbits(63))


def frames_covering(frames: int, limits: Limits) -> int:
    """The 8k+1 frame count (at least `limits.min_frames`) that covers `frames` frames."""
    step = limits.frames_multiple
    return max(limits.min_frames, math.ceil(max(frames - 1, 0) / step) * step + 1)


def check_mode(p: GenerationParams, limits: Limits) -> None:
    """The mode, and the media it needs: frames for video-to-audio, sound for audio-to-video, else none."""
    try:
        mode = Mode(p.mode)
    except ValueError:
        names = ", ".join(m.label for m in Mode)
        raise InvalidParams("mode", p.mode, f"must be one of {names}") from None
    for name, wanted, kind in (
        ("video_input", Mode.VIDEO_TO_AUDIO, VideoInput),
        ("audio_input", Mode.AUDIO_TO_VIDEO, AudioInput),
    ):
        value = getattr(p, name)
        if mode is wanted and not isinstance(value, kind):
            raise InvalidParams(name, value, f"is required with mode={mode.label}")
        if mode is not wanted and value is not None:
            raise InvalidParams(name, "<set>", f"must only be set with mode={wanted.label} (mode={mode.label})")
    for name in ("continue_from", "retake"):
        if getattr(p, name) is None:
            continue
        if mode is not Mode.TEXT_TO_AUDIO_VIDEO:
            raise InvalidParams(name, "<set>", f"must only be set with mode=text_to_audio_video (mode={mode.label})")
        for other in ("image", "conditions", *(("continue_from",) if name == "retake" else ())):
            if getattr(p, other):
                raise InvalidParams(name, "<set>", f"must not be set together with {other}")
    if p.continue_from is not None:
        check_continuation(
            p.continue_from,
            num_frames=p.num_frames,
            frames_multiple=limits.frames_multiple,
            width=p.width,
            height=p.height,
        )
    if p.retake is not None:
        check_retake(
            p.retake,
            num_frames=p.num_frames,
            frame_rate=p.frame_rate,
            sample_format=p.sample_format,
            width=p.width,
            height=p.height,
        )
    if not p.generates_video:
        for name in ("image", "conditions"):
            if getattr(p, name):
                rule = f"must only be set with a mode that generates video (mode={mode.label})"
                raise InvalidParams(name, "<set>", rule)
    if p.audio_only and mode is not Mode.TEXT_TO_AUDIO_VIDEO:
        raise InvalidParams("audio_only", True, f"must not be set with mode={mode.label}")
    if p.video_input is not None:
        frames = p.video_input.frames
        if frames.ndim != 4 or frames.shape[1:] != (p.height, p.width, 3) or frames.dtype != np.uint8:
            rule = f"must be uint8 frames of {p.width}x{p.height}"
            raise InvalidParams("video_input", f"<frames {frames.shape}>", rule)
        if frames.nbytes > limits.max_input_frame_bytes:
            raise InvalidParams(
                "video_input",
                f"<{len(frames)} frames of {p.width}x{p.height}: {frames.nbytes} bytes>",
                f"must be at most {limits.max_input_frame_bytes} bytes at the size it is encoded at "
                "(a smaller width and height)",
            )
        if p.num_frames != frames_covering(len(frames), limits):
            rule = f"must be {frames_covering(len(frames), limits)} for {len(frames)} given frames"
            raise InvalidParams("num_frames", p.num_frames, rule)
        if p.frame_rate != p.video_input.frame_rate:
            rule = f"must be the given frames' rate, {p.video_input.frame_rate:g}"
            raise InvalidParams("frame_rate", p.frame_rate, rule)
    if p.audio_input is not None and p.num_frames / p.frame_rate < p.audio_input.duration_s - 1e-9:
        raise InvalidParams(
            "num_frames",
            p.num_frames,
            f"must cover audio_input's {p.audio_input.duration_s:.3f} s at {p.frame_rate:g} fps",
        )


def _prepare_inputs(
    defaults: GenerationParams, updates: dict[str, object], limits: Limits, duration_s: float | None
) -> dict[str, object]:
    """`updates` with a transport's media (RawFrames, RawAudio, MediaFile) decoded, and the length,
    rate and size they set; InvalidParams for a field the media sets that the request set too."""
    raw_mode = updates.get("mode", defaults.mode)
    try:
        mode = Mode(raw_mode)
    except ValueError:
        return updates  # check_mode names it
    updates = {**updates, "mode": mode}
    media = {Mode.VIDEO_TO_AUDIO: "video_input", Mode.AUDIO_TO_VIDEO: "audio_input"}.get(mode)
    if media and duration_s is not None:
        raise InvalidParams(
            "duration_s", duration_s, f"must not be set with mode={mode.label}: {media} sets the length"
        )
    video, audio = updates.get("video_input"), updates.get("audio_input")
    if mode is Mode.VIDEO_TO_AUDIO and isinstance(video, RawFrames | MediaFile):
        for name in ("num_frames", "frame_rate"):
            if name in updates:
                rule = "must not be set with mode=video_to_audio: video_input sets it"
                raise InvalidParams(name, updates[name], rule)
        size = None
        if "width" in updates or "height" in updates:
            # Checked before decoding: the frames are scaled to this size as they decode.
            size = (updates.get("width", defaults.width), updates.get("height", defaults.height))
            _check_size("width", size[0], limits)
            _check_size("height", size[1], limits)
        decoded = decode_video(
            video,
            size=size,
            box=(defaults.width, defaults.height),
            multiple=limits.size_multiple,
            min_size=limits.min_size,
            max_frames=limits.max_frames,
            max_bytes=limits.max_input_bytes,
            max_frame_bytes=limits.max_input_frame_bytes,
            frame_rate_range=(limits.min_frame_rate, limits.max_frame_rate),
        )
        frames = frames_covering(decoded.num_frames, limits)
        if frames > limits.max_frames:
            raise InvalidParams(
                "video_input",
                f"<{decoded.num_frames} frames>",
                f"gives num_frames={frames} (8k+1), which must be at most {limits.max_frames}",
            )
        height, width = decoded.frames.shape[1:3]
        updates.update(video_input=decoded, num_frames=frames, frame_rate=decoded.frame_rate)
        updates.update(width=width, height=height)
    if mode is Mode.AUDIO_TO_VIDEO and isinstance(audio, RawAudio | MediaFile):
        if "num_frames" in updates:
            rule = "must not be set with mode=audio_to_video: audio_input sets it"
            raise InvalidParams("num_frames", updates["num_frames"], rule)
        rate = updates.get("frame_rate", defaults.frame_rate)
        _check_frame_rate(rate, limits)  # before decoding: it bounds the sound's length
        decoded = decode_audio_input(
            audio,
            max_seconds=(limits.max_frames - 1) / rate,  # type: ignore[operator]
            max_bytes=limits.max_input_bytes,
            rate_range=(limits.min_audio_sample_rate, limits.max_audio_sample_rate),
        )
        covered = math.ceil(decoded.duration_s * rate - 1e-9)  # type: ignore[operator]
        updates.update(audio_input=decoded, num_frames=frames_covering(covered, limits))
    if updates.get("image") is not None or updates.get("conditions"):
        width, height = updates.get("width", defaults.width), updates.get("height", defaults.height)
        # Checked before decoding: frames are fitted to this size as they decode.
        _check_size("width", width, limits)
        _check_size("height", height, limits)
        image, conditions = prepare_keyframes(
            updates.get("image"),
            updates.get("conditions", ()),
            width=width,  # type: ignore[arg-type]
            height=height,  # type: ignore[arg-type]
            max_image_bytes=limits.max_image_bytes,
            max_bytes=limits.max_input_bytes,
            max_frames=limits.max_frames,
            max_frame_bytes=limits.max_input_frame_bytes,
            max_conditions=limits.max_conditions,
        )
        updates.update(image=image, conditions=conditions)
    for name, kind in (("continue_from", Continuation), ("retake", Retake)):
        value = updates.get(name)
        if value is None:
            continue
        if not isinstance(value, kind):
            raise InvalidParams(name, value, f"must be a {kind.__name__}")
        if mode is not Mode.TEXT_TO_AUDIO_VIDEO:  # before decoding anything
            raise InvalidParams(name, "<set>", f"must only be set with mode=text_to_audio_video (mode={mode.label})")
        width, height = updates.get("width", defaults.width), updates.get("height", defaults.height)
        _check_size("width", width, limits)
        _check_size("height", height, limits)
        rate = updates.get("frame_rate", defaults.frame_rate)
        _check_frame_rate(rate, limits)
        clip = prepare_earlier(
            f"{name}.clip",
            value.clip,
            width=width,  # type: ignore[arg-type]
            height=height,  # type: ignore[arg-type]
            raw_pcm=name == "retake",
            max_bytes=limits.max_input_bytes,
            max_frames=limits.max_frames,
            max_frame_bytes=limits.max_input_frame_bytes,
            max_seconds=(limits.max_frames - 1) / rate + 1.0,  # type: ignore[operator]
            rate_range=(limits.min_audio_sample_rate, limits.max_audio_sample_rate),
        )
        updates[name] = replace(value, clip=clip)
        if name == "retake" and "num_frames" not in updates and duration_s is None:
            updates["num_frames"] = clip.video.num_frames  # type: ignore[union-attr]
        if name == "retake" and clip.pcm is not None and updates.get("sample_format") is None:
            # The sound kept outside the window streams as sent: in the encoding it was sent in.
            updates["sample_format"] = SampleFormat(clip.pcm.sample_format)
    return updates


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
