"""ltx2: a warm LTX-2 host on diffusers that streams synchronized video and audio chunks."""

from .control import JobControl
from .engine_api import AdapterInfo, Engine, ModelInfo, job_fingerprint
from .errors import Cancelled, CheckpointError, InvalidParams, Ltx2Error, OutOfMemory
from .events import AudioChunk, ClipFormat, Completed, Event, LengthChosen, Phase, Progress, Timings, VideoChunk
from .media_input import AudioInput, MediaFile, RawAudio, RawFrames, VideoInput
from .params import GenerationParams, Limits, LoraWeight, Mode, SampleFormat, frames_for_duration, prepare_params

__all__ = [
    "AdapterInfo",
    "AudioChunk",
    "AudioInput",
    "Cancelled",
    "CheckpointError",
    "ClipFormat",
    "Completed",
    "Engine",
    "Event",
    "GenerationParams",
    "InvalidParams",
    "JobControl",
    "LengthChosen",
    "Limits",
    "LoraWeight",
    "Ltx2Error",
    "MediaFile",
    "Mode",
    "ModelInfo",
    "OutOfMemory",
    "Phase",
    "Progress",
    "RawAudio",
    "RawFrames",
    "SampleFormat",
    "Timings",
    "VideoChunk",
    "VideoInput",
    "frames_for_duration",
    "job_fingerprint",
    "prepare_params",
]
