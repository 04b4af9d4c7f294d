"""ModelHost: lazy load, shared loads, unload, keep-alive idle unload, load errors."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

import pytest

import ltx2
from ltx2d.errors import ServiceError, StatusCode
from ltx2d.model_host import ModelHost
from tests.fake_engine import FakeEngine, FakeEngineFactory, arun, wait_until


def test_loads_lazily_once_for_concurrent_callers_off_the_loop() -> None:
    release = threading.Event()
    factory = FakeEngineFactory()

    def slow_factory() -> FakeEngine:
        assert release.wait(5)
        return factory()

    async def body() -> None:
        host = ModelHost(slow_factory)
        assert not host.loaded and host.info() is None
        waiters = [asyncio.create_task(host.engine()) for _ in range(3)]
        ticks = 0
        while ticks < 5:  # the loop keeps running while the factory blocks in its thread
            await asyncio.sleep(0.001)
            ticks += 1
        release.set()
        engines = await asyncio.gather(*waiters)
        assert len(factory.built) == 1 and all(e is engines[0] for e in engines)
        assert host.loaded and host.loads == 1
        info = host.info()
        assert info is not None and info.fingerprint == "fake-model-1"

    arun(body())


def test_caller_going_away_does_not_abandon_the_load() -> None:
    factory = FakeEngineFactory()

    async def body() -> None:
        host = ModelHost(factory)
        waiter = asyncio.create_task(host.engine())
        await asyncio.sleep(0)
        waiter.cancel()
        await wait_until(lambda: host.loaded)
        assert await host.engine() is factory.engine
        assert len(factory.built) == 1

    arun(body())


def test_unload_closes_and_a_later_use_reloads() -> None:
    factory = FakeEngineFactory()

    async def body() -> None:
        host = ModelHost(factory)
        assert await host.unload() is False  # nothing loaded
        info = await host.load()
        assert info.model_id == "fake"
        first = factory.engine
        assert await host.unload() is True
        assert first.closed and not host.loaded
        assert host.info() == info  # the last model is still known (its fingerprint keys the cache)
        assert await host.engine() is not first
        assert host.loads == 2

    arun(body())


def test_unload_is_refused_while_a_job_holds_the_engine() -> None:
    async def body() -> None:
        host = ModelHost(FakeEngineFactory())
        await host.load()
        host.acquire()
        with pytest.raises(ServiceError) as info:
            await host.unload()
        assert info.value.code is StatusCode.FAILED_PRECONDITION
        host.release()
        assert await host.unload() is True

    arun(body())


def test_unload_waiting_on_a_load_is_refused_when_a_job_took_the_engine_meanwhile() -> None:
    release = threading.Event()
    factory = FakeEngineFactory()

    def slow_factory() -> FakeEngine:
        assert release.wait(5)
        return factory()

    async def body() -> None:
        host = ModelHost(slow_factory)
        loading = asyncio.create_task(host.load())
        await asyncio.sleep(0.01)
        unloading = asyncio.create_task(host.unload())  # waits for the load to finish
        await asyncio.sleep(0.01)
        host.acquire()  # a job arrives and waits for the same load
        job_engine = asyncio.create_task(host.engine())
        release.set()
        await loading
        assert await job_engine is factory.engine
        with pytest.raises(ServiceError) as info:
            await unloading
        assert info.value.code is StatusCode.FAILED_PRECONDITION
        assert host.loaded and not factory.engine.closed

    arun(body())


def test_keep_alive_unloads_after_idle_time_but_not_while_in_use() -> None:
    factory = FakeEngineFactory()

    async def body() -> None:
        host = ModelHost(factory, keep_alive_s=0.05)
        await host.load()
        host.acquire()
        await asyncio.sleep(0.12)
        assert host.loaded  # held by a job: no idle unload
        host.release()
        await wait_until(lambda: factory.engine.closed, timeout=2)
        assert not host.loaded
        await host.engine()
        assert host.loaded and host.loads == 2

    arun(body())


def test_keep_alive_zero_never_unloads() -> None:
    async def body() -> None:
        host = ModelHost(FakeEngineFactory(), keep_alive_s=0)
        await host.load()
        host.acquire()
        host.release()
        await asyncio.sleep(0.05)
        assert host.loaded

    arun(body())


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_keep_alive_must_be_a_finite_non_negative_number(bad: float) -> None:
    with pytest.raises(ValueError, match="keep_alive_s"):
        ModelHost(FakeEngineFactory(), keep_alive_s=bad)


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ltx2.CheckpointError("no model_index.json in /models/x"), StatusCode.FAILED_PRECONDITION),
        (ltx2.OutOfMemory("CUDA out of memory"), StatusCode.RESOURCE_EXHAUSTED),
        (RuntimeError("driver exploded"), StatusCode.INTERNAL),
    ],
)
def test_load_errors_become_service_errors_and_a_retry_can_succeed(exc: Exception, code: StatusCode) -> None:
    factory = FakeEngineFactory()
    failures = [exc]

    def flaky() -> FakeEngine:
        if failures:
            raise failures.pop()
        return factory()

    async def body() -> None:
        host = ModelHost(flaky)
        with pytest.raises(ServiceError) as info:
            await host.load()
        assert info.value.code is code
        assert str(exc) in info.value.message
        assert not host.loaded
        await host.load()
        assert host.loaded

    arun(body())


def test_a_load_is_done_only_after_the_warm_up_ran() -> None:
    """The real engine measures its vocoder on its first clip_format (4 s on the tiny model): the
    host does it while loading, so the first request after ready does not wait for it."""
    warmed: list[ltx2.GenerationParams] = []

    class LazyEngine(FakeEngine):
        def clip_format(self, params: ltx2.GenerationParams) -> ltx2.ClipFormat:
            warmed.append(params)
            return super().clip_format(params)

    async def body() -> None:
        params = ltx2.GenerationParams(prompt="warm-up", seed=0)
        host = ModelHost(LazyEngine, warm_up_params=params)
        await host.load()
        assert warmed == [params]

    arun(body())


def test_the_fingerprint_comes_from_the_checkpoint_without_loading() -> None:
    async def body() -> None:
        calls: list[int] = []
        factory = FakeEngineFactory()
        described = replace(FakeEngine().info(), fingerprint="from-files")
        host = ModelHost(factory, describe_source=lambda: calls.append(1) or described)
        assert await host.fingerprint() == "from-files" and await host.fingerprint() == "from-files"
        assert calls == [1] and factory.built == [] and not host.loaded
        await host.load()  # once loaded, the model's own fingerprint is the one used
        assert await host.fingerprint() == "fake-model-1"
        bare = ModelHost(FakeEngineFactory())  # no source: learning it means loading
        assert await bare.fingerprint() == "fake-model-1" and bare.loaded

    arun(body())


def test_the_daemons_checkpoint_description_is_the_loaded_models(tiny_checkpoint: object) -> None:
    from pathlib import Path

    from ltx2.loader import load_pipeline
    from ltx2d.config import DaemonConfig, ModelSpec
    from ltx2d.server import checkpoint_description

    path = Path(str(tiny_checkpoint))
    spec = ModelSpec("default", path)
    described = checkpoint_description(DaemonConfig(models=(spec,)), spec)()
    loaded = load_pipeline(path).info
    assert (described.fingerprint, described.version, described.native_sample_rate) == (
        loaded.fingerprint,
        loaded.version,
        loaded.native_sample_rate,
    )
