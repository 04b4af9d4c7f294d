"""Continuing a clip (`continue_from`) and regenerating part of one (`retake`): the earlier clip a
request names, decoding what a transport sent, and the rules.

A daemon resolves an earlier clip named by job id into its frames and sound (from its result
cache) before the request is prepared; the engine only ever sees frames and sound. The engine side
(which latents are held, which frames are sent) is `ltx2.engine` with `ltx2.modal_denoise.Partial`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import InvalidParams
from .media_input import AudioInput, RawAudio, VideoInput, decode_audio_input, decode_video

# Frames of the earlier clip a continuation holds when the request names none: two latent frames
# after the causal first one, about 0.7 s at 24 fps.
DEFAULT_OVERLAP_FRAMES = 17


@dataclass(frozen=True)
class EarlierClip:
    """An earlier clip. As sent: `video` RawFrames or a MediaFile, `audio` RawAudio or a MediaFile
    (or None), or a `job_id` a daemon resolves; prepared: a VideoInput and an AudioInput (and for a
    retake, `pcm`: the sound's bytes as sent, which the stream keeps outside the window).
    `end_frame`: the index the clip's next frame would have (None: the frames given)."""

    video: object = None
    audio: object = None
    job_id: str = ""
    end_frame: int | None = None
    pcm: RawAudio | None = field(default=None, repr=False)

    @property
    def ends_at(self) -> int:
        """The index of the frame after the clip's last."""
        if self.end_frame is not None:
            return self.end_frame
        return self.video.num_frames if isinstance(self.video, VideoInput) else 0

    def key(self) -> list[object]:
        """Its part of a result-cache key."""
        video = getattr(self.video, "digest", None)
        audio = getattr(self.audio, "digest", None)
        return [video, audio, self.end_frame]


@dataclass(frozen=True)
class Continuation:
    """Continue `clip`: its last `overlap_frames` frames (8k+1) and the sound under them are held as
    this clip's start, which the stream does not send."""

    clip: EarlierClip
    overlap_frames: int = DEFAULT_OVERLAP_FRAMES

    def key(self) -> list[object]:
        return [self.clip.key(), self.overlap_frames]


@dataclass(frozen=True)
class Retake:
    """Regenerate [start_s, end_s) of `clip`: its `video`, its `audio`, or both."""

    clip: EarlierClip
    start_s: float
    end_s: float
    video: bool = True
    audio: bool = True

    # How a retake's stream is spliced; bumped when that changes (2: the sound crossfaded at the
    # window's edges), so clips cached with the old splice are not replayed as the new one.
    SPLICE_REVISION = 2

    def key(self) -> list[object]:
        return [self.clip.key(), self.start_s, self.end_s, self.video, self.audio, self.SPLICE_REVISION]

    def frame_window(self, frame_rate: float, num_frames: int, temporal: int = 8) -> tuple[int, int]:
        """The pixel frames [f0, f1) regenerated: the frames of every latent frame whose span
        overlaps the window (latent 0 is frame 0, latent k frames 8k-7 to 8k), so whole latents."""
        first_latent, end_latent = self.latent_window(frame_rate, num_frames, temporal)
        f0 = 0 if first_latent == 0 else temporal * first_latent - (temporal - 1)
        return f0, min(num_frames, temporal * end_latent - (temporal - 1))

    def latent_window(self, frame_rate: float, num_frames: int, temporal: int = 8) -> tuple[int, int]:
        """The latent frames [k0, k1) whose pixel frames overlap the window."""
        start, end = self.start_s * frame_rate, self.end_s * frame_rate  # in frames, end exclusive
        latents = (num_frames - 1) // temporal + 1
        # Latent k covers frames [8k-7, 8k+1) (latent 0: [0, 1)); it overlaps [start, end) when
        # its first frame is before `end` and its end after `start`.
        spans = [(0.0, 1.0)] + [(temporal * k - (temporal - 1), temporal * k + 1.0) for k in range(1, latents)]
        hit = [k for k, (a, b) in enumerate(spans) if a < end - 1e-9 and b > start + 1e-9]
        return (hit[0], hit[-1] + 1) if hit else (0, 0)


def prepare_earlier(
    name: str,
    clip: object,
    *,
    width: int,
    height: int,
    raw_pcm: bool,
    max_bytes: int,
    max_frames: int,
    max_frame_bytes: int,
    max_seconds: float,
    rate_range: tuple[int, int],
) -> EarlierClip:
    """`clip` with its media decoded: frames covering `width`x`height` (centre-cropped, as
    keyframes), sound as float samples; `raw_pcm`: the sound must be raw PCM, kept as sent too."""
    if not isinstance(clip, EarlierClip):
        raise InvalidParams(name, clip, "must be an earlier clip (a job id, or frames and sound)")
    if clip.job_id:
        raise InvalidParams(f"{name}.job_id", clip.job_id, "must be resolved to frames and sound by the daemon first")
    video, audio, pcm = clip.video, clip.audio, clip.pcm
    if video is None:
        raise InvalidParams(f"{name}.video", None, "is required: the earlier clip's frames (or its job_id)")
    if not isinstance(video, VideoInput):
        video = decode_video(
            video,
            size=(width, height),
            box=(width, height),
            multiple=1,
            min_size=1,
            max_frames=max_frames,
            max_bytes=max_bytes,
            max_frame_bytes=max_frame_bytes,
            frame_rate_range=(0.0, math.inf),  # the clip's rate is the request's
            name=f"{name}.video",
            cover=True,
        )
    if raw_pcm and not isinstance(audio, RawAudio | AudioInput):
        rule = "must be raw PCM: a retake sends the earlier sound outside the window as it was"
        raise InvalidParams(f"{name}.audio", "<a file>" if audio is not None else None, rule)
    if isinstance(audio, RawAudio):
        pcm = audio if raw_pcm else None
    if audio is not None and not isinstance(audio, AudioInput):
        audio = decode_audio_input(
            audio, max_seconds=max_seconds, max_bytes=max_bytes, rate_range=rate_range, name=f"{name}.audio"
        )
    return replace(clip, video=video, audio=audio, pcm=pcm)


def _check_frame_size(name: str, video: VideoInput, width: int, height: int) -> None:
    if video.frames.shape[1:3] != (height, width):
        rule = f"must be frames of the request's size, {width}x{height}"
        raise InvalidParams(name, f"<frames of {video.frames.shape[2]}x{video.frames.shape[1]}>", rule)


def check_continuation(c: object, *, num_frames: int, frames_multiple: int, width: int, height: int) -> None:
    """The rules of `continue_from` for a clip of `num_frames` frames (counting the overlap)."""
    if not isinstance(c, Continuation):
        raise InvalidParams("continue_from", c, "must be a continuation (an earlier clip and an overlap)")
    overlap = c.overlap_frames
    if not isinstance(overlap, int) or isinstance(overlap, bool) or overlap < 1 or (overlap - 1) % frames_multiple:
        rule = f"must be {frames_multiple}k+1 (for example 9, 17 or 25)"
        raise InvalidParams("continue_from.overlap_frames", overlap, rule)
    if overlap > num_frames - frames_multiple:
        most = num_frames - frames_multiple
        rule = f"must leave at least {frames_multiple} new frames: at most {most} (num_frames={num_frames})"
        raise InvalidParams("continue_from.overlap_frames", overlap, rule)
    video = c.clip.video
    if not isinstance(video, VideoInput):
        raise InvalidParams("continue_from.clip.video", video, "must be decoded first (ltx2.prepare_params)")
    _check_frame_size("continue_from.clip.video", video, width, height)
    if video.num_frames < overlap:
        rule = f"must have at least overlap_frames={overlap} frames"
        raise InvalidParams("continue_from.clip.video", f"<{video.num_frames} frames>", rule)
    end = c.clip.end_frame
    if end is not None and (not isinstance(end, int) or isinstance(end, bool) or end < video.num_frames):
        rule = f"must be at least the {video.num_frames} frames sent"
        raise InvalidParams("continue_from.clip.end_frame", end, rule)


def check_retake(r: object, *, num_frames: int, frame_rate: float, sample_format: int, width: int, height: int) -> None:
    """The rules of `retake` for a clip of `num_frames` frames at `frame_rate`."""
    if not isinstance(r, Retake):
        raise InvalidParams("retake", r, "must be a retake (an earlier clip and a window)")
    video, pcm = r.clip.video, r.clip.pcm
    if not isinstance(video, VideoInput):
        raise InvalidParams("retake.clip.video", video, "must be decoded first (ltx2.prepare_params)")
    _check_frame_size("retake.clip.video", video, width, height)
    if video.num_frames != num_frames:
        rule = f"must be the whole clip: num_frames={num_frames} frames"
        raise InvalidParams("retake.clip.video", f"<{video.num_frames} frames>", rule)
    if pcm is None or not isinstance(r.clip.audio, AudioInput):
        raise InvalidParams("retake.clip.audio", None, "is required: the earlier clip's sound, as raw PCM")
    if pcm.sample_format != int(sample_format):
        rule = f"must be in the request's sample_format ({int(sample_format)}) to be kept bit for bit"
        raise InvalidParams("retake.clip.audio.pcm.sample_format", pcm.sample_format, rule)
    duration = num_frames / frame_rate
    for name in ("start_s", "end_s"):
        value = getattr(r, name)
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise InvalidParams(f"retake.{name}", value, "must be a finite number of seconds")
    rule = f"must satisfy 0 <= start_s < end_s <= {duration:g} (the clip's duration)"
    if not 0 <= r.start_s < duration:
        raise InvalidParams("retake.start_s", r.start_s, rule)
    if not r.start_s < r.end_s <= duration + 1e-6:
        raise InvalidParams("retake.end_s", r.end_s, rule)
    if not (r.video or r.audio):
        raise InvalidParams("retake.video", False, "must regenerate the video, the audio or both")


def kept_pcm(pcm: RawAudio, first: int, end: int) -> np.ndarray:
    """Samples [first, end) of raw PCM as its own bytes, as a (samples, channels * bytes) uint8 view."""
    data = np.frombuffer(pcm.pcm, np.uint8).reshape(-1, pcm.frame_bytes)
    return data[first:end]
