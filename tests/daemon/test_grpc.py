"""The gRPC transport on a real in-process server (port 0) over a fake engine: fast, behaviour only."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import ltx2
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2_grpc as pb_grpc
from ltx2d import proto_convert
from ltx2d.config import DaemonConfig
from ltx2d.domain import Accepted, Delivery
from ltx2d.event_encoding import encode_event
from ltx2d.server import Daemon
from ltx2d.testing import in_process_daemon
from tests.fake_engine import FakeEngine, FakeEngineFactory, Gate, arun, small_params, wait_until

CHANNEL_OPTIONS = [("grpc.max_receive_message_length", -1)]


def make_config(tmp_path: Path, *extra: str) -> DaemonConfig:
    args = ["--grpc-port", "0", "--bridge-port", "0", "--cache-dir", str(tmp_path / "cache")]
    args += ["--default-width", "64", "--default-height", "64", "--default-num-frames", "17"]
    args += ["--default-steps", "4", "--default-chunk-frames", "8", *extra]
    return DaemonConfig.from_args(args, {})


@contextlib.asynccontextmanager
async def serving(
    tmp_path: Path, factory: FakeEngineFactory | None = None, *extra: str
) -> AsyncIterator[tuple[Daemon, pb_grpc.Ltx2dStub]]:
    async with (
        in_process_daemon(make_config(tmp_path, *extra), factory or FakeEngineFactory()) as daemon,
        grpc.aio.insecure_channel(f"127.0.0.1:{daemon.grpc_port}", options=CHANNEL_OPTIONS) as channel,
    ):
        yield daemon, pb_grpc.Ltx2dStub(channel)


def request(prompt: str = "a bell rings", **fields: Any) -> pb.GenerateRequest:
    fields.setdefault("seed", 1)
    fields.setdefault("cache_policy", pb.CACHE_POLICY_BYPASS)
    return pb.GenerateRequest(prompt=prompt, **fields)


async def collect(call: Any) -> list[pb.GenerateEvent]:
    """The rest of a stream (read() style, so a test may read() the first events itself)."""
    events = []
    while (event := await call.read()) is not grpc.aio.EOF:
        events.append(event)
    return events


def kinds(events: list[pb.GenerateEvent]) -> list[str]:
    return [e.WhichOneof("event") for e in events]


async def reached(gate: Gate, prompt: str) -> None:
    assert await asyncio.to_thread(gate.reached[prompt].wait, 10), f"{prompt!r} never reached its gate"


def test_generate_streams_exactly_the_engine_events(tmp_path: Path) -> None:
    params = small_params("a bell rings", seed=11)
    expected = list(FakeEngine().generate(params))

    async def body() -> list[pb.GenerateEvent]:
        async with serving(tmp_path) as (_, stub):
            return await collect(stub.Generate(request("a bell rings", seed=11, num_frames=17, steps=4)))

    events = arun(body())
    assert kinds(events)[0] == "accepted"
    job_id = events[0].accepted.job_id
    assert job_id and all(e.job_id == job_id for e in events)
    encoded = [proto_convert.event_message(job_id, encode_event(e, Delivery())) for e in expected[:-1]]
    assert events[1:-1] == encoded
    done, want = events[-1].completed, expected[-1]
    assert (done.seed, done.num_frames, done.num_samples, done.cache_hit) == (11, 17, want.num_samples, False)
    fmt = events[0].accepted.format
    assert (fmt.width, fmt.height, fmt.num_frames, fmt.seed, fmt.steps) == (64, 64, 17, 11, 4)


def test_jpeg_frames_over_grpc(tmp_path: Path) -> None:
    async def body() -> list[pb.GenerateEvent]:
        async with serving(tmp_path) as (_, stub):
            return await collect(stub.Generate(request(frame_format=pb.FRAME_FORMAT_JPEG, jpeg_quality=50)))

    events = arun(body())
    assert events[0].accepted.format.frame_format == pb.FRAME_FORMAT_JPEG
    video = [e.video_chunk for e in events if e.HasField("video_chunk")]
    assert sum(v.num_frames for v in video) == 17
    for chunk in video:
        assert chunk.frame_format == pb.FRAME_FORMAT_JPEG and not chunk.data
        assert len(chunk.jpeg_frames) == chunk.num_frames
        assert all(j[:2] == b"\xff\xd8" for j in chunk.jpeg_frames)


INVALID = [
    ({"prompt": ""}, "prompt", "non-empty"),
    ({"width": 65}, "width", "multiple of 32"),
    ({"height": 4096}, "height", "between 64 and 1088"),
    ({"num_frames": 10}, "num_frames", "8k+1"),
    ({"num_frames": 17, "duration_s": 1.0}, "duration_s", "together with num_frames"),
    ({"steps": 1000}, "steps", "and 100"),
    ({"frame_rate": 200.0}, "frame_rate", "between 1 and 60"),
    ({"chunk_frames": 3}, "chunk_frames", "multiple of 8"),
    ({"guidance_rescale": 3.0}, "guidance_rescale", "between 0 and 1"),
    ({"audio_sample_rate": 5}, "audio_sample_rate", "between 8000 and 192000"),
    ({"jpeg_quality": 101}, "jpeg_quality", "between 1 and 100"),
    ({"priority": 42}, "priority", "PRIORITY_BATCH (3)"),
    ({"sample_format": 3}, "sample_format", "must be one of"),
]


def test_every_invalid_field_is_refused_with_field_value_and_rule(tmp_path: Path) -> None:
    async def body() -> list[tuple[grpc.StatusCode, str, dict[str, str]]]:
        out = []
        async with serving(tmp_path) as (_, stub):
            for fields, _, _ in INVALID:
                call = stub.Generate(request(**{"prompt": "x", **fields}))
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await collect(call)
                out.append((info.value.code(), info.value.details(), dict(info.value.trailing_metadata())))
        return out

    for (fields, field, rule), (code, details, trailing) in zip(INVALID, arun(body()), strict=True):
        assert code == grpc.StatusCode.INVALID_ARGUMENT, details
        value = fields.get(field, fields.get("prompt"))
        assert details.startswith(f"{field}={value!r}"), details
        assert rule in details
        assert trailing["ltx2d-field"] == field


def test_cancel_stops_the_job_and_the_next_one_runs(tmp_path: Path) -> None:
    gate = Gate({"held": 1})
    factory = FakeEngineFactory(on_step=gate)

    async def body() -> None:
        async with serving(tmp_path, factory) as (_, stub):
            call = stub.Generate(request("held", steps=4))
            accepted = await call.read()
            await reached(gate, "held")
            reply = await stub.Cancel(pb.CancelRequest(job_id=accepted.accepted.job_id))
            assert reply.found
            gate.open_all()
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await collect(call)
            assert info.value.code() == grpc.StatusCode.CANCELLED
            assert not (await stub.Cancel(pb.CancelRequest(job_id=accepted.accepted.job_id))).found
            assert not (await stub.Cancel(pb.CancelRequest(job_id="no-such-job"))).found
            events = await collect(stub.Generate(request("next")))
            assert kinds(events)[-1] == "completed"
            assert factory.engine.finished == ["next"]

    try:
        arun(body())
    finally:
        gate.open_all()


def test_client_disconnect_cancels_the_job_and_the_next_one_runs(tmp_path: Path) -> None:
    gate = Gate({"abandoned": 1})
    factory = FakeEngineFactory(on_step=gate)

    async def body() -> None:
        async with serving(tmp_path, factory) as (daemon, stub):
            call = stub.Generate(request("abandoned", steps=4))
            accepted = (await call.read()).accepted
            await reached(gate, "abandoned")
            assert daemon.service is not None
            assert daemon.service.running_job_id == accepted.job_id
            call.cancel()  # what a client closing its channel looks like to the server
            await wait_until(
                lambda: (
                    daemon.service.scheduler.get(accepted.job_id) is None
                    or daemon.service.scheduler.get(accepted.job_id).control.cancelled
                )
            )
            gate.open_all()
            await wait_until(lambda: daemon.service.running_job_id == "")
            events = await collect(stub.Generate(request("next")))
            assert kinds(events)[-1] == "completed"
            assert factory.engine.finished == ["next"]
            assert factory.engine.steps_run < 4 + 4  # the abandoned job stopped early

    try:
        arun(body())
    finally:
        gate.open_all()


def test_full_queue_is_resource_exhausted(tmp_path: Path) -> None:
    gate = Gate({"running": 0})
    factory = FakeEngineFactory(on_step=gate)

    async def body() -> None:
        async with serving(tmp_path, factory, "--queue-capacity", "1") as (_, stub):
            running = stub.Generate(request("running"))
            await running.read()
            await reached(gate, "running")
            queued = stub.Generate(request("queued"))
            assert (await queued.read()).accepted.queue_position == 0
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await collect(stub.Generate(request("one too many")))
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "queue is full" in info.value.details()
            gate.open_all()
            assert kinds(await collect(running))[-1] == "completed"
            assert kinds(await collect(queued))[-1] == "completed"

    try:
        arun(body())
    finally:
        gate.open_all()


def test_deadline_is_deadline_exceeded_and_the_job_is_dropped(tmp_path: Path) -> None:
    gate = Gate({"slow": 1})
    factory = FakeEngineFactory(on_step=gate)

    async def body() -> None:
        async with serving(tmp_path, factory) as (daemon, stub):
            call = stub.Generate(request("slow"), timeout=1.0)
            job_id = (await call.read()).accepted.job_id
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await collect(call)
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert daemon.service is not None
            scheduler = daemon.service.scheduler
            # The daemon drops the job on its own (same deadline), before the engine moves on.
            await wait_until(lambda: scheduler.get(job_id) is None or scheduler.get(job_id).control.cancelled)
            gate.open_all()
            await wait_until(lambda: daemon.service.running_job_id == "")
            assert "slow" not in factory.engine.finished
            assert kinds(await collect(stub.Generate(request("next"))))[-1] == "completed"

    try:
        arun(body())
    finally:
        gate.open_all()


def test_info_load_unload(tmp_path: Path) -> None:
    async def body() -> None:
        async with serving(tmp_path, None, "--keep-alive", "30", "--max-width", "512") as (_, stub):
            info = await stub.GetInfo(pb.GetInfoRequest())
            assert not info.loaded and info.protocol_version == 1
            assert info.limits.max_width == 512 and info.defaults.width == 64 and info.keep_alive_s == 30
            loaded = await stub.Load(pb.LoadRequest())
            assert loaded.loaded and loaded.model_id == "fake" and loaded.native_sample_rate == 24000
            assert not (await stub.Unload(pb.UnloadRequest())).loaded
            assert (await stub.GetInfo(pb.GetInfoRequest())).model_fingerprint == "fake-model-1"

    arun(body())


def test_prefetch_fills_the_cache(tmp_path: Path) -> None:
    async def body() -> None:
        async with serving(tmp_path) as (daemon, stub):
            wanted = [request("a", seed=1, cache_policy=0), request("b", seed=2, cache_policy=0)]
            reply = await stub.Prefetch(pb.PrefetchRequest(requests=wanted))
            assert len(reply.job_ids) == 2 and all(reply.job_ids) and reply.already_cached == 0
            assert daemon.service is not None
            await daemon.service.wait_background()
            again = await stub.Prefetch(pb.PrefetchRequest(requests=wanted))
            assert list(again.job_ids) == ["", ""] and again.already_cached == 2
            events = await collect(stub.Generate(wanted[1]))
            assert events[0].accepted.cache_hit and events[-1].completed.cache_hit
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.Prefetch(pb.PrefetchRequest(requests=[request("c", width=33)]))
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert dict(info.value.trailing_metadata())["ltx2d-field"] == "requests[0].width"

    arun(body())


def test_unexpected_errors_are_internal_and_the_server_keeps_serving(tmp_path: Path) -> None:
    async def body() -> None:
        async with serving(tmp_path) as (daemon, stub):
            service = daemon.service
            assert service is not None

            async def broken_info() -> None:
                raise RuntimeError("boom")

            async def broken_generate(job: Any) -> AsyncIterator[Any]:
                yield Accepted("j", 0, False, FakeEngine().clip_format(small_params()))
                raise KeyError("bust")

            original_info, original_generate = service.info, service.generate
            service.info, service.generate = broken_info, broken_generate  # type: ignore[method-assign]
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.GetInfo(pb.GetInfoRequest())
            assert info.value.code() == grpc.StatusCode.INTERNAL and "boom" in info.value.details()
            call = stub.Generate(request())
            assert (await call.read()).HasField("accepted")
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await collect(call)
            assert info.value.code() == grpc.StatusCode.INTERNAL and "bust" in info.value.details()
            service.info, service.generate = original_info, original_generate  # type: ignore[method-assign]
            assert (await stub.GetInfo(pb.GetInfoRequest())).protocol_version == 1
            assert kinds(await collect(stub.Generate(request())))[-1] == "completed"

    arun(body())


def test_health_and_reflection_answer(tmp_path: Path) -> None:
    async def body() -> None:
        async with serving(tmp_path) as (daemon, _):
            async with grpc.aio.insecure_channel(f"127.0.0.1:{daemon.grpc_port}") as channel:
                health = health_pb2_grpc.HealthStub(channel)
                for service in ("", "ltx2d.v1.Ltx2d"):
                    reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
                    assert reply.status == health_pb2.HealthCheckResponse.SERVING
                stub = reflection_pb2_grpc.ServerReflectionStub(channel)
                requests = [
                    reflection_pb2.ServerReflectionRequest(list_services=""),
                    reflection_pb2.ServerReflectionRequest(file_containing_symbol="ltx2d.v1.Ltx2d"),
                ]
                replies = [r async for r in stub.ServerReflectionInfo(iter(requests))]
                names = {s.name for s in replies[0].list_services_response.service}
                assert {"ltx2d.v1.Ltx2d", "grpc.health.v1.Health"} <= names
                assert replies[1].file_descriptor_response.file_descriptor_proto
                # grpc.reflection.v1 (grpcurl's first choice) answers the same, and lists itself.
                v1 = channel.stream_stream(
                    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                    request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                    response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
                )
                replies = [r async for r in v1(iter(requests))]
                names = {s.name for s in replies[0].list_services_response.service}
                assert {"ltx2d.v1.Ltx2d", "grpc.reflection.v1.ServerReflection"} <= names
                assert replies[1].file_descriptor_response.file_descriptor_proto
            await daemon.stop(0)
            async with grpc.aio.insecure_channel(f"127.0.0.1:{daemon.grpc_port}") as channel:
                with pytest.raises(grpc.aio.AioRpcError):
                    await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)

    arun(body())


def test_progress_and_chunks_reach_the_client_while_the_job_runs(tmp_path: Path) -> None:
    # Streaming, not buffering: the first denoising progress arrives while the job is held.
    gate = Gate({"live": 2})

    async def body() -> None:
        async with serving(tmp_path, FakeEngineFactory(on_step=gate)) as (_, stub):
            call = stub.Generate(request("live", steps=4))
            seen = [await call.read() for _ in range(3)]  # accepted, encoding, step 1
            assert kinds(seen) == ["accepted", "progress", "progress"]
            assert seen[2].progress.phase == ltx2.Phase.DENOISING and seen[2].progress.step == 1
            gate.open_all()
            assert kinds(await collect(call))[-1] == "completed"

    try:
        arun(body())
    finally:
        gate.open_all()


@pytest.mark.parametrize("finishes_in_time", [True, False])
def test_stop_lets_jobs_finish_within_the_grace_period_and_cancels_the_rest(
    tmp_path: Path, finishes_in_time: bool
) -> None:
    gate = Gate({"long": 1})

    async def body() -> None:
        async with serving(tmp_path, FakeEngineFactory(on_step=gate)) as (daemon, stub):
            call = stub.Generate(request("long"))
            await call.read()
            await reached(gate, "long")
            stopping = asyncio.create_task(daemon.stop(0.5))
            await asyncio.sleep(0.1 if finishes_in_time else 1.0)
            queued = stub.Generate(request("too late"))
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await collect(queued)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            gate.open_all()
            if finishes_in_time:
                assert kinds(await collect(call))[-1] == "completed"
            else:
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await collect(call)
                assert info.value.code() == grpc.StatusCode.UNAVAILABLE
                assert "shut down" in info.value.details()
            await stopping

    try:
        arun(body())
    finally:
        gate.open_all()
