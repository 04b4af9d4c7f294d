"""Enumerations of the wire contract, with the lower-case names the SDK and CLI accept."""

from __future__ import annotations

from enum import IntEnum

from .errors import InvalidArgument

# Short names people type for sample formats.
_ALIASES = {"s16": "s16le", "int16": "s16le", "f32": "f32le", "float32": "f32le"}


class _Named(IntEnum):
    """An enum that also parses its lower-case name ("batch") and its wire number."""

    @classmethod
    def parse(cls, value: object, field: str) -> _Named:
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            key = value.strip().lower().replace("-", "_")
            try:
                return cls[_ALIASES.get(key, key).upper()]
            except KeyError:
                pass
        elif isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                pass
        names = ", ".join(repr(m.name.lower()) for m in cls)
        raise InvalidArgument(f"{field}={value!r}: must be one of {names}", field=field, code="")


class Priority(_Named):
    """Scheduling class: REALTIME before INTERACTIVE before BATCH."""

    REALTIME = 1
    INTERACTIVE = 2
    BATCH = 3


class SampleFormat(_Named):
    """PCM encoding of audio chunks (interleaved by channel)."""

    S16LE = 1
    F32LE = 2


class FrameFormat(_Named):
    """Encoding of video chunks: raw RGB8, or one JPEG per frame (smaller, for remote daemons)."""

    RGB8 = 1
    JPEG = 2


class Mode(_Named):
    """What a generation makes, and from what (GenerateRequest.mode)."""

    TEXT_TO_AUDIO_VIDEO = 1
    AUDIO_ONLY = 2  # sound only, from the prompt
    VIDEO_TO_AUDIO = 3  # sound for given frames (video_input): foley
    AUDIO_TO_VIDEO = 4  # picture for a given sound (audio_input)


class CachePolicy(_Named):
    """How a request uses the daemon's result cache."""

    DEFAULT = 0
    BYPASS = 1
    REFRESH = 2


class Phase(_Named):
    """Generation phase reported by Progress events."""

    UNSPECIFIED = 0
    QUEUED = 1
    ENCODING = 2
    DENOISING = 3
    DECODING = 4
    PAUSED = 5
