"""What the daemon must answer to a GenerateRequest, decided by `GenerationParams.validate`.

`grpc_problems(fields)` takes the fields a client set (proto names, proto-typed values) and returns
the set of fields the daemon may name in its INVALID_ARGUMENT (empty: the request is valid and must
be accepted), plus the parameters a valid request turns into. `bridge_problems(map)` first applies
the bridge's typing rules (docs/bridge-protocol.md), which are checked key by key in map order.

The rules come from the documented contract: unset fields take the daemon's defaults, a proto
float is the decimal the client meant (shortest repr of the float32), `duration_s` turns into the
nearest 8k+1 frame count and a frame-count error caused by it names `duration_s`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from google.protobuf.descriptor import FieldDescriptor

from ltx2 import GenerationParams, InvalidParams, Limits, Mode, SampleFormat, frames_for_duration
from ltx2.params import PRESET_FIELDS, resolve_preset
from ltx2.versions import PRESETS, preset
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb

# The reliability daemon runs the tiny LTX-2.0 checkpoint (default preset dev), its one model.
MODEL_VERSION = "2.0"
MODEL_NAMES = ("", "default")
DESCRIPTOR = pb.GenerateRequest.DESCRIPTOR
ENUMS = {f.name: f.enum_type for f in DESCRIPTOR.fields if f.type == FieldDescriptor.TYPE_ENUM}
# The optional generation parameters of a request: the proto fields with presence that are also
# GenerationParams fields (duration_s and jpeg_quality have rules of their own below).
_PARAMS = {p.name for p in dataclasses.fields(GenerationParams)}
PARAM_FIELDS = tuple(f.name for f in DESCRIPTOR.fields if f.has_presence and f.name in _PARAMS)
UINT_RANGES = {FieldDescriptor.TYPE_UINT32: 2**32 - 1, FieldDescriptor.TYPE_UINT64: 2**64 - 1}
# The mode each medium belongs to, and the names its refusal may carry (the strategies never send
# decodable media).
MEDIA = {
    "video_input": (
        Mode.VIDEO_TO_AUDIO,
        {
            "video_input",
            "video_input.file",
            *(f"video_input.frames.{k}" for k in ("width", "height", "frame_rate", "rgb")),
        },
    ),
    "audio_input": (
        Mode.AUDIO_TO_VIDEO,
        {
            "audio_input",
            "audio_input.file",
            *(f"audio_input.pcm.{k}" for k in ("sample_rate", "channels", "sample_format", "data")),
        },
    ),
}

# What a keyframe's refusal may name, under its field (`image`, `conditions[i]`): the strategies
# never send a decodable one.
KEYFRAME_PARTS = ("", ".file", ".pixels", ".pixels.width", ".pixels.height", ".pixels.rgb", ".frames.rgb")


def _keyframe_names(name: str) -> set[str]:
    return {name + part for part in KEYFRAME_PARTS}


# What an earlier clip's refusal may name, under its field (never a usable clip is sent).
EARLIER_PARTS = (
    "",
    ".overlap_frames",
    ".clip.job_id",
    ".clip.video",
    ".clip.video.file",
    ".clip.video.frames.rgb",
    ".clip.audio",
    ".clip.audio.pcm.data",
    ".clip.audio.pcm.channels",
    ".clip.audio.pcm.sample_rate",
    ".start_s",
    ".end_s",
)


def as_sent(value: float) -> float:
    """The float a proto float field carries, as the decimal the client meant."""
    with np.errstate(over="ignore"):
        f32 = np.float32(value)
    return float(str(f32)) if math.isfinite(f32) else float(f32)


def _fails(params: GenerationParams, limits: Limits) -> str | None:
    try:
        params.validate(limits)
    except InvalidParams as exc:
        return exc.field
    return None


def grpc_problems(
    fields: Mapping[str, Any], defaults: GenerationParams, limits: Limits
) -> tuple[set[str], GenerationParams | None]:
    """The fields the daemon may name for this request (empty when valid), and its parameters."""
    bad: set[str] = set()
    for name, enum in ENUMS.items():
        if fields.get(name, 0) not in enum.values_by_number:
            bad.add(name)
    if "jpeg_quality" in fields and not 1 <= fields["jpeg_quality"] <= 100:
        bad.add("jpeg_quality")
    values: dict[str, Any] = {}
    for name in PARAM_FIELDS:
        if name in fields:
            value = fields[name]
            values[name] = as_sent(value) if isinstance(value, float) else value
    if fields.get("sample_format", 0) in (1, 2):
        values["sample_format"] = SampleFormat(fields["sample_format"])
    values.update(
        prompt=fields.get("prompt", ""),
        negative_prompt=fields.get("negative_prompt", ""),
        audio_only=fields.get("audio_only", False),
        preview=fields.get("preview", False),
        tags=dict(fields.get("tags", {})),
    )
    if fields.get("model", "") not in MODEL_NAMES:
        bad.add("model")
    mode = fields.get("mode", 0)
    if mode in (1, 2):
        values["mode"] = Mode(mode)
    for name, (wanted, parts) in MEDIA.items():
        if mode == wanted:
            bad |= parts  # missing or undecodable
            for other in ("num_frames", "duration_s", "frame_rate"):
                if other in fields:  # set by the medium: refused before it is decoded
                    bad.add(other)
        elif name in fields:
            bad.add(name)
    if "image" in fields:
        bad |= _keyframe_names("image")
    for i, _ in enumerate(fields.get("conditions", [])):
        bad |= _keyframe_names(f"conditions[{i}]")
    for name in ("continue_from", "retake"):
        if name in fields:
            bad |= {name + part for part in EARLIER_PARTS}
    if mode == Mode.AUDIO_ONLY and fields.get("audio_only"):
        bad.add("audio_only")
    chosen = fields.get("preset", "")
    if chosen and chosen not in PRESETS:
        bad.add("preset")
    elif chosen:
        # A preset fills what the request left unset, not the daemon's defaults.
        values = {**dict.fromkeys(n for n in PRESET_FIELDS if n not in fields), **values, "preset": chosen}
    for i, _ in enumerate(fields.get("loras", [])):
        # No adapter is loaded: each entry is refused for its name, or first for its strength.
        bad |= {f"loras[{i}].name", f"loras[{i}].strength"}
    if window := [name for name in ("min_seconds", "max_seconds") if name in fields]:
        # The tiny 2.0 model has no duration head: a window is refused, naming an end the client
        # set (unless another field is refused first, which the rest of this oracle knows).
        bad |= set(window)
        rate = values.get("frame_rate", defaults.frame_rate)
        if "min_seconds" not in fields and isinstance(rate, int | float) and 0 < rate < limits.min_frames:
            bad.add("min_seconds")  # its default, 1 s, is too few frames at that rate: named with a hint
        for name in window:
            values.pop(name, None)
    from_duration = "duration_s" in fields
    if from_duration:
        duration = as_sent(fields["duration_s"])
        rate = values.get("frame_rate", defaults.frame_rate)
        if "num_frames" in fields or not math.isfinite(duration) or duration <= 0:
            bad.add("duration_s")
        elif not math.isfinite(rate):
            bad |= {"duration_s", "frame_rate"}  # no frame count can come out of it
        else:
            values["num_frames"] = frames_for_duration(duration, rate)

    def named(field: str) -> str:
        return "duration_s" if field == "num_frames" and from_duration else field

    # Each field on its own (every rule but the token budget is about one field) ...
    for name, value in values.items():
        alone = {name: value} if name == "prompt" else {"prompt": "ok", name: value}
        if (field := _fails(replace(defaults, **alone), limits)) is not None:
            bad.add(named(field))
    # ... and all together (the token budget: width x height x frames).
    params = replace(defaults, **values)
    if (field := _fails(params, limits)) is not None:
        bad.add(named(field))
    if not bad:  # what the engine runs: the preset applied (it may refuse steps), validated again
        try:
            params = resolve_preset(params, preset(params.preset or "dev", MODEL_VERSION))
        except InvalidParams as exc:
            bad.add(exc.field)
        if (field := _fails(params, limits)) is not None:
            filled = field in PRESET_FIELDS and field not in fields  # the preset chose it: named as preset
            bad.add("preset" if filled else named(field))
    return bad, (None if bad else params)


def _bridge_value_problem(field: FieldDescriptor, value: Any) -> bool:
    """True when the bridge must refuse `value` for `field` before any generation rule."""
    kind = field.type
    integral = isinstance(value, float) and math.isfinite(value) and value.is_integer()
    if integral and (kind in UINT_RANGES or kind == FieldDescriptor.TYPE_ENUM):
        value = int(value)  # integral float64s count as integers (engines send every number as a double)
    if kind in UINT_RANGES:
        return not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= UINT_RANGES[kind]
    if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return not isinstance(value, int | float) or isinstance(value, bool)
    if kind == FieldDescriptor.TYPE_BOOL:
        return not isinstance(value, bool)
    if kind == FieldDescriptor.TYPE_STRING:
        return not isinstance(value, str)
    if kind == FieldDescriptor.TYPE_ENUM:
        if isinstance(value, str):
            return value not in field.enum_type.values_by_name
        return not isinstance(value, int) or isinstance(value, bool) or value not in field.enum_type.values_by_number
    raise AssertionError(f"no bridge rule for {field.name}")


def _bridge_loras(value: Any) -> tuple[str | None, list[dict[str, Any]]]:
    """The first part of a bridge `loras` value refused on typing grounds, and the weights."""
    if not isinstance(value, list | tuple):
        return "loras", []
    weights = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            return f"loras[{i}]", []
        weight: dict[str, Any] = {}
        for k, v in item.items():
            if k not in ("name", "strength"):
                return f"loras[{i}].{k}", []
            if v is None:
                continue
            if k == "name" and not isinstance(v, str):
                return f"loras[{i}].name", []
            if k == "strength":
                if not isinstance(v, int | float) or isinstance(v, bool):
                    return f"loras[{i}].strength", []
                v = float(v)
            weight[k] = v
        weights.append(weight)
    return None, weights


def bridge_first_problem(message: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The first key (in map order) the bridge refuses on typing grounds, and the proto fields."""
    fields: dict[str, Any] = {}
    for key, value in message.items():
        field = DESCRIPTOR.fields_by_name.get(key)
        if field is None:
            return key, fields
        if value is None:
            continue  # nil is an unset field
        if key == "loras":
            problem, weights = _bridge_loras(value)
            if problem is not None:
                return problem, fields
            fields[key] = weights
            continue
        if key == "tags":
            if not isinstance(value, Mapping):
                return key, fields
            for k, v in value.items():
                if not isinstance(k, str) or not isinstance(v, str):
                    return f"tags[{k!r}]", fields
            fields[key] = dict(value)
            continue
        if key == "conditions":
            if not isinstance(value, list | tuple):
                return key, fields
            for i, item in enumerate(value):
                if not isinstance(item, Mapping):
                    return f"conditions[{i}]", fields
            fields[key] = list(value)
            continue
        if key in MEDIA or key in ("image", "continue_from", "retake"):
            if not isinstance(value, Mapping):
                return key, fields
            fields[key] = value
            continue
        if _bridge_value_problem(field, value):
            return key, fields
        if field.type == FieldDescriptor.TYPE_ENUM and isinstance(value, str):
            value = field.enum_type.values_by_name[value].number
        elif field.type in UINT_RANGES or field.type == FieldDescriptor.TYPE_ENUM:
            value = int(value)
        elif field.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
            value = float(value)
        fields[key] = value
    return None, fields


def bridge_problems(
    message: Mapping[str, Any], defaults: GenerationParams, limits: Limits
) -> tuple[set[str], GenerationParams | None]:
    """As `grpc_problems`, for the keys of a bridge `generate` map (without `type` and `id`)."""
    first, fields = bridge_first_problem(message)
    if first is not None:
        return {first}, None
    return grpc_problems(fields, defaults, limits)
