"""Regression tests for the bugs the reliability suite found, each a minimal reproduction.

1. duration_s with a non-finite frame_rate crashed the request conversion (INTERNAL on gRPC, a
   dropped bridge connection): now INVALID_ARGUMENT naming frame_rate.
2. A bridge generate id reused right after `completed` was refused as still running.
3. A gRPC job stopped by its deadline was recorded as CANCELLED instead of DEADLINE_EXCEEDED.
4. A bridge cancel with an array or map id answered INTERNAL instead of INVALID_ARGUMENT.
5. A bridge error for the unknown key "" had no `field`.

They run on an in-process daemon (port 0, fake engine: the bugs are in the transports, before any
engine), so the real daemons of the other modules keep a log free of unhandled exceptions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

import ltx2
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2_grpc as pb_grpc
from ltx2d.config import DaemonConfig
from ltx2d.testing import BridgeClient, in_process_daemon
from tests.fake_engine import FakeEngine, FakeEngineFactory, arun, wait_until
from tests.reliability.harness import count


def config(tmp_path: Path) -> DaemonConfig:
    args = ["--grpc-port", "0", "--bridge-port", "0", "--cache-dir", str(tmp_path / "cache")]
    args += ["--default-width", "64", "--default-height", "64", "--default-num-frames", "17"]
    return DaemonConfig.from_args([*args, "--default-steps", "2", "--default-chunk-frames", "8"], {})


async def both_transports(tmp_path: Path, fields: dict[str, Any]) -> tuple[Any, Any, dict[str, Any] | None]:
    """(gRPC status code, its ltx2d-field, the bridge's reply) for one generate, then a ping."""
    async with in_process_daemon(config(tmp_path), FakeEngineFactory()) as daemon:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{daemon.grpc_port}") as channel:
            call = pb_grpc.Ltx2dStub(channel).Generate(pb.GenerateRequest(**fields))
            with pytest.raises(grpc.aio.AioRpcError) as info:
                async for _ in call:
                    pass
        status = (info.value.code(), dict(info.value.trailing_metadata() or ()).get("ltx2d-field"))
        client = await BridgeClient.connect(f"127.0.0.1:{daemon.bridge_port}")
        try:
            await client.send({"type": "generate", "id": 1, **fields})
            reply = await client.recv(5)
        finally:
            await client.close()
        return status[0], status[1], reply


@pytest.mark.parametrize("frame_rate", [math.nan, math.inf])
def test_duration_with_a_non_finite_frame_rate(tmp_path: Path, frame_rate: float) -> None:
    count("known bug repros")
    code, field, reply = arun(both_transports(tmp_path, {"prompt": "x", "duration_s": 1.0, "frame_rate": frame_rate}))
    bridge = None if reply is None else (reply.get("code"), reply.get("field"))
    # Today: (INTERNAL, None, None): gRPC says INTERNAL, the bridge closes without a reply.
    assert (code, field, bridge) == (grpc.StatusCode.INVALID_ARGUMENT, "frame_rate", ("INVALID_ARGUMENT", "frame_rate"))


def test_an_empty_unknown_key_is_named(tmp_path: Path) -> None:
    count("known bug repros")

    async def body() -> dict[str, Any]:
        async with in_process_daemon(config(tmp_path), FakeEngineFactory()) as daemon:
            client = await BridgeClient.connect(f"127.0.0.1:{daemon.bridge_port}")
            try:
                return await client.request({"type": "generate", "id": 1, "prompt": "x", "": 1})
            finally:
                await client.close()

    reply = arun(body())
    assert (reply["type"], reply["code"]) == ("error", "INVALID_ARGUMENT")
    assert reply.get("field") == ""


def test_a_cancel_with_an_array_id(tmp_path: Path) -> None:
    count("known bug repros")

    async def body() -> dict[str, Any]:
        async with in_process_daemon(config(tmp_path), FakeEngineFactory()) as daemon:
            client = await BridgeClient.connect(f"127.0.0.1:{daemon.bridge_port}")
            try:
                return await client.request({"type": "cancel", "id": [1]})
            finally:
                await client.close()

    reply = arun(body())
    assert (reply["type"], reply["code"], reply.get("field")) == ("error", "INVALID_ARGUMENT", "id")


def test_a_job_stopped_by_its_grpc_deadline_is_recorded_as_deadline_exceeded(tmp_path: Path) -> None:
    count("known bug repros")

    async def body() -> tuple[grpc.StatusCode, list[str]]:
        async with in_process_daemon(config(tmp_path), FakeEngineFactory(step_s=0.05)) as daemon:
            assert daemon.service is not None
            records: list[Any] = []
            daemon.service.add_job_listener(records.append)
            async with grpc.aio.insecure_channel(f"127.0.0.1:{daemon.grpc_port}") as channel:
                stub = pb_grpc.Ltx2dStub(channel)
                await stub.Load(pb.LoadRequest())
                request = pb.GenerateRequest(prompt="x", width=64, height=64, num_frames=17, steps=100, cache_policy=1)
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    async for _ in stub.Generate(request, timeout=0.5):
                        pass
            await wait_until(lambda: bool(records))
            return info.value.code(), [r.outcome for r in records]

    code, outcomes = arun(body())
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert outcomes == ["DEADLINE_EXCEEDED"]


class SlowToFinish(FakeEngine):
    """Tidies up for 0.2 s after its last event (as a real engine may: freeing memory, logging)."""

    def generate(self, params: ltx2.GenerationParams, control: ltx2.JobControl | None = None) -> Iterator[ltx2.Event]:
        yield from super().generate(params, control)
        time.sleep(0.2)


def test_a_generate_id_can_be_reused_once_its_stream_ended(tmp_path: Path) -> None:
    count("known bug repros")

    async def body() -> list[str]:
        async with in_process_daemon(config(tmp_path), SlowToFinish) as daemon:
            client = await BridgeClient.connect(f"127.0.0.1:{daemon.bridge_port}")
            try:
                ends = []
                for seed in range(3):
                    await client.send({"type": "generate", "id": 1, "prompt": "x", "seed": seed, "cache_policy": 1})
                    ends.append((await client.stream(1))[-1].get("message", "completed"))
                return ends
            finally:
                await client.close()

    assert arun(body(), 60) == ["completed"] * 3
