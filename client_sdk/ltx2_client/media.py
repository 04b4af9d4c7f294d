"""Exporting clips: mp4 (H.264 + AAC, muxed), wav (PCM s16) and PNG frame sequences.

mp4 needs PyAV (`pip install 'ltx2-client[media]'`), imported only when an mp4 is written; wav
and PNG use only the standard library and numpy. Every file is written under a temporary name
in the same folder and renamed into place, so a crash never leaves half a file under the real
name.
"""

from __future__ import annotations

import contextlib
import os
import struct
import wave
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np

from .clip import Clip
from .events import AudioChunk, ClipFormat, Event, VideoChunk
from .jpeg import require_av


def _temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.partial")


def _as_float_audio(audio: np.ndarray) -> np.ndarray:
    """(n, channels) float32 in [-1, 1], from float or int16 samples."""
    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.dtype.kind == "i":
        return audio.astype(np.float32) / 32768.0
    return audio.astype(np.float32, copy=False)


def _as_s16(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.dtype == np.int16:
        return audio
    return np.round(np.clip(audio.astype(np.float32), -1.0, 1.0) * 32767.0).astype("<i2")


class Mp4Writer:
    """Writes an mp4 (H.264 video + AAC audio) while chunks arrive.

        with Mp4Writer.for_format("out.mp4", stream.wait_accepted().format) as mp4:
            for event in stream:
                mp4.write_event(event)

    Encoded packets go to the (temporary) file as they are produced, so a long clip never sits
    in memory; `close()` finishes the file and renames it into place, leaving the `with` block by
    an exception removes it instead. `video=False` writes an audio-only mp4.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        width: int,
        height: int,
        frame_rate: float,
        sample_rate: int,
        channels: int = 2,
        video: bool = True,
        audio: bool = True,
        crf: int = 18,
        preset: str = "veryfast",
    ) -> None:
        av = require_av("writing mp4")
        self.path = Path(path)
        self._temp = _temp_path(self.path)
        self._container = av.open(str(self._temp), mode="w", format="mp4")
        self._av = av
        self._video = self._audio = None
        self._frames_written = 0
        self._samples_written = 0
        self.channels = channels
        self.sample_rate = sample_rate
        try:
            if video:
                codec = "libx264" if "libx264" in av.codecs_available else "h264"
                rate = Fraction(frame_rate).limit_denominator(1001)
                # zerolatency: frames leave the encoder at once instead of after a 40-frame lookahead.
                options = {"crf": str(crf), "preset": preset, "tune": "zerolatency"} if codec == "libx264" else {}
                self._video = self._container.add_stream(codec, rate=rate, options=options)
                self._video.width, self._video.height = width, height
                self._video.pix_fmt = "yuv420p"
            if audio:
                layout = "mono" if channels == 1 else "stereo"
                self._audio = self._container.add_stream("aac", rate=sample_rate, layout=layout)
        except Exception:
            self.abort()
            raise

    @classmethod
    def for_format(cls, path: str | os.PathLike[str], fmt: ClipFormat, **options: object) -> Mp4Writer:
        """A writer for the clip described by Accepted.format (audio only when the clip is)."""
        return cls(
            path,
            width=fmt.width,
            height=fmt.height,
            frame_rate=fmt.frame_rate,
            sample_rate=fmt.sample_rate,
            channels=fmt.channels or 2,
            video=not fmt.audio_only,
            **options,
        )

    @property
    def frames_written(self) -> int:
        return self._frames_written

    @property
    def samples_written(self) -> int:
        return self._samples_written

    def write_frames(self, frames: np.ndarray) -> None:
        """Append uint8 RGB frames shaped (n, height, width, 3)."""
        if self._video is None:
            return
        for rgb in np.asarray(frames, np.uint8):
            frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = self._frames_written
            self._frames_written += 1
            self._container.mux(self._video.encode(frame))

    def write_audio(self, samples: np.ndarray) -> None:
        """Append audio shaped (n, channels), float in [-1, 1] or int16."""
        if self._audio is None:
            return
        audio = _as_float_audio(samples)
        if audio.shape[0] == 0:
            return
        frame = self._av.AudioFrame.from_ndarray(
            np.ascontiguousarray(audio.T), format="fltp", layout=self._audio.layout.name
        )
        frame.sample_rate = self.sample_rate
        frame.pts = self._samples_written
        self._samples_written += audio.shape[0]
        self._container.mux(self._audio.encode(frame))

    def write_event(self, event: Event) -> None:
        """Write an AudioChunk or VideoChunk; other events are ignored."""
        if isinstance(event, VideoChunk):
            self.write_frames(event.frames())
        elif isinstance(event, AudioChunk):
            self.write_audio(event.float_samples())

    def close(self) -> Path:
        """Flush the encoders, finish the file and rename it into place."""
        if self._container is None:
            return self.path
        for stream in (self._video, self._audio):
            if stream is not None:
                self._container.mux(stream.encode(None))
        self._container.close()
        self._container = None
        os.replace(self._temp, self.path)
        return self.path

    def abort(self) -> None:
        """Stop and delete the temporary file; the real path is left untouched."""
        if self._container is not None:
            # An encoder with nothing written can refuse to close cleanly; the file goes anyway.
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
        self._temp.unlink(missing_ok=True)

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_mp4(clip: Clip, path: str | os.PathLike[str], **options: object) -> Path:
    """Write a clip as mp4 with its audio muxed in (H.264 + AAC; audio only if it has no frames)."""
    with Mp4Writer(
        path,
        width=clip.width,
        height=clip.height,
        frame_rate=clip.frame_rate,
        sample_rate=clip.sample_rate,
        channels=clip.channels,
        video=clip.num_frames > 0,
        audio=clip.audio.shape[0] > 0,
        **options,
    ) as mp4:
        mp4.write_audio(clip.audio)
        mp4.write_frames(clip.frames)
    return Path(path)


def write_wav(clip_or_audio: Clip | np.ndarray, path: str | os.PathLike[str], sample_rate: int | None = None) -> Path:
    """Write audio as 16-bit PCM wav: a Clip, or an array (n, channels) with `sample_rate`."""
    if isinstance(clip_or_audio, Clip):
        audio, rate = clip_or_audio.audio, sample_rate or clip_or_audio.sample_rate
    else:
        audio, rate = clip_or_audio, sample_rate
    if not rate:
        raise ValueError("write_wav: sample_rate is required for a bare array")
    pcm = _as_s16(audio)
    path = Path(path)
    temp = _temp_path(path)
    try:
        with wave.open(str(temp), "wb") as out:
            out.setnchannels(pcm.shape[1])
            out.setsampwidth(2)
            out.setframerate(int(rate))
            out.writeframes(pcm.astype("<i2").tobytes())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def _png_bytes(rgb: np.ndarray) -> bytes:
    """An RGB8 image as PNG, with zlib from the standard library (no PyAV or Pillow needed)."""
    height, width, _ = rgb.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = np.concatenate([np.zeros((height, 1), np.uint8), rgb.reshape(height, width * 3)], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def write_frames(
    clip_or_frames: Clip | np.ndarray,
    folder: str | os.PathLike[str],
    *,
    prefix: str = "frame_",
    start: int = 0,
) -> list[Path]:
    """Write frames as a PNG sequence `<prefix>00000.png`, ... in `folder` (created if needed).

    `start` is the index of the first frame given, for writing a stream chunk by chunk.
    """
    frames = clip_or_frames.frames if isinstance(clip_or_frames, Clip) else np.asarray(clip_or_frames, np.uint8)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    width = max(5, len(str(start + len(frames))))
    paths = []
    for i, rgb in enumerate(frames, start):
        path = folder / f"{prefix}{i:0{width}d}.png"
        temp = _temp_path(path)
        temp.write_bytes(_png_bytes(np.ascontiguousarray(rgb)))
        os.replace(temp, path)
        paths.append(path)
    return paths


# Video codecs an mp4 can carry as they are (others go into .mkv).
MP4_VIDEO_CODECS = frozenset({"h264", "hevc", "mpeg4", "av1", "vp9", "mjpeg"})
MUX_FORMATS = {".mp4": "mp4", ".mkv": "matroska"}


def mux_problem(video_file: str | os.PathLike[str], path: str | os.PathLike[str]) -> str | None:
    """Why `video_file`'s video cannot be copied into `path` (by its extension), or None."""
    av = require_av("writing mp4")
    suffix = Path(path).suffix.lower()
    if suffix not in MUX_FORMATS:
        return f"the output must be one of {', '.join(MUX_FORMATS)}"
    try:
        with av.open(str(video_file)) as source:
            if not source.streams.video:
                return "it has no video stream"
            codec = source.streams.video[0].codec_context.name
    except av.FFmpegError as exc:
        return f"it cannot be read ({exc})"
    if suffix == ".mp4" and codec not in MP4_VIDEO_CODECS:
        return f"its {codec} video cannot go into an mp4 as it is; write .mkv instead"
    return None


def mux_sound(
    video_file: str | os.PathLike[str],
    audio: np.ndarray,
    sample_rate: int,
    path: str | os.PathLike[str],
) -> Path:
    """Write `video_file`'s video stream, copied as it is (not re-encoded), with `audio` (samples,
    channels) as its sound (AAC) to `path` (.mp4 or .mkv), under a temporary name renamed into
    place. The sound starts with the video's first frame (`mux_problem` says what cannot be done)."""
    av = require_av("writing mp4")
    path = Path(path)
    temp = _temp_path(path)
    samples = _as_float_audio(audio)
    container_format = MUX_FORMATS.get(path.suffix.lower(), "mp4")
    try:
        with av.open(str(video_file)) as source, av.open(str(temp), mode="w", format=container_format) as out:
            video_in = source.streams.video[0]
            video_out = out.add_stream_from_template(video_in)
            layout = "mono" if samples.shape[1] == 1 else "stereo"
            sound = out.add_stream("aac", rate=sample_rate, layout=layout)
            for packet in source.demux(video_in):
                if packet.dts is None:  # the demuxer's flush packet
                    continue
                packet.stream = video_out
                out.mux(packet)
            if len(samples):
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples.T), format="fltp", layout=layout)
                # In step with the first frame, wherever the video's timeline starts.
                start = video_in.start_time or 0
                offset = round(float(start * video_in.time_base) * sample_rate) if video_in.time_base else 0
                frame.sample_rate, frame.pts = sample_rate, offset
                out.mux(sound.encode(frame))
            out.mux(sound.encode(None))
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path
