"""Media a request carries: frames for video-to-audio (`foley`), a sound for audio-to-video,
keyframes (`image`, `conditions`).

`image` and each of `conditions` take a `Keyframe`, or what a Keyframe's source may be (then at
frame 0, strength 1): a picture's path or bytes (png, jpeg), a PIL image, an RGB8 ndarray
(height, width, 3), frames ((n, height, width, 3), or `Frames`), or a video file's path or bytes.

`video_input` takes `Frames` (RGB8 frames and their rate), a video file's bytes, or its path;
`audio_input` takes `Sound` (samples and their rate), an audio file's bytes, or its path. Files
are sent as they are and decoded by the daemon (mp4, webm, mkv; wav, ogg, mp3, flac), which
checks every bound and names the field it refuses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InvalidArgument
from .proto.ltx2d.v1 import ltx2d_pb2 as pb


@dataclass(frozen=True)
class Frames:
    """RGB8 frames, uint8 shaped (frames, height, width, 3), and their frame rate."""

    rgb: np.ndarray
    frame_rate: float


@dataclass(frozen=True)
class Sound:
    """Samples shaped (samples, channels) or (samples,): float in [-1, 1] or int16, and their rate."""

    samples: np.ndarray
    sample_rate: int


@dataclass(frozen=True)
class Keyframe:
    """A picture or frames the clip holds from pixel frame `frame` on (the last frame is
    num_frames - 1). `strength`: 1 (None) holds it as given, 0 not at all; `crf`: the H.264 round
    trip a picture goes through first (None: the model's; 0: none)."""

    source: object
    frame: int = 0
    strength: float | None = None
    crf: int | None = None


@dataclass(frozen=True)
class Continue:
    """`continue_from`: go on from `clip`, a job id of this daemon (its clip in the result cache)
    or a `Clip` (its frames and sound are sent), holding its last `overlap_frames` (8k+1; None:
    the daemon's 17). The stream is numbered on from the clip's end (`Clip.first_frame`)."""

    clip: object
    overlap_frames: int | None = None


@dataclass(frozen=True)
class Retake:
    """`retake`: regenerate [start_s, end_s) of `clip` (a job id or a `Clip`), its `video`, its
    `audio` or both; everything outside the window comes back as it was."""

    clip: object
    start_s: float
    end_s: float
    video: bool = True
    audio: bool = True


def earlier_clip(clip: object, field: str, sample_format: int) -> pb.EarlierClip:
    """The EarlierClip of a job id or a `Clip` (its sound as PCM in `sample_format`, the stream's:
    a retake keeps it as sent)."""
    if isinstance(clip, str):
        return pb.EarlierClip(job_id=clip)
    frames, audio = getattr(clip, "frames", None), getattr(clip, "audio", None)
    if not isinstance(frames, np.ndarray) or not isinstance(audio, np.ndarray):
        raise InvalidArgument(f"{field}={clip!r}: must be a job id or a Clip", field=field, code="")
    msg = pb.EarlierClip(video=video_input(Frames(frames, float(clip.frame_rate))))
    if sample_format == pb.SAMPLE_FORMAT_F32LE:
        data = np.ascontiguousarray(audio, "<f4").tobytes()
    else:  # the inverse of AudioChunk.float_samples: the stream's own int16 values
        data = np.clip(np.round(audio * 32768.0), -32768, 32767).astype("<i2").tobytes()
        sample_format = pb.SAMPLE_FORMAT_S16LE
    pcm = pb.RawAudio(
        sample_rate=int(clip.sample_rate), channels=audio.shape[1], sample_format=sample_format, data=data
    )
    msg.audio.CopyFrom(pb.AudioInput(pcm=pcm))
    msg.end_frame = int(getattr(clip, "first_frame", 0)) + len(frames)
    return msg


def continuation(value: object, sample_format: int) -> pb.Continuation:
    c = value if isinstance(value, Continue) else Continue(value)
    msg = pb.Continuation(clip=earlier_clip(c.clip, "continue_from", sample_format))
    if c.overlap_frames is not None:
        msg.overlap_frames = int(c.overlap_frames)
    return msg


def retake(value: object, sample_format: int) -> pb.Retake:
    if not isinstance(value, Retake):
        raise InvalidArgument(f"retake={value!r}: must be a Retake(clip, start_s, end_s)", field="retake", code="")
    return pb.Retake(
        clip=earlier_clip(value.clip, "retake", sample_format),
        start_s=float(value.start_s),
        end_s=float(value.end_s),
        video=bool(value.video),
        audio=bool(value.audio),
    )


def condition(value: object, field: str) -> pb.Condition:
    """The Condition of a `Keyframe` (or of a bare source, at frame 0)."""
    kf = value if isinstance(value, Keyframe) else Keyframe(value)
    msg = pb.Condition(frame=int(kf.frame))
    if kf.strength is not None:
        msg.strength = float(kf.strength)
    if kf.crf is not None:
        msg.crf = int(kf.crf)
    source = kf.source
    data = _file_bytes(source, field)
    if data is not None:
        msg.file = data
        return msg
    if isinstance(source, Frames):
        source = source.rgb
    elif hasattr(source, "convert") and hasattr(source, "size"):  # a PIL image
        source = np.asarray(source.convert("RGB"))
    if isinstance(source, np.ndarray) and source.dtype == np.uint8 and source.shape[-1:] == (3,):
        if source.ndim == 3:
            height, width = source.shape[:2]
            msg.pixels.CopyFrom(pb.RawImage(width=width, height=height, rgb=np.ascontiguousarray(source).tobytes()))
            return msg
        if source.ndim == 4:
            # The frames take the clip's rate; the daemon does not read theirs.
            frames = pb.RawFrames(width=source.shape[2], height=source.shape[1], frame_rate=0.0)
            frames.rgb = np.ascontiguousarray(source).tobytes()
            msg.frames.CopyFrom(frames)
            return msg
    shape = f"<array {source.shape} {source.dtype}>" if isinstance(source, np.ndarray) else repr(source)
    raise InvalidArgument(
        f"{field}={shape}: must be a picture (path, bytes, PIL image, uint8 (height, width, 3)), "
        "frames (uint8 (n, height, width, 3), Frames) or a video file",
        field=field,
        code="",
    )


def _file_bytes(value: object, field: str) -> bytes | None:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str | os.PathLike):
        try:
            return Path(value).read_bytes()
        except OSError as exc:
            raise InvalidArgument(
                f"{field}={str(value)!r}: cannot be read ({exc.strerror})", field=field, code=""
            ) from None
    return None


def video_input(value: object) -> pb.VideoInput:
    """The VideoInput of `Frames`, a video file's bytes or a path."""
    data = _file_bytes(value, "video_input")
    if data is not None:
        return pb.VideoInput(file=data)
    if isinstance(value, Frames):
        rgb = np.asarray(value.rgb)
        if rgb.ndim != 4 or rgb.shape[3] != 3 or rgb.dtype != np.uint8:
            raise InvalidArgument(
                f"video_input=<frames {rgb.shape} {rgb.dtype}>: must be uint8 (frames, height, width, 3)",
                field="video_input",
                code="",
            )
        frames = pb.RawFrames(
            width=rgb.shape[2], height=rgb.shape[1], frame_rate=float(value.frame_rate), rgb=rgb.tobytes()
        )
        return pb.VideoInput(frames=frames)
    raise InvalidArgument(
        f"video_input={value!r}: must be Frames, a video file's bytes or a path", field="video_input", code=""
    )


def audio_input(value: object) -> pb.AudioInput:
    """The AudioInput of a `Sound`, an audio file's bytes or a path."""
    data = _file_bytes(value, "audio_input")
    if data is not None:
        return pb.AudioInput(file=data)
    if isinstance(value, Sound):
        samples = np.asarray(value.samples)
        if samples.ndim == 1:
            samples = samples[:, None]
        if samples.ndim != 2:
            raise InvalidArgument(
                f"audio_input=<samples {samples.shape}>: must be (samples, channels)", field="audio_input", code=""
            )
        if samples.dtype == np.int16:
            data, fmt = samples.astype("<i2").tobytes(), pb.SAMPLE_FORMAT_S16LE
        else:
            data, fmt = samples.astype("<f4").tobytes(), pb.SAMPLE_FORMAT_F32LE
        pcm = pb.RawAudio(sample_rate=int(value.sample_rate), channels=samples.shape[1], sample_format=fmt, data=data)
        return pb.AudioInput(pcm=pcm)
    raise InvalidArgument(
        f"audio_input={value!r}: must be Sound, an audio file's bytes or a path", field="audio_input", code=""
    )
