"""Auto duration through a real daemon on the tiny LTX-2.5 checkpoint (its duration head), over
gRPC (the SDK) and the msgpack bridge: Accepted says the chosen length, the stream carries exactly
that many frames and samples, both transports send the same bytes, the cache keeps the choice, and
bad windows are refused naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from ltx2.tiny import ensure_tiny_checkpoint
from ltx2_client import Client, InvalidArgument

from .test_e2e import bridge_stream

SMALL = {"width": 64, "height": 64, "steps": 2, "chunk_frames": 8, "sample_format": "f32le", "seed": 11}
WINDOW = {"min_seconds": 2.0, "max_seconds": 2.4}  # 48-57.6 frames at 24 fps: 49 is the only 8k+1


@pytest.fixture(scope="module")
def daemon() -> Iterator[Any]:
    from ltx2d import testing

    with testing.DaemonProcess(["--model", str(ensure_tiny_checkpoint(version="2.5")), "--preload"]) as process:
        yield process


def test_the_model_chooses_the_length_and_accepted_says_it(daemon):
    with Client(daemon.grpc_address) as client:
        assert "auto_duration" in client.info().features
        job = client.generate("a drum roll, then silence", cache_policy="bypass", **SMALL, **WINDOW)
        clip = job.result()
        wide = client.generate("a drum roll, then silence", min_seconds=0.4, max_seconds=4.0, **SMALL).result()
    assert job.wait_accepted().format.num_frames == clip.num_frames == len(clip.frames) == 49
    assert len(clip.audio) == job.wait_accepted().format.num_samples
    # A wide window: the head's own choice, a length on the grid inside it.
    assert 10 < wide.num_frames < 96 and (wide.num_frames - 1) % 8 == 0
    maps = bridge_stream(
        daemon.bridge_address,
        {"type": "generate", "id": 3, "prompt": "a drum roll, then silence", "cache_policy": 2, **_wire(), **WINDOW},
    )
    assert maps[0]["type"] == "accepted" and maps[0]["format"]["num_frames"] == 49, maps[0]
    frames = b"".join(m["data"] for m in maps if m["type"] == "video_chunk")
    assert frames == clip.frames.tobytes()
    assert maps[-1]["type"] == "completed" and maps[-1]["num_frames"] == 49


def test_the_cache_keeps_the_chosen_length(daemon):
    with Client(daemon.grpc_address) as client:
        first = client.generate("waves on a pier", **SMALL, **WINDOW).result()
        again = client.generate("waves on a pier", **SMALL, **WINDOW)
        hit = again.result()
    assert again.wait_accepted().cache_hit and again.wait_accepted().format.num_frames == 49
    assert np.array_equal(first.frames, hit.frames) and np.array_equal(first.audio, hit.audio)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"max_seconds": 3.0, "num_frames": 25}, "max_seconds"),
        ({"min_seconds": 2.0, "max_seconds": 2.1}, "max_seconds"),
    ],
)
def test_bad_windows_are_refused_over_both_transports(daemon, fields, field):
    with Client(daemon.grpc_address) as client, pytest.raises(InvalidArgument) as caught:
        client.generate("a bell", **SMALL, **fields).result()
    assert caught.value.field == field
    maps = bridge_stream(daemon.bridge_address, {"type": "generate", "id": 4, "prompt": "a bell", **fields})
    assert maps[-1]["type"] == "error" and maps[-1]["field"] == field, maps


def _wire() -> dict[str, Any]:
    """SMALL as bridge fields (the enum as its wire number)."""
    return {**SMALL, "sample_format": 2}


def test_the_cli_lets_the_model_choose_and_writes_what_it_chose(daemon, tmp_path):
    av = pytest.importorskip("av")
    from ltx2_client.cli import main

    out = tmp_path / "chosen.mp4"
    args = ["--address", daemon.grpc_address, "generate", "a kettle whistles", "-o", str(out), "-q", "--width",
            "64", "--height", "64", "--steps", "2", "--min-seconds", "2", "--max-seconds", "2.4"]  # fmt: skip
    assert main(args) == 0
    with av.open(str(out)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == 49


def test_a_cancel_before_the_length_is_chosen_ends_the_queued_job_at_once(daemon):
    """Accepted waits for the model to choose; a bridge cancel by request id before it must not
    wait for the job's turn in the queue."""
    import asyncio

    from ltx2d.testing import BridgeClient

    async def body() -> list[dict[str, Any]]:
        client = await BridgeClient.connect(daemon.bridge_address)
        try:
            busy = {"type": "generate", "id": "busy", "prompt": "a long storm", "width": 256, "height": 256,
                    "num_frames": 121, "steps": 12, "cache_policy": 2}  # fmt: skip
            await client.send(busy)
            await client.send({"type": "generate", "id": "auto", "prompt": "a bell", **_wire(), **WINDOW})
            seen: list[dict[str, Any]] = []
            while not any(m.get("id") == "busy" and m["type"] == "progress" for m in seen):
                seen.append(await client.recv())
            await client.send({"type": "cancel", "id": "auto"})
            while not any(m["type"] in ("completed", "error") and m.get("id") == "busy" for m in seen):
                reply = await client.recv(timeout=120)
                assert reply is not None
                seen.append(reply)
            return seen
        finally:
            await client.close()

    seen = asyncio.run(body())
    auto = [m for m in seen if m.get("id") == "auto"]
    assert [m["type"] for m in auto] == ["cancel", "error"], auto
    assert auto[0]["found"] is True and auto[1]["code"] == "CANCELLED"
    # Both answered while the busy job still ran: nothing of the cancelled one waited for its turn.
    done = next(i for i, m in enumerate(seen) if m.get("id") == "busy" and m["type"] == "completed")
    assert seen.index(auto[1]) < done
