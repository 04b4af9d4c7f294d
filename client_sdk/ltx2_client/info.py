"""What the daemon reports about itself (GetInfo, Load, Unload) and Prefetch results."""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .proto.ltx2d.v1 import ltx2d_pb2 as pb
from .request import _ENUMS


@dataclass(frozen=True)
class Limits:
    """Every bound the daemon checks a request against (inclusive ranges), so that a request can
    be checked before it is sent. The fields are those of the proto's `Limits`."""

    max_width: int
    max_height: int
    max_frames: int
    max_steps: int
    max_prompt_chars: int
    min_size: int
    min_frame_rate: float
    max_frame_rate: float
    max_guidance_scale: float
    size_multiple: int = 32
    frames_multiple: int = 8
    min_frames: int = 9
    min_steps: int = 2
    max_video_tokens: int = 0
    max_negative_prompt_chars: int = 0
    max_tag_chars: int = 0
    min_guidance_scale: float = 1.0
    min_stg_scale: float = 0.0
    max_stg_scale: float = 0.0
    min_guidance_rescale: float = 0.0
    max_guidance_rescale: float = 1.0
    min_chunk_frames: int = 8
    max_chunk_frames: int = 0
    min_audio_sample_rate: int = 0
    max_audio_sample_rate: int = 0
    max_seed: int = 2**63 - 1
    max_loras: int = 0
    max_lora_strength: float = 0.0
    max_input_bytes: int = 0  # video_input / audio_input as sent
    max_input_frame_bytes: int = 0  # decoded frames and keyframe pictures a request may hold
    max_conditions: int = 0  # keyframes (image and conditions together)
    max_image_bytes: int = 0  # one keyframe picture file as sent

    @classmethod
    def from_pb(cls, m: pb.Limits) -> Limits:
        return cls(**{f.name: getattr(m, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class Info:
    """The daemon's version, model, device, limits, defaults and queue."""

    version: str
    model_id: str
    model_path: str
    model_fingerprint: str
    loaded: bool
    device: str
    dtype: str
    parameter_counts: dict[str, int]
    memory_bytes: int
    native_sample_rate: int
    limits: Limits
    # Defaults for unset generate options, keyed by option name (enums by their lower-case name).
    defaults: dict[str, Any]
    queue_depth: int
    queue_capacity: int
    running_job_id: str
    keep_alive_s: float
    protocol_version: int
    # Read by the daemon from the checkpoint's configs.
    model_version: str = ""
    text_encoder: str = ""
    distilled: bool = False
    default_preset: str = ""
    features: list[str] = field(default_factory=list)
    # {"name", "path", "fingerprint", "default_strength"} per LoRA adapter loaded at start.
    adapters: list[dict[str, Any]] = field(default_factory=list)
    native_channels: int = 0
    # {"name", "loaded", "is_default", "model_path", "model_version"} per configured model.
    models: list[dict[str, Any]] = field(default_factory=list)
    # The model on the device now; "" when none is loaded.
    resident_model: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (used by `ltx2 info --json`)."""
        return asdict(self)

    @classmethod
    def from_pb(cls, m: pb.Info) -> Info:
        return cls(
            version=m.version,
            model_id=m.model_id,
            model_path=m.model_path,
            model_fingerprint=m.model_fingerprint,
            loaded=m.loaded,
            device=m.device,
            dtype=m.dtype,
            parameter_counts=dict(m.parameter_counts),
            memory_bytes=m.memory_bytes,
            native_sample_rate=m.native_sample_rate,
            limits=Limits.from_pb(m.limits),
            defaults=_defaults(m.defaults),
            queue_depth=m.queue_depth,
            queue_capacity=m.queue_capacity,
            running_job_id=m.running_job_id,
            keep_alive_s=m.keep_alive_s,
            protocol_version=m.protocol_version,
            model_version=m.model_version,
            text_encoder=m.text_encoder,
            distilled=m.distilled,
            default_preset=m.default_preset,
            features=list(m.features),
            adapters=[
                {"name": a.name, "path": a.path, "fingerprint": a.fingerprint, "default_strength": a.default_strength}
                for a in m.adapters
            ],
            native_channels=m.native_channels,
            models=[
                {
                    "name": e.name,
                    "loaded": e.loaded,
                    "is_default": e.is_default,
                    "model_path": e.model_path,
                    "model_version": e.model_version,
                }
                for e in m.models
            ],
            resident_model=m.resident_model,
        )


def _defaults(request: pb.GenerateRequest) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for descriptor, value in request.ListFields():
        name = descriptor.name
        if name in _ENUMS:
            with contextlib.suppress(ValueError):
                value = _ENUMS[name](value).name.lower()
        elif name == "tags":
            value = dict(value)
        out[name] = value
    return out


@dataclass(frozen=True)
class PrefetchResult:
    """One job id per request queued, in order ("" for one already cached)."""

    job_ids: list[str] = field(default_factory=list)
    already_cached: int = 0
