"""Back-pressure end to end on the real tiny model: a client that stops reading a 768x512x121 clip
makes the daemon buffer a few chunks, not the clip; other clients are served meanwhile; the stall
limit cancels the stalled job with a clear status.

The daemon runs in this process so that its Python heap can be traced (tracemalloc counts every
chunk's bytes: the engine's output, protobuf inputs, msgpack frames and asyncio's socket buffer).
"""

from __future__ import annotations

import asyncio
import tracemalloc
from pathlib import Path
from typing import Any

import grpc
import pytest
from prometheus_client import generate_latest

from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2_grpc as pb_grpc
from ltx2d.config import DaemonConfig
from ltx2d.metrics import Metrics
from ltx2d.testing import BridgeClient, in_process_daemon

WIDTH, HEIGHT, FRAMES, CHUNK = 768, 512, 121, 8
CHUNK_BYTES = WIDTH * HEIGHT * 3 * CHUNK  # 9.4 MB of RGB8 per video chunk
CLIP_BYTES = WIDTH * HEIGHT * 3 * FRAMES  # 142.7 MB: what an unbounded daemon holds for the client
STALL_LIMIT_S = 12.0
BIG = {"prompt": "a storm over the sea", "width": WIDTH, "height": HEIGHT, "num_frames": FRAMES}
BIG |= {"steps": 2, "chunk_frames": CHUNK, "seed": 5}
SMALL = {"prompt": "a bell", "width": 64, "height": 64, "num_frames": 17, "steps": 2, "seed": 1}


def config(tmp_path: Path) -> DaemonConfig:
    return DaemonConfig(
        grpc_port=0,
        bridge_port=0,
        host="127.0.0.1",
        preload=True,
        cache_dir=tmp_path / "cache",  # on: a miss being stored must not keep its chunks either
        stall_limit=STALL_LIMIT_S,
    )


async def other_clients_are_served(grpc_address: str, bridge_address: str) -> None:
    """A gRPC and a bridge client (another connection) each generate a small clip."""
    async with grpc.aio.insecure_channel(grpc_address) as channel:
        events = [e async for e in pb_grpc.Ltx2dStub(channel).Generate(pb.GenerateRequest(**SMALL))]
        assert events[-1].HasField("completed")
    bridge = await BridgeClient.connect(bridge_address)
    try:
        await bridge.send({"type": "generate", "id": 1, **SMALL, "seed": 2})
        assert (await bridge.stream(1, timeout=60))[-1]["type"] == "completed"
    finally:
        await bridge.close()


async def heap_while(stalled: Any, daemon: Any, baseline: int) -> int:
    """Largest growth of the traced heap while the stalled job is alive."""
    service = daemon.service
    most = 0
    job_id = stalled["job_id"]
    while service.scheduler.get(job_id) is not None:
        most = max(most, tracemalloc.get_traced_memory()[0] - baseline)
        await asyncio.sleep(0.05)
    return most


def test_a_stalled_grpc_client_costs_a_few_chunks_and_is_cancelled_at_the_stall_limit(
    tmp_path: Path, tiny_checkpoint: Any
) -> None:
    async def body() -> None:
        try:
            async with in_process_daemon(config(tmp_path)) as daemon:
                tracemalloc.start()  # after the model loaded: only what the stall costs is traced
                baseline = tracemalloc.get_traced_memory()[0]
                channel = grpc.aio.insecure_channel(
                    f"127.0.0.1:{daemon.grpc_port}", options=[("grpc.max_receive_message_length", -1)]
                )
                call = pb_grpc.Ltx2dStub(channel).Generate(pb.GenerateRequest(**BIG))
                accepted = await call.read()  # then the client reads nothing
                stalled = {"job_id": accepted.accepted.job_id}
                watch = asyncio.ensure_future(heap_while(stalled, daemon, baseline))
                await asyncio.sleep(1.0)
                await other_clients_are_served(f"127.0.0.1:{daemon.grpc_port}", f"127.0.0.1:{daemon.bridge_port}")
                assert not watch.done()  # served while the stalled job was parked, not after it ended
                most = await watch
                # The client reads again: what was in flight, then the stall's status.
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    while await call.read() is not grpc.aio.EOF:
                        pass
                await channel.close()
                assert info.value.code() == grpc.StatusCode.CANCELLED
                assert "read nothing for 12 s" in (info.value.details() or "")
                assert daemon.service.scheduler.stalls == 1
                metrics = Metrics()  # the count reaches Prometheus (a scrape runs in a thread)
                metrics.watch_service(daemon.service.info, asyncio.get_running_loop())
                scraped = (await asyncio.to_thread(generate_latest, metrics.registry)).decode()
                assert "ltx2d_stalls_total 1.0" in scraped and "ltx2d_preemptions_total" in scraped
                print(
                    f"gRPC stalled client: heap grew by at most {most / 1e6:.1f} MB ({most / CHUNK_BYTES:.2f} chunks)"
                )
                assert most <= 3 * CHUNK_BYTES < CLIP_BYTES / 5
        finally:
            tracemalloc.stop()

    asyncio.run(asyncio.wait_for(body(), 240))


def test_a_stalled_bridge_job_costs_a_few_chunks_and_is_cancelled_at_the_stall_limit(
    tmp_path: Path, tiny_checkpoint: Any
) -> None:
    async def body() -> None:
        try:
            async with in_process_daemon(config(tmp_path)) as daemon:
                tracemalloc.start()  # after the model loaded: only what the stall costs is traced
                baseline = tracemalloc.get_traced_memory()[0]
                stalled_bridge = await BridgeClient.connect(f"127.0.0.1:{daemon.bridge_port}")
                accepted = await stalled_bridge.request({"type": "generate", "id": 7, **BIG}, timeout=60)
                assert accepted["type"] == "accepted"  # then the client reads nothing
                watch = asyncio.ensure_future(heap_while(accepted, daemon, baseline))
                await asyncio.sleep(1.0)
                await other_clients_are_served(f"127.0.0.1:{daemon.grpc_port}", f"127.0.0.1:{daemon.bridge_port}")
                assert not watch.done()
                most = await watch
                frames = await stalled_bridge.stream(7, timeout=60)  # reading again
                await stalled_bridge.close()
                assert frames[-1]["type"] == "error" and frames[-1]["code"] == "CANCELLED"
                assert "read nothing for 12 s" in frames[-1]["message"]
                print(f"bridge stalled job: heap grew by {most / 1e6:.1f} MB at most ({most / CHUNK_BYTES:.2f} chunks)")
                assert most <= 4 * CHUNK_BYTES < CLIP_BYTES / 3
        finally:
            tracemalloc.stop()

    asyncio.run(asyncio.wait_for(body(), 240))
