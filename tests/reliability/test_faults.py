"""Faults: a client killed mid-stream, the daemon killed mid-job and restarted on its cache, and
the engine running out of memory. After each the daemon (or its successor) serves normally.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
import xxhash

from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2_grpc as pb_grpc
from ltx2d.config import DaemonConfig
from ltx2d.earlier_clips import JOB_INDEX
from ltx2d.result_cache import FORMAT_VERSION
from ltx2d.testing import BridgeClient, DaemonProcess, in_process_daemon
from tests.reliability.harness import (
    CHANNEL_OPTIONS,
    TINY_ARGS,
    count,
    outcome_of,
    tiny_generation,
    wait_idle,
)


def chunks(events: list[pb.GenerateEvent]) -> list[tuple[str, int, bytes]]:
    out = []
    for e in events:
        if e.HasField("audio_chunk"):
            out.append(("audio", e.audio_chunk.first_sample, e.audio_chunk.data))
        elif e.HasField("video_chunk"):
            out.append(("video", e.video_chunk.first_frame, e.video_chunk.data))
    return out


# --- a client killed while it receives ---

# The clients ask for the largest clip the shared daemon allows (harness.LIMIT_ARGS): about a
# second on a CPU, most of it still ahead when the client is killed at its first denoising step.
SDK_CLIENT = """
import sys
from ltx2_client import Client, Progress
with Client(sys.argv[1]) as client:
    stream = client.generate("a long cutscene", seed=5, width=256, height=256, num_frames=33, steps=8,
                             cache_policy="bypass")
    for event in stream:
        step = event.step if isinstance(event, Progress) else 0
        print(type(event).__name__, stream.job_id, step, flush=True)
"""
BRIDGE_CLIENT = """
import socket, struct, sys, msgpack
host, port = sys.argv[1].rsplit(":", 1)
sock = socket.create_connection((host, int(port)))
body = msgpack.packb({"type": "generate", "id": 1, "prompt": "a long cutscene", "seed": 5, "width": 256,
                      "height": 256, "num_frames": 33, "steps": 8, "cache_policy": "CACHE_POLICY_BYPASS"})
sock.sendall(struct.pack(">I", len(body)) + body)
buffer = b""
while data := sock.recv(65536):
    buffer += data
    while len(buffer) >= 4 and len(buffer) >= 4 + struct.unpack(">I", buffer[:4])[0]:
        n = struct.unpack(">I", buffer[:4])[0]
        m, buffer = msgpack.unpackb(buffer[4:4 + n], raw=False), buffer[4 + n:]
        print(m["type"], m.get("job_id"), m.get("step", 0), flush=True)
"""


@pytest.mark.parametrize("client", ["sdk over grpc", "bridge"])
def test_a_client_killed_mid_stream_cancels_its_job(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub, client: str):
    count("faults: client killed")
    reference = tiny_generation(stub)
    address = daemon.grpc_address if client == "sdk over grpc" else daemon.bridge_address
    code = SDK_CLIENT if client == "sdk over grpc" else BRIDGE_CLIENT
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), address], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    try:
        assert child.stdout is not None
        job_id = ""
        for line in child.stdout:  # Accepted, encoding, then denoising steps
            kind, job_id, step = line.split()
            if kind.lower() == "progress" and int(step) >= 1:
                break
        else:
            raise AssertionError(f"the client ended before a denoising step (status {child.wait()})")
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert outcome_of(daemon, job_id) == "CANCELLED"  # it had 7 steps and the whole decode left
    wait_idle(stub)
    # The next request runs normally, and gives exactly what it gave before.
    assert chunks(tiny_generation(stub)) == chunks(reference)


# --- the daemon killed mid-job, restarted on the same cache ---

# docs/daemon-core.md: header (magic, version, key), records (kind, meta length, data length,
# xxh3_64 of meta + data, then meta and data), trailer (seed, frames, samples, padded samples,
# record bytes, xxh3_64, magic).
HEADER = struct.Struct(">6sH32s")
RECORD = struct.Struct(">cHIQ")
TRAILER = struct.Struct(">qQQQQQ6s")
ENTRY = re.compile(r"^[0-9a-f]{64}\.clip$")
TEMPORARY = re.compile(r"^\.[0-9a-f]{64}\.[0-9a-f]+\.tmp$")


def check_cache_folder(folder: Path) -> dict[str, bytes]:
    """Every file is an entry or a temporary; every entry is whole. Returns the entries' bytes."""
    entries = {}
    for path in folder.iterdir():
        if path.name == JOB_INDEX:
            continue  # which job made which entry (lines appended; torn lines are skipped on read)
        assert ENTRY.match(path.name) or TEMPORARY.match(path.name), f"unexpected file {path.name}"
        if ENTRY.match(path.name):
            blob = path.read_bytes()
            magic, version, key = HEADER.unpack(blob[: HEADER.size])
            header_ok = magic == b"LTX2DC" and version == FORMAT_VERSION and key.hex() == path.name[:64]
            assert header_ok, f"{path.name}: bad header"
            *_, record_bytes, _, end = TRAILER.unpack(blob[-TRAILER.size :])
            assert end == b"LTX2DE" and record_bytes == len(blob) - HEADER.size - TRAILER.size, f"{path.name}: torn"
            at = HEADER.size
            while at < len(blob) - TRAILER.size:
                _, meta_len, data_len, digest = RECORD.unpack_from(blob, at)
                body = blob[at + RECORD.size : at + RECORD.size + meta_len + data_len]
                assert xxhash.xxh3_64_intdigest(body) == digest, f"{path.name} is not whole"
                at += RECORD.size + meta_len + data_len
            assert at == len(blob) - TRAILER.size, f"{path.name} is not whole"
            entries[path.name] = blob
    return entries


def generate_until(stub: pb_grpc.Ltx2dStub, request: pb.GenerateRequest, stop: str) -> list[pb.GenerateEvent]:
    """Read a stream until its first event of kind `stop` (then leave it)."""
    call = stub.Generate(request, timeout=120)
    events = []
    for event in call:
        events.append(event)
        if event.WhichOneof("event") == stop and (stop != "progress" or event.progress.step >= 1):
            break
    return events


def cached(stub: pb_grpc.Ltx2dStub, request: pb.GenerateRequest) -> list[pb.GenerateEvent]:
    """The stream of `request` once the daemon serves it from its cache."""
    deadline = time.monotonic() + 30
    while True:
        events = list(stub.Generate(request, timeout=120))
        if events[0].accepted.cache_hit or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def _drain(call: Any) -> None:
    """Read a stream to its end, whatever the end (the daemon may die on the way)."""
    with contextlib.suppress(grpc.RpcError):
        for _ in call:
            pass


def kill_while_storing(daemon: DaemonProcess, folder: Path, timeout: float = 30.0) -> None:
    """SIGKILL `daemon` as soon as a temporary cache file or a new entry shows up (or at the timeout)."""
    entries = {p.name for p in folder.iterdir() if ENTRY.match(p.name)}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = os.listdir(folder)
        if any(TEMPORARY.match(n) for n in names) or {n for n in names if ENTRY.match(n)} - entries:
            break
        time.sleep(0.001)
    daemon.send_signal(signal.SIGKILL)
    assert daemon.wait(30) == -signal.SIGKILL


def test_the_daemon_killed_mid_job_restarts_on_an_intact_cache(tmp_path: Path, tiny_checkpoint: Any) -> None:
    """Killed while it stores a 6 MB entry, then (after a restart) while a job denoises: every
    file under a real cache name is whole, temporaries go at the next start, and a clip cached
    before the kills still hits with the same bytes."""
    count("faults: daemon killed", 2)
    folder = tmp_path / "cache"
    args = [*TINY_ARGS, "--cache-dir", str(folder)]
    kept = pb.GenerateRequest(prompt="rain on a tin roof", seed=11)
    big = pb.GenerateRequest(prompt="a storm", seed=13, width=256, height=256, num_frames=33)
    running = pb.GenerateRequest(prompt="a long cutscene", seed=12, steps=30)  # this daemon has default limits

    first = DaemonProcess(args)
    with first, grpc.insecure_channel(first.grpc_address, options=CHANNEL_OPTIONS) as channel:
        stub = pb_grpc.Ltx2dStub(channel)
        miss = list(stub.Generate(kept, timeout=120))
        assert not miss[0].accepted.cache_hit
        assert cached(stub, kept)[0].accepted.cache_hit
        before = check_cache_folder(folder)
        assert len(before) == 1
        # The entry is written before Completed goes out, so the job is still running when the
        # daemon dies (usually in the middle of the write: then a temporary file is left).
        call = stub.Generate(big, timeout=120)
        reader = threading.Thread(target=_drain, args=(call,))  # the entry is stored as the stream is read
        reader.start()
        kill_while_storing(first, folder)
        reader.join(30)
    after_first = check_cache_folder(folder)
    assert before.items() <= after_first.items() and len(after_first) <= 2
    # Usually a temporary file is left here (the kill is sent as soon as one shows up; the
    # rename may still win the race). The next start removes it.

    # What a writer without the rename would leave: a damaged file under a real name.
    damaged = folder / f"{'b' * 64}.clip"
    damaged.write_bytes(next(iter(before.values()))[:1000])

    second = DaemonProcess(args)
    with second:
        assert not any(TEMPORARY.match(p.name) for p in folder.iterdir()) and not damaged.exists()
        assert check_cache_folder(folder) == after_first
        with grpc.insecure_channel(second.grpc_address, options=CHANNEL_OPTIONS) as channel:
            stub = pb_grpc.Ltx2dStub(channel)
            hit = list(stub.Generate(kept, timeout=120))
            assert hit[0].accepted.cache_hit and hit[-1].completed.cache_hit
            assert chunks(hit) == chunks(miss)
            # The job that made it is still known by its id: a shot continues it after the restart.
            earlier = pb.EarlierClip(job_id=miss[0].accepted.job_id)
            shot = pb.GenerateRequest(prompt="the rain stops", seed=14, num_frames=25,
                                      continue_from=pb.Continuation(clip=earlier, overlap_frames=9),
                                      cache_policy=pb.CACHE_POLICY_BYPASS)  # fmt: skip
            went_on = list(stub.Generate(shot, timeout=120))
            assert went_on[0].accepted.format.first_frame == miss[0].accepted.format.num_frames
            assert went_on[-1].completed.num_frames == 25 - 9
            generate_until(stub, running, "progress")  # the long job is denoising
            second.send_signal(signal.SIGKILL)
            assert second.wait(30) == -signal.SIGKILL
    assert check_cache_folder(folder) == after_first


# --- the engine runs out of memory ---


def test_out_of_memory_fails_that_request_and_the_next_one_runs(
    tmp_path: Path, tiny_checkpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real tiny engine in an in-process daemon; its transformer raises CUDA's OOM error once
    per request, over each transport in turn."""
    import torch
    from diffusers import LTX2VideoTransformer3DModel

    original = LTX2VideoTransformer3DModel.forward
    armed = {"left": 0}

    def forward(self: Any, *args: Any, **kwargs: Any) -> Any:
        if armed["left"]:
            armed["left"] -= 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LTX2VideoTransformer3DModel, "forward", forward)
    config = DaemonConfig.from_args(
        ["--grpc-port", "0", "--bridge-port", "0", "--cache-dir", str(tmp_path / "cache"), *TINY_ARGS], {}
    )
    request = {"prompt": "glass shatters", "seed": 3, "cache_policy": pb.CACHE_POLICY_BYPASS}

    async def body() -> None:
        async with (
            in_process_daemon(config) as daemon,
            grpc.aio.insecure_channel(f"127.0.0.1:{daemon.grpc_port}", options=CHANNEL_OPTIONS) as channel,
        ):
            stub = pb_grpc.Ltx2dStub(channel)
            armed["left"] = 1
            call = stub.Generate(pb.GenerateRequest(**request))
            with pytest.raises(grpc.aio.AioRpcError) as info:
                async for _ in call:
                    pass
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "out of memory" in info.value.details()
            assert armed["left"] == 0
            events = [e async for e in stub.Generate(pb.GenerateRequest(**request))]
            assert events[-1].HasField("completed") and events[-1].completed.num_frames == 17

            bridge = await BridgeClient.connect(f"127.0.0.1:{daemon.bridge_port}")
            try:
                armed["left"] = 1
                await bridge.send({"type": "generate", "id": 1, **request})
                failed = await bridge.stream(1, timeout=60)
                assert (failed[-1]["type"], failed[-1]["code"]) == ("error", "RESOURCE_EXHAUSTED"), failed[-1]
                assert failed[-1]["job_id"] == failed[0]["job_id"] and "out of memory" in failed[-1]["message"]
                await bridge.send({"type": "generate", "id": 2, **request})
                done = await bridge.stream(2, timeout=60)
                assert done[-1]["type"] == "completed" and done[-1]["num_frames"] == 17
            finally:
                await bridge.close()
            info_after = await stub.GetInfo(pb.GetInfoRequest())
            assert info_after.loaded and not info_after.running_job_id

    count("faults: out of memory", 2)
    asyncio.run(asyncio.wait_for(body(), 120))
