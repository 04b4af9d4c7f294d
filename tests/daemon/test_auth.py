"""Token auth on both transports (servers bind 127.0.0.1 only; the token is what is tested)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2_grpc as pb_grpc
from ltx2d.auth import TokenAuth
from ltx2d.config import DaemonConfig
from ltx2d.server import Daemon
from ltx2d.testing import BridgeClient, in_process_daemon
from tests.fake_engine import FakeEngineFactory, arun

TOKEN = "correct horse battery staple"
GOOD = (("authorization", f"Bearer {TOKEN}"),)


def test_token_auth_checks() -> None:
    auth = TokenAuth(TOKEN)
    assert auth.required
    assert auth.check(TOKEN)
    assert not auth.check(TOKEN + "x") and not auth.check("") and not auth.check(None)
    assert auth.check_metadata(GOOD)
    assert auth.check_metadata((("Authorization", f"bearer {TOKEN}"),))
    assert not auth.check_metadata((("authorization", TOKEN),))  # the scheme is required
    assert not auth.check_metadata((("authorization", "Bearer nope"),))
    assert not auth.check_metadata((("x-token", TOKEN),))
    assert not auth.check_metadata(None)
    open_auth = TokenAuth(None)
    assert not open_auth.required and open_auth.check(None) and open_auth.check_metadata(())


@contextlib.asynccontextmanager
async def serving(tmp_path: Path) -> AsyncIterator[tuple[Daemon, grpc.aio.Channel]]:
    args = ["--grpc-port", "0", "--bridge-port", "0", "--cache-dir", str(tmp_path / "cache")]
    args += ["--default-width", "64", "--default-height", "64", "--default-num-frames", "9", "--default-steps", "2"]
    config = DaemonConfig.from_args(args, {"LTX2D_TOKEN": TOKEN})
    async with (
        in_process_daemon(config, FakeEngineFactory()) as daemon,
        grpc.aio.insecure_channel(f"127.0.0.1:{daemon.grpc_port}") as channel,
    ):
        yield daemon, channel


@pytest.mark.parametrize("metadata", [(), (("authorization", "Bearer wrong"),), (("authorization", TOKEN),)])
def test_grpc_calls_without_the_token_are_unauthenticated(tmp_path: Path, metadata: tuple) -> None:
    async def body() -> None:
        async with serving(tmp_path) as (_, channel):
            stub = pb_grpc.Ltx2dStub(channel)
            calls = [
                stub.GetInfo(pb.GetInfoRequest(), metadata=metadata),
                stub.Cancel(pb.CancelRequest(job_id="x"), metadata=metadata),
                stub.Load(pb.LoadRequest(), metadata=metadata),
                health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), metadata=metadata),
            ]
            for call in calls:
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await call
                assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.aio.AioRpcError) as info:
                _ = [e async for e in stub.Generate(pb.GenerateRequest(prompt="x"), metadata=metadata)]
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "token" in info.value.details()

    arun(body())


def test_grpc_calls_with_the_token_work(tmp_path: Path) -> None:
    async def body() -> None:
        async with serving(tmp_path) as (_, channel):
            stub = pb_grpc.Ltx2dStub(channel)
            assert (await stub.GetInfo(pb.GetInfoRequest(), metadata=GOOD)).protocol_version == 1
            events = [e async for e in stub.Generate(pb.GenerateRequest(prompt="x", seed=1), metadata=GOOD)]
            assert events[-1].HasField("completed")
            health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), metadata=GOOD)
            assert health.status == health_pb2.HealthCheckResponse.SERVING

    arun(body())


@pytest.mark.parametrize(
    "first",
    [
        {"type": "info", "id": 1},
        {"type": "generate", "id": 1, "prompt": "x"},
        {"type": "hello", "id": 1, "protocol_version": 1},
        {"type": "hello", "id": 1, "token": "wrong", "protocol_version": 1},
        {"type": "hello", "id": 1, "token": 12, "protocol_version": 1},
    ],
)
def test_bridge_without_a_valid_hello_is_unauthenticated_and_closed(tmp_path: Path, first: dict) -> None:
    async def body() -> None:
        async with serving(tmp_path) as (daemon, _):
            client = await BridgeClient.connect(f"127.0.0.1:{daemon.bridge_port}")
            await client.send(first)
            error = await client.recv()
            assert error is not None
            assert (error["type"], error["id"], error["code"]) == ("error", 1, "UNAUTHENTICATED")
            assert await client.recv() is None  # closed
            await client.close()

    arun(body())


def test_bridge_with_the_token_works(tmp_path: Path) -> None:
    async def body() -> None:
        async with serving(tmp_path) as (daemon, _):
            client = await BridgeClient.connect(f"127.0.0.1:{daemon.bridge_port}")
            hello = await client.request(
                {"type": "hello", "id": 0, "token": TOKEN, "client": "test", "protocol_version": 1}
            )
            assert hello["type"] == "hello"
            assert (await client.request({"type": "info", "id": 1}))["type"] == "info"
            await client.send({"type": "generate", "id": 2, "prompt": "x", "seed": 1})
            assert (await client.stream(2))[-1]["type"] == "completed"
            await client.close()

    arun(body())
