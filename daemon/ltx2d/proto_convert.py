"""Where protobuf meets the domain: `ltx2d.v1` messages <-> the daemon's domain types.

Translation only: nothing is validated here (the service does it once, `validation.prepare`).
- `request_from_proto`: a `GenerateRequest` -> a `ClipRequest`. Which request fields are
  generation parameters is read from the proto descriptor and `GenerationParams`, not listed.
- `event_message`: an encoded stream event (`event_encoding.encode_event`) -> `GenerateEvent`.
- `info_to_proto`: `ServiceInfo` -> `Info`, every `ltx2.Limits` field included.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from ltx2 import GenerationParams, Limits
from ltx2.earlier_clip import DEFAULT_OVERLAP_FRAMES, Continuation, EarlierClip, Retake
from ltx2.keyframes import Keyframe
from ltx2.media_input import MediaFile, RawAudio, RawFrames, RawImage
from ltx2.params import LoraWeight
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb

from . import __version__
from .domain import CachePolicy, ClipRequest, FrameFormat, Priority, ServiceInfo
from .event_encoding import EncodedEvent, f32

PROTOCOL_VERSION = 1

_REQUEST = pb.GenerateRequest.DESCRIPTOR
# GenerateRequest fields that are GenerationParams fields of the same name.
PARAM_FIELDS = tuple(f.name for f in fields(GenerationParams) if f.name in _REQUEST.fields_by_name)
# Enum fields whose 0 means "unspecified": absent, like an unset optional field.
_ENUM_FIELDS = frozenset(f.name for f in _REQUEST.fields if f.enum_type is not None)


def _value(msg: pb.GenerateRequest, name: str) -> Any:
    """The field's value as the client meant it (proto floats back to their decimal)."""
    value = getattr(msg, name)
    if isinstance(value, float):
        return f32(value)
    if name == "loras":  # unset strength: the one the adapter was loaded with
        return tuple(LoraWeight(w.name, f32(w.strength) if w.HasField("strength") else None) for w in value)
    if name in ("video_input", "audio_input"):
        return _media(value)
    if name == "image":
        return _keyframe(value)
    if name == "conditions":
        return tuple(_keyframe(c) for c in value)
    if name == "continue_from":
        overlap = value.overlap_frames if value.HasField("overlap_frames") else DEFAULT_OVERLAP_FRAMES
        return Continuation(_earlier(value.clip), overlap)
    if name == "retake":
        video = value.video if value.HasField("video") else True
        audio = value.audio if value.HasField("audio") else True
        return Retake(_earlier(value.clip), f32(value.start_s), f32(value.end_s), video, audio)
    if _REQUEST.fields_by_name[name].message_type is not None:  # the tags map
        return dict(value)
    return value


def _media(msg: pb.VideoInput | pb.AudioInput) -> RawFrames | RawAudio | MediaFile | str:
    """A request's media as the engine takes it, still undecoded; an empty one stays a value that
    validation refuses (naming the field), not an unset field."""
    source = msg.WhichOneof("source")
    if source == "file":
        return MediaFile(msg.file)
    if source == "frames":
        f = msg.frames
        return RawFrames(f.width, f.height, f32(f.frame_rate), f.rgb)
    if source == "pcm":
        a = msg.pcm
        return RawAudio(a.sample_rate, a.channels, a.sample_format or 1, a.data)
    return "<empty: neither frames nor file>" if isinstance(msg, pb.VideoInput) else "<empty: neither pcm nor file>"


def _keyframe(msg: pb.Condition) -> Keyframe:
    """A keyframe with its media still undecoded (an empty source stays a value validation refuses)."""
    source = msg.WhichOneof("source")
    media: object = "<empty: neither file, pixels nor frames>"
    if source == "file":
        media = MediaFile(msg.file)
    elif source == "pixels":
        media = RawImage(msg.pixels.width, msg.pixels.height, msg.pixels.rgb)
    elif source == "frames":
        f = msg.frames
        media = RawFrames(f.width, f.height, f32(f.frame_rate), f.rgb)
    strength = f32(msg.strength) if msg.HasField("strength") else 1.0
    return Keyframe(media, msg.frame, strength, msg.crf if msg.HasField("crf") else None)


def _earlier(msg: pb.EarlierClip) -> EarlierClip:
    """An earlier clip as sent (the service resolves a job id; validation decodes the media)."""
    return EarlierClip(
        video=_media(msg.video) if msg.HasField("video") else None,
        audio=_media(msg.audio) if msg.HasField("audio") else None,
        job_id=msg.job_id,
        end_frame=msg.end_frame if msg.HasField("end_frame") else None,
    )


def _is_set(msg: pb.GenerateRequest, name: str) -> bool:
    field = _REQUEST.fields_by_name[name]
    if field.has_presence:
        return msg.HasField(name)
    if name in _ENUM_FIELDS:
        return getattr(msg, name) != 0
    return True  # prompt, negative_prompt, tags, audio_only, preview: the value is the request


def request_from_proto(msg: pb.GenerateRequest, *, client: str = "", deadline: float | None = None) -> ClipRequest:
    """Translate one GenerateRequest (unchecked; the service validates it)."""

    def optional(name: str) -> Any:
        return _value(msg, name) if _is_set(msg, name) else None

    return ClipRequest(
        values={name: _value(msg, name) for name in PARAM_FIELDS if _is_set(msg, name)},
        duration_s=optional("duration_s"),
        priority=optional("priority"),
        cache_policy=msg.cache_policy,
        frame_format=optional("frame_format"),
        jpeg_quality=optional("jpeg_quality"),
        deadline=deadline,
        client=client,
        model=msg.model,
    )


def prefetch_from_proto(msg: pb.PrefetchRequest, *, client: str = "") -> list[ClipRequest]:
    return [request_from_proto(request, client=client) for request in msg.requests]


def params_to_proto(params: GenerationParams) -> pb.GenerateRequest:
    """The request that asks for exactly `params`, every enum spelled out (Info.defaults)."""
    msg = pb.GenerateRequest(
        priority=int(Priority.INTERACTIVE), frame_format=int(FrameFormat.RGB8), cache_policy=int(CachePolicy.USE)
    )
    for name in PARAM_FIELDS:
        value = getattr(params, name)
        if value is None or value == ():
            continue
        if name == "tags":
            msg.tags.update(value)
        elif name == "loras":
            for lora in value:
                msg.loras.add(name=lora.name, **({"strength": lora.strength} if lora.strength is not None else {}))
        else:
            setattr(msg, name, int(value) if name in _ENUM_FIELDS else value)
    return msg


def event_message(job_id: str, event: EncodedEvent) -> pb.GenerateEvent:
    """The GenerateEvent of an encoded event (one copy of the chunk bytes, into the message)."""
    return pb.GenerateEvent(job_id=job_id, **{event.kind: event.fields})


def limits_to_proto(limits: Limits) -> pb.Limits:
    """Every Limits field, by name (a test checks that the proto has each one)."""
    names = pb.Limits.DESCRIPTOR.fields_by_name
    return pb.Limits(**{f.name: getattr(limits, f.name) for f in fields(limits) if f.name in names})


def info_to_proto(info: ServiceInfo) -> pb.Info:
    """What the daemon serves, as GetInfo/Load/Unload return it."""
    msg = pb.Info(
        version=__version__,
        loaded=info.loaded,
        limits=limits_to_proto(info.limits),
        defaults=params_to_proto(info.defaults),
        queue_depth=info.queue_depth,
        queue_capacity=info.queue_capacity,
        running_job_id=info.running_job_id or "",
        keep_alive_s=info.keep_alive_s,
        protocol_version=PROTOCOL_VERSION,
        memory_bytes=info.device_memory_bytes,
        resident_model=info.resident_model,
    )
    for entry in info.models:
        msg.models.add(
            name=entry.name,
            loaded=entry.loaded,
            is_default=entry.default,
            model_path=entry.model_path,
            model_version=entry.version,
        )
    model = info.model
    if model is not None:
        msg.model_id = model.model_id
        msg.model_path = model.model_path
        msg.model_fingerprint = model.fingerprint
        msg.device = model.device
        msg.dtype = model.dtype
        msg.parameter_counts.update(model.parameter_counts)
        msg.native_sample_rate = model.native_sample_rate
        msg.native_channels = model.channels
        msg.model_version = model.version
        msg.text_encoder = model.text_encoder
        msg.distilled = model.distilled
        msg.default_preset = model.default_preset
        msg.features.extend(model.features)
        for a in model.adapters:
            msg.adapters.add(name=a.name, path=a.path, fingerprint=a.fingerprint, default_strength=a.default_strength)
    return msg
