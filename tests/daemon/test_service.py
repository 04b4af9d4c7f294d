"""Ltx2dService on a fake engine: streams, validation, consumers leaving, cache, prefetch, shutdown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import ltx2
from ltx2d.domain import Accepted, CachePolicy, ClipRequest, Priority, StreamRecord
from ltx2d.errors import ServiceError, StatusCode
from ltx2d.model_host import ModelHost
from ltx2d.result_cache import ResultCache
from ltx2d.scheduler import JobState
from ltx2d.service import Ltx2dService
from tests.fake_engine import Consumer, FakeEngine, FakeEngineFactory, Gate, arun, small_params, wait_until


def make(
    tmp_path: Path | None = None,
    capacity: int = 8,
    keep_alive_s: float = 0.0,
    describe_source: Callable[[], ltx2.ModelInfo] | None = None,
    **engine_kwargs: object,
) -> tuple[Ltx2dService, FakeEngineFactory]:
    factory = FakeEngineFactory(**engine_kwargs)
    cache = ResultCache(tmp_path / "cache", 1 << 30) if tmp_path is not None else None
    host = ModelHost(factory, keep_alive_s, describe_source=describe_source)
    service = Ltx2dService(host, capacity, cache, ltx2.Limits())
    return service, factory


async def collect(service: Ltx2dService, request: ClipRequest) -> list[object]:
    return [event async for event in service.generate(request)]


def request(prompt: str = "a bell rings", priority: Priority = Priority.INTERACTIVE, **kw: object) -> ClipRequest:
    cache_policy = kw.pop("cache_policy", CachePolicy.USE)
    deadline = kw.pop("deadline", None)
    return ClipRequest.for_params(small_params(prompt, **kw), priority, cache_policy, deadline)  # type: ignore[arg-type]


def chunks(events: list[object]) -> list[object]:
    return [e for e in events if isinstance(e, (ltx2.AudioChunk, ltx2.VideoChunk))]


def test_stream_is_accepted_then_the_engines_events_then_completed() -> None:
    async def body() -> None:
        service, factory = make()
        await service.start()
        events = await collect(service, request(seed=9))
        accepted, completed = events[0], events[-1]
        assert isinstance(accepted, Accepted) and not accepted.cache_hit and accepted.queue_position == 0
        assert accepted.format == factory.engine.clip_format(small_params(seed=9))
        assert isinstance(completed, ltx2.Completed) and not completed.cache_hit
        assert completed.timings.queue_s >= 0
        direct = list(FakeEngine().generate(small_params(seed=9)))
        assert events[1:-1] == direct[:-1]
        assert completed.seed == 9
        await service.shutdown(1.0)

    arun(body())


def test_invalid_params_name_the_field_and_never_reach_the_engine() -> None:
    async def body() -> None:
        service, _ = make()
        await service.start()
        with pytest.raises(ServiceError) as info:
            await collect(service, request(width=100))
        assert info.value.code is StatusCode.INVALID_ARGUMENT
        assert info.value.field == "width"
        assert "100" in info.value.message and "multiple of 32" in info.value.message
        assert service.host.loads == 0
        await service.shutdown(1.0)

    arun(body())


def test_missing_seed_is_resolved_and_reported() -> None:
    async def body() -> None:
        service, _ = make()
        await service.start()
        events = await collect(service, request(seed=None))
        seed = events[0].format.seed
        assert events[-1].seed == seed and 0 <= seed < 2**63
        await service.shutdown(1.0)

    arun(body())


@pytest.mark.parametrize("how", ["aclose", "task cancel"])
def test_consumer_leaving_cancels_the_job_and_the_next_job_runs(how: str) -> None:
    gate = Gate({"left": 2})

    async def body() -> None:
        service, factory = make(on_step=gate)
        await service.start()
        stream = service.generate(request("left", steps=50))
        if how == "aclose":
            assert isinstance(await anext(stream), Accepted)
            # The engine runs only as far as its consumer reads: it waits to hand over the event
            # after step 2 while the consumer holds step 2, and stops there when the consumer leaves.
            while not (isinstance(event := await anext(stream), ltx2.Progress) and event.step == 2):
                pass
            await stream.aclose()
            steps = 2
        else:
            consumer = Consumer(stream)
            await consumer.accepted()
            await wait_until(gate.reached["left"].is_set)
            consumer.task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await consumer.task
            steps = 3  # the step in flight at the gate finishes; the checkpoint after it stops the job
        gate.open_all()
        await wait_until(lambda: service.running_job_id == "" and factory.engine.steps_run == steps)
        events = await collect(service, request("next"))
        assert isinstance(events[-1], ltx2.Completed)
        assert factory.engine.finished == ["next"]
        assert factory.engine.steps_run == steps + 4
        await service.shutdown(1.0)

    arun(body())


def test_consumer_leaving_right_after_accepted_cancels_the_queued_job() -> None:
    gate = Gate({"blocker": 0})

    async def body() -> None:
        service, factory = make(on_step=gate)
        await service.start()
        blocker = Consumer(service.generate(request("blocker")))
        await blocker.accepted()
        stream = service.generate(request("queued"))
        assert isinstance(await anext(stream), Accepted)
        assert service.queue_depth == 1
        await stream.aclose()
        assert service.queue_depth == 0
        gate.open_all()
        await blocker.done()
        assert factory.engine.started == ["blocker"]
        await service.shutdown(1.0)

    arun(body())


def test_cancel_by_id_ends_the_stream_with_cancelled() -> None:
    gate = Gate({"victim": 1})

    async def body() -> None:
        service, _ = make(on_step=gate)
        await service.start()
        consumer = Consumer(service.generate(request("victim", steps=10)))
        await consumer.accepted()
        await wait_until(gate.reached["victim"].is_set)
        assert await service.cancel(consumer.job_id) is True
        gate.open_all()
        await consumer.done()
        assert isinstance(consumer.error, ServiceError) and consumer.error.code is StatusCode.CANCELLED
        assert await service.cancel(consumer.job_id) is False
        await service.shutdown(1.0)

    arun(body())


def test_deadline_ends_the_stream_with_deadline_exceeded() -> None:
    async def body() -> None:
        service, _ = make(step_s=0.005)
        await service.start()
        with pytest.raises(ServiceError) as info:
            await collect(service, request(steps=100, deadline=time.monotonic() + 0.1))
        assert info.value.code is StatusCode.DEADLINE_EXCEEDED
        await service.shutdown(1.0)

    arun(body())


def test_realtime_job_overtakes_a_running_cutscene_through_the_service() -> None:
    gate = Gate({"cutscene": 2})

    async def body() -> None:
        service, factory = make(on_step=gate)
        await service.start()
        cutscene = Consumer(service.generate(request("cutscene", steps=6, seed=5)))
        await wait_until(gate.reached["cutscene"].is_set)
        foley = Consumer(service.generate(request("foley", Priority.REALTIME, audio_only=True)))
        await foley.accepted()
        job = service.scheduler.get(cutscene.job_id)
        await wait_until(lambda: job is not None and job.state is JobState.PAUSING)
        gate.open_all()
        await foley.done()
        await cutscene.done()
        assert factory.engine.finished == ["foley", "cutscene"]
        assert foley.error is None and cutscene.error is None
        assert any(p.phase is ltx2.Phase.PAUSED for p in cutscene.of_type(ltx2.Progress))
        assert cutscene.chunks() == chunks(list(FakeEngine().generate(small_params("cutscene", steps=6, seed=5))))
        await service.shutdown(1.0)

    arun(body())


def test_cache_hit_streams_the_same_chunks_without_the_engine(tmp_path: Path) -> None:
    async def body() -> None:
        service, factory = make(tmp_path)
        await service.start()
        miss = await collect(service, request(seed=11))
        await service.wait_background()
        calls = factory.generate_calls
        hit = await collect(service, request(seed=11))
        assert factory.generate_calls == calls
        assert isinstance(hit[0], Accepted) and hit[0].cache_hit and hit[0].format == miss[0].format
        assert hit[0].job_id != miss[0].job_id
        assert chunks(hit) == chunks(miss)
        done = hit[-1]
        assert isinstance(done, ltx2.Completed) and done.cache_hit and done.seed == 11
        assert (done.num_frames, done.num_samples) == (miss[-1].num_frames, miss[-1].num_samples)
        # A different chunking is a different stream: a miss.
        await collect(service, request(seed=11, chunk_frames=16))
        assert factory.generate_calls == calls + 1
        await service.shutdown(1.0)

    arun(body())


def test_cache_hit_after_restart_and_unload_does_not_load_the_model(tmp_path: Path) -> None:
    async def body() -> None:
        service, _ = make(tmp_path)
        await service.start()
        miss = await collect(service, request(seed=12))
        await service.wait_background()
        await service.unload()
        hit = await collect(service, request(seed=12))
        assert hit[0].cache_hit and not service.host.loaded and service.host.loads == 1
        await service.shutdown(1.0)
        # A new daemon over the same folder: the fingerprint comes from the checkpoint's files
        # (the fake's is "fake-model-1"), so the hit loads nothing at all.
        hashed: list[int] = []
        service2, factory2 = make(tmp_path, describe_source=lambda: hashed.append(1) or FakeEngine().info())
        await service2.start()
        again = await collect(service2, request(seed=12))
        assert again[0].cache_hit and chunks(again) == chunks(miss)
        assert factory2.built == [] and not service2.host.loaded and service2.host.loads == 0
        assert (await collect(service2, request(seed=12)))[0].cache_hit and hashed == [1]  # hashed once
        await service2.shutdown(1.0)

    arun(body())


def test_bypass_neither_reads_nor_writes_and_refresh_regenerates(tmp_path: Path) -> None:
    async def body() -> None:
        service, factory = make(tmp_path)
        await service.start()
        await collect(service, request(seed=13, cache_policy=CachePolicy.BYPASS))
        await service.wait_background()
        assert service.cache is not None and len(service.cache) == 0
        await collect(service, request(seed=13))
        await service.wait_background()
        assert len(service.cache) == 1
        refreshed = await collect(service, request(seed=13, cache_policy=CachePolicy.REFRESH))
        assert not refreshed[0].cache_hit and factory.generate_calls == 3
        bypass = await collect(service, request(seed=13, cache_policy=CachePolicy.BYPASS))
        assert not bypass[0].cache_hit and factory.generate_calls == 4
        await service.shutdown(1.0)

    arun(body())


def test_failed_job_is_not_cached(tmp_path: Path) -> None:
    async def body() -> None:
        service, factory = make(tmp_path)
        await service.start()
        await service.load()
        factory.engine.fail_with = (1, ltx2.OutOfMemory("CUDA out of memory"))
        with pytest.raises(ServiceError) as info:
            await collect(service, request(seed=14))
        assert info.value.code is StatusCode.RESOURCE_EXHAUSTED
        await service.wait_background()
        assert service.cache is not None and len(service.cache) == 0
        await service.shutdown(1.0)

    arun(body())


def test_full_queue_through_the_service() -> None:
    gate = Gate({"blocker": 0})

    async def body() -> None:
        service, _ = make(capacity=1, on_step=gate)
        await service.start()
        blocker = Consumer(service.generate(request("blocker")))
        await wait_until(gate.reached["blocker"].is_set)
        queued = Consumer(service.generate(request("queued")))
        await queued.accepted()
        with pytest.raises(ServiceError) as info:
            await collect(service, request("refused"))
        assert info.value.code is StatusCode.RESOURCE_EXHAUSTED
        gate.open_all()
        await blocker.done()
        await queued.done()
        assert queued.error is None
        await service.shutdown(1.0)

    arun(body())


def test_keep_alive_idle_unload_and_reload_on_next_job() -> None:
    async def body() -> None:
        service, factory = make(keep_alive_s=0.05)
        await service.start()
        await collect(service, request())
        assert service.host.loaded
        await wait_until(lambda: factory.engine.closed, timeout=2)
        assert not service.host.loaded
        info = await service.info()
        assert not info.loaded and info.model is not None and info.keep_alive_s == 0.05
        events = await collect(service, request())
        assert isinstance(events[-1], ltx2.Completed)
        assert len(factory.built) == 2
        await service.shutdown(1.0)

    arun(body())


def test_info_load_and_unload() -> None:
    gate = Gate({"busy": 0})

    async def body() -> None:
        service, _ = make(capacity=3, on_step=gate)
        await service.start()
        info = await service.info()
        assert info.model is None and not info.loaded and info.queue_capacity == 3 and info.queue_depth == 0
        assert info.limits == ltx2.Limits() and info.running_job_id == ""
        loaded = await service.load()
        assert loaded.loaded and loaded.model is not None and loaded.model.fingerprint == "fake-model-1"
        busy = Consumer(service.generate(request("busy")))
        job_id = (await busy.accepted()).job_id
        await wait_until(gate.reached["busy"].is_set)
        assert (await service.info()).running_job_id == job_id
        with pytest.raises(ServiceError) as refused:
            await service.unload()
        assert refused.value.code is StatusCode.FAILED_PRECONDITION
        gate.open_all()
        await busy.done()
        unloaded = await service.unload()
        assert not unloaded.loaded and unloaded.model is not None
        await service.shutdown(1.0)

    arun(body())


def test_prefetch_queues_uncached_requests_at_batch_priority_into_the_cache(tmp_path: Path) -> None:
    async def body() -> None:
        service, factory = make(tmp_path)
        await service.start()
        await collect(service, request("cached", seed=1))
        await service.wait_background()
        job_ids, already = await service.prefetch(
            [request("cached", seed=1), request("new", Priority.REALTIME, seed=2)]
        )
        assert already == 1 and job_ids[0] == "" and job_ids[1]
        await service.wait_background()
        assert factory.engine.started == ["cached", "new"]
        calls = factory.generate_calls
        hit = await collect(service, request("new", seed=2))
        assert hit[0].cache_hit and factory.generate_calls == calls
        await service.shutdown(1.0)

    arun(body())


def test_prefetch_refuses_seedless_or_invalid_requests_and_queues_nothing(tmp_path: Path) -> None:
    async def body() -> None:
        service, _ = make(tmp_path)
        await service.start()
        for bad, field in [(request(seed=None), "requests[1].seed"), (request(steps=0), "requests[1].steps")]:
            with pytest.raises(ServiceError) as info:
                await service.prefetch([request("fine", seed=3), bad])
            assert info.value.code is StatusCode.INVALID_ARGUMENT and info.value.field == field
        assert service.queue_depth == 0 and service.running_job_id == ""
        await service.shutdown(1.0)

    arun(body())


def test_prefetch_carries_media_in_no_more_requests_than_the_queue_holds(tmp_path: Path) -> None:
    """Each decoded medium is held until its job runs: a prefetch cannot make the daemon decode and
    hold more of them than it could queue."""

    def with_frames(seed: int) -> ClipRequest:
        frames = ltx2.RawFrames(64, 64, 24.0, bytes(9 * 64 * 64 * 3))
        values = {"prompt": "glass", "seed": seed, "steps": 2, "mode": ltx2.Mode.VIDEO_TO_AUDIO, "video_input": frames}
        return ClipRequest(values)

    async def body() -> None:
        service, _ = make(tmp_path, capacity=2)
        await service.start()
        with pytest.raises(ServiceError) as info:
            await service.prefetch([with_frames(1), with_frames(2), with_frames(3)])
        assert info.value.code is StatusCode.INVALID_ARGUMENT and info.value.field == "requests"
        assert "at most 2 (the queue capacity) may carry media" in info.value.message
        assert service.queue_depth == 0
        job_ids, cached = await service.prefetch([with_frames(1), with_frames(2)])
        assert len(job_ids) == 2 and all(job_ids) and cached == 0
        await service.shutdown(5.0)

    arun(body())


def test_prefetch_needs_a_cache() -> None:
    async def body() -> None:
        service, _ = make()
        await service.start()
        with pytest.raises(ServiceError) as info:
            await service.prefetch([request(seed=1)])
        assert info.value.code is StatusCode.FAILED_PRECONDITION
        await service.shutdown(1.0)

    arun(body())


def test_shutdown_cancels_queued_and_overdue_jobs_and_refuses_new_ones() -> None:
    gate = Gate({"running": 1})

    async def body() -> None:
        service, factory = make(on_step=gate)
        await service.start()
        running = Consumer(service.generate(request("running", steps=10)))
        await wait_until(gate.reached["running"].is_set)
        queued = Consumer(service.generate(request("queued")))
        await queued.accepted()
        stopping = asyncio.create_task(service.shutdown(grace_s=0.05))
        await queued.done()
        assert isinstance(queued.error, ServiceError) and queued.error.code is StatusCode.UNAVAILABLE
        with pytest.raises(ServiceError) as info:
            await collect(service, request("late"))
        assert info.value.code is StatusCode.UNAVAILABLE
        await asyncio.sleep(0.1)  # past the grace period: the running job is cancelled...
        gate.open_all()  # ...and stops at the next step boundary
        await stopping
        await running.done()
        assert isinstance(running.error, ServiceError) and running.error.code is StatusCode.UNAVAILABLE
        assert factory.engine.closed and not service.host.loaded

    arun(body())


def test_shutdown_lets_a_running_job_finish_within_the_grace_period() -> None:
    gate = Gate({"running": 1})

    async def body() -> None:
        service, _ = make(on_step=gate)
        await service.start()
        running = Consumer(service.generate(request("running", steps=3)))
        await wait_until(gate.reached["running"].is_set)
        stopping = asyncio.create_task(service.shutdown(grace_s=5.0))
        await asyncio.sleep(0.02)
        gate.open_all()
        await stopping
        await running.done()
        assert running.error is None and isinstance(running.events[-1], ltx2.Completed)

    arun(body())


def test_job_listener_gets_one_record_per_stream(tmp_path: Path) -> None:
    async def body() -> None:
        service, _ = make(tmp_path)
        records: list[StreamRecord] = []
        service.add_job_listener(records.append)
        service.add_job_listener(lambda record: 1 / 0)  # a broken listener harms nobody
        await service.start()
        await collect(service, ClipRequest.for_params(small_params(seed=21, tags={"scene": "intro"}), Priority.BATCH))
        await service.wait_background()
        await collect(service, request(seed=21))
        with pytest.raises(ServiceError):
            await collect(service, request(seed=21, deadline=time.monotonic() - 1, cache_policy=CachePolicy.BYPASS))
        assert [(r.outcome, r.cache_hit) for r in records] == [("OK", False), ("OK", True)]
        first = records[0]
        assert first.priority is Priority.BATCH and first.tags == {"scene": "intro"}
        assert first.first_chunk_s is not None and 0 <= first.queue_s <= first.first_chunk_s <= first.total_s
        await service.shutdown(1.0)

    arun(body())


def test_replays_count_against_the_capacity_and_can_be_cancelled_by_id(tmp_path: Path) -> None:
    async def body() -> None:
        service, _ = make(tmp_path, capacity=2)
        await service.start()
        await collect(service, request(seed=20, num_frames=33))
        replays = [service.generate(request(seed=20, num_frames=33)) for _ in range(2)]
        firsts = [await anext(r) for r in replays]  # two replays streaming, each holding a slot
        assert all(isinstance(a, Accepted) and a.cache_hit for a in firsts)
        assert service.scheduler.free_slots == 0
        with pytest.raises(ServiceError) as info:
            await collect(service, request(seed=20, num_frames=33))
        assert info.value.code is StatusCode.RESOURCE_EXHAUSTED
        assert await service.cancel(firsts[0].job_id) is True
        with pytest.raises(ServiceError) as cancelled:
            async for _ in replays[0]:
                pass
        assert cancelled.value.code is StatusCode.CANCELLED
        rest = [e async for e in replays[1]]
        assert isinstance(rest[-1], ltx2.Completed) and service.scheduler.free_slots == 2
        await service.shutdown(1.0)

    arun(body())


def test_a_generate_between_prefetch_checks_and_queueing_leaves_no_orphan_job(tmp_path: Path) -> None:
    gate = Gate({"blocker": 0})

    async def body() -> None:
        service, _ = make(tmp_path, capacity=2, on_step=gate)
        await service.start()
        blocker = Consumer(service.generate(request("blocker", cache_policy=CachePolicy.BYPASS)))
        await wait_until(gate.reached["blocker"].is_set)
        original = service._resolve
        intruders: list[Consumer] = []

        async def resolve_with_an_intruder(
            params: ltx2.GenerationParams, where: str = ""
        ) -> tuple[ltx2.GenerationParams, ltx2.ClipFormat]:
            if not intruders:  # a generate arrives while prefetch awaits the engine
                intruders.append(Consumer(service.generate(request("intruder", cache_policy=CachePolicy.BYPASS))))
                await intruders[0].accepted()
            return await original(params, where)

        service._resolve = resolve_with_an_intruder  # type: ignore[method-assign]
        with pytest.raises(ServiceError) as info:
            await service.prefetch([request(f"p{i}", seed=30 + i) for i in range(2)])
        assert info.value.code is StatusCode.RESOURCE_EXHAUSTED
        assert service.queue_depth == 1  # the intruder only: nothing of the prefetch was queued
        gate.open_all()
        await blocker.done()
        await intruders[0].done()
        assert isinstance(intruders[0].events[-1], ltx2.Completed)
        await service.shutdown(1.0)

    arun(body())


def _window_request(**values: object) -> ClipRequest:
    base = {"prompt": "a drum roll", "width": 64, "height": 64, "steps": 2, "seed": 4, "chunk_frames": 8}
    return ClipRequest(values={**base, **values}, priority=int(Priority.INTERACTIVE))


def test_a_chosen_length_is_accepted_once_known_cached_and_replayed(tmp_path: Path) -> None:
    async def body() -> None:
        gate = Gate({"ahead": 0})
        service, _ = make(tmp_path, chooses_frames=17, on_step=gate)
        await service.start()
        ahead = asyncio.ensure_future(collect(service, request("ahead", seed=1)))
        window = asyncio.ensure_future(collect(service, _window_request(max_seconds=2.0)))
        await asyncio.sleep(0.3)  # queued behind "ahead": its QUEUED notice is not sent, nor Accepted
        assert not window.done()
        gate.open_all()
        events = await window
        accepted, completed = events[0], events[-1]
        assert isinstance(accepted, Accepted) and accepted.format.num_frames == 17 and accepted.queue_position == 0
        assert not any(isinstance(e, ltx2.LengthChosen) for e in events)
        assert isinstance(events[1], ltx2.Progress) and events[1].phase is ltx2.Phase.ENCODING  # no stale notice
        assert completed.num_frames == sum(e.num_frames for e in events if isinstance(e, ltx2.VideoChunk)) == 17
        hit = await collect(service, _window_request(max_seconds=2.0))
        assert hit[0].cache_hit and hit[0].format == accepted.format and chunks(hit) == chunks(events)
        await ahead
        await service.shutdown(1.0)

    arun(body())


def test_an_engine_that_streams_before_saying_the_length_fails_the_job_not_the_daemon() -> None:
    async def body() -> None:
        service, _ = make(chooses_frames=17, says_length=False)
        await service.start()
        with pytest.raises(ServiceError) as info:
            await collect(service, _window_request(max_seconds=2.0))
        assert info.value.code is StatusCode.INTERNAL and "before saying the length" in info.value.message
        events = await collect(service, request(seed=2))  # still serving
        assert isinstance(events[-1], ltx2.Completed)
        await service.shutdown(1.0)

    arun(body())
