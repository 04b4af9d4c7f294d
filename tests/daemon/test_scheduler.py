"""Scheduler on a fake engine: order, admission, cancel, deadlines, preemption, engine errors."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import pytest

import ltx2
from ltx2d.domain import Priority, stream_messages
from ltx2d.errors import ServiceError, StatusCode
from ltx2d.model_host import ModelHost
from ltx2d.scheduler import Job, JobState, Scheduler
from tests.fake_engine import FakeEngine, FakeEngineFactory, Gate, arun, drain, reading, small_params, wait_until

REALTIME, INTERACTIVE, BATCH = Priority.REALTIME, Priority.INTERACTIVE, Priority.BATCH


def make(capacity: int = 8, **engine_kwargs: object) -> tuple[FakeEngineFactory, ModelHost, Scheduler]:
    factory = FakeEngineFactory(**engine_kwargs)
    host = ModelHost(factory)
    scheduler = Scheduler(host, capacity)
    scheduler.start()
    return factory, host, scheduler


async def failure(job: Job | asyncio.Future[list[object]]) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        await (drain(job) if isinstance(job, Job) else job)
    return info.value


def _engine_events(events: list[object]) -> list[object]:
    """Events without the scheduler's own QUEUED and PAUSED notices."""
    own = (ltx2.Phase.PAUSED, ltx2.Phase.QUEUED)
    return [e for e in events if not (isinstance(e, ltx2.Progress) and e.phase in own)]


def test_priority_order_and_fifo_within_a_priority() -> None:
    gate = Gate({"blocker": 0})

    async def body() -> None:
        factory, _, scheduler = make(on_step=gate)
        # REALTIME so that the jobs queued behind it do not preempt it.
        blocker = reading(scheduler.submit("blocker", small_params("blocker"), REALTIME))
        await wait_until(gate.reached["blocker"].is_set)
        order = [("b1", BATCH), ("i1", INTERACTIVE), ("r1", REALTIME)]
        order += [("b2", BATCH), ("i2", INTERACTIVE), ("r2", REALTIME)]
        jobs = [scheduler.submit(name, small_params(name), priority) for name, priority in order]
        assert [job.queue_position for job in jobs] == [0, 0, 0, 3, 2, 1]
        assert scheduler.queue_depth == 6
        assert scheduler.running_job_id == "blocker"
        readers = [reading(job) for job in jobs]
        gate.open_all()
        assert isinstance((await blocker)[-1], ltx2.Completed)
        for events in await asyncio.gather(*readers):
            assert isinstance(events[-1], ltx2.Completed)
        assert factory.engine.started == ["blocker", "r1", "r2", "i1", "i2", "b1", "b2"]
        assert factory.engine.max_running == 1
        assert scheduler.queue_depth == 0
        await scheduler.shutdown(1.0)

    arun(body())


def test_full_queue_is_refused_at_once_and_frees_up() -> None:
    gate = Gate({"blocker": 0})

    async def body() -> None:
        _, _, scheduler = make(capacity=2, on_step=gate)
        blocker = reading(scheduler.submit("blocker", small_params("blocker")))
        await wait_until(gate.reached["blocker"].is_set)
        queued = [scheduler.submit(f"q{i}", small_params(f"q{i}")) for i in range(2)]
        with pytest.raises(ServiceError) as info:
            scheduler.submit("one-too-many", small_params("x"))
        assert info.value.code is StatusCode.RESOURCE_EXHAUSTED
        assert "queue is full" in info.value.message
        gate.open_all()
        await blocker
        for job in queued:
            await drain(job)
        await drain(scheduler.submit("later", small_params("later")))
        await scheduler.shutdown(1.0)

    arun(body())


def test_cancel_queued_job_leaves_the_queue_and_never_runs() -> None:
    gate = Gate({"blocker": 0})

    async def body() -> None:
        factory, _, scheduler = make(on_step=gate)
        blocker = reading(scheduler.submit("blocker", small_params("blocker")))
        await wait_until(gate.reached["blocker"].is_set)
        queued = scheduler.submit("queued", small_params("queued"))
        assert scheduler.cancel("queued") is True
        assert (await failure(queued)).code is StatusCode.CANCELLED
        assert scheduler.queue_depth == 0
        assert scheduler.cancel("queued") is False
        assert scheduler.cancel("no-such-job") is False
        gate.open_all()
        await blocker
        await drain(scheduler.submit("after", small_params("after")))
        assert factory.engine.started == ["blocker", "after"]
        await scheduler.shutdown(1.0)

    arun(body())


def test_many_cancelled_queued_jobs_do_not_pile_up() -> None:
    gate = Gate({"blocker": 0})

    async def body() -> None:
        _, _, scheduler = make(capacity=2, on_step=gate)
        blocker = reading(scheduler.submit("blocker", small_params("blocker")))
        await wait_until(gate.reached["blocker"].is_set)
        for i in range(500):
            scheduler.submit(f"spam{i}", small_params("spam"))
            assert scheduler.cancel(f"spam{i}")
        keep = scheduler.submit("keep", small_params("keep"))
        assert scheduler.queue_depth == 1 and len(scheduler._jobs) == 2  # blocker and keep: nothing piles up
        gate.open_all()
        await blocker
        await drain(keep)
        await scheduler.shutdown(1.0)

    arun(body())


def test_cancel_running_job_stops_within_one_step_and_next_job_runs() -> None:
    gate = Gate({"long": 2})

    async def body() -> None:
        factory, _, scheduler = make(on_step=gate)
        job = reading(scheduler.submit("long", small_params("long", steps=20)))
        await wait_until(gate.reached["long"].is_set)
        assert scheduler.cancel("long") is True
        gate.open("long")  # the step in flight finishes; the checkpoint after it stops the job
        error = await failure(job)
        assert error.code is StatusCode.CANCELLED
        assert factory.engine.steps_run == 3
        assert isinstance((await drain(scheduler.submit("next", small_params("next"))))[-1], ltx2.Completed)
        assert factory.engine.finished == ["next"]
        await scheduler.shutdown(1.0)

    arun(body())


def test_deadline_passing_while_queued() -> None:
    gate = Gate({"blocker": 0})

    async def body() -> None:
        factory, _, scheduler = make(on_step=gate)
        blocker = reading(scheduler.submit("blocker", small_params("blocker")))
        await wait_until(gate.reached["blocker"].is_set)
        late = scheduler.submit("late", small_params("late"), deadline=time.monotonic() + 0.05)
        error = await failure(late)  # while the blocker still holds the worker
        assert error.code is StatusCode.DEADLINE_EXCEEDED
        assert "queued" in error.message
        assert scheduler.queue_depth == 0
        gate.open_all()
        await blocker
        assert "late" not in factory.engine.started
        await scheduler.shutdown(1.0)

    arun(body())


def test_deadline_passing_while_running_and_next_job_runs() -> None:
    async def body() -> None:
        factory, _, scheduler = make(step_s=0.005)
        job = scheduler.submit("slow", small_params("slow", steps=100), deadline=time.monotonic() + 0.1)
        error = await failure(job)
        assert error.code is StatusCode.DEADLINE_EXCEEDED
        assert "running" in error.message
        assert factory.engine.steps_run < 100
        await drain(scheduler.submit("next", small_params("next")))
        await scheduler.shutdown(1.0)

    arun(body())


def test_deadline_already_passed_is_refused() -> None:
    async def body() -> None:
        _, _, scheduler = make()
        with pytest.raises(ServiceError) as info:
            scheduler.submit("x", small_params(), deadline=time.monotonic() - 1)
        assert info.value.code is StatusCode.DEADLINE_EXCEEDED
        await scheduler.shutdown(1.0)

    arun(body())


@pytest.mark.parametrize("victim_priority", [INTERACTIVE, BATCH])
def test_realtime_preempts_and_paused_job_resumes_identically(victim_priority: Priority) -> None:
    gate = Gate({"cutscene": 3})

    async def body() -> None:
        factory, _, scheduler = make(on_step=gate)
        params = small_params("cutscene", steps=8, seed=42)
        job = scheduler.submit("cutscene", params, victim_priority)
        cutscene = reading(job)
        await wait_until(gate.reached["cutscene"].is_set)
        foley1 = scheduler.submit("foley1", small_params("foley1", steps=2, audio_only=True), REALTIME)
        foley2 = scheduler.submit("foley2", small_params("foley2", steps=2), REALTIME)
        await wait_until(lambda: job.state is JobState.PAUSING)
        gate.open("cutscene")
        await drain(foley1)
        await drain(foley2)
        events = await cutscene
        engine = factory.engine
        assert engine.started == ["cutscene", "foley1", "foley2"]
        assert engine.finished == ["foley1", "foley2", "cutscene"]
        assert engine.max_running == 1
        assert scheduler.preemptions == 1
        paused = [e for e in events if isinstance(e, ltx2.Progress) and e.phase is ltx2.Phase.PAUSED]
        assert len(paused) == 1 and paused[0].step == 4
        queued = [e for e in events if isinstance(e, ltx2.Progress) and e.phase is ltx2.Phase.QUEUED]
        assert [(q.step, q.queue_position) for q in queued] == [(4, 2)]  # two REALTIME jobs ahead
        assert _engine_events(events) == list(FakeEngine().generate(params))
        await scheduler.shutdown(1.0)

    arun(body())


def _kinds(events: list[object]) -> str:
    """a(udio) v(ideo) p(rogress) c(ompleted), for matching the contract's order."""
    return "".join({ltx2.AudioChunk: "a", ltx2.VideoChunk: "v", ltx2.Progress: "p"}.get(type(e), "c") for e in events)


@pytest.mark.parametrize("after", ["audio", "first video part"])
def test_a_job_paused_inside_a_chunk_says_so_only_between_whole_chunks(after: str) -> None:
    """A REALTIME job arriving while a chunk's messages are being read (after its audio, or after
    the first part of its video) pauses the job, but PAUSED and QUEUED come after the chunk's last
    message: the contract puts Progress only between whole chunks (the SDK's checker refused the
    PAUSED that came between an AudioChunk and its video)."""

    async def body() -> None:
        factory = FakeEngineFactory()
        scheduler = Scheduler(ModelHost(factory), 8, messages=stream_messages)
        scheduler.start()
        params = small_params("cutscene", width=768, height=512, num_frames=17, chunk_frames=8)
        job = scheduler.submit("cutscene", params, BATCH)
        events: list[object] = []
        foley = None
        while (event := await job.next_event()) is not None:
            events.append(event)
            trigger = isinstance(event, ltx2.AudioChunk) if after == "audio" else isinstance(event, ltx2.VideoChunk)
            if trigger and foley is None:
                foley = reading(scheduler.submit("foley", small_params("foley", steps=2), REALTIME))
                # The pause itself may last a few ms: wait for its count, not for the state.
                await wait_until(lambda: scheduler.preemptions == 1)
        await foley
        assert factory.engine.finished == ["foley", "cutscene"]  # it did pause for the foley
        assert factory.engine.max_running == 1  # handing over the rest of the chunk computed nothing
        kinds = _kinds(events)
        # 768x512 frames go three to a message: each chunk's audio, then its video in parts.
        assert re.fullmatch(r"p*(av+p*)+c", kinds), kinds
        paused = kinds.index("p", kinds.index("a"))
        assert isinstance(events[paused], ltx2.Progress) and events[paused].phase is ltx2.Phase.PAUSED
        assert kinds[paused - 1] == "v"  # right after the last part of the chunk it paused in
        await scheduler.shutdown(1.0)

    arun(body())


def test_cancelling_a_paused_job_ends_it_while_realtime_runs() -> None:
    gate = Gate({"cutscene": 1, "foley": 0})

    async def body() -> None:
        factory, _, scheduler = make(on_step=gate)
        job = scheduler.submit("cutscene", small_params("cutscene", steps=8))
        cutscene = reading(job)
        await wait_until(gate.reached["cutscene"].is_set)
        foley = reading(scheduler.submit("foley", small_params("foley"), REALTIME))
        await wait_until(lambda: job.state is JobState.PAUSING)
        gate.open("cutscene")
        await wait_until(gate.reached["foley"].is_set)  # the cutscene is parked now
        assert scheduler.running_job_id == "foley"
        assert scheduler.cancel("cutscene") is True
        assert (await failure(cutscene)).code is StatusCode.CANCELLED
        gate.open("foley")
        await foley
        assert factory.engine.finished == ["foley"]
        await drain(scheduler.submit("next", small_params("next")))
        await scheduler.shutdown(1.0)

    arun(body())


@pytest.mark.parametrize(
    ("exc", "code", "text", "field"),
    [
        (ltx2.OutOfMemory("CUDA out of memory"), StatusCode.RESOURCE_EXHAUSTED, "GPU out of memory", None),
        (RuntimeError("kaput"), StatusCode.INTERNAL, "kaput", None),
        (ltx2.InvalidParams("width", 64, "too small"), StatusCode.INVALID_ARGUMENT, "too small", "width"),
    ],
)
def test_engine_errors_fail_the_job_and_the_next_job_is_served(
    exc: Exception, code: StatusCode, text: str, field: str | None
) -> None:
    async def body() -> None:
        factory, host, scheduler = make()
        await host.load()
        factory.engine.fail_with = (2, exc)
        error = await failure(scheduler.submit("doomed", small_params("doomed")))
        assert error.code is code
        assert text in error.message
        assert error.field == field
        assert isinstance((await drain(scheduler.submit("next", small_params("next"))))[-1], ltx2.Completed)
        assert host.in_use == 0
        await scheduler.shutdown(1.0)

    arun(body())


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        Scheduler(ModelHost(FakeEngineFactory()), 0)


# --- back-pressure: the engine is paced by the consumer; a stalled consumer is parked, then cancelled ---


def make_stalling(stall_limit_s: float, **engine_kwargs: object) -> tuple[FakeEngineFactory, Scheduler]:
    factory = FakeEngineFactory(**engine_kwargs)
    scheduler = Scheduler(ModelHost(factory), 8, stall_limit_s=stall_limit_s)
    scheduler.start()
    return factory, scheduler


def test_a_consumer_that_stops_reading_stops_the_engine() -> None:
    async def body() -> None:
        factory, scheduler = make_stalling(0)
        job = scheduler.submit("big", small_params("big", steps=6, num_frames=65))
        first = await job.next_event()  # ENCODING; then the consumer stops reading
        assert isinstance(first, ltx2.Progress) and first.phase is ltx2.Phase.ENCODING
        await asyncio.sleep(0.3)
        # Lock-step: the engine handed over one more event and waits; nothing piles up.
        assert factory.engine.steps_run <= 1
        assert job._notices == [] and job.stream is not None and job.stream.stalled
        events = [first, *await drain(job)]
        assert _engine_events(events) == list(FakeEngine().generate(small_params("big", steps=6, num_frames=65)))
        await scheduler.shutdown(1.0)

    arun(body())


def test_the_stall_limit_cancels_the_job_with_a_clear_status_and_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        factory, scheduler = make_stalling(0.3)
        job = scheduler.submit("stalled", small_params("stalled", steps=6))
        await job.next_event()  # then nothing for longer than the limit
        await asyncio.wait_for(job.finished.wait(), 5)
        error = await failure(job)
        assert error.code is StatusCode.CANCELLED
        assert "read nothing for 0.3 s" in error.message and "LTX2D_STALL_LIMIT" in error.message
        assert scheduler.stalls == 1 and factory.engine.finished == []
        # The worker is free again.
        assert isinstance((await drain(scheduler.submit("next", small_params("next"))))[-1], ltx2.Completed)
        await scheduler.shutdown(1.0)

    arun(body())
    assert any(getattr(r, "event", None) == "job_stalled" for r in caplog.records)


def test_a_stalled_job_does_not_hold_up_a_realtime_job() -> None:
    async def body() -> None:
        factory, scheduler = make_stalling(0)
        stalled = scheduler.submit("stalled", small_params("stalled", steps=6))
        await stalled.next_event()
        await wait_until(lambda: stalled.stream is not None and stalled.stream.stalled)
        foley = await asyncio.wait_for(drain(scheduler.submit("foley", small_params("foley"), REALTIME)), 5)
        assert isinstance(foley[-1], ltx2.Completed)
        assert stalled.state is JobState.PAUSED or stalled.state is JobState.RUNNING
        assert factory.engine.max_running == 1  # the stalled job computed nothing meanwhile
        events = await drain(stalled)  # its consumer is back: it resumes and completes
        assert isinstance(events[-1], ltx2.Completed)
        assert scheduler.preemptions == 1
        await scheduler.shutdown(1.0)

    arun(body())


def test_a_stalled_job_is_parked_while_others_wait_and_resumes_when_read_again() -> None:
    async def body() -> None:
        factory, scheduler = make_stalling(0)
        params = small_params("stalled", steps=6, seed=4)
        stalled = scheduler.submit("stalled", params)
        first = await stalled.next_event()
        await wait_until(lambda: stalled.stream is not None and stalled.stream.stalled)
        waiting = scheduler.submit("other", small_params("other"))
        other = await asyncio.wait_for(drain(waiting), 5)  # runs once the stalled job is parked
        assert isinstance(other[-1], ltx2.Completed)
        assert factory.engine.finished == ["other"] and factory.engine.max_running == 1
        events = [first, *await drain(stalled)]
        assert _engine_events(events) == list(FakeEngine().generate(params))
        await scheduler.shutdown(1.0)

    arun(body())


def test_a_waiting_job_hears_queued_with_its_position() -> None:
    gate = Gate({"blocker": 0})

    async def body() -> None:
        _, _, scheduler = make(on_step=gate)
        blocker = reading(scheduler.submit("blocker", small_params("blocker")))
        await wait_until(gate.reached["blocker"].is_set)
        later = [scheduler.submit(f"j{i}", small_params(f"j{i}")) for i in range(2)]
        notices = [await job.next_event() for job in later]
        assert [(n.phase, n.queue_position) for n in notices] == [(ltx2.Phase.QUEUED, 0), (ltx2.Phase.QUEUED, 1)]
        readers = [reading(job) for job in later]
        gate.open_all()
        await blocker
        for events in await asyncio.gather(*readers):
            assert isinstance(events[-1], ltx2.Completed)
        await scheduler.shutdown(1.0)

    arun(body())


def test_submit_all_queues_every_job_or_none() -> None:
    gate = Gate({"blocker": 0})

    async def body() -> None:
        _, _, scheduler = make(capacity=3, on_step=gate)
        blocker = reading(scheduler.submit("blocker", small_params("blocker")))
        await wait_until(gate.reached["blocker"].is_set)
        scheduler.submit("one", small_params("one"))
        specs = [(f"p{i}", small_params(f"p{i}"), BATCH, None, None) for i in range(3)]
        with pytest.raises(ServiceError) as info:
            scheduler.submit_all(specs)
        assert info.value.code is StatusCode.RESOURCE_EXHAUSTED and "room for 2" in info.value.message
        assert scheduler.queue_depth == 1 and all(scheduler.get(f"p{i}") is None for i in range(3))
        jobs = scheduler.submit_all(specs[:2])
        assert scheduler.queue_depth == 3
        readers = [reading(job) for job in [scheduler.get("one"), *jobs]]  # type: ignore[list-item]
        gate.open_all()
        await blocker
        await asyncio.gather(*readers)
        await scheduler.shutdown(1.0)

    arun(body())


def test_a_job_whose_completed_was_read_is_no_longer_reported_running() -> None:
    """A client that has seen Completed and then asks GetInfo must not see its job running,
    even while the job's thread is still unwinding (it used to, for a moment: CI caught it)."""
    unwinding = threading.Event()
    release = threading.Event()

    async def body() -> None:
        factory, _, scheduler = make()
        await scheduler._pool.host().engine()
        engine = factory.engine
        plain = engine.generate

        def slow_to_end(params: ltx2.GenerationParams, control: ltx2.JobControl | None = None):  # type: ignore[no-untyped-def]
            def run():  # type: ignore[no-untyped-def]
                yield from plain(params, control)
                unwinding.set()
                release.wait(10)

            return run()

        engine.generate = slow_to_end  # type: ignore[method-assign]
        job = scheduler.submit("j", small_params("j"))
        while not isinstance(await job.next_event(), ltx2.Completed):
            assert scheduler.running_job_id in ("j", "")
        assert scheduler.running_job_id == "" and not job.done  # its thread waits to be let on
        end = asyncio.ensure_future(job.next_event())
        await wait_until(unwinding.is_set)
        assert scheduler.running_job_id == "" and not job.done  # the thread has not ended yet
        release.set()
        assert await end is None
        await scheduler.shutdown(1.0)

    arun(body())
