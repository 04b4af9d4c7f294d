"""The msgpack bridge on a real in-process server (port 0) over a fake engine."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import msgpack
import pytest

from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2_grpc as pb_grpc
from ltx2d.bridge import REQUEST_TYPES
from ltx2d.config import DaemonConfig
from ltx2d.msgpack_codec import message_to_map
from ltx2d.server import Daemon
from ltx2d.testing import BridgeClient, in_process_daemon
from tests.fake_engine import FakeEngine, FakeEngineFactory, Gate, arun, small_params, wait_until

MAX_FRAME = 4096


def make_config(tmp_path: Path, *extra: str) -> DaemonConfig:
    args = ["--grpc-port", "0", "--bridge-port", "0", "--cache-dir", str(tmp_path / "cache")]
    args += ["--default-width", "64", "--default-height", "64", "--default-num-frames", "17"]
    args += ["--default-steps", "4", "--default-chunk-frames", "8", "--bridge-max-frame", str(MAX_FRAME), *extra]
    return DaemonConfig.from_args(args, {})


@contextlib.asynccontextmanager
async def serving(
    tmp_path: Path, factory: FakeEngineFactory | None = None, *extra: str
) -> AsyncIterator[tuple[Daemon, BridgeClient]]:
    async with in_process_daemon(make_config(tmp_path, *extra), factory or FakeEngineFactory()) as daemon:
        client = await BridgeClient.connect(f"127.0.0.1:{daemon.bridge_port}")
        try:
            yield daemon, client
        finally:
            await client.close()


def generate(request_id: Any, prompt: str = "a bell rings", **fields: Any) -> dict[str, Any]:
    fields.setdefault("seed", 1)
    fields.setdefault("cache_policy", "CACHE_POLICY_BYPASS")
    return {"type": "generate", "id": request_id, "prompt": prompt, **fields}


async def reached(gate: Gate, prompt: str) -> None:
    assert await asyncio.to_thread(gate.reached[prompt].wait, 10), f"{prompt!r} never reached its gate"


def test_bridge_stream_is_the_grpc_stream_as_maps(tmp_path: Path) -> None:
    async def body() -> tuple[list[dict[str, Any]], list[pb.GenerateEvent]]:
        async with serving(tmp_path) as (daemon, client):
            await client.send(generate(7, seed=5, num_frames=17))
            maps = await client.stream(7)
            async with grpc.aio.insecure_channel(
                f"127.0.0.1:{daemon.grpc_port}", options=[("grpc.max_receive_message_length", -1)]
            ) as channel:
                call = pb_grpc.Ltx2dStub(channel).Generate(
                    pb.GenerateRequest(prompt="a bell rings", seed=5, num_frames=17, cache_policy=1)
                )
                events = [e async for e in call]
            return maps, events

    maps, events = arun(body())
    assert [m["type"] for m in maps] == [e.WhichOneof("event") for e in events]
    bridge_job, grpc_job = maps[0]["job_id"], events[0].job_id
    for m, e in zip(maps, events, strict=True):
        assert m["id"] == 7 and m["job_id"] == bridge_job
        kind = e.WhichOneof("event")
        expected = {**message_to_map(getattr(e, kind)), "job_id": bridge_job}
        if kind == "completed":  # timings differ between two runs; everything else is equal
            m, expected = dict(m, timings=None), dict(expected, timings=None)
        assert {k: v for k, v in m.items() if k not in ("type", "id")} == expected
    # And the bytes are the engine's bytes.
    engine_events = list(FakeEngine().generate(small_params("a bell rings", seed=5)))
    audio = b"".join(m["data"] for m in maps if m["type"] == "audio_chunk")
    video = b"".join(m["data"] for m in maps if m["type"] == "video_chunk")
    assert audio == b"".join(e.data for e in engine_events if type(e).__name__ == "AudioChunk")
    assert video == b"".join(e.data for e in engine_events if type(e).__name__ == "VideoChunk")
    assert bridge_job != grpc_job


def test_hello_ping_info_load_unload(tmp_path: Path) -> None:
    async def body() -> None:
        async with serving(tmp_path) as (_, client):
            hello = await client.request({"type": "hello", "id": "h", "client": "test", "protocol_version": 1})
            assert hello["type"] == "hello" and hello["protocol_version"] == 1 and hello["version"]
            assert (await client.request({"type": "ping", "id": 1})) == {"type": "pong", "id": 1}
            info = await client.request({"type": "info", "id": 2})
            assert info["type"] == "info" and info["loaded"] is False and info["defaults"]["width"] == 64
            assert info["limits"]["max_width"] == 1920 and info["protocol_version"] == 1
            loaded = await client.request({"type": "load", "id": 3})
            assert loaded["loaded"] is True and loaded["model_id"] == "fake"
            unloaded = await client.request({"type": "unload", "id": 4})
            assert unloaded["type"] == "info" and unloaded["loaded"] is False
            bad = await client.request({"type": "hello", "id": 5, "protocol_version": 2})
            assert bad["type"] == "error" and bad["field"] == "protocol_version"

    arun(body())


def test_several_jobs_are_multiplexed_on_one_connection(tmp_path: Path) -> None:
    async def body() -> dict[Any, list[dict[str, Any]]]:
        async with serving(tmp_path) as (_, client):
            await client.send(generate(1, "first", seed=1))
            await client.send(generate("two", "second", seed=2, audio_only=True))
            streams: dict[Any, list[dict[str, Any]]] = {1: [], "two": []}
            ended = 0
            while ended < 2:
                message = await client.recv()
                assert message is not None
                streams[message["id"]].append(message)
                ended += message["type"] in ("completed", "error")
            return streams

    streams = arun(body())
    for request_id, audio_only in ((1, False), ("two", True)):
        stream = streams[request_id]
        assert stream[0]["type"] == "accepted" and stream[-1]["type"] == "completed"
        assert len({m["job_id"] for m in stream}) == 1
        assert any(m["type"] == "video_chunk" for m in stream) is not audio_only
        samples = [m for m in stream if m["type"] == "audio_chunk"]
        assert [m["first_sample"] for m in samples] == [
            sum(s["num_samples"] for s in samples[:i]) for i in range(len(samples))
        ]
    assert streams[1][0]["job_id"] != streams["two"][0]["job_id"]


INVALID = [
    ({"width": 65}, "width", "multiple of 32"),
    ({"num_frames": 12}, "num_frames", "8k+1"),
    ({"steps": 1000}, "steps", "and 100"),
    ({"num_frames": 17, "duration_s": 2.0}, "duration_s", "together with num_frames"),
    ({"frame_rate": "fast"}, "frame_rate", "must be a number"),
    ({"priority": "PRIORITY_NOW"}, "priority", "PRIORITY_REALTIME (1)"),
    ({"jpeg_quality": 0}, "jpeg_quality", "between 1 and 100"),
    ({"widht": 64}, "widht", "unknown field"),
    ({"prompt": ""}, "prompt", "non-empty"),
    ({"tags": {"scene": 3}}, "tags['scene']", "must be a string"),
]


def test_every_invalid_field_gets_an_error_and_the_connection_stays_open(tmp_path: Path) -> None:
    async def body() -> list[dict[str, Any]]:
        out = []
        async with serving(tmp_path) as (_, client):
            for i, (fields, _, _) in enumerate(INVALID):
                out.append(await client.request(generate(i, **fields)))
            assert (await client.request({"type": "ping", "id": "still-open"}))["type"] == "pong"
        return out

    for (fields, field, rule), reply in zip(INVALID, arun(body()), strict=True):
        assert reply["type"] == "error" and reply["code"] == "INVALID_ARGUMENT", reply
        assert reply["field"] == field
        value = fields.get(field, fields.get("tags", {}).get("scene"))
        assert reply["message"].startswith(f"{field}={value!r}"), reply["message"]
        assert rule in reply["message"]


MALFORMED = {
    "too big": (MAX_FRAME + 1).to_bytes(4, "big") + b"\x80" * 16,
    "zero length": b"\x00\x00\x00\x00",
    "not msgpack": b"\x00\x00\x00\x01\xc1",
    "not a map": b"\x00\x00\x00\x04" + msgpack.packb([1, 2, 3]),
    "missing type": len(msgpack.packb({"id": 1})).to_bytes(4, "big") + msgpack.packb({"id": 1}),
    "unknown type": len(msgpack.packb({"type": "explode", "id": 1})).to_bytes(4, "big")
    + msgpack.packb({"type": "explode", "id": 1}),
    "integer keys": len(msgpack.packb({1: 2})).to_bytes(4, "big") + msgpack.packb({1: 2}),
    "truncated header": b"\x00\x00",
}


MALFORMED_FIELD = {"too big": "length", "zero length": "length", "truncated header": "length"}
MALFORMED_FIELD |= {"missing type": "type", "unknown type": "type"}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_frame_closes_only_that_connection(tmp_path: Path, name: str) -> None:
    gate = Gate({"bystander": 1})

    async def body() -> None:
        async with serving(tmp_path, FakeEngineFactory(on_step=gate)) as (daemon, other):
            await other.send(generate("b", "bystander"))
            assert (await other.recv())["type"] == "accepted"
            await reached(gate, "bystander")
            bad = await BridgeClient.connect(f"127.0.0.1:{daemon.bridge_port}")
            await bad.send_raw(MALFORMED[name])
            if name == "truncated header":
                bad.writer.write_eof()  # the client gives up in the middle of a header
            error = await bad.recv()
            assert error is not None and error["type"] == "error"
            assert error["id"] is None and error["code"] == "INVALID_ARGUMENT" and error["message"]
            assert error["field"] == MALFORMED_FIELD.get(name, "frame")  # which part of the frame is wrong
            assert await bad.recv() is None  # closed
            await bad.close()
            gate.open_all()
            stream = await other.stream("b")
            assert stream[-1]["type"] == "completed"  # the other connection's job was untouched
            fresh = await BridgeClient.connect(f"127.0.0.1:{daemon.bridge_port}")
            assert (await fresh.request({"type": "ping", "id": 1}))["type"] == "pong"
            await fresh.close()

    try:
        arun(body())
    finally:
        gate.open_all()


def test_a_cancel_before_accepted_also_stops_a_cache_hit(tmp_path: Path) -> None:
    """`found: true` for a cancel sent before Accepted holds even when the cache serves the job,
    and the stream is then the CANCELLED error alone (no `accepted` first)."""

    async def body() -> list[dict[str, Any]]:
        async with serving(tmp_path) as (_, client):
            await client.send(generate(1, "from the cache", cache_policy="CACHE_POLICY_UNSPECIFIED"))
            assert (await client.stream(1))[-1]["type"] == "completed"
            # The generate and its cancel back to back: the cancel is read before the job is accepted.
            await client.send(generate(2, "from the cache", cache_policy="CACHE_POLICY_UNSPECIFIED"))
            await client.send({"type": "cancel", "id": 2})
            replies: list[dict[str, Any]] = []
            while not any(r["type"] in ("completed", "error") for r in replies):
                message = await client.recv()
                assert message is not None
                replies.append(message)
            return replies

    replies = arun(body())
    cancel = next(r for r in replies if r["type"] == "cancel")
    job = [r for r in replies if r["type"] != "cancel"]
    assert cancel["found"] is True
    assert [(r["type"], r["code"]) for r in job] == [("error", "CANCELLED")]
    assert job[0]["job_id"]  # the job existed: its id is still named


def test_a_frame_at_the_limit_is_accepted(tmp_path: Path) -> None:
    async def body() -> dict[str, Any]:
        async with serving(tmp_path) as (_, client):
            message = generate(1, "", negative_prompt="")
            # Both strings grow from fixstr to str16: 2 more header bytes each.
            padding = MAX_FRAME - len(msgpack.packb(message, use_bin_type=True)) - 4
            message["prompt"] = "p" * (padding // 2)
            message["negative_prompt"] = "n" * (padding - padding // 2)
            assert len(msgpack.packb(message, use_bin_type=True)) == MAX_FRAME
            return await client.request(message)

    assert arun(body())["type"] == "accepted"


def test_closing_the_connection_cancels_its_jobs(tmp_path: Path) -> None:
    gate = Gate({"orphan": 1})
    factory = FakeEngineFactory(on_step=gate)

    async def body() -> None:
        async with serving(tmp_path, factory) as (daemon, client):
            await client.send(generate(1, "orphan"))
            job_id = (await client.recv())["job_id"]
            await client.send(generate(2, "queued orphan"))
            while (await client.recv())["id"] != 2:
                pass
            await reached(gate, "orphan")
            await client.close()
            service = daemon.service
            assert service is not None
            await wait_until(
                lambda: service.scheduler.get(job_id) is None or service.scheduler.get(job_id).control.cancelled
            )
            assert service.queue_depth == 0  # the queued job left the queue
            gate.open_all()
            await wait_until(lambda: service.running_job_id == "")
            other = await BridgeClient.connect(f"127.0.0.1:{daemon.bridge_port}")
            await other.send(generate(1, "next"))
            assert (await other.stream(1))[-1]["type"] == "completed"
            await other.close()
            assert factory.engine.finished == ["next"]

    try:
        arun(body())
    finally:
        gate.open_all()


@pytest.mark.parametrize("by", ["request id", "job id"])
def test_cancel(tmp_path: Path, by: str) -> None:
    gate = Gate({"victim": 1})
    factory = FakeEngineFactory(on_step=gate)

    async def body() -> None:
        async with serving(tmp_path, factory) as (_, client):
            await client.send(generate(9, "victim"))
            job_id = (await client.recv())["job_id"]
            await reached(gate, "victim")
            cancel = (
                {"type": "cancel", "id": 9} if by == "request id" else {"type": "cancel", "id": "c", "job_id": job_id}
            )
            await client.send(cancel)
            replies = {}
            for wanted in ("cancel", "error"):
                while wanted not in replies:
                    message = await client.recv()
                    assert message is not None
                    replies[message["type"]] = message
                gate.open_all()  # only once the cancel is in, or the job could simply finish first
            assert replies["cancel"]["found"] is True and replies["cancel"]["id"] == cancel["id"]
            error = replies["error"]
            assert (error["id"], error["code"], error["job_id"]) == (9, "CANCELLED", job_id)
            unknown = await client.request({"type": "cancel", "id": "u", "job_id": "nope"})
            assert unknown == {"type": "cancel", "id": "u", "found": False}
            await client.send(generate(10, "after"))
            assert (await client.stream(10))[-1]["type"] == "completed"
            assert "victim" not in factory.engine.finished

    try:
        arun(body())
    finally:
        gate.open_all()


def test_request_errors_that_keep_the_connection(tmp_path: Path) -> None:
    gate = Gate({"busy": 0})

    async def body() -> None:
        async with serving(tmp_path, FakeEngineFactory(on_step=gate)) as (_, client):
            await client.send(generate(1, "busy"))
            assert (await client.recv())["type"] == "accepted"
            await client.send(generate(1, "again"))
            while (duplicate := await client.recv())["type"] != "error":
                assert duplicate["id"] == 1 and duplicate["type"] == "progress"
            assert duplicate["id"] == 1 and duplicate["field"] == "id"
            extra = await client.request({"type": "info", "id": 2, "verbose": True})
            assert extra["type"] == "error" and extra["field"] == "verbose"
            no_id = await client.request({"type": "generate", "prompt": "x"})
            assert no_id["type"] == "error" and no_id["field"] == "id"
            gate.open_all()
            assert (await client.stream(1))[-1]["type"] == "completed"

    try:
        arun(body())
    finally:
        gate.open_all()


def test_prefetch_over_the_bridge(tmp_path: Path) -> None:
    async def body() -> None:
        async with serving(tmp_path) as (daemon, client):
            reply = await client.request(
                {"type": "prefetch", "id": 1, "requests": [{"prompt": "a", "seed": 3}, {"prompt": "b", "seed": 4}]}
            )
            assert reply["type"] == "prefetch" and len(reply["job_ids"]) == 2 and reply["already_cached"] == 0
            assert daemon.service is not None
            await daemon.service.wait_background()
            hit = await client.request({"type": "generate", "id": 2, "prompt": "b", "seed": 4})
            assert hit["type"] == "accepted" and hit["cache_hit"] is True
            bad = await client.request({"type": "prefetch", "id": 3, "requests": [{"prompt": "a", "steps": "x"}]})
            assert bad["type"] == "error" and bad["field"] == "requests[0].steps"

    arun(body())


def test_full_queue_is_resource_exhausted_over_the_bridge(tmp_path: Path) -> None:
    gate = Gate({"running": 0})

    async def body() -> None:
        async with serving(tmp_path, FakeEngineFactory(on_step=gate), "--queue-capacity", "1") as (_, client):
            await client.send(generate(1, "running"))
            assert (await client.recv())["type"] == "accepted"
            await reached(gate, "running")
            queued = await client.request(generate(2, "queued"))
            assert queued["type"] == "accepted"
            full = await client.request(generate(3, "one too many"))
            assert (full["type"], full["code"]) == ("error", "RESOURCE_EXHAUSTED") and "job_id" not in full
            gate.open_all()
            for request_id in (1, 2):
                assert (await client.stream(request_id))[-1]["type"] == "completed"

    try:
        arun(body())
    finally:
        gate.open_all()


def test_unexpected_errors_are_internal_and_the_connection_keeps_serving(tmp_path: Path) -> None:
    async def body() -> None:
        async with serving(tmp_path) as (daemon, client):
            service = daemon.service
            assert service is not None
            original = service.info

            async def broken_info() -> None:
                raise RuntimeError("boom")

            service.info = broken_info  # type: ignore[method-assign]
            error = await client.request({"type": "info", "id": 1})
            assert (error["type"], error["code"]) == ("error", "INTERNAL") and "boom" in error["message"]
            service.info = original  # type: ignore[method-assign]
            assert (await client.request({"type": "info", "id": 2}))["type"] == "info"

    arun(body())


def _junk(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["int", "neg", "float", "str", "bytes", "none", "bool", "list", "map"]
    kind = rng.choice(kinds if depth < 2 else kinds[:7])
    return {
        "int": lambda: rng.randrange(0, 2**40),
        "neg": lambda: -rng.randrange(1, 2**62),
        "float": lambda: rng.choice([rng.uniform(-1e9, 1e9), float("nan"), float("inf")]),
        "str": lambda: rng.choice(["", "x" * rng.randrange(0, 50), "PRIORITY_BATCH", "\u00e9\u6f22"]),
        "bytes": lambda: rng.randbytes(rng.randrange(0, 20)),
        "none": lambda: None,
        "bool": lambda: rng.random() < 0.5,
        "list": lambda: [_junk(rng, depth + 1) for _ in range(rng.randrange(0, 3))],
        "map": lambda: {rng.choice(["a", "prompt", "width"]): _junk(rng, depth + 1)},
    }[kind]()


def test_random_requests_never_take_the_daemon_down(tmp_path: Path) -> None:
    rng = random.Random(1234)
    fields = [f.name for f in pb.GenerateRequest.DESCRIPTOR.fields] + ["job_id", "token", "requests", "bogus"]
    small = {"width": 64, "height": 64, "num_frames": 9, "steps": 2, "seed": 1}

    seen: dict[str, int] = {}

    async def body() -> None:
        async with serving(tmp_path) as (daemon, _):
            for i in range(80):
                message: dict[str, Any] = {"type": rng.choice(REQUEST_TYPES), "id": i}
                if message["type"] == "generate":
                    message.update(small, prompt="fuzz")
                for key in rng.sample(fields, rng.randrange(0, 4)):
                    message[key] = _junk(rng)
                client = await BridgeClient.connect(f"127.0.0.1:{daemon.bridge_port}")
                await client.send(message)
                reply = await client.recv()
                assert reply is not None and reply.get("id") in (i, None), (message, reply)
                seen[reply["type"]] = seen.get(reply["type"], 0) + 1
                if message["type"] == "generate" and reply["type"] == "accepted":
                    assert (await client.stream(i))[-1]["type"] in ("completed", "error")
                await client.close()
            probe = await BridgeClient.connect(f"127.0.0.1:{daemon.bridge_port}")
            assert (await probe.request({"type": "info", "id": "last"}))["type"] == "info"
            await probe.close()

    arun(body(), timeout=60)
    assert seen["error"] >= 10 and seen.get("accepted", 0) >= 2 and len(seen) >= 5, seen  # the fuzz reached deep


def test_integer_fields_accept_integral_floats(tmp_path: Path) -> None:
    """Engines and JSON-minded clients send every number as a float64: 64.0 is the integer 64."""

    async def body() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        async with serving(tmp_path) as (_, client):
            await client.send(generate(1, width=64.0, num_frames=17.0, seed=3.0, steps=2.0, priority=1.0))
            stream = await client.stream(1)
            bad = await client.request(generate(2, width=64.5))
            return stream, bad

    stream, bad = arun(body())
    assert stream[-1]["type"] == "completed"
    fmt = stream[0]["format"]
    assert (fmt["width"], fmt["num_frames"], fmt["seed"], fmt["steps"]) == (64, 17, 3, 2)
    assert (bad["type"], bad["field"], bad["message"]) == ("error", "width", "width=64.5: must be an integer")


def test_hello_without_protocol_version_is_refused_and_closes(tmp_path: Path) -> None:
    async def body() -> tuple[dict[str, Any], dict[str, Any] | None]:
        async with serving(tmp_path) as (_, client):
            reply = await client.request({"type": "hello", "id": 1, "client": "test"})
            return reply, await client.recv()

    reply, after = arun(body())
    assert (reply["type"], reply["code"], reply["field"]) == ("error", "INVALID_ARGUMENT", "protocol_version")
    assert reply["message"].startswith("protocol_version=None: this daemon speaks version 1")
    assert after is None  # closed


def test_ping_without_id_is_answered_with_id_nil(tmp_path: Path) -> None:
    async def body() -> dict[str, Any] | None:
        async with serving(tmp_path) as (_, client):
            await client.send({"type": "ping"})
            return await client.recv()

    assert arun(body()) == {"type": "pong", "id": None}


def test_a_frame_that_begins_and_never_finishes_times_out(tmp_path: Path) -> None:
    async def body() -> None:
        async with serving(tmp_path, None, "--stall-limit", "0.5") as (daemon, client):
            await client.send_raw(b"\x00\x00")  # half a header, then nothing
            error = await client.recv(timeout=5)
            assert error is not None and error["type"] == "error" and error["id"] is None
            assert "did not arrive whole within 0.5 s" in error["message"]
            assert await client.recv(timeout=5) is None  # closed
            fresh = await BridgeClient.connect(f"127.0.0.1:{daemon.bridge_port}")
            await asyncio.sleep(1.0)  # an idle connection is not timed out
            assert (await fresh.request({"type": "ping", "id": 1}))["type"] == "pong"
            await fresh.close()

    arun(body())


def test_requests_in_progress_per_connection_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ltx2d import bridge

    monkeypatch.setattr(bridge, "MAX_REQUESTS", 2)
    gate = Gate({"held": 1})

    async def body() -> None:
        async with serving(tmp_path, FakeEngineFactory(on_step=gate)) as (_, client):
            await client.send(generate(1, "held"))
            await client.send(generate(2, "second"))
            refused = await client.request(generate(3, "third"))
            assert refused["type"] == "error" and refused["code"] == "RESOURCE_EXHAUSTED"
            assert "2 requests in progress" in refused["message"]
            assert (await client.request({"type": "ping", "id": 4}))["type"] == "pong"  # always answered
            gate.open_all()
            assert (await client.stream(1))[-1]["type"] == "completed"

    try:
        arun(body())
    finally:
        gate.open_all()
