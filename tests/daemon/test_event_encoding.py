"""event_encoding.py: one encoding of stream events for both transports (and JPEG frames)."""

from __future__ import annotations

import av
import numpy as np
import pytest

import ltx2
from ltx2 import SampleFormat
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb
from ltx2d.domain import Accepted, Delivery, FrameFormat
from ltx2d.event_encoding import encode_event, is_slow_to_encode
from ltx2d.jpeg import encode_jpeg_frames
from ltx2d.msgpack_codec import message_to_map
from ltx2d.proto_convert import event_message


def to_proto(job_id: str, event: object, delivery: Delivery) -> pb.GenerateEvent:
    return event_message(job_id, encode_event(event, delivery))  # type: ignore[arg-type]


# --- events ---

FORMAT = ltx2.ClipFormat(64, 64, 9, 24.0, 24000, 2, 9000, SampleFormat.S16LE, seed=5, steps=2)


def test_accepted_carries_the_clip_format_and_the_frame_format() -> None:
    msg = to_proto("j1", Accepted("j1", 3, True, FORMAT, Delivery(FrameFormat.JPEG)), Delivery())
    assert msg.job_id == "j1"
    assert (msg.accepted.job_id, msg.accepted.queue_position, msg.accepted.cache_hit) == ("j1", 3, True)
    f = msg.accepted.format
    assert (f.width, f.height, f.num_frames, f.frame_rate, f.sample_rate, f.channels, f.num_samples) == (
        64,
        64,
        9,
        24.0,
        24000,
        2,
        9000,
    )
    assert (f.sample_format, f.frame_format, f.seed, f.steps, f.audio_only) == (
        pb.SAMPLE_FORMAT_S16LE,
        pb.FRAME_FORMAT_JPEG,
        5,
        2,
        False,
    )


def test_progress_audio_and_completed_keep_every_field() -> None:
    progress = ltx2.Progress(ltx2.Phase.DENOISING, 2, 4, 0, 9, 1.5, b"\x01\x02\x03", 1, 1)
    msg = to_proto("j", progress, Delivery()).progress
    assert (msg.phase, msg.step, msg.total_steps, msg.total_frames, msg.elapsed_s) == (pb.PHASE_DENOISING, 2, 4, 9, 1.5)
    assert (msg.preview_rgb, msg.preview_width, msg.preview_height) == (b"\x01\x02\x03", 1, 1)

    audio = ltx2.AudioChunk(4800, 2400, 24000, 2, SampleFormat.S16LE, bytes(range(256)) * 37 + b"x" * 8)
    msg = to_proto("j", audio, Delivery()).audio_chunk
    assert (msg.first_sample, msg.num_samples, msg.sample_rate, msg.channels) == (4800, 2400, 24000, 2)
    assert msg.sample_format == pb.SAMPLE_FORMAT_S16LE
    assert msg.pts_s == pytest.approx(0.2)
    assert msg.data == audio.data

    timings = ltx2.Timings(0.5, 0.25, 1.5, 0.75, 2.0, 3.0)
    msg = to_proto("j", ltx2.Completed(7, 9, 9000, timings, True), Delivery()).completed
    assert (msg.seed, msg.num_frames, msg.num_samples, msg.cache_hit) == (7, 9, 9000, True)
    t = msg.timings
    assert (t.queue_s, t.encode_s, t.denoise_s, t.decode_s, t.first_chunk_s, t.total_s) == (0.5, 0.25, 1.5, 0.75, 2, 3)


def _frames(n: int, h: int, w: int) -> bytes:
    # Smooth gradients (JPEG-friendly) that differ per frame.
    y, x = np.mgrid[0:h, 0:w]
    frames = [np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 40 * i)], axis=-1) for i in range(n)]
    return np.asarray(frames, dtype=np.uint8).tobytes()


def test_rgb8_video_chunks_carry_the_engine_bytes() -> None:
    chunk = ltx2.VideoChunk(8, 2, 64, 32, 24.0, _frames(2, 32, 64))
    msg = to_proto("j", chunk, Delivery()).video_chunk
    assert (msg.first_frame, msg.num_frames, msg.width, msg.height) == (8, 2, 64, 32)
    assert msg.frame_format == pb.FRAME_FORMAT_RGB8
    assert msg.pts_s == pytest.approx(8 / 24)
    assert msg.data == chunk.data
    assert not msg.jpeg_frames


def _decode_jpeg(data: bytes) -> np.ndarray:
    codec = av.CodecContext.create("mjpeg", "r")
    (frame,) = codec.decode(av.Packet(data))
    return frame.to_ndarray(format="rgb24")


def test_jpeg_video_chunks_hold_one_jpeg_per_frame_close_to_the_frames() -> None:
    chunk = ltx2.VideoChunk(0, 3, 64, 32, 24.0, _frames(3, 32, 64))
    assert not is_slow_to_encode(chunk, Delivery())
    assert is_slow_to_encode(chunk, Delivery(FrameFormat.JPEG))
    msg = to_proto("j", chunk, Delivery(FrameFormat.JPEG, 95)).video_chunk
    assert msg.frame_format == pb.FRAME_FORMAT_JPEG
    assert not msg.data
    assert len(msg.jpeg_frames) == 3
    original = np.frombuffer(chunk.data, np.uint8).reshape(3, 32, 64, 3).astype(int)
    for i, jpeg in enumerate(msg.jpeg_frames):
        assert jpeg[:2] == b"\xff\xd8"  # SOI
        decoded = _decode_jpeg(jpeg).astype(int)
        assert decoded.shape == (32, 64, 3)
        assert np.abs(decoded - original[i]).mean() < 4


def test_jpeg_quality_changes_the_size() -> None:
    chunk = ltx2.VideoChunk(
        0, 1, 64, 64, 24.0, np.random.default_rng(0).integers(0, 256, 64 * 64 * 3, np.uint8).tobytes()
    )
    low = encode_jpeg_frames(chunk, 10)[0]
    high = encode_jpeg_frames(chunk, 100)[0]
    assert len(low) < len(high)


EVENTS = [
    Accepted("j", 0, False, FORMAT),
    ltx2.Progress(ltx2.Phase.DECODING, 2, 4, 8, 9, 0.123456789),
    ltx2.AudioChunk(0, 4, 24000, 2, SampleFormat.S16LE, b"\x01" * 16),
    ltx2.VideoChunk(0, 1, 64, 32, 24.0, bytes(64 * 32 * 3)),
    ltx2.Completed(7, 9, 9000, ltx2.Timings(0.1, 0.2, 0.3, 0.4, 0.5, 0.6), False),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_the_bridge_map_is_the_grpc_message_field_for_field(event: object) -> None:
    """The encoding names every field of its proto message (none forgotten, none invented), and
    the map the bridge packs equals what a gRPC client decodes from the message."""
    encoded = encode_event(event, Delivery())  # type: ignore[arg-type]
    message = getattr(to_proto("j", event, Delivery()), encoded.kind)
    assert set(encoded.fields) == set(message.DESCRIPTOR.fields_by_name)
    assert encoded.fields == message_to_map(message)


def test_the_bridge_map_holds_the_engine_bytes_without_a_copy() -> None:
    chunk = ltx2.VideoChunk(0, 1, 64, 32, 24.0, bytes(64 * 32 * 3))
    assert encode_event(chunk, Delivery()).fields["data"] is chunk.data
