"""ltx2: a warm LTX-2 host on diffusers that streams synchronized video and audio chunks."""

from .control import JobControl
from .engine_api import AdapterInfo, Engine, ModelInfo, job_fingerprint
from .errors import Cancelled, CheckpointError, InvalidParams, Ltx2Error, OutOfMemory
from .events import AudioChunk, ClipFormat, Completed, Event, Phase, Progress, Timings, VideoChunk
from .params import GenerationParams, Limits, LoraWeight, SampleFormat, frames_for_duration, prepare_params

__all__ = [
    "AdapterInfo",
    "AudioChunk",
    "Cancelled",
    "CheckpointError",
    "ClipFormat",
    "Completed",
    "Engine",
    "Event",
    "GenerationParams",
    "InvalidParams",
    "JobControl",
    "Limits",
    "LoraWeight",
    "Ltx2Error",
    "ModelInfo",
    "OutOfMemory",
    "Phase",
    "Progress",
    "SampleFormat",
    "Timings",
    "VideoChunk",
    "frames_for_duration",
    "job_fingerprint",
    "prepare_params",
]
