"""Where protobuf meets the domain: the one translation layer both transports share.

- `request_from_proto`: a `GenerateRequest` -> a `JobRequest` plus its `Delivery` (how frames are
  encoded on the wire, which the engine does not care about). Unset fields take the configured
  defaults; the parameters are checked by `GenerationParams.validate`, the one place limits live.
- `event_to_proto`: domain events -> `GenerateEvent` (RGB8 frames, or JPEG when asked for).
- `info_to_proto`: `ServiceInfo` -> `Info`.
- `message_to_map` / `map_to_message`: any proto message <-> the msgpack maps of the bridge
  (docs/bridge-protocol.md): field names as keys, bytes as bin, enums as numbers (names accepted).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import av
import numpy as np
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

import ltx2
from ltx2 import GenerationParams, InvalidParams, Limits, SampleFormat, frames_for_duration
from ltx2.params import PRESET_FIELDS, LoraWeight
from ltx2_client._proto.ltx2d.v1 import ltx2d_pb2 as pb

from . import __version__
from .jobs import Accepted, CachePolicy, JobEvent, JobRequest, Priority, ServiceError, ServiceInfo, StatusCode

PROTOCOL_VERSION = 1
DEFAULT_JPEG_QUALITY = 90

# GenerateRequest fields copied one to one onto GenerationParams when set (others need care).
_OPTIONAL_PARAMS = (
    "width",
    "height",
    "num_frames",
    "frame_rate",
    "steps",
    "seed",
    "video_guidance_scale",
    "audio_guidance_scale",
    "chunk_frames",
    "audio_sample_rate",
    "stg_scale",
    "modality_scale",
    "guidance_rescale",
    "audio_stg_scale",
    "audio_modality_scale",
)


def invalid(field: str, value: object, rule: str) -> ServiceError:
    """An INVALID_ARGUMENT error whose message names the field, the value and the rule."""
    return ServiceError(StatusCode.INVALID_ARGUMENT, f"{field}={value!r}: {rule}", field)


@dataclass(frozen=True)
class Delivery:
    """How one job's frames travel: a transport concern, not part of the generation."""

    frame_format: int = pb.FRAME_FORMAT_RGB8
    jpeg_quality: int = DEFAULT_JPEG_QUALITY


# --- requests ---


def _f32(value: float) -> float:
    """The decimal a client meant by a proto float (0.7f arrives as 0.699999988...)."""
    return float(str(np.float32(value))) if math.isfinite(value) else value


def _enum_value(enum: EnumDescriptor, field: str, value: int) -> int:
    if value not in enum.values_by_number:
        names = ", ".join(f"{v.name} ({v.number})" for v in enum.values)
        raise invalid(field, value, f"must be one of {names}")
    return value


def _priority(value: int) -> Priority:
    _enum_value(pb.Priority.DESCRIPTOR, "priority", value)
    if value == pb.PRIORITY_UNSPECIFIED:
        return Priority.INTERACTIVE
    return Priority[pb.Priority.Name(value).removeprefix("PRIORITY_")]


def _cache_policy(value: int) -> CachePolicy:
    _enum_value(pb.CachePolicy.DESCRIPTOR, "cache_policy", value)
    if value == pb.CACHE_POLICY_BYPASS:
        return CachePolicy.BYPASS
    if value == pb.CACHE_POLICY_REFRESH:
        return CachePolicy.REFRESH
    return CachePolicy.USE


def params_from_proto(msg: pb.GenerateRequest, defaults: GenerationParams, limits: Limits) -> GenerationParams:
    """The generation parameters of `msg`, unset fields taken from `defaults`, validated."""
    values: dict[str, Any] = {"prompt": msg.prompt, "negative_prompt": msg.negative_prompt}
    for name in _OPTIONAL_PARAMS:
        if msg.HasField(name):
            value = getattr(msg, name)
            values[name] = _f32(value) if isinstance(value, float) else value
    sample_format = _enum_value(pb.SampleFormat.DESCRIPTOR, "sample_format", msg.sample_format)
    if sample_format != pb.SAMPLE_FORMAT_UNSPECIFIED:
        values["sample_format"] = SampleFormat(sample_format)
    values.update(audio_only=msg.audio_only, preview=msg.preview, tags=dict(msg.tags))
    if msg.preset:
        # The preset fills what the request left unset, not the daemon's defaults.
        values = {**dict.fromkeys(PRESET_FIELDS), **values, "preset": msg.preset}
    if msg.loras:
        values["loras"] = tuple(
            LoraWeight(w.name, _f32(w.strength) if w.HasField("strength") else None) for w in msg.loras
        )
    duration = None
    if msg.HasField("duration_s"):
        duration = _f32(msg.duration_s)
        if msg.HasField("num_frames"):
            raise invalid("duration_s", duration, "must not be set together with num_frames")
        if not math.isfinite(duration) or duration <= 0:
            raise invalid("duration_s", duration, "must be a positive number of seconds")
        try:  # frames_for_duration refuses a non-finite frame rate itself
            values["num_frames"] = frames_for_duration(duration, values.get("frame_rate", defaults.frame_rate))
        except InvalidParams as exc:
            raise invalid(exc.field, exc.value, exc.rule) from None
    params = replace(defaults, **values)
    try:
        params.validate(limits)
    except InvalidParams as exc:
        if exc.field == "num_frames" and duration is not None:
            # The client gave a duration: say so, with the frame count it turned into.
            raise invalid("duration_s", duration, f"gives num_frames={params.num_frames}, which {exc.rule}") from None
        raise ServiceError(StatusCode.INVALID_ARGUMENT, str(exc), exc.field) from None
    return params


def delivery_from_proto(msg: pb.GenerateRequest) -> Delivery:
    frame_format = _enum_value(pb.FrameFormat.DESCRIPTOR, "frame_format", msg.frame_format)
    if frame_format == pb.FRAME_FORMAT_UNSPECIFIED:
        frame_format = pb.FRAME_FORMAT_RGB8
    quality = DEFAULT_JPEG_QUALITY
    if msg.HasField("jpeg_quality"):
        quality = msg.jpeg_quality
        if not 1 <= quality <= 100:
            raise invalid("jpeg_quality", quality, "must be between 1 and 100")
    return Delivery(frame_format=frame_format, jpeg_quality=quality)


def request_from_proto(
    msg: pb.GenerateRequest,
    defaults: GenerationParams,
    limits: Limits,
    *,
    client: str = "",
    deadline: float | None = None,
) -> tuple[JobRequest, Delivery]:
    """Translate one GenerateRequest; raises `ServiceError(INVALID_ARGUMENT)` naming the field."""
    priority = _priority(msg.priority)
    cache_policy = _cache_policy(msg.cache_policy)
    delivery = delivery_from_proto(msg)
    params = params_from_proto(msg, defaults, limits)
    job = JobRequest(params=params, priority=priority, cache_policy=cache_policy, deadline=deadline, client=client)
    return job, delivery


def prefetch_from_proto(
    msg: pb.PrefetchRequest, defaults: GenerationParams, limits: Limits, *, client: str = ""
) -> list[JobRequest]:
    """The jobs of a Prefetch; errors name the request, as in `requests[2].width`."""
    jobs = []
    for i, request in enumerate(msg.requests):
        try:
            job, _ = request_from_proto(request, defaults, limits, client=client)
        except ServiceError as exc:
            field = f"requests[{i}].{exc.field}" if exc.field else f"requests[{i}]"
            raise ServiceError(exc.code, f"requests[{i}].{exc.message}", field) from None
        jobs.append(job)
    return jobs


def params_to_proto(params: GenerationParams) -> pb.GenerateRequest:
    """The request that asks for exactly `params` (used for Info.defaults)."""
    msg = pb.GenerateRequest(prompt=params.prompt, negative_prompt=params.negative_prompt)
    for name in _OPTIONAL_PARAMS:
        value = getattr(params, name)
        if value is not None:
            setattr(msg, name, value)
    msg.sample_format = int(params.sample_format)
    msg.preset = params.preset
    for lora in params.loras:
        msg.loras.add(name=lora.name, **({"strength": lora.strength} if lora.strength is not None else {}))
    msg.audio_only = params.audio_only
    msg.preview = params.preview
    msg.tags.update(params.tags)
    return msg


# --- events ---


def clip_format_to_proto(fmt: ltx2.ClipFormat, delivery: Delivery) -> pb.ClipFormat:
    return pb.ClipFormat(
        width=fmt.width,
        height=fmt.height,
        num_frames=fmt.num_frames,
        frame_rate=fmt.frame_rate,
        sample_rate=fmt.sample_rate,
        channels=fmt.channels,
        num_samples=fmt.num_samples,
        sample_format=int(fmt.sample_format),
        frame_format=delivery.frame_format,
        seed=fmt.seed,
        steps=fmt.steps,
        audio_only=fmt.audio_only,
    )


def encode_jpeg_frames(chunk: ltx2.VideoChunk, quality: int) -> list[bytes]:
    """One baseline JPEG per frame of `chunk` (PyAV's mjpeg encoder; quality 1-100)."""
    frames = np.frombuffer(chunk.data, dtype=np.uint8).reshape(chunk.num_frames, chunk.height, chunk.width, 3)
    # mjpeg's quantiser scale: 2 (best) .. 31 (worst).
    qscale = round(2 + (100 - quality) * 29 / 99)
    out = []
    for rgb in frames:
        ctx = av.CodecContext.create("mjpeg", "w")
        ctx.width, ctx.height, ctx.pix_fmt = chunk.width, chunk.height, "yuvj420p"
        ctx.time_base = Fraction(1, 1)
        ctx.options = {"qmin": str(qscale), "qmax": str(qscale)}
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuvj420p")
        out.append(b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)]))
    return out


def event_to_proto(job_id: str, event: JobEvent, delivery: Delivery) -> pb.GenerateEvent:
    """One domain event as a GenerateEvent (JPEG encoding included; may take milliseconds)."""
    match event:
        case Accepted():
            return pb.GenerateEvent(
                job_id=job_id,
                accepted=pb.Accepted(
                    job_id=event.job_id,
                    queue_position=event.queue_position,
                    cache_hit=event.cache_hit,
                    format=clip_format_to_proto(event.format, delivery),
                ),
            )
        case ltx2.Progress():
            return pb.GenerateEvent(
                job_id=job_id,
                progress=pb.Progress(
                    phase=int(event.phase),
                    step=event.step,
                    total_steps=event.total_steps,
                    frames_decoded=event.frames_decoded,
                    total_frames=event.total_frames,
                    elapsed_s=event.elapsed_s,
                    preview_rgb=event.preview_rgb,
                    preview_width=event.preview_width,
                    preview_height=event.preview_height,
                ),
            )
        case ltx2.AudioChunk():
            return pb.GenerateEvent(
                job_id=job_id,
                audio_chunk=pb.AudioChunk(
                    first_sample=event.first_sample,
                    num_samples=event.num_samples,
                    sample_rate=event.sample_rate,
                    channels=event.channels,
                    sample_format=int(event.sample_format),
                    pts_s=event.pts_s,
                    data=event.data,
                ),
            )
        case ltx2.VideoChunk():
            chunk = pb.VideoChunk(
                first_frame=event.first_frame,
                num_frames=event.num_frames,
                width=event.width,
                height=event.height,
                frame_format=delivery.frame_format,
                pts_s=event.pts_s,
            )
            if delivery.frame_format == pb.FRAME_FORMAT_JPEG:
                chunk.jpeg_frames.extend(encode_jpeg_frames(event, delivery.jpeg_quality))
            else:
                chunk.data = event.data
            return pb.GenerateEvent(job_id=job_id, video_chunk=chunk)
        case ltx2.Completed():
            t = event.timings
            return pb.GenerateEvent(
                job_id=job_id,
                completed=pb.Completed(
                    seed=event.seed,
                    num_frames=event.num_frames,
                    num_samples=event.num_samples,
                    cache_hit=event.cache_hit,
                    timings=pb.Timings(
                        queue_s=t.queue_s,
                        encode_s=t.encode_s,
                        denoise_s=t.denoise_s,
                        decode_s=t.decode_s,
                        first_chunk_s=t.first_chunk_s,
                        total_s=t.total_s,
                        transformer_passes_per_step=t.transformer_passes_per_step,
                        denoise_s_per_pass=t.denoise_s_per_pass,
                    ),
                ),
            )
    raise TypeError(f"not a job event: {event!r}")


def is_slow_to_encode(event: JobEvent, delivery: Delivery) -> bool:
    """True when encoding `event` is CPU work worth moving off the event loop (JPEG frames)."""
    return isinstance(event, ltx2.VideoChunk) and delivery.frame_format == pb.FRAME_FORMAT_JPEG


# --- info ---


def limits_to_proto(limits: Limits) -> pb.Limits:
    return pb.Limits(
        max_width=limits.max_width,
        max_height=limits.max_height,
        max_frames=limits.max_frames,
        max_steps=limits.max_steps,
        max_prompt_chars=limits.max_prompt_chars,
        min_size=limits.min_size,
        min_frame_rate=limits.min_frame_rate,
        max_frame_rate=limits.max_frame_rate,
        max_guidance_scale=limits.max_guidance_scale,
    )


def info_to_proto(info: ServiceInfo, defaults: GenerationParams) -> pb.Info:
    """What the daemon serves, as GetInfo/Load/Unload return it."""
    msg = pb.Info(
        version=__version__,
        loaded=info.loaded,
        limits=limits_to_proto(info.limits),
        defaults=params_to_proto(defaults),
        queue_depth=info.queue_depth,
        queue_capacity=info.queue_capacity,
        running_job_id=info.running_job_id or "",
        keep_alive_s=info.keep_alive_s,
        protocol_version=PROTOCOL_VERSION,
    )
    model = info.model
    if model is not None:
        msg.model_id = model.model_id
        msg.model_path = model.model_path
        msg.model_fingerprint = model.fingerprint
        msg.device = model.device
        msg.dtype = model.dtype
        msg.parameter_counts.update(model.parameter_counts)
        msg.memory_bytes = model.memory_bytes
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


# --- proto message <-> msgpack map ---

_INT_RANGES = {
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
}
_FLOATS = (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE)


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def message_to_map(msg: Message) -> dict[str, Any]:
    """`msg` as a msgpack-ready map: every field that is set or has no presence, by proto name."""
    out: dict[str, Any] = {}
    for field in msg.DESCRIPTOR.fields:
        if field.has_presence and not msg.HasField(field.name):
            continue
        value = getattr(msg, field.name)
        if _is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            out[field.name] = {k: _value_to_map(value_field, v) for k, v in value.items()}
        elif field.is_repeated:
            out[field.name] = [_value_to_map(field, v) for v in value]
        else:
            out[field.name] = _value_to_map(field, value)
    return out


def _value_to_map(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return message_to_map(value)
    if field.type == FieldDescriptor.TYPE_FLOAT:
        return _f32(value)
    return value


def map_to_message(data: Mapping[str, Any], cls: type[Message], path: str = "") -> Message:
    """Build a `cls` from a bridge map; raises `ServiceError(INVALID_ARGUMENT)` naming the key.

    nil values are absent fields; enums take their number or their full value name.
    """
    msg = cls()
    _fill(msg, data, path)
    return msg


def _fill(msg: Message, data: Any, path: str) -> None:
    descriptor: Descriptor = msg.DESCRIPTOR
    if not isinstance(data, Mapping):
        raise invalid(path or descriptor.name, data, f"must be a map of {descriptor.name} fields")
    for key, value in data.items():
        name = f"{path}.{key}" if path else str(key)
        field = descriptor.fields_by_name.get(key) if isinstance(key, str) else None
        if field is None:
            raise invalid(name, value, f"unknown field of {descriptor.name}")
        if value is None:
            continue
        if _is_map(field):
            if not isinstance(value, Mapping):
                raise invalid(name, value, "must be a map")
            key_field = field.message_type.fields_by_name["key"]
            value_field = field.message_type.fields_by_name["value"]
            target = getattr(msg, key)
            for k, v in value.items():
                item = f"{name}[{k!r}]"
                target[_scalar(key_field, k, item)] = _scalar(value_field, v, item)
        elif field.is_repeated:
            if not isinstance(value, list | tuple):
                raise invalid(name, value, "must be an array")
            target = getattr(msg, key)
            for i, item in enumerate(value):
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    _fill(target.add(), item, f"{name}[{i}]")
                else:
                    target.append(_scalar(field, item, f"{name}[{i}]"))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            _fill(getattr(msg, key), value, name)
        else:
            setattr(msg, key, _scalar(field, value, name))


def _scalar(field: FieldDescriptor, value: Any, name: str) -> Any:
    kind = field.type
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        if not isinstance(value, int) or isinstance(value, bool):
            raise invalid(name, value, "must be an integer")
        if not low <= value <= high:
            raise invalid(name, value, f"must be an integer between {low} and {high}")
        return value
    if kind in _FLOATS:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise invalid(name, value, "must be a number")
        return float(value)
    if kind == FieldDescriptor.TYPE_BOOL:
        if not isinstance(value, bool):
            raise invalid(name, value, "must be true or false")
        return value
    if kind == FieldDescriptor.TYPE_STRING:
        if not isinstance(value, str):
            raise invalid(name, value, "must be a string")
        return value
    if kind == FieldDescriptor.TYPE_BYTES:
        if not isinstance(value, bytes | bytearray):
            raise invalid(name, value, "must be binary (msgpack bin)")
        return bytes(value)
    if kind == FieldDescriptor.TYPE_ENUM:
        enum = field.enum_type
        if isinstance(value, str) and value in enum.values_by_name:
            return enum.values_by_name[value].number
        if isinstance(value, int) and not isinstance(value, bool) and value in enum.values_by_number:
            return value
        names = ", ".join(f"{v.name} ({v.number})" for v in enum.values)
        raise invalid(name, value, f"must be one of {names}")
    raise invalid(name, value, "unsupported field type")
