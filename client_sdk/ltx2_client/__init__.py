"""Python SDK for the ltx2d daemon: sync and asyncio clients, typed events and errors, media export.

    from ltx2_client import Client
    with Client() as client:
        clip = client.generate("a lighthouse in a storm", num_frames=49, seed=7).result()

Media export (`ltx2_client.media`) needs PyAV: `pip install 'ltx2-client[media]'`.
"""

from .async_client import AsyncClient
from .async_stream import AsyncGenerationStream
from .client import Client
from .clip import Clip
from .enums import CachePolicy, FrameFormat, Mode, Phase, Priority, SampleFormat
from .errors import (
    Busy,
    Cancelled,
    DeadlineExceeded,
    InvalidArgument,
    Ltx2Error,
    MissingDependency,
    ProtocolError,
    Unauthenticated,
    Unavailable,
)
from .events import Accepted, AudioChunk, ClipFormat, Completed, Event, Progress, Timings, VideoChunk
from .info import Info, Limits, PrefetchResult
from .inputs import Continue, Frames, Keyframe, Retake, Sound
from .options import GenerateOptions
from .stream import GenerationStream

__version__ = "0.1.0"

__all__ = [
    "Accepted",
    "AsyncClient",
    "AsyncGenerationStream",
    "AudioChunk",
    "Busy",
    "CachePolicy",
    "Cancelled",
    "Client",
    "Clip",
    "ClipFormat",
    "Completed",
    "Continue",
    "DeadlineExceeded",
    "Event",
    "FrameFormat",
    "Frames",
    "GenerateOptions",
    "GenerationStream",
    "Info",
    "InvalidArgument",
    "Keyframe",
    "Limits",
    "Ltx2Error",
    "MissingDependency",
    "Mode",
    "Phase",
    "PrefetchResult",
    "Priority",
    "Progress",
    "ProtocolError",
    "Retake",
    "SampleFormat",
    "Sound",
    "Timings",
    "Unauthenticated",
    "Unavailable",
    "VideoChunk",
]
