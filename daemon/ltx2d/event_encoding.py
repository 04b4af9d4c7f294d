"""One encoding of stream events for both transports.

`encode_event` turns a domain event into its wire kind (the `GenerateEvent` oneof name, which is
also the bridge's `type`) and a map of the message's fields by proto name. gRPC builds its
message from that map (`proto_convert.event_message`); the bridge packs the map as it is, so a
chunk's bytes go from the engine to msgpack without a protobuf copy in between. Values are what
the proto carries: proto `float` fields rounded to float32 as gRPC clients see them, enums as
numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

import ltx2

from .domain import Accepted, Delivery, FrameFormat, StreamEvent
from .jpeg import encode_jpeg_frames


@dataclass(frozen=True)
class EncodedEvent:
    """An event as the wire carries it: `kind` (accepted, progress, audio_chunk, video_chunk,
    completed) and the fields of that message."""

    kind: str
    fields: dict[str, Any]


def f32(value: float) -> float:
    """The decimal a proto float holds (0.7 arrives as 0.699999988..., shown as 0.7)."""
    return float(str(np.float32(value))) if math.isfinite(value) else value


def clip_format_fields(fmt: ltx2.ClipFormat, delivery: Delivery) -> dict[str, Any]:
    return {
        "width": fmt.width,
        "height": fmt.height,
        "num_frames": fmt.num_frames,
        "frame_rate": f32(fmt.frame_rate),
        "sample_rate": fmt.sample_rate,
        "channels": fmt.channels,
        "num_samples": fmt.num_samples,
        "sample_format": int(fmt.sample_format),
        "frame_format": int(delivery.frame_format),
        "seed": fmt.seed,
        "steps": fmt.steps,
        "audio_only": fmt.audio_only,
        "first_frame": fmt.first_frame,
        "first_sample": fmt.first_sample,
    }


def is_slow_to_encode(event: StreamEvent, delivery: Delivery) -> bool:
    """True when encoding `event` is CPU work worth moving off the event loop (JPEG frames)."""
    return isinstance(event, ltx2.VideoChunk) and delivery.frame_format == FrameFormat.JPEG


def encode_event(event: StreamEvent, delivery: Delivery) -> EncodedEvent:
    """`event` as the wire carries it (JPEG encoding included: may take milliseconds)."""
    match event:
        case Accepted():
            return EncodedEvent(
                "accepted",
                {
                    "job_id": event.job_id,
                    "queue_position": event.queue_position,
                    "cache_hit": event.cache_hit,
                    "format": clip_format_fields(event.format, event.delivery),
                },
            )
        case ltx2.Progress():
            return EncodedEvent(
                "progress",
                {
                    "phase": int(event.phase),
                    "step": event.step,
                    "total_steps": event.total_steps,
                    "frames_decoded": event.frames_decoded,
                    "total_frames": event.total_frames,
                    "elapsed_s": f32(event.elapsed_s),
                    "preview_rgb": event.preview_rgb,
                    "preview_width": event.preview_width,
                    "preview_height": event.preview_height,
                    "queue_position": event.queue_position,
                },
            )
        case ltx2.AudioChunk():
            return EncodedEvent(
                "audio_chunk",
                {
                    "first_sample": event.first_sample,
                    "num_samples": event.num_samples,
                    "sample_rate": event.sample_rate,
                    "channels": event.channels,
                    "sample_format": int(event.sample_format),
                    "pts_s": event.pts_s,
                    "data": event.data,
                },
            )
        case ltx2.VideoChunk():
            jpeg = delivery.frame_format == FrameFormat.JPEG
            return EncodedEvent(
                "video_chunk",
                {
                    "first_frame": event.first_frame,
                    "num_frames": event.num_frames,
                    "width": event.width,
                    "height": event.height,
                    "frame_format": int(delivery.frame_format),
                    "pts_s": event.pts_s,
                    "data": b"" if jpeg else event.data,
                    "jpeg_frames": encode_jpeg_frames(event, delivery.jpeg_quality) if jpeg else [],
                },
            )
        case ltx2.Completed():
            t = event.timings
            return EncodedEvent(
                "completed",
                {
                    "seed": event.seed,
                    "num_frames": event.num_frames,
                    "num_samples": event.num_samples,
                    "cache_hit": event.cache_hit,
                    "audio_padded_samples": event.audio_padded_samples,
                    "timings": {
                        "queue_s": f32(t.queue_s),
                        "encode_s": f32(t.encode_s),
                        "denoise_s": f32(t.denoise_s),
                        "decode_s": f32(t.decode_s),
                        "first_chunk_s": f32(t.first_chunk_s),
                        "total_s": f32(t.total_s),
                        "transformer_passes_per_step": f32(t.transformer_passes_per_step),
                        "denoise_s_per_pass": f32(t.denoise_s_per_pass),
                    },
                },
            )
    raise TypeError(f"not a stream event: {event!r}")
