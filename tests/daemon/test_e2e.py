"""End to end: `python -m ltx2d` in a subprocess with the real tiny engine, over both transports.

One module-scoped daemon serves most tests (64x64, 17 frames, 2 steps); the shutdown tests start
their own.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest

import ltx2
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2_grpc as pb_grpc
from ltx2d.testing import BridgeClient, DaemonProcess

TINY = ["--default-width", "64", "--default-height", "64", "--default-num-frames", "17", "--default-steps", "2"]
TINY += ["--default-chunk-frames", "8"]
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", -1)]
PARAMS = ltx2.GenerationParams(
    prompt="a wooden door creaks open", width=64, height=64, num_frames=17, steps=2, seed=1234, chunk_frames=8
)


@pytest.fixture(scope="module")
def daemon(tiny_checkpoint: Any) -> Iterator[DaemonProcess]:
    with DaemonProcess([*TINY, "--preload", "--metrics-port", "0"]) as process:
        yield process


@pytest.fixture(scope="module")
def engine_events(tiny_checkpoint: Any) -> list[ltx2.Event]:
    """What the engine itself yields for PARAMS, in this process."""
    from ltx2.engine import Ltx2Engine

    engine = Ltx2Engine.load(tiny_checkpoint)
    try:
        return list(engine.generate(PARAMS))
    finally:
        engine.close()


@pytest.fixture(scope="module")
def stub(daemon: DaemonProcess) -> Iterator[pb_grpc.Ltx2dStub]:
    with grpc.insecure_channel(daemon.grpc_address, options=CHANNEL_OPTIONS) as channel:
        yield pb_grpc.Ltx2dStub(channel)


def grpc_request(**fields: Any) -> pb.GenerateRequest:
    values = {
        "prompt": PARAMS.prompt,
        "seed": PARAMS.seed,
        "num_frames": PARAMS.num_frames,
        "cache_policy": pb.CACHE_POLICY_BYPASS,
    }
    return pb.GenerateRequest(**{**values, **fields})


def bridge_stream(address: str, message: dict[str, Any]) -> list[dict[str, Any]]:
    async def body() -> list[dict[str, Any]]:
        client = await BridgeClient.connect(address)
        try:
            await client.send(message)
            return await client.stream(message["id"], timeout=60)
        finally:
            await client.close()

    return asyncio.run(body())


def chunks_of_engine(events: list[Any]) -> list[tuple[str, int, int, bytes]]:
    out = []
    for e in events:
        if isinstance(e, ltx2.AudioChunk):
            out.append(("audio", e.first_sample, e.num_samples, e.data))
        elif isinstance(e, ltx2.VideoChunk):
            out.append(("video", e.first_frame, e.num_frames, e.data))
    return out


def chunks_of_grpc(events: list[pb.GenerateEvent]) -> list[tuple[str, int, int, bytes]]:
    out = []
    for e in events:
        if e.HasField("audio_chunk"):
            a = e.audio_chunk
            out.append(("audio", a.first_sample, a.num_samples, a.data))
        elif e.HasField("video_chunk"):
            v = e.video_chunk
            out.append(("video", v.first_frame, v.num_frames, v.data))
    return out


def chunks_of_bridge(maps: list[dict[str, Any]]) -> list[tuple[str, int, int, bytes]]:
    out = []
    for m in maps:
        if m["type"] == "audio_chunk":
            out.append(("audio", m["first_sample"], m["num_samples"], m["data"]))
        elif m["type"] == "video_chunk":
            out.append(("video", m["first_frame"], m["num_frames"], m["data"]))
    return out


def test_both_transports_stream_exactly_the_engine_bytes(
    daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub, engine_events: list[ltx2.Event]
) -> None:
    expected = chunks_of_engine(engine_events)
    assert [c[0] for c in expected] == ["audio", "video"] * 2  # 17 frames: 9 then 8; audio first

    over_grpc = list(stub.Generate(grpc_request(), timeout=120))
    assert chunks_of_grpc(over_grpc) == expected
    # The order the proto promises: Accepted, Progress*, (AudioChunk, VideoChunk+, Progress*)*, Completed.
    letters = {"accepted": "A", "progress": "P", "audio_chunk": "a", "video_chunk": "v", "completed": "C"}
    order = "".join(letters[e.WhichOneof("event")] for e in over_grpc)
    assert re.fullmatch(r"AP*(avP*)+C", order), order
    assert all(e.progress.phase == pb.PHASE_DECODING for e in over_grpc[order.index("a") :] if e.HasField("progress"))

    maps = bridge_stream(
        daemon.bridge_address,
        {
            "type": "generate",
            "id": 1,
            "prompt": PARAMS.prompt,
            "seed": PARAMS.seed,
            "num_frames": 17,
            "cache_policy": "CACHE_POLICY_BYPASS",
        },
    )
    assert chunks_of_bridge(maps) == expected

    completed = engine_events[-1]
    assert isinstance(completed, ltx2.Completed)
    assert (over_grpc[-1].completed.seed, over_grpc[-1].completed.num_samples) == (1234, completed.num_samples)
    assert (maps[-1]["seed"], maps[-1]["num_samples"]) == (1234, completed.num_samples)
    fmt = over_grpc[0].accepted.format
    assert (fmt.width, fmt.height, fmt.num_frames, fmt.seed, fmt.steps) == (64, 64, 17, 1234, 2)
    assert maps[0]["format"] == {**maps[0]["format"], "width": 64, "num_frames": 17, "seed": 1234}


def test_a_cache_hit_streams_the_same_bytes_as_the_miss(stub: pb_grpc.Ltx2dStub) -> None:
    request = grpc_request(seed=77, cache_policy=pb.CACHE_POLICY_UNSPECIFIED, prompt="rain on a tin roof")
    miss = list(stub.Generate(request, timeout=120))
    deadline = time.monotonic() + 30
    while True:  # the cache entry is written in the background after the miss completes
        hit = list(stub.Generate(request, timeout=120))
        if hit[0].accepted.cache_hit or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not miss[0].accepted.cache_hit and hit[0].accepted.cache_hit and hit[-1].completed.cache_hit
    assert chunks_of_grpc(hit) == chunks_of_grpc(miss)
    # The tail padding is part of what the hit replays, as the miss reported it.
    padded = miss[-1].completed.audio_padded_samples
    assert padded > 0 and hit[-1].completed.audio_padded_samples == padded


def test_a_big_chunk_goes_out_in_messages_of_whole_frames_and_a_hit_replays_them(
    daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub, tiny_checkpoint: Any
) -> None:
    # 768x512x9 is one chunk of 9 frames, 10.6 MB: more than one message may carry.
    from ltx2.engine import Ltx2Engine
    from ltx2d.domain import MAX_VIDEO_MESSAGE_BYTES

    params = ltx2.GenerationParams(
        prompt="sparks fly from an anvil", width=768, height=512, num_frames=9, steps=2, seed=5, chunk_frames=8
    )
    engine = Ltx2Engine.load(tiny_checkpoint)
    try:
        decoded = chunks_of_engine(list(engine.generate(params)))
    finally:
        engine.close()
    assert [c[0] for c in decoded] == ["audio", "video"] and len(decoded[1][3]) > MAX_VIDEO_MESSAGE_BYTES

    fields = {"prompt": params.prompt, "seed": 5, "width": 768, "height": 512, "num_frames": 9, "chunk_frames": 8}
    miss = list(stub.Generate(grpc_request(**fields, cache_policy=pb.CACHE_POLICY_REFRESH), timeout=120))
    sent = chunks_of_grpc(miss)
    frame_bytes = 768 * 512 * 3
    assert sent[0] == decoded[0]  # the audio of the chunk, whole, before its frames
    videos = sent[1:]
    per_message = MAX_VIDEO_MESSAGE_BYTES // frame_bytes  # 3 frames of 1.2 MB under 4 MiB - 64 KiB
    assert [v[0] for v in videos] == ["video"] * len(videos) and len(videos) == -(-9 // per_message) > 1
    assert all(len(v[3]) == v[2] * frame_bytes and len(v[3]) <= MAX_VIDEO_MESSAGE_BYTES for v in videos)
    runs = [(start, min(per_message, 9 - start)) for start in range(0, 9, per_message)]
    assert [(v[1], v[2]) for v in videos] == runs  # contiguous runs of whole frames
    assert b"".join(v[3] for v in videos) == decoded[1][3]
    order = "".join(e.WhichOneof("event")[0] for e in miss)  # a(udio) v(ideo) p(rogress)
    assert re.fullmatch(rf"ap*a{'v' * len(runs)}p*c", order), order

    hit = list(stub.Generate(grpc_request(**fields, cache_policy=pb.CACHE_POLICY_UNSPECIFIED), timeout=120))
    assert hit[0].accepted.cache_hit and chunks_of_grpc(hit) == sent
    maps = bridge_stream(daemon.bridge_address, {"type": "generate", "id": 2, **fields})
    assert maps[0]["cache_hit"] and chunks_of_bridge(maps) == sent


def test_memory_bytes_is_zero_on_cpu_and_after_unload(stub: pb_grpc.Ltx2dStub) -> None:
    """Info.memory_bytes is GPU memory held by the weights: the tiny model runs on the CPU."""
    info = stub.GetInfo(pb.GetInfoRequest(), timeout=30)
    assert info.loaded and info.device == "cpu" and info.memory_bytes == 0
    unloaded = stub.Unload(pb.UnloadRequest(), timeout=60)
    assert not unloaded.loaded and unloaded.memory_bytes == 0
    assert stub.Load(pb.LoadRequest(), timeout=120).loaded


def test_invalid_input_over_both_transports(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        list(stub.Generate(grpc_request(width=100), timeout=30))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "width=100: must be a multiple of 32"
    maps = bridge_stream(daemon.bridge_address, {"type": "generate", "id": 2, "prompt": "x", "width": 100})
    assert maps == [
        {
            "type": "error",
            "id": 2,
            "code": "INVALID_ARGUMENT",
            "field": "width",
            "message": "width=100: must be a multiple of 32",
        }
    ]


def test_a_window_on_a_model_without_a_duration_head_is_refused(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub) -> None:
    request = pb.GenerateRequest(prompt="a bell", max_seconds=3.0)
    with pytest.raises(grpc.RpcError) as info:
        list(stub.Generate(request, timeout=30))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("max_seconds=3.0: needs a checkpoint with a duration head (LTX-2.5)")
    maps = bridge_stream(daemon.bridge_address, {"type": "generate", "id": 2, "prompt": "x", "max_seconds": 3.0})
    assert maps[0]["type"] == "error" and maps[0]["field"] == "max_seconds", maps


def test_a_malformed_frame_leaves_the_daemon_serving(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub) -> None:
    async def body() -> tuple[Any, Any]:
        client = await BridgeClient.connect(daemon.bridge_address)
        await client.send_raw(b"\x00\x00\x00\x03abc")
        reply = await client.recv()
        after = await client.recv()
        await client.close()
        return reply, after

    reply, after = asyncio.run(body())
    assert reply["type"] == "error" and reply["id"] is None and after is None
    assert stub.GetInfo(pb.GetInfoRequest(), timeout=10).loaded
    info = asyncio.run(_bridge_info(daemon.bridge_address))
    assert info["type"] == "info" and info["model_id"] == "ltx2-tiny"


async def _bridge_info(address: str) -> dict[str, Any]:
    client = await BridgeClient.connect(address)
    try:
        return await client.request({"type": "info", "id": 1})
    finally:
        await client.close()


def test_metrics_endpoint(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub) -> None:
    list(stub.Generate(grpc_request(seed=5), timeout=120))
    assert daemon.metrics_port
    text = urllib.request.urlopen(f"http://127.0.0.1:{daemon.metrics_port}/metrics", timeout=10).read().decode()
    assert "ltx2d_queue_depth 0.0" in text
    assert "ltx2d_model_loaded 1.0" in text
    assert 'ltx2d_model_resident{model="default"} 1.0' in text
    loads = [line for line in text.splitlines() if line.startswith('ltx2d_model_loads_total{model="default"}')]
    assert loads and float(loads[0].rsplit(" ", 1)[1]) >= 1  # other tests of the module unload and load
    ok = [line for line in text.splitlines() if line.startswith("ltx2d_jobs_total{") and 'outcome="OK"' in line]
    assert ok and float(ok[0].rsplit(" ", 1)[1]) >= 1
    assert "ltx2d_time_to_first_chunk_seconds_count" in text
    assert "ltx2d_job_duration_seconds_bucket" in text


def test_health_answers_in_the_subprocess(daemon: DaemonProcess) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(daemon.grpc_address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="ltx2d.v1.Ltx2d"))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def _generate_in_thread(address: str, request: pb.GenerateRequest) -> tuple[threading.Thread, dict[str, Any]]:
    """Run a Generate in a thread; the result dict gets `events`, `first` (set on the first
    progress) and `error`."""
    result: dict[str, Any] = {"events": [], "first": threading.Event(), "error": None}

    def run() -> None:
        with grpc.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
            try:
                for event in pb_grpc.Ltx2dStub(channel).Generate(request, timeout=120):
                    result["events"].append(event)
                    if event.HasField("progress") and event.progress.phase == pb.PHASE_DENOISING:
                        result["first"].set()
            except grpc.RpcError as exc:
                result["error"] = exc
            finally:
                result["first"].set()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_sigterm_lets_the_running_job_finish_then_exits_cleanly(tiny_checkpoint: Any) -> None:
    with DaemonProcess([*TINY, "--preload", "--shutdown-grace", "60", "--log-format", "json"]) as process:
        ready = process.ready_file
        assert ready is not None and ready.exists()
        thread, result = _generate_in_thread(process.grpc_address, grpc_request(steps=30, num_frames=9))
        assert result["first"].wait(60)
        process.send_signal(signal.SIGTERM)
        thread.join(120)
        assert result["error"] is None, result["error"]
        assert result["events"][-1].HasField("completed")
        assert process.wait(60) == 0
        assert not ready.exists()  # removed at shutdown
    records = [json.loads(line) for line in process.stderr.splitlines() if line.strip()]  # JSON lines only
    events = [r.get("event") for r in records]
    assert events.index("serving") < events.index("shutdown") < events.index("stopped")
    assert "job_finished" in events


def test_a_port_in_use_is_a_clear_startup_error(daemon: DaemonProcess) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "ltx2d", "--grpc-port", str(daemon.grpc_port), "--no-bridge"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"could not bind gRPC to 127.0.0.1:{daemon.grpc_port}" in result.stderr


def test_cancel_and_disconnect_stop_real_jobs_and_the_next_one_runs(
    daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub
) -> None:
    # gRPC: Cancel by job id while the job denoises.
    long_request = grpc_request(steps=60, num_frames=9, seed=8)
    call = stub.Generate(long_request, timeout=120)
    job_id = next(call).accepted.job_id
    for event in call:
        if event.HasField("progress") and event.progress.phase == pb.PHASE_DENOISING:
            break
    assert stub.Cancel(pb.CancelRequest(job_id=job_id), timeout=10).found
    with pytest.raises(grpc.RpcError) as info:
        list(call)
    assert info.value.code() == grpc.StatusCode.CANCELLED

    # Bridge: close the connection while the job denoises.
    async def abandon() -> str:
        client = await BridgeClient.connect(daemon.bridge_address)
        await client.send(
            {"type": "generate", "id": 1, "prompt": "abandoned", "steps": 60, "num_frames": 9, "cache_policy": 1}
        )
        accepted = await client.recv(60)
        while (await client.recv(60))["type"] != "progress":
            pass
        await client.close()
        return accepted["job_id"]

    abandoned = asyncio.run(abandon())
    deadline = time.monotonic() + 60
    while stub.GetInfo(pb.GetInfoRequest(), timeout=10).running_job_id == abandoned:
        assert time.monotonic() < deadline, "the abandoned job kept running"
        time.sleep(0.05)
    events = list(stub.Generate(grpc_request(seed=9), timeout=120))
    assert events[-1].HasField("completed")
    assert not stub.Cancel(pb.CancelRequest(job_id=abandoned), timeout=10).found


def _rgb(frames: int, seed: int = 0) -> bytes:
    import numpy as np

    return np.random.default_rng(seed).integers(0, 256, (frames, 64, 64, 3), np.uint8).tobytes()


def test_audio_only_and_video_to_audio_stream_sound_only_over_both_transports(
    daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub
) -> None:
    audio_only = list(stub.Generate(grpc_request(mode=pb.GENERATION_MODE_AUDIO_ONLY, seed=3), timeout=120))
    order = "".join(e.WhichOneof("event")[0] for e in audio_only)  # a(ccepted|udio) p(rogress) c(ompleted)
    assert re.fullmatch(r"ap*(ap*)+c", order), order
    assert {c[0] for c in chunks_of_grpc(audio_only)} == {"audio"}
    fmt = audio_only[0].accepted.format
    assert fmt.audio_only and audio_only[-1].completed.num_frames == 0
    assert sum(c[2] for c in chunks_of_grpc(audio_only)) == fmt.num_samples == round(17 / 24 * fmt.sample_rate)

    # 12 frames at 12 fps: exactly one second of sound, in sync with them.
    frames = {"width": 64, "height": 64, "frame_rate": 12.0, "rgb": _rgb(12)}
    request = grpc_request(
        mode=pb.GENERATION_MODE_VIDEO_TO_AUDIO, video_input=pb.VideoInput(frames=pb.RawFrames(**frames))
    )
    request.ClearField("num_frames")
    over_grpc = list(stub.Generate(request, timeout=120))
    fmt = over_grpc[0].accepted.format
    assert fmt.audio_only and (fmt.num_frames, fmt.frame_rate, fmt.num_samples) == (12, 12.0, fmt.sample_rate)
    chunks = chunks_of_grpc(over_grpc)
    assert {c[0] for c in chunks} == {"audio"} and sum(c[2] for c in chunks) == fmt.sample_rate
    maps = bridge_stream(
        daemon.bridge_address,
        {
            "type": "generate",
            "id": 5,
            "prompt": PARAMS.prompt,
            "seed": PARAMS.seed,
            "mode": "GENERATION_MODE_VIDEO_TO_AUDIO",
            "video_input": {"frames": frames},
            "cache_policy": "CACHE_POLICY_BYPASS",
        },
    )
    assert chunks_of_bridge(maps) == chunks


def test_audio_to_video_streams_the_given_sound_over_the_bridge(daemon: DaemonProcess) -> None:
    import numpy as np

    tone = (0.2 * np.sin(np.arange(12000) / 7.0)).astype("<f4")
    maps = bridge_stream(
        daemon.bridge_address,
        {
            "type": "generate",
            "id": 6,
            "prompt": "a drum",
            "mode": "GENERATION_MODE_AUDIO_TO_VIDEO",
            "audio_input": {"pcm": {"sample_rate": 24000, "channels": 1, "sample_format": 2, "data": tone.tobytes()}},
            "sample_format": "SAMPLE_FORMAT_F32LE",
            "cache_policy": "CACHE_POLICY_BYPASS",
        },
    )
    fmt = maps[0]["format"]
    # Half a second at 24 fps: 13 frames needed, 17 (8k+1) cover it; the sound is the stream's audio.
    assert fmt["num_frames"] == 17 and not fmt["audio_only"] and fmt["sample_rate"] == 24000
    chunks = chunks_of_bridge(maps)
    assert sum(c[2] for c in chunks if c[0] == "video") == 17
    audio = np.frombuffer(b"".join(c[3] for c in chunks if c[0] == "audio"), "<f4").reshape(-1, 2)
    assert len(audio) == round(17 / 24 * 24000)
    assert np.array_equal(audio[:12000], np.repeat(tone[:, None], 2, axis=1))


def test_bad_media_is_refused_over_both_transports(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub) -> None:
    request = grpc_request(
        mode=pb.GENERATION_MODE_VIDEO_TO_AUDIO, video_input=pb.VideoInput(file=b"\0\0\0\x18ftypmp42")
    )
    request.ClearField("num_frames")
    with pytest.raises(grpc.RpcError) as info:
        list(stub.Generate(request, timeout=30))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("video_input.file='<12 bytes>': could not be decoded as a video")
    maps = bridge_stream(
        daemon.bridge_address,
        {
            "type": "generate",
            "id": 7,
            "prompt": "x",
            "mode": "GENERATION_MODE_VIDEO_TO_AUDIO",
            "video_input": {"frames": {"width": 64, "height": 64, "frame_rate": 24.0, "rgb": _rgb(2)[:-1]}},
        },
    )
    assert maps[0]["type"] == "error" and maps[0]["field"] == "video_input.frames.rgb"
    assert "must be whole RGB8 frames of 64x64 (12288 bytes each)" in maps[0]["message"]
    maps = bridge_stream(daemon.bridge_address, {"type": "generate", "id": 8, "prompt": "x", "mode": 9})
    assert maps[0]["field"] == "mode" and "GENERATION_MODE_AUDIO_ONLY (2)" in maps[0]["message"]


def test_ltx2_foley_writes_the_input_video_with_its_new_sound(daemon: DaemonProcess, tmp_path: Any) -> None:
    import av
    import numpy as np

    from ltx2_client import Client, Frames
    from ltx2_client.cli import main

    source = tmp_path / "capture.mp4"
    with av.open(str(source), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=20)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for i in range(30):  # 1.5 s
            image = np.full((64, 96, 3), i * 8, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    out = tmp_path / "capture_foley.mp4"
    args = ["--address", daemon.grpc_address, "foley", str(source), "-o", str(out), "--prompt", "a crate smashes"]
    assert main([*args, "--seed", "4", "-q"]) == 0
    with av.open(str(source)) as original, av.open(str(out)) as result:
        packets = [bytes(p) for p in original.demux(original.streams.video[0]) if p.size]
        copied = [bytes(p) for p in result.demux(result.streams.video[0]) if p.size]
        assert copied == packets  # the video is copied, not re-encoded
    with av.open(str(out)) as result:
        sound = np.concatenate([f.to_ndarray() for f in result.decode(audio=0)], axis=1)
        rate = result.streams.audio[0].rate
    # The AAC encoder adds its priming and padding: the sound is 1.5 s within a frame of 1024.
    assert abs(sound.shape[1] - 1.5 * rate) <= 2048 and np.abs(sound).max() > 0
    assert not list(tmp_path.glob(".*partial"))

    with Client(daemon.grpc_address) as client:
        rgb = np.random.default_rng(1).integers(0, 256, (10, 64, 64, 3), np.uint8)
        clip = client.foley(Frames(rgb, 10.0), "footsteps on gravel", seed=2).result()
    assert clip.num_frames == 0 and clip.audio.shape[0] == clip.sample_rate  # 10 frames at 10 fps: 1 s

    # Sound alone from the command line: a wav of exactly the asked duration.
    import wave

    rain = tmp_path / "rain.wav"
    cli = ["--address", daemon.grpc_address, "generate", "rain on a tin roof", "-o", str(rain), "-q"]
    assert main([*cli, "--mode", "audio_only", "--duration", "0.5", "--seed", "3"]) == 0
    with wave.open(str(rain)) as w:
        # 0.5 s at 24 fps is 12 frames, which rounds to 9 (8k+1): 0.375 s at the model's 24 kHz.
        assert (w.getnframes(), w.getframerate(), w.getnchannels()) == (9000, 24000, 2)


def _picture_png(width: int = 80, height: int = 48) -> tuple[bytes, bytes]:
    """A random picture as a png file and as its raw RGB8 pixels."""
    import io

    import numpy as np
    from PIL import Image

    rgb = np.random.default_rng(7).integers(0, 256, (height, width, 3), np.uint8)
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "PNG")
    return out.getvalue(), rgb.tobytes()


def test_an_image_keyframe_streams_the_same_clip_over_both_transports(
    daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub
) -> None:
    png, rgb = _picture_png()
    plain = chunks_of_grpc(list(stub.Generate(grpc_request(), timeout=120)))
    over_grpc = list(stub.Generate(grpc_request(image=pb.Condition(file=png, crf=0)), timeout=120))
    assert over_grpc[-1].HasField("completed")
    chunks = chunks_of_grpc(over_grpc)
    assert [c[:3] for c in chunks] == [c[:3] for c in plain] and chunks != plain
    # The png's pixels, raw, over the bridge: the same picture, the same clip.
    maps = bridge_stream(
        daemon.bridge_address,
        {
            "type": "generate",
            "id": 9,
            "prompt": PARAMS.prompt,
            "seed": PARAMS.seed,
            "num_frames": PARAMS.num_frames,
            "image": {"pixels": {"width": 80, "height": 48, "rgb": rgb}, "crf": 0},
            "cache_policy": "CACHE_POLICY_BYPASS",
        },
    )
    assert chunks_of_bridge(maps) == chunks
    # A keyframe at the last frame, as a condition.
    last = grpc_request(conditions=[pb.Condition(file=png, frame=PARAMS.num_frames - 1, strength=0.9)])
    assert chunks_of_grpc(list(stub.Generate(last, timeout=120))) not in (plain, chunks)


def test_bad_keyframes_are_refused_over_both_transports(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub) -> None:
    png, _ = _picture_png()
    with pytest.raises(grpc.RpcError) as info:
        list(stub.Generate(grpc_request(conditions=[pb.Condition(file=png, frame=PARAMS.num_frames)]), timeout=30))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == f"conditions[0].frame={PARAMS.num_frames}: must be between 0 and 16 (num_frames=17)"
    maps = bridge_stream(
        daemon.bridge_address,
        {
            "type": "generate",
            "id": 10,
            "prompt": "x",
            "image": {"pixels": {"width": 4, "height": 4, "rgb": b"\0" * 47}},
        },
    )
    assert maps[0]["type"] == "error" and maps[0]["field"] == "image.pixels.rgb"
    assert "must be 48 bytes (RGB8, 4x4)" in maps[0]["message"]
    maps = bridge_stream(
        daemon.bridge_address, {"type": "generate", "id": 11, "prompt": "x", "image": {"file": png, "strength": 2}}
    )
    assert maps[0]["field"] == "image.strength" and "between 0 and 1" in maps[0]["message"]


def test_continue_from_a_job_numbers_on_and_matches_the_clip_sent_by_the_sdk(daemon: DaemonProcess) -> None:
    from ltx2_client import Client, Continue

    with Client(daemon.grpc_address) as client:
        first = client.generate(PARAMS.prompt, seed=5, num_frames=25, chunk_frames=8).result()
        stream = client.generate("the door swings shut", seed=6, num_frames=33, continue_from=first.job_id)
        by_job = stream.result()
        fmt = stream.format
        assert (fmt.first_frame, fmt.num_frames) == (25, 16)  # 17 of overlap held, 16 new frames
        assert (by_job.first_frame, by_job.num_frames) == (25, 16)
        assert fmt.first_sample == len(first.audio) == by_job.first_sample
        assert len(by_job.audio) == fmt.num_samples == round(41 / 24 * first.sample_rate) - len(first.audio)
        # The same clip sent as frames and sound: the same continuation, byte for byte.
        sent = client.generate(
            "the door swings shut", seed=6, num_frames=33, continue_from=Continue(first), cache_policy="bypass"
        ).result()
        assert np.array_equal(sent.frames, by_job.frames) and np.array_equal(sent.audio, by_job.audio)
        # A continuation of the continuation (its 16 frames hold 9 of overlap) goes on from its end.
        third = client.generate("it stays shut", seed=7, num_frames=33, continue_from=Continue(by_job.job_id, 9))
        assert third.result().first_frame == 41
        with pytest.raises(Exception) as info:
            client.generate("x", continue_from="no-such-job").result()
        assert getattr(info.value, "field", "") == "continue_from.clip.job_id", info.value


def test_a_continuation_reaches_back_through_the_shots_it_continues(daemon: DaemonProcess) -> None:
    """Short shots: the second sends 8 new frames, and the third's 17 frames of overlap reach back
    into the first; the same as continuing the two joined into one Clip, byte for byte."""
    from ltx2_client import Client, Clip, Continue

    with Client(daemon.grpc_address) as client:
        first = client.generate("a bell", seed=21, num_frames=25, chunk_frames=8).result()
        second = client.generate("it rings", seed=22, num_frames=25, continue_from=first.job_id).result()
        assert (second.first_frame, second.num_frames) == (25, 8)
        third = client.generate("it fades", seed=23, num_frames=25, continue_from=Continue(second.job_id, 17))
        by_job = third.result()
        assert (by_job.first_frame, by_job.num_frames) == (33, 8)
        joined = Clip(
            np.concatenate([first.frames, second.frames]),
            np.concatenate([first.audio, second.audio]),
            first.sample_rate,
            first.frame_rate,
        )
        sent = client.generate(
            "it fades", seed=23, num_frames=25, continue_from=Continue(joined, 17), cache_policy="bypass"
        ).result()
    assert np.array_equal(sent.frames, by_job.frames) and np.array_equal(sent.audio, by_job.audio)
    with Client(daemon.grpc_address) as client, pytest.raises(Exception) as info:
        # 25 + 8 + 8 frames in all: an overlap of 49 reaches past the first shot.
        client.generate("x", seed=24, num_frames=57, continue_from=Continue(by_job.job_id, 49)).result()
    assert getattr(info.value, "field", "") == "continue_from.clip.job_id", info.value
    assert "are 41: fewer than the overlap" in str(info.value)


def test_a_retake_by_job_over_the_bridge_keeps_the_rest_of_the_clip(
    daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub
) -> None:
    cached = grpc_request(seed=8, num_frames=25, cache_policy=pb.CACHE_POLICY_UNSPECIFIED)
    original = list(stub.Generate(cached, timeout=120))
    job_id = original[0].job_id
    maps = bridge_stream(
        daemon.bridge_address,
        {
            "type": "generate",
            "id": 12,
            "prompt": "a door slams",
            "seed": 9,
            "retake": {"clip": {"job_id": job_id}, "start_s": 0.4, "end_s": 0.7, "audio": False},
        },
    )
    assert maps[0]["type"] == "accepted" and maps[0]["format"]["num_frames"] == 25, maps[0]
    old = {kind: b"".join(c[3] for c in chunks_of_grpc(original) if c[0] == kind) for kind in ("audio", "video")}
    new = {kind: b"".join(c[3] for c in chunks_of_bridge(maps) if c[0] == kind) for kind in ("audio", "video")}
    assert new["audio"] == old["audio"]  # the audio was not retaken
    frame = 64 * 64 * 3
    assert (
        new["video"][: 9 * frame] == old["video"][: 9 * frame]
        and new["video"][17 * frame :] == old["video"][17 * frame :]
    )
    assert new["video"][9 * frame : 17 * frame] != old["video"][9 * frame : 17 * frame]
