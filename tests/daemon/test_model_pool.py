"""Several configured models, one resident: switching between jobs, the order jobs of the resident
model take, REALTIME within and across models, and the refusals (fake engines, one per model)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import ltx2
from ltx2d.domain import Priority
from ltx2d.errors import ServiceError, StatusCode
from ltx2d.model_host import RELEASE_GRACE_S, ModelHost
from ltx2d.model_pool import ModelPool
from ltx2d.scheduler import MAX_PASSED_FOR_RESIDENT, Scheduler
from tests.fake_engine import FakeEngine, Gate, arun, drain, reading, small_params, wait_until

REALTIME, INTERACTIVE, BATCH = Priority.REALTIME, Priority.INTERACTIVE, Priority.BATCH


class Models:
    """Two fake models, "a" and "b", whose engines record the order runs start in and check, at
    every load, that no other model is loaded (one resident at a time)."""

    def __init__(self, gate: Gate | None = None, *, hold_load: dict[str, threading.Event] | None = None) -> None:
        self.gate = gate
        self.hold_load = hold_load or {}  # a model's load waits for its event
        self.fail_load: set[str] = set()  # models whose load raises
        self.started: list[str] = []  # "model:prompt", across both models
        self.loads: list[str] = []
        self.overlaps: list[str] = []  # a load while another model was loaded
        self._lock = threading.Lock()
        self.hosts = [self._host(name) for name in ("a", "b")]
        self.pool = ModelPool(self.hosts)

    def _host(self, name: str) -> ModelHost:
        def on_step(params: ltx2.GenerationParams, step: int) -> None:
            if step == 0:
                with self._lock:
                    self.started.append(f"{name}:{params.prompt}")
            if self.gate is not None:
                self.gate(params, step)

        def build() -> FakeEngine:
            self.loads.append(name)
            self.overlaps += [host.name for host in self.hosts if host.loaded]
            if name in self.hold_load and not self.hold_load[name].wait(10):
                raise TimeoutError("load never released")
            if name in self.fail_load:
                raise ltx2.CheckpointError(f"transformer/ of {name} is incomplete")
            return FakeEngine(fingerprint=f"fake-{name}", on_step=on_step)

        info = FakeEngine(fingerprint=f"fake-{name}").info()
        return ModelHost(build, describe_source=lambda: info, name=name)

    def host(self, name: str) -> ModelHost:
        return self.pool.host(name)

    def scheduler(self, capacity: int = 16) -> Scheduler:
        scheduler = Scheduler(self.pool, capacity)
        scheduler.start()
        return scheduler


async def blocked(scheduler: Scheduler, gate: Gate, priority: Priority = BATCH) -> asyncio.Future[list[object]]:
    """A job "blocker" on model a, held by `gate` at its step, read in a task."""
    blocker = reading(scheduler.submit("blocker", small_params("blocker"), priority, model="a"))
    await wait_until(gate.reached["blocker"].is_set)
    return blocker


def test_switching_unloads_the_resident_model_and_never_holds_two() -> None:
    async def body() -> None:
        models = Models()
        scheduler = models.scheduler()
        for prompt, model in (("one", "a"), ("two", "b"), ("three", "a"), ("four", ""), ("five", "b")):
            await drain(scheduler.submit(prompt, small_params(prompt), model=model))
            resident = models.pool.resident
            assert resident is not None and resident.name == (model or "a")
            assert [host.name for host in models.hosts if host.loaded] == [resident.name]
        assert models.started == ["a:one", "b:two", "a:three", "a:four", "b:five"]
        assert models.loads == ["a", "b", "a", "b"] and models.overlaps == []
        await scheduler.shutdown(1.0)

    arun(body())


def test_queued_jobs_of_the_resident_model_go_first_within_a_priority_but_not_for_ever() -> None:
    gate = Gate({"blocker": 0})

    async def body() -> None:
        models = Models(gate)
        scheduler = models.scheduler()
        blocker = await blocked(scheduler, gate, REALTIME)
        # b's job is the oldest, but each a job after it saves a switch: up to the bound.
        jobs = [scheduler.submit("b-old", small_params("b-old"), model="b")]
        count = MAX_PASSED_FOR_RESIDENT + 2
        jobs += [scheduler.submit(f"a{i}", small_params(f"a{i}"), model="a") for i in range(count)]
        jobs.append(scheduler.submit("batch-a", small_params("batch-a"), BATCH, model="a"))
        readers = [reading(job) for job in jobs]
        gate.open_all()
        await blocker
        await asyncio.gather(*readers)
        passed = [f"a:a{i}" for i in range(MAX_PASSED_FOR_RESIDENT)]
        # After b-old, b is resident: the remaining INTERACTIVE a jobs go before nothing of b,
        # and the BATCH job comes last whatever its model.
        rest = [f"a:a{i}" for i in range(MAX_PASSED_FOR_RESIDENT, MAX_PASSED_FOR_RESIDENT + 2)]
        assert models.started == ["a:blocker", *passed, "b:b-old", *rest, "a:batch-a"]
        assert models.loads == ["a", "b", "a"] and models.overlaps == []
        await scheduler.shutdown(1.0)

    arun(body())


def test_realtime_for_the_resident_model_preempts_and_does_not_wait_behind_a_switch() -> None:
    gate = Gate({"blocker": 1})

    async def body() -> None:
        models = Models(gate)
        scheduler = models.scheduler()
        blocker = await blocked(scheduler, gate)
        other = reading(scheduler.submit("b-first", small_params("b-first"), REALTIME, model="b"))
        mine = reading(scheduler.submit("a-rt", small_params("a-rt"), REALTIME, model="a"))
        await asyncio.sleep(0.05)
        gate.open_all()
        await asyncio.gather(blocker, other, mine)
        # a-rt paused the blocker (same model); b-first, older and REALTIME too, did not: it
        # cannot run while a's job holds the device, and it does not keep a-rt waiting.
        assert models.started == ["a:blocker", "a:a-rt", "b:b-first"]
        assert scheduler.preemptions == 1
        assert models.loads == ["a", "b"] and models.overlaps == []
        await scheduler.shutdown(1.0)

    arun(body())


def test_realtime_for_another_model_waits_for_the_running_job_then_goes_first() -> None:
    gate = Gate({"blocker": 1})

    async def body() -> None:
        models = Models(gate)
        scheduler = models.scheduler()
        blocker = await blocked(scheduler, gate)
        same = reading(scheduler.submit("a-next", small_params("a-next"), INTERACTIVE, model="a"))
        rt = reading(scheduler.submit("b-rt", small_params("b-rt"), REALTIME, model="b"))
        await asyncio.sleep(0.05)
        assert scheduler.get("blocker").state.value == "running"  # type: ignore[union-attr]
        gate.open_all()
        await asyncio.gather(blocker, same, rt)
        assert models.started == ["a:blocker", "b:b-rt", "a:a-next"]
        assert scheduler.preemptions == 0 and models.overlaps == []
        await scheduler.shutdown(1.0)

    arun(body())


def test_an_unknown_model_is_refused_naming_the_field_and_a_busy_one_blocks_a_switch() -> None:
    gate = Gate({"blocker": 0})

    async def body() -> None:
        models = Models(gate)
        scheduler = models.scheduler()
        with pytest.raises(ServiceError) as info:
            scheduler.submit("x", small_params("x"), model="c")
        assert info.value.code is StatusCode.INVALID_ARGUMENT and info.value.field == "model"
        assert "'c'" in info.value.message and "a, b" in info.value.message
        blocker = await blocked(scheduler, gate, INTERACTIVE)
        with pytest.raises(ServiceError) as busy:
            await models.pool.load("b")
        assert busy.value.code is StatusCode.FAILED_PRECONDITION and "'a'" in busy.value.message
        with pytest.raises(ServiceError) as unload:
            await models.pool.unload()
        assert unload.value.code is StatusCode.FAILED_PRECONDITION
        gate.open_all()
        await blocker
        loaded = await models.pool.load("b")  # idle now: the switch is made
        assert loaded.fingerprint == "fake-b" and not models.host("a").loaded
        assert await models.pool.unload() and models.pool.resident is None
        await scheduler.shutdown(1.0)

    arun(body())


def test_a_cancelled_load_finishes_before_another_model_loads() -> None:
    release = threading.Event()

    async def body() -> None:
        models = Models(hold_load={"b": release})
        scheduler = models.scheduler()
        load = asyncio.ensure_future(models.pool.load("b"))
        await wait_until(lambda: models.loads == ["b"])
        load.cancel()  # the client gave up (deadline, disconnect): b's load goes on, shielded
        with pytest.raises(asyncio.CancelledError):
            await load
        job = reading(scheduler.submit("one", small_params("one"), model="a"))
        await asyncio.sleep(0.05)
        assert models.loads == ["b"]  # a waits for b to be in, then out
        release.set()
        await job
        assert models.loads == ["b", "a"] and models.overlaps == []
        assert not models.host("b").loaded and models.host("a").loaded
        await scheduler.shutdown(1.0)

    arun(body())


def test_a_model_that_fails_to_load_fails_its_jobs_naming_it_and_the_other_still_serves() -> None:
    async def body() -> None:
        models = Models()
        models.fail_load.add("b")
        scheduler = models.scheduler()
        await drain(scheduler.submit("one", small_params("one"), model="a"))
        with pytest.raises(ServiceError) as failed:
            await drain(scheduler.submit("two", small_params("two"), model="b"))
        assert failed.value.code is StatusCode.FAILED_PRECONDITION
        assert "model 'b'" in failed.value.message and "incomplete" in failed.value.message
        await drain(scheduler.submit("three", small_params("three"), model="a"))
        assert models.started == ["a:one", "a:three"] and models.pool.resident is models.host("a")
        assert models.loads == ["a", "b", "a"]
        # b again, soon after: refused at once, a stays loaded (no thrash); an explicit Load retries.
        with pytest.raises(ServiceError) as again:
            await drain(scheduler.submit("four", small_params("four"), model="b"))
        assert "model 'b'" in again.value.message and "tried again after" in again.value.message
        assert models.loads == ["a", "b", "a"] and models.host("a").loaded
        models.fail_load.clear()
        assert (await models.pool.load("b")).fingerprint == "fake-b"
        assert models.loads == ["a", "b", "a", "b"] and models.overlaps == []
        await scheduler.shutdown(1.0)

    arun(body())


def test_several_models_need_to_be_described_without_loading() -> None:
    undescribed = [ModelHost(FakeEngine, name="a"), ModelHost(FakeEngine, name="b")]
    with pytest.raises(ValueError, match="describe_source"):
        ModelPool(undescribed)
    with pytest.raises(ValueError, match="must differ"):
        ModelPool([ModelHost(FakeEngine, name="a"), ModelHost(FakeEngine, name="a")])


def test_a_switch_waits_for_a_job_that_is_ending_and_refuses_one_that_runs() -> None:
    """A job whose client has its Completed still holds the engine while its thread unwinds: a Load
    sent right then waits for it (CI caught the refusal), one sent during a long job is refused."""

    async def body() -> None:
        models = Models()
        await models.pool.load("a")
        host = models.host("a")
        host.acquire()  # a job ending: it lets go in 50 ms
        asyncio.get_running_loop().call_later(0.05, host.release)
        assert (await models.pool.load("b")).fingerprint == "fake-b" and not host.loaded
        models.host("b").acquire()  # a job that goes on running
        started = time.monotonic()
        with pytest.raises(ServiceError) as busy:
            await models.pool.load("a")
        assert busy.value.code is StatusCode.FAILED_PRECONDITION
        assert time.monotonic() - started >= RELEASE_GRACE_S * 0.9
        models.host("b").release()

    arun(body())
