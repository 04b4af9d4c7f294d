"""The msgpack side of the bridge (docs/bridge-protocol.md): framing, and proto messages <-> maps.

A frame is a 4-byte big-endian length, then one msgpack map. The daemon's bridge, the test
client (`ltx2d.testing.BridgeClient`), the benchmarks and the reliability harness all frame
through here: `encode_frame`, `read_frame` (asyncio) and `recv_frame` (a blocking socket).

Maps use the proto field names as keys, bytes as bin and enums as numbers (names accepted).
Integer fields also accept a float64 with an integral value (engines and JSON-minded clients
send every number as a double).
"""

from __future__ import annotations

import asyncio
import math
import socket
from collections.abc import Mapping
from typing import Any

import msgpack
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from .errors import invalid
from .event_encoding import f32

HEADER_BYTES = 4


class MalformedFrame(Exception):
    """A frame that breaks the framing rules; `field` names the part that is wrong."""

    def __init__(self, message: str, field: str = "frame") -> None:
        super().__init__(message)
        self.field = field


def encode_frame(message: Mapping[str, Any]) -> bytes:
    """One frame: 4-byte big-endian length, then the msgpack map."""
    header, body = encode_frame_parts(message)
    return header + body


def encode_frame_parts(message: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """One frame as its header and body, to be written one after the other (no copy of a large
    chunk to join them)."""
    body = msgpack.packb(message, use_bin_type=True)
    return len(body).to_bytes(HEADER_BYTES, "big"), body


def decode_map(body: bytes) -> dict[str, Any]:
    """The map of one frame body; raises MalformedFrame saying what is wrong."""
    try:
        message = msgpack.unpackb(body, raw=False, strict_map_key=False)
    except Exception as exc:
        raise MalformedFrame(f"frame is not valid msgpack: {type(exc).__name__}: {exc}") from None
    if not isinstance(message, dict):
        raise MalformedFrame(f"frame must be a msgpack map, got {type(message).__name__}")
    if not all(isinstance(k, str) for k in message):
        raise MalformedFrame("map keys must be strings")
    return message


def _length(header: bytes, max_bytes: int | None) -> int:
    length = int.from_bytes(header, "big")
    if length == 0:
        raise MalformedFrame("frame length 0: a frame holds one msgpack map", "length")
    if max_bytes is not None and length > max_bytes:
        raise MalformedFrame(f"frame length {length} exceeds the limit of {max_bytes} bytes", "length")
    return length


async def read_frame(
    reader: asyncio.StreamReader, max_bytes: int | None = None, frame_timeout_s: float | None = None
) -> dict[str, Any] | None:
    """The next map from `reader`, None at a clean end of stream; MalformedFrame otherwise.

    An idle connection may wait for its next frame forever; a frame that has begun must arrive
    whole within `frame_timeout_s` (None: no limit), so a client that stops mid-frame does not
    hold its connection open for ever.
    """
    try:
        first = await reader.readexactly(1)
    except asyncio.IncompleteReadError:
        return None
    try:
        async with asyncio.timeout(frame_timeout_s):
            return await _read_rest(reader, first, max_bytes)
    except TimeoutError:
        raise MalformedFrame(f"a frame began but did not arrive whole within {frame_timeout_s:g} s", "length") from None


async def _read_rest(reader: asyncio.StreamReader, first: bytes, max_bytes: int | None) -> dict[str, Any]:
    try:
        header = first + await reader.readexactly(HEADER_BYTES - 1)
    except asyncio.IncompleteReadError:
        raise MalformedFrame("connection closed inside a frame header", "length") from None
    length = _length(header, max_bytes)
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise MalformedFrame(f"connection closed inside a frame of {length} bytes") from None
    return decode_map(body)


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        try:
            r = sock.recv_into(view[got:], n - got)
        except ConnectionResetError:
            r = 0
        if r == 0:
            return None if got == 0 else bytes(buf[:got])
        got += r
    return bytes(buf)


def recv_frame(sock: socket.socket, max_bytes: int | None = None) -> dict[str, Any] | None:
    """The next map from a blocking socket, None when the peer closed between frames."""
    header = _recv_exactly(sock, HEADER_BYTES)
    if header is None:
        return None
    if len(header) < HEADER_BYTES:
        raise MalformedFrame("connection closed inside a frame header", "length")
    length = _length(header, max_bytes)
    body = _recv_exactly(sock, length)
    if body is None or len(body) < length:
        raise MalformedFrame(f"connection closed inside a frame of {length} bytes")
    return decode_map(body)


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
        return f32(value)
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
            child = getattr(msg, key)
            # Present even when empty, as over gRPC: an empty map is a value (which validation may
            # refuse, naming the field), not an unset field.
            child.SetInParent()
            _fill(child, value, name)
        else:
            setattr(msg, key, _scalar(field, value, name))


def _integral(value: Any) -> int | None:
    """`value` as an int when it is one, or a float with an integral value (7.0); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def _scalar(field: FieldDescriptor, value: Any, name: str) -> Any:
    kind = field.type
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        number = _integral(value)
        if number is None:
            raise invalid(name, value, "must be an integer")
        if not low <= number <= high:
            raise invalid(name, value, f"must be an integer between {low} and {high}")
        return number
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
        number = _integral(value)
        if number is not None and number in enum.values_by_number:
            return number
        names = ", ".join(f"{v.name} ({v.number})" for v in enum.values)
        raise invalid(name, value, f"must be one of {names}")
    raise invalid(name, value, "unsupported field type")
