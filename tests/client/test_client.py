"""The sync client against a real daemon with the tiny model."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from ltx2_client import (
    Accepted,
    AudioChunk,
    Busy,
    Cancelled,
    Client,
    Completed,
    DeadlineExceeded,
    InvalidArgument,
    Progress,
    Unauthenticated,
    Unavailable,
    VideoChunk,
)
from ltx2_client.enums import Phase

SMALL = {"width": 64, "height": 64, "num_frames": 25, "steps": 2, "chunk_frames": 8}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_events_come_in_contract_order(address):
    with Client(address) as client:
        events = list(client.generate("a dog barks twice", seed=11, **SMALL))
    assert isinstance(events[0], Accepted)
    assert isinstance(events[-1], Completed)
    fmt = events[0].format
    assert (fmt.width, fmt.height, fmt.num_frames, fmt.seed) == (64, 64, 25, 11)
    chunks = [e for e in events if isinstance(e, AudioChunk | VideoChunk)]
    # Per chunk, the audio covering [t0, t1) comes before the frames of [t0, t1).
    assert isinstance(chunks[0], AudioChunk)
    for audio, video in zip(chunks[::2], chunks[1::2], strict=True):
        assert isinstance(audio, AudioChunk) and isinstance(video, VideoChunk)
        assert audio.pts_s == pytest.approx(video.pts_s, abs=1 / fmt.sample_rate)
    frames = [e.first_frame for e in chunks if isinstance(e, VideoChunk)]
    sizes = [e.num_frames for e in chunks if isinstance(e, VideoChunk)]
    assert frames == list(np.cumsum([0, *sizes[:-1]]))
    assert sum(sizes) == 25
    steps = [e.step for e in events if isinstance(e, Progress) and e.phase == Phase.DENOISING]
    assert steps == [1, 2]


def test_result_collects_the_whole_clip(address):
    with Client(address) as client:
        stream = client.generate("rain on a tin roof", seed=5, **SMALL)
        clip = stream.result()
    fmt = stream.format
    assert clip.frames.shape == (25, 64, 64, 3) and clip.frames.dtype == np.uint8
    assert clip.audio.dtype == np.float32 and clip.audio.shape == (fmt.num_samples, fmt.channels)
    assert clip.sample_rate == fmt.sample_rate > 0
    assert clip.frame_rate == fmt.frame_rate
    assert clip.seed == 5 and clip.job_id == stream.job_id
    assert np.abs(clip.audio).max() <= 1.0
    assert clip.frames.std() > 0  # real decoded frames, not a blank buffer
    # Audio and video cover the same time span, within one frame.
    assert abs(clip.audio_duration_s - clip.duration_s) <= 1 / clip.frame_rate


def test_same_seed_gives_the_same_clip_and_frames_iterator_matches(address):
    with Client(address) as client:
        clip = client.generate("wind chimes", seed=21, cache_policy="bypass", **SMALL).result()
        chunks = list(client.generate("wind chimes", seed=21, cache_policy="bypass", **SMALL).frames())
        audio = list(client.generate("wind chimes", seed=21, cache_policy="bypass", **SMALL).audio())
    np.testing.assert_array_equal(np.concatenate(chunks), clip.frames)
    np.testing.assert_array_equal(np.concatenate(audio), clip.audio)


def test_float_samples_and_resampling_are_delivered_as_asked(address):
    with Client(address) as client:
        stream = client.generate("a bell", seed=3, sample_format="f32le", audio_sample_rate=16000, **SMALL)
        clip = stream.result()
    assert stream.format.sample_rate == clip.sample_rate == 16000
    assert abs(clip.audio_duration_s - clip.duration_s) <= 1 / clip.frame_rate


def test_audio_only_sends_no_frames(address):
    with Client(address) as client:
        events = list(client.generate("door creak", audio_only=True, seed=2, **SMALL))
        clip = client.generate("door creak", audio_only=True, seed=2, **SMALL).result()
    assert not any(isinstance(e, VideoChunk) for e in events)
    assert events[0].format.audio_only
    assert clip.frames.shape == (0, 64, 64, 3)
    assert clip.audio.shape[0] == events[0].format.num_samples > 0


def test_invalid_argument_names_the_field_with_the_daemons_message(address):
    with Client(address) as client:
        with pytest.raises(InvalidArgument) as info:
            client.generate("x", width=70, height=64, num_frames=9).result()
        assert info.value.field == "width"
        assert "70" in info.value.message and "32" in info.value.message
        with pytest.raises(InvalidArgument) as info:
            list(client.generate("x", num_frames=20))
        assert info.value.field == "num_frames" and "20" in str(info.value)
        with pytest.raises(InvalidArgument) as info:
            client.generate("", **SMALL).result()
        assert info.value.field == "prompt"


def test_cancel_stops_the_job_and_the_next_one_runs(address):
    with Client(address) as client:
        # A job long enough (100 steps at 256x256x121) to still be running when the cancel lands.
        stream = client.generate("a long cutscene", width=256, height=256, num_frames=121, steps=100)
        for event in stream:
            if isinstance(event, Progress) and event.phase == Phase.DENOISING:
                stream.cancel()
        job_id = stream.job_id
        assert stream.cancelled and stream.completed is None
        with pytest.raises(Cancelled):
            stream.result()
        for _ in range(100):
            if client.info().running_job_id != job_id:
                break
            time.sleep(0.1)
        assert client.info().running_job_id != job_id
        assert client.cancel(job_id) is False  # nothing left to cancel
        clip = client.generate("after the cancel", **SMALL).result()
    assert clip.num_frames == 25


def test_leaving_the_with_block_early_cancels(address):
    with Client(address) as client:
        with client.generate("a long cutscene", width=256, height=256, num_frames=121, steps=100) as stream:
            accepted = stream.wait_accepted()
        assert stream.cancelled
        for _ in range(100):
            if client.info().running_job_id != accepted.job_id:
                break
            time.sleep(0.1)
        assert client.info().running_job_id != accepted.job_id


def test_info_load_unload_health(address):
    with Client(address) as client:
        assert client.health()
        info = client.info()
        assert info.protocol_version == 1
        assert info.native_sample_rate > 0
        assert info.limits.max_width >= 64 and info.limits.min_size == 64
        assert info.defaults["width"] == 64 and info.defaults["steps"] == 2
        assert client.unload().loaded is False
        assert client.load().loaded is True
        assert client.info().loaded is True


def test_prefetch_queues_one_job_per_request(address):
    with Client(address) as client:
        result = client.prefetch(
            [{"prompt": "prefetched rain", "seed": 1, **SMALL}, {"prompt": "prefetched wind", "seed": 2, **SMALL}]
        )
        with pytest.raises(InvalidArgument) as info:
            client.prefetch([{"prompt": "no seed", **SMALL}])
        assert "seed" in info.value.field
    assert len(result.job_ids) == 2
    assert sum(1 for j in result.job_ids if j) + result.already_cached == 2


def test_unreachable_daemon_raises_unavailable_after_retries():
    port = free_port()
    with Client(f"127.0.0.1:{port}", retries=1, timeout=5) as client:
        assert client.health(timeout=1) is False
        with pytest.raises(Unavailable):
            client.info()
        with pytest.raises(Unavailable):
            client.generate("x").result()


def test_address_comes_from_the_environment(address, monkeypatch):
    monkeypatch.setenv("LTX2D_ADDRESS", address)
    with Client() as client:
        assert client.address == address
        assert client.health()


def test_token_is_sent_as_bearer_metadata(daemon):
    testing = pytest.importorskip("ltx2d.testing")
    with testing.DaemonProcess(["--no-bridge"], bridge=False, token="s3cret") as secured:
        with Client(secured.grpc_address, token="wrong", retries=0) as client, pytest.raises(Unauthenticated):
            client.info()
        with Client(secured.grpc_address, token="s3cret") as client:
            assert client.info().protocol_version == 1


def test_jpeg_frames_decode_close_to_rgb(address):
    with Client(address) as client:
        rgb = client.generate("a red ball", seed=8, cache_policy="bypass", **SMALL).result()
        stream = client.generate("a red ball", seed=8, frame_format="jpeg", cache_policy="bypass", **SMALL)
        jpeg = stream.result()
    assert stream.format.frame_format.name == "JPEG"
    assert jpeg.frames.shape == rgb.frames.shape
    # JPEG halves the chroma resolution and the tiny model's frames are noise-like, so compare luma.
    weights = np.array([0.299, 0.587, 0.114])
    luma_error = np.abs(jpeg.frames @ weights - rgb.frames @ weights)
    assert luma_error.mean() < 6


LONG = {"width": 256, "height": 256, "num_frames": 121, "steps": 100}


def test_full_queue_is_busy_with_the_daemons_message(address):
    with Client(address, retries=0) as client:
        capacity = client.info().queue_capacity
        # One job runs; `capacity` more wait; the next is refused at once.
        streams = [
            client.generate("a long cutscene", seed=i, cache_policy="bypass", **LONG) for i in range(capacity + 1)
        ]
        try:
            for stream in streams:
                stream.wait_accepted()
            with pytest.raises(Busy) as error:
                client.generate("one too many", cache_policy="bypass", **LONG).wait_accepted()
            assert error.value.code == "RESOURCE_EXHAUSTED" and error.value.message
        finally:
            for stream in streams:
                stream.cancel()
        assert client.generate("after the queue drained", **SMALL).result().num_frames == 25


def test_generate_timeout_is_deadline_exceeded(address):
    with Client(address) as client:
        with pytest.raises(DeadlineExceeded):
            client.generate("a long cutscene", timeout=0.5, cache_policy="bypass", **LONG).result()
        assert client.generate("after the deadline", **SMALL).result().num_frames == 25


def test_a_chunk_above_grpcs_default_message_limit_reaches_a_client_that_kept_the_default(address):
    # 24 frames of 320x256 RGB8 are 5.9 MB, above the 4 MiB a gRPC channel accepts by default: a
    # client in another language, built from the proto with no options, must still get them all.
    import grpc

    from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb
    from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2_grpc as pb_grpc

    request = pb.GenerateRequest(
        prompt="a wide shot", width=320, height=256, num_frames=25, steps=2, chunk_frames=24, cache_policy=1
    )
    with grpc.insecure_channel(address) as channel:
        events = list(pb_grpc.Ltx2dStub(channel).Generate(request, timeout=120))
    video = [e.video_chunk for e in events if e.WhichOneof("event") == "video_chunk"]
    frame_bytes = 320 * 256 * 3
    # One chunk of 25 frames (6.1 MB), in runs of at most 16 frames (3.9 MB).
    assert [(v.first_frame, v.num_frames) for v in video] == [(0, 16), (16, 9)]
    assert all(len(v.data) == v.num_frames * frame_bytes <= 4 * 2**20 for v in video)
    assert events[-1].completed.num_frames == 25


def test_a_repeated_request_is_served_from_the_cache(address):
    with Client(address) as client:
        first = client.generate("cache me once", seed=31, **SMALL).result()
        # The daemon stores the entry before it sends Completed, so the very next call hits.
        stream = client.generate("cache me once", seed=31, **SMALL)
        second = stream.result()
        refreshed = client.generate("cache me once", seed=31, cache_policy="refresh", **SMALL).result()
    assert not first.cache_hit
    assert second.cache_hit and stream.accepted.cache_hit
    assert not refreshed.cache_hit
    np.testing.assert_array_equal(second.frames, first.frames)
    np.testing.assert_array_equal(second.audio, first.audio)


def test_request_options_come_from_the_proto_descriptor():
    """GenerateOptions (the typed keyword options), the enum options and Info.limits name exactly
    the proto's fields, so an option added to the proto cannot be forgotten in the SDK."""
    import dataclasses
    import typing

    from ltx2_client import GenerateOptions, Limits
    from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb
    from ltx2_client.request import _ENUMS, FIELDS

    request = pb.GenerateRequest.DESCRIPTOR
    assert set(typing.get_type_hints(GenerateOptions)) == FIELDS - {"prompt"}
    assert set(_ENUMS) == {f.name for f in request.fields if f.enum_type is not None}
    for name, enum in _ENUMS.items():
        wire = request.fields_by_name[name].enum_type
        assert {m.value for m in enum} <= set(wire.values_by_number), name
    assert {f.name for f in dataclasses.fields(Limits)} == set(pb.Limits.DESCRIPTOR.fields_by_name)
