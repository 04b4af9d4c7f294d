"""The one narrow interface between a scheduler and a model host.

The daemon's scheduler only ever talks to an `Engine`; tests can hand it a fake one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

from .control import JobControl
from .duration import window_field
from .errors import InvalidParams
from .events import ClipFormat, Event
from .params import PRESET_FIELDS, GenerationParams, Limits, LoraWeight, resolve_preset, sample_at
from .versions import FEATURE_AUTO_DURATION, preset


@dataclass(frozen=True)
class AdapterInfo:
    """A LoRA adapter loaded at start: its name, file, file fingerprint and the modules it adapts."""

    name: str
    path: str
    fingerprint: str
    # Strength used when a request names the adapter without one.
    default_strength: float = 1.0
    components: tuple[str, ...] = ("transformer",)


@dataclass(frozen=True)
class ModelInfo:
    """What an engine has loaded (the load report)."""

    model_id: str
    model_path: str
    fingerprint: str
    device: str
    dtype: str
    native_sample_rate: int
    channels: int
    parameter_counts: dict[str, int] = field(default_factory=dict)
    memory_bytes: int = 0
    load_s: float = 0.0
    # How the video is decoded (ltx2.decode.VideoDecodeMode): "streaming", or "whole: <why>".
    video_decode: str = "streaming"
    # Read from the checkpoint's configs (ltx2.versions), never from its folder name.
    version: str = ""
    text_encoder: str = ""
    distilled: bool = False
    default_preset: str = "dev"
    features: tuple[str, ...] = ()
    adapters: tuple[AdapterInfo, ...] = ()

    def resolve(self, params: GenerationParams, limits: Limits = Limits()) -> GenerationParams:
        """`params` as this model runs them: validated, each LoRA named checked against the loaded
        adapters (its unset strength taken from the adapter), the preset applied (the request's, else
        `default_preset`) to every sampling field left None, and validated again; InvalidParams naming
        the field, or `preset` when the preset chose the value that broke a rule."""
        params.validate(limits)
        if params.auto_duration and FEATURE_AUTO_DURATION not in self.features:
            rule = f"needs a checkpoint with a duration head (LTX-2.5); this one is LTX-{self.version or '2.0'}"
            name = window_field(params)
            raise InvalidParams(name, getattr(params, name), rule)
        if params.retake is not None and params.retake.clip.pcm is not None:
            # Kept bit for bit outside the window: the sound must be what the stream carries.
            pcm, rate = params.retake.clip.pcm, params.audio_sample_rate or self.native_sample_rate
            if pcm.sample_rate != rate:
                rule = f"must be the stream's rate, {rate} Hz, to be kept bit for bit"
                raise InvalidParams("retake.clip.audio.pcm.sample_rate", pcm.sample_rate, rule)
            if pcm.channels != self.channels:
                rule = f"must be the stream's {self.channels} channels, to be kept bit for bit"
                raise InvalidParams("retake.clip.audio.pcm.channels", pcm.channels, rule)
            samples = pcm.num_samples
            wanted = sample_at(params.num_frames, params.frame_rate, rate)
            if samples != wanted:
                rule = f"must be the clip's {wanted} samples ({params.num_frames} frames at {params.frame_rate:g} fps)"
                raise InvalidParams("retake.clip.audio.pcm.data", f"<{samples} samples>", rule)
        loaded = {a.name: a for a in self.adapters}
        loras = []
        for i, lora in enumerate(params.loras):
            adapter = loaded.get(lora.name)
            if adapter is None:
                have = ", ".join(sorted(loaded)) or "none"
                raise InvalidParams(
                    f"loras[{i}].name", lora.name, f"no adapter of that name is loaded (loaded: {have})"
                )
            loras.append(lora if lora.strength is not None else LoraWeight(lora.name, adapter.default_strength))
        resolved = replace(self.with_preset(params), loras=tuple(loras))
        try:
            resolved.validate(limits)
        except InvalidParams as exc:
            if exc.field in PRESET_FIELDS and getattr(params, exc.field) is None:
                # The request did not set that field: the preset did; say so.
                rule = f"gives {exc.field}={exc.value!r}, which {exc.rule}"
                raise InvalidParams("preset", resolved.preset, rule) from None
            raise
        return resolved

    def with_preset(self, params: GenerationParams) -> GenerationParams:
        """`params` with its preset (the request's, else `default_preset`) filling every sampling
        field left None; params already resolved come back as they are. No other check."""
        if params.resolved and params.preset:
            return params
        return resolve_preset(params, preset(params.preset or self.default_preset, self.version or "2.0"))

    def clip_format(self, params: GenerationParams, limits: Limits = Limits()) -> ClipFormat:
        """The shape of the clip `params` (seed resolved) make on this model: a function of the
        request and the model's native audio format only, so a model need not be loaded to say it."""
        params = self.resolve(params, limits)
        rate = params.audio_sample_rate or self.native_sample_rate
        first, frames = params.first_frame, params.delivered_frames
        first_sample = sample_at(first, params.frame_rate, rate)
        return ClipFormat(
            width=params.width,
            height=params.height,
            num_frames=frames,
            frame_rate=params.frame_rate,
            sample_rate=rate,
            channels=self.channels,
            # Exactly the video's span: the model's audio, then a faded tail (ltx2.audio.VideoSpanAudio).
            num_samples=sample_at(first + frames, params.frame_rate, rate) - first_sample,
            sample_format=params.sample_format,
            seed=params.seed if params.seed is not None else 0,
            steps=params.steps,
            audio_only=not params.sends_video,
            first_frame=first,
            first_sample=first_sample,
        )

    def adapter(self, name: str) -> AdapterInfo | None:
        return next((a for a in self.adapters if a.name == name), None)

    def job_fingerprint(self, params: GenerationParams) -> str:
        """`job_fingerprint` of this model and its adapters."""
        return job_fingerprint(self.fingerprint, self.adapters, params)


def job_fingerprint(fingerprint: str, adapters: Sequence[AdapterInfo], params: GenerationParams) -> str:
    """The model fingerprint combined with the file fingerprint (and loaded strength, which an unset
    request strength means) of every adapter `params` uses, for cache keys; the adapter names and the
    requested strengths are in `params.output_key()`."""
    by_name = {a.name: a for a in adapters}
    found = [(lora.name, by_name.get(lora.name)) for lora in params.loras]
    used = [f"{n}={a.fingerprint}@{a.default_strength!r}" for n, a in found if a is not None]
    if not used:
        return fingerprint
    return hashlib.sha256("\0".join([fingerprint, *used]).encode()).hexdigest()[:16]


@runtime_checkable
class Engine(Protocol):
    """A warm model that turns parameters into a stream of events.

    `generate` yields Progress events, then for each temporal chunk an AudioChunk followed by the
    VideoChunk of the same span, then one Completed. It calls `control.checkpoint()` after every
    denoising step and decoded chunk, so a cancel stops it within one step and a pause parks it.
    Several `generate` iterators may be alive at once (one running, others parked); an engine must
    keep per-job state apart. When `params.auto_duration`, the first event is one LengthChosen
    (the clip's format at the length the model chose), before any other; never otherwise.
    """

    def info(self) -> ModelInfo: ...

    def clip_format(self, params: GenerationParams) -> ClipFormat:
        """The shape of the clip `params` produce (seed must be resolved)."""
        ...

    def generate(self, params: GenerationParams, control: JobControl | None = None) -> Iterator[Event]:
        """The clip's events; `params` already validated with the seed resolved (`prepare_params`)."""
        ...

    def close(self) -> None:
        """Free the device memory held by the model."""
        ...
