"""Media a request carries (video-to-audio frames, audio-to-video sound, keyframe images): what a
transport hands over (`RawFrames`, `RawAudio`, `RawImage`, `MediaFile`), and its decoded, checked
form (`VideoInput`, `AudioInput`, `ImageInput`), which is what a job holds and what its cache key
names (by digest).

Decoding runs once, when the request is prepared, with PyAV (FFmpeg) for files. Frames are scaled to
the size the job encodes them at as they are decoded, so a job holds only that much, whatever the
file's resolution; every bound is checked before the bytes are decoded where it can be.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InvalidParams

SAMPLE_BYTES = {1: 2, 2: 4}  # SampleFormat: S16LE, F32LE
# The frame size FFmpeg may decode a file's frames at before they are scaled: a 4K frame.
MAX_SOURCE_PIXELS = 3840 * 2160
# A file's sound is kept at most at this rate (every model's audio is 48 kHz or less): a long
# 192 kHz file would otherwise be held at four times the size for nothing.
MAX_KEPT_SAMPLE_RATE = 48_000
VIDEO_CONTAINERS = {"mov": "mp4 / mov", "matroska": "webm / mkv"}
AUDIO_CONTAINERS = {"wav": "wav", "ogg": "ogg", "mp3": "mp3", "flac": "flac"}
IMAGE_CONTAINERS = {"png_pipe": "png", "jpeg_pipe": "jpeg"}


def sniff_container(data: bytes) -> str | None:
    """FFmpeg's demuxer for `data` by its magic bytes (png, jpeg, mp4/mov, webm/mkv, wav, ogg, mp3, flac), else
    None. The demuxer is named to FFmpeg, never probed: a probed one (hls, concat) could open URLs
    or local files named inside the bytes."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png_pipe"
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg_pipe"
    if data[4:8] == b"ftyp":
        return "mov"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def _open(data: bytes, field: str, kinds: dict[str, str]) -> object:
    import av

    container = sniff_container(data)
    if container not in kinds:
        raise InvalidParams(field, f"<{len(data)} bytes>", f"must be a {', '.join(kinds.values())} file")
    return av.open(io.BytesIO(data), mode="r", format=container)


@dataclass(frozen=True)
class RawFrames:
    """RGB8 frames, row-major, frame after frame: width*height*3 bytes each."""

    width: int
    height: int
    frame_rate: float
    rgb: bytes = field(repr=False)


@dataclass(frozen=True)
class RawAudio:
    """Interleaved little-endian PCM (sample_format 1: S16LE, 2: F32LE)."""

    sample_rate: int
    channels: int
    sample_format: int
    pcm: bytes = field(repr=False)

    @property
    def dtype(self) -> np.dtype:
        """One sample's numpy type (little-endian int16 or float32)."""
        return np.dtype("<i2" if self.sample_format == 1 else "<f4")

    @property
    def frame_bytes(self) -> int:
        """Bytes of one sample frame: every channel's sample."""
        return self.channels * self.dtype.itemsize

    @property
    def num_samples(self) -> int:
        """Whole sample frames in `pcm`."""
        return len(self.pcm) // self.frame_bytes


@dataclass(frozen=True)
class RawImage:
    """One RGB8 picture, row-major: width*height*3 bytes."""

    width: int
    height: int
    rgb: bytes = field(repr=False)


@dataclass(frozen=True)
class MediaFile:
    """A media file's bytes: mp4 / webm / mkv for video, wav / ogg / mp3 / flac for audio, png / jpeg
    for an image."""

    data: bytes = field(repr=False)


class _SameByDigest:
    """Decoded media compare and hash by their digest: arrays have no truth value to compare by."""

    digest: str

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.digest == self.digest  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self.digest)


@dataclass(frozen=True, eq=False)
class VideoInput(_SameByDigest):
    """Decoded frames at the size they are encoded at: uint8 (frames, height, width, 3)."""

    frames: np.ndarray = field(repr=False)
    frame_rate: float
    digest: str

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


@dataclass(frozen=True, eq=False)
class AudioInput(_SameByDigest):
    """Decoded sound: float32 (samples, channels) in [-1, 1] at `sample_rate`."""

    samples: np.ndarray = field(repr=False)
    sample_rate: int
    digest: str

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True, eq=False)
class ImageInput(_SameByDigest):
    """A decoded picture at its own size: uint8 (height, width, 3). Kept at the source's size because
    the H.264 round trip of image conditioning (crf) runs there, before the picture is fitted."""

    rgb: np.ndarray = field(repr=False)
    digest: str

    @property
    def nbytes(self) -> int:
        return int(self.rgb.nbytes)


def _digest(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes | memoryview) else repr(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def fit_size(width: int, height: int, box_width: int, box_height: int, multiple: int, minimum: int) -> tuple[int, int]:
    """The size frames of `width`x`height` are encoded at when the request names none: scaled down
    (never up) to fit the box, aspect kept, each side rounded to `multiple` and at least `minimum`."""
    scale = min(1.0, box_width / width, box_height / height)

    def side(value: float) -> int:
        return max(minimum, round(value * scale / multiple) * multiple)

    return side(width), side(height)


def _frame_rate(name: str, rate: object, low: float, high: float) -> float:
    number = isinstance(rate, int | float) and not isinstance(rate, bool)
    if not number or not math.isfinite(rate) or not low <= rate <= high:
        raise InvalidParams(name, rate, f"must be a frame rate between {low:g} and {high:g}")
    return float(rate)


def decode_video(
    source: object,
    *,
    size: tuple[int, int] | None,
    box: tuple[int, int],
    multiple: int,
    min_size: int,
    max_frames: int,
    max_bytes: int,
    max_frame_bytes: int,
    frame_rate_range: tuple[float, float],
    name: str = "video_input",
    cover: bool = False,
) -> VideoInput:
    """`source` (RawFrames or MediaFile) decoded and scaled to `size` (None: `fit_size` in `box`);
    `cover`: scaled to cover `size`, aspect kept, and centre-cropped (keyframes), not stretched.

    Raises InvalidParams naming `name.<part>` for wrong sizes, truncated or undecodable files, more
    than `max_frames` frames, more than `max_bytes` of input, or more than `max_frame_bytes` of
    frames at the scaled size (checked as they are decoded: nothing past the bound is held)."""
    import av

    def held(count: int, width: int, height: int, part: str) -> None:
        if count * width * height * 3 > max_frame_bytes:
            raise InvalidParams(
                part,
                f"<{count} frames of {width}x{height}>",
                f"must be at most {max_frame_bytes} bytes of RGB8 at the size they are encoded at "
                "(send fewer frames, or a smaller width and height)",
            )

    if isinstance(source, RawFrames):
        w, h = source.width, source.height
        for part, value in (("width", w), ("height", h)):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 16384:
                raise InvalidParams(f"{name}.frames.{part}", value, "must be a positive number of pixels")
        rate = _frame_rate(f"{name}.frames.frame_rate", source.frame_rate, *frame_rate_range)
        data = source.rgb
        if len(data) > max_bytes:
            raise InvalidParams(f"{name}.frames.rgb", f"<{len(data)} bytes>", f"must be at most {max_bytes} bytes")
        frame_bytes = w * h * 3
        if not data or len(data) % frame_bytes:
            raise InvalidParams(
                f"{name}.frames.rgb",
                f"<{len(data)} bytes>",
                f"must be whole RGB8 frames of {w}x{h} ({frame_bytes} bytes each)",
            )
        count = len(data) // frame_bytes
        if count > max_frames:
            raise InvalidParams(f"{name}.frames.rgb", f"<{count} frames>", f"must be at most {max_frames} frames")
        array = np.frombuffer(data, np.uint8).reshape(count, h, w, 3)
        out_w, out_h = size or fit_size(w, h, *box, multiple, min_size)
        held(count, out_w, out_h, f"{name}.frames.rgb")
        fit = _scaler(w, h, out_w, out_h, cover)
        scaled = [fit(av.VideoFrame.from_ndarray(frame, format="rgb24")) for frame in array]
    elif isinstance(source, MediaFile):
        data = source.data
        if not data:
            raise InvalidParams(f"{name}.file", "<0 bytes>", "must be a video file (mp4, webm)")
        if len(data) > max_bytes:
            raise InvalidParams(f"{name}.file", f"<{len(data)} bytes>", f"must be at most {max_bytes} bytes")
        scaled, rate = [], 0.0
        part = f"{name}.file"
        try:
            with _open(data, part, VIDEO_CONTAINERS) as container:
                if not container.streams.video:
                    raise InvalidParams(part, f"<{len(data)} bytes>", "has no video stream")
                stream = container.streams.video[0]
                rate = _frame_rate(part, float(stream.average_rate or stream.guessed_rate or 0), *frame_rate_range)
                width, height = stream.width or 0, stream.height or 0
                if not 1 <= width * height <= MAX_SOURCE_PIXELS:
                    rule = f"must have frames of 1 to {MAX_SOURCE_PIXELS} pixels (3840x2160)"
                    raise InvalidParams(part, f"<{width}x{height} frames>", rule)
                out_w, out_h = size or fit_size(width, height, *box, multiple, min_size)
                fit = _scaler(width, height, out_w, out_h, cover)
                for frame in container.decode(stream):
                    if len(scaled) == max_frames:
                        rule = f"must be at most {max_frames} frames"
                        raise InvalidParams(part, f"<more than {max_frames} frames>", rule)
                    held(len(scaled) + 1, out_w, out_h, part)
                    # Scaled as decoded: the job never holds the file's own resolution.
                    scaled.append(fit(frame))
        except av.FFmpegError as exc:
            if not scaled:
                raise InvalidParams(
                    f"{name}.file", f"<{len(data)} bytes>", f"could not be decoded as a video ({exc})"
                ) from None
            # A truncated file: its frames up to the damage are what the game captured.
        if not scaled:
            raise InvalidParams(part, f"<{len(data)} bytes>", "has no decodable frame")
    else:
        raise InvalidParams(name, source, "must be raw RGB8 frames or a video file")
    stacked = np.stack(scaled)
    del scaled
    return frames_input(stacked, rate)


def frames_input(frames: np.ndarray, frame_rate: float) -> VideoInput:
    """Frames already at the size they are encoded at (uint8 (n, h, w, 3)) as a VideoInput."""
    frames = np.ascontiguousarray(frames)
    return VideoInput(frames, frame_rate, _digest("video", frame_rate, frames.shape, memoryview(frames).cast("B")))


def cover_size(width: int, height: int, out_width: int, out_height: int) -> tuple[int, int]:
    """The size `width`x`height` scales to, aspect kept, to cover `out_width`x`out_height` (the
    condition pipeline's rule: the scale of the side that needs more, sides rounded up)."""
    scale = max(out_height / height, out_width / width)
    return max(out_width, math.ceil(width * scale)), max(out_height, math.ceil(height * scale))


def _scaler(width: int, height: int, out_w: int, out_h: int, cover: bool) -> Callable[[Any], np.ndarray]:
    """A frame -> RGB8 (out_h, out_w, 3): stretched, or (cover) scaled to cover and centre-cropped."""
    if not cover:
        return lambda frame: frame.reformat(width=out_w, height=out_h, format="rgb24").to_ndarray()
    cw, ch = cover_size(width, height, out_w, out_h)
    top, left = (ch - out_h) // 2, (cw - out_w) // 2

    def fit(frame: object) -> np.ndarray:
        rgb = frame.reformat(width=cw, height=ch, format="rgb24").to_ndarray()  # type: ignore[attr-defined]
        return np.ascontiguousarray(rgb[top : top + out_h, left : left + out_w])

    return fit


def decode_audio_input(
    source: object,
    *,
    max_seconds: float,
    max_bytes: int,
    rate_range: tuple[int, int],
    name: str = "audio_input",
) -> AudioInput:
    """`source` (RawAudio or MediaFile) as float32 (samples, channels), mono or stereo (more
    channels are mixed down to stereo), a file's at most at 48 kHz. Raises InvalidParams naming
    `name.<part>`; `max_seconds` is (max_frames - 1) / frame_rate, which the message says."""
    import av

    too_long = f"must be at most {max_seconds:g} s long (max_frames - 1 frames at the request's frame_rate)"

    if isinstance(source, RawAudio):
        low, high = rate_range
        rate, channels, fmt, data = source.sample_rate, source.channels, source.sample_format, source.pcm
        if not isinstance(rate, int) or isinstance(rate, bool) or not low <= rate <= high:
            raise InvalidParams(f"{name}.pcm.sample_rate", rate, f"must be between {low} and {high}")
        if channels not in (1, 2):
            raise InvalidParams(f"{name}.pcm.channels", channels, "must be 1 or 2")
        if fmt not in SAMPLE_BYTES:
            raise InvalidParams(f"{name}.pcm.sample_format", fmt, "must be S16LE (1) or F32LE (2)")
        if len(data) > max_bytes:
            raise InvalidParams(f"{name}.pcm.data", f"<{len(data)} bytes>", f"must be at most {max_bytes} bytes")
        frame = SAMPLE_BYTES[fmt] * channels
        if not data or len(data) % frame:
            raise InvalidParams(
                f"{name}.pcm.data",
                f"<{len(data)} bytes>",
                f"must be whole samples of {channels} x {SAMPLE_BYTES[fmt]} bytes",
            )
        if fmt == 1:
            samples = np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
        else:
            samples = np.frombuffer(data, "<f4").astype(np.float32)
            if not np.isfinite(samples).all():
                raise InvalidParams(f"{name}.pcm.data", "<non-finite samples>", "must be finite numbers")
        samples = np.clip(samples.reshape(-1, channels), -1.0, 1.0)
    elif isinstance(source, MediaFile):
        data = source.data
        if not data:
            raise InvalidParams(f"{name}.file", "<0 bytes>", "must be an audio file (wav, ogg, mp3, flac)")
        if len(data) > max_bytes:
            raise InvalidParams(f"{name}.file", f"<{len(data)} bytes>", f"must be at most {max_bytes} bytes")
        pieces: list[np.ndarray] = []
        try:
            with _open(data, f"{name}.file", AUDIO_CONTAINERS) as container:
                if not container.streams.audio:
                    raise InvalidParams(f"{name}.file", f"<{len(data)} bytes>", "has no audio stream")
                stream = container.streams.audio[0]
                rate = int(stream.rate or 0)
                low, high = rate_range
                if not low <= rate <= high:
                    rule = f"must have a sample rate between {low} and {high}"
                    raise InvalidParams(f"{name}.file", f"<{rate} Hz>", rule)
                channels = 1 if stream.channels == 1 else 2
                # Interleaved float, at most 48 kHz; 5.1 and up mixed down to stereo.
                rate = min(rate, MAX_KEPT_SAMPLE_RATE)
                resampler = av.AudioResampler(format="flt", layout="mono" if channels == 1 else "stereo", rate=rate)
                limit = int(max_seconds * rate) + rate
                total = 0
                for frame in container.decode(stream):
                    for out in resampler.resample(frame):
                        pieces.append(out.to_ndarray().reshape(-1, channels))
                        total += len(pieces[-1])
                    if total > limit:
                        raise InvalidParams(f"{name}.file", f"<more than {max_seconds:g} s>", too_long)
                for out in resampler.resample(None):
                    pieces.append(out.to_ndarray().reshape(-1, channels))
        except av.FFmpegError as exc:
            if not pieces:
                raise InvalidParams(
                    f"{name}.file", f"<{len(data)} bytes>", f"could not be decoded as audio ({exc})"
                ) from None
        if not pieces or not sum(len(p) for p in pieces):
            raise InvalidParams(f"{name}.file", f"<{len(data)} bytes>", "has no decodable audio")
        samples = np.clip(np.concatenate(pieces).astype(np.float32), -1.0, 1.0)
    else:
        raise InvalidParams(name, source, "must be raw PCM or an audio file")
    if len(samples) / rate > max_seconds:
        part = f"{name}.file" if isinstance(source, MediaFile) else f"{name}.pcm.data"
        raise InvalidParams(part, f"<{len(samples) / rate:.2f} s>", too_long)
    samples = np.ascontiguousarray(samples)
    return AudioInput(samples, rate, _digest("audio", rate, samples.shape, memoryview(samples).cast("B")))


def is_image_file(data: bytes) -> bool:
    """Whether a file's bytes are a picture (png, jpeg) rather than a video."""
    return sniff_container(data) in IMAGE_CONTAINERS


def decode_image(source: object, *, max_bytes: int, name: str = "image") -> ImageInput:
    """`source` (RawImage or a png / jpeg MediaFile) as RGB8 at its own size, at most
    MAX_SOURCE_PIXELS. Raises InvalidParams naming `name.<part>`."""
    import av

    if isinstance(source, RawImage):
        w, h, data = source.width, source.height, source.rgb
        for part, value in (("width", w), ("height", h)):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 16384:
                raise InvalidParams(f"{name}.pixels.{part}", value, "must be a positive number of pixels")
        if w * h > MAX_SOURCE_PIXELS:
            rule = f"must be at most {MAX_SOURCE_PIXELS} pixels (3840x2160)"
            raise InvalidParams(f"{name}.pixels", f"<{w}x{h}>", rule)
        if len(data) != w * h * 3:
            rule = f"must be {w * h * 3} bytes (RGB8, {w}x{h})"
            raise InvalidParams(f"{name}.pixels.rgb", f"<{len(data)} bytes>", rule)
        rgb = np.frombuffer(data, np.uint8).reshape(h, w, 3).copy()
    elif isinstance(source, MediaFile):
        data, part = source.data, f"{name}.file"
        if not data:
            raise InvalidParams(part, "<0 bytes>", "must be a png or jpeg file")
        if len(data) > max_bytes:
            raise InvalidParams(part, f"<{len(data)} bytes>", f"must be at most {max_bytes} bytes")
        try:
            with _open(data, part, IMAGE_CONTAINERS) as container:
                stream = container.streams.video[0]
                width, height = stream.width or 0, stream.height or 0
                if not width * height:
                    raise InvalidParams(part, f"<{len(data)} bytes>", "could not be decoded as a picture (no size)")
                # Checked from the header, before a pixel is decoded (a 100000x100000 png is small).
                if width * height > MAX_SOURCE_PIXELS:
                    rule = f"must be a picture of 1 to {MAX_SOURCE_PIXELS} pixels (3840x2160)"
                    raise InvalidParams(part, f"<{width}x{height}>", rule)
                frame = next(container.decode(stream), None)
                if frame is None:
                    raise InvalidParams(part, f"<{len(data)} bytes>", "has no decodable picture")
                rgb = frame.to_ndarray(format="rgb24")
        except av.FFmpegError as exc:
            raise InvalidParams(part, f"<{len(data)} bytes>", f"could not be decoded as a picture ({exc})") from None
    else:
        raise InvalidParams(name, source, "must be raw RGB8 pixels or a png / jpeg file")
    rgb = np.ascontiguousarray(rgb)
    return ImageInput(rgb, _digest("image", rgb.shape, memoryview(rgb).cast("B")))
