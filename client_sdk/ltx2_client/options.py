"""The keyword options of `generate()`, shared by the sync and asyncio clients."""

from __future__ import annotations

import os
from typing import TypedDict

from .enums import CachePolicy, FrameFormat, Mode, Priority, SampleFormat
from .inputs import Continue, Frames, Keyframe, Retake, Sound


class GenerateOptions(TypedDict, total=False):
    """Options of a generation; each is a GenerateRequest field. Unset means the daemon's default.

    Limits (multiples of 32 for sizes, 8k+1 frames, ...) are checked by the daemon, which names the
    field, value and rule in an InvalidArgument error.
    """

    negative_prompt: str
    width: int
    height: int
    num_frames: int  # 8k+1; or give duration_s instead
    duration_s: float
    # Let the model choose the length in [min_seconds, max_seconds] (LTX-2.5's duration head;
    # num_frames and duration_s unset); Accepted says the length it chose.
    min_seconds: float
    max_seconds: float
    frame_rate: float
    steps: int
    seed: int
    video_guidance_scale: float
    audio_guidance_scale: float
    stg_scale: float
    modality_scale: float
    guidance_rescale: float
    audio_stg_scale: float  # with it set, stg_scale is the video stream's only
    audio_modality_scale: float
    preset: str  # "dev", "distilled"; unset: the model's default (Info.default_preset)
    loras: list[str | tuple[str, float] | dict[str, object]]  # adapters by name, strength 0-2
    model: str  # a configured model by name (Info.models); unset: the default
    chunk_frames: int
    priority: Priority | str  # "realtime", "interactive", "batch"
    audio_sample_rate: int
    sample_format: SampleFormat | str  # "s16le", "f32le"
    frame_format: FrameFormat | str  # "rgb8", "jpeg"
    jpeg_quality: int
    cache_policy: CachePolicy | str  # "default", "bypass", "refresh"
    audio_only: bool  # skip decoding the clip's video; mode="audio_only" makes sound alone, cheaper
    mode: Mode | str  # "text_to_audio_video", "audio_only", "video_to_audio", "audio_to_video"
    video_input: Frames | bytes | str | os.PathLike[str]  # video_to_audio: frames, or a video file
    audio_input: Sound | bytes | str | os.PathLike[str]  # audio_to_video: samples, or an audio file
    image: Keyframe | object  # the picture the clip starts from: path, bytes, PIL image, ndarray
    conditions: list[Keyframe]  # pictures or frames at pixel frame indices (first and last included)
    continue_from: Continue | str | object  # go on from a job id or a Clip, without a seam
    retake: Retake  # regenerate a window of a job's clip or a Clip; the rest comes back as it was
    tags: dict[str, str]
    preview: bool
