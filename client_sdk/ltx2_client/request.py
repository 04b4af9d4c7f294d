"""Building a GenerateRequest from keyword arguments named like the wire contract's fields.

Values are checked by the daemon (the one place limits live); the SDK only converts types, so
a bad value comes back as InvalidArgument with the daemon's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .enums import CachePolicy, FrameFormat, Mode, Priority, SampleFormat
from .errors import InvalidArgument
from .inputs import audio_input, condition, continuation, retake, video_input
from .proto.ltx2d.v1 import ltx2d_pb2 as pb

_REQUEST = pb.GenerateRequest.DESCRIPTOR
# The SDK enum of each enum field (checked against the descriptor by the tests).
_ENUMS = {
    "priority": Priority,
    "sample_format": SampleFormat,
    "frame_format": FrameFormat,
    "cache_policy": CachePolicy,
    "mode": Mode,
}
# Every option of generate(): the GenerateRequest fields, read from the proto descriptor.
FIELDS = frozenset(_REQUEST.fields_by_name)
# Fields that are unset unless given ("the daemon's default", GetInfo.defaults).
OPTIONAL_FIELDS = frozenset(f.name for f in _REQUEST.fields if f.has_presence)


def build_request(prompt: str, **options: Any) -> pb.GenerateRequest:
    """A GenerateRequest for `prompt`; `options` are GenerateRequest field names, None = unset."""
    unknown = sorted(set(options) - FIELDS)
    if unknown:
        raise TypeError(f"unknown generate option(s): {', '.join(unknown)}")
    request = pb.GenerateRequest(prompt=prompt)
    for name, value in options.items():
        if value is None:
            continue
        if name in _ENUMS:
            setattr(request, name, int(_ENUMS[name].parse(value, name)))
        elif name == "tags":
            request.tags.update({str(k): str(v) for k, v in dict(value).items()})
        elif name == "loras":
            _add_loras(request, value)
        elif name == "video_input":
            request.video_input.CopyFrom(video_input(value))
        elif name == "audio_input":
            request.audio_input.CopyFrom(audio_input(value))
        elif name == "image":
            request.image.CopyFrom(condition(value, "image"))
        elif name == "conditions":
            request.conditions.extend(condition(kf, f"conditions[{i}]") for i, kf in enumerate(value))
        elif name in ("continue_from", "retake"):
            # A Clip's sound goes in the stream's sample format (a retake keeps it as sent): the
            # request's, else the encoding the clip itself was streamed in.
            clip = getattr(value, "clip", value)
            fmt = int(
                SampleFormat.parse(
                    options.get("sample_format") or getattr(clip, "sample_format", "s16le"), "sample_format"
                )
            )
            convert = continuation if name == "continue_from" else retake
            getattr(request, name).CopyFrom(convert(value, fmt))
        else:
            try:
                setattr(request, name, value)
            except (TypeError, ValueError) as exc:
                # The proto's own type check ("int expected", out of uint32 range, ...).
                raise InvalidArgument(f"{name}={value!r}: {exc}", field=name, code="") from None
    return request


def _add_loras(request: pb.GenerateRequest, loras: Any) -> None:
    """`loras`: names, (name, strength) pairs or {"name", "strength"} maps; strength unset = as loaded."""
    for i, item in enumerate(loras):
        if isinstance(item, str):
            name, strength = item, None
        elif isinstance(item, Mapping):
            name, strength = item.get("name"), item.get("strength")
        elif isinstance(item, tuple | list) and len(item) == 2:
            name, strength = item
        else:
            raise InvalidArgument(
                f"loras[{i}]={item!r}: must be a name, (name, strength) or a map", field="loras", code=""
            )
        weight = request.loras.add(name=str(name))
        if strength is not None:
            weight.strength = float(strength)


def request_from_mapping(mapping: Mapping[str, Any]) -> pb.GenerateRequest:
    """A GenerateRequest from a dict such as one JSON line of `ltx2 prefetch` ("prompt" required)."""
    options = dict(mapping)
    prompt = options.pop("prompt", None)
    if not isinstance(prompt, str):
        raise InvalidArgument(f"prompt={prompt!r}: must be a string", field="prompt", code="")
    return build_request(prompt, **options)
