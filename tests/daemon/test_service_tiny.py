"""The service over the real engine on the tiny checkpoint (CPU): streams, preemption, cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import ltx2
from ltx2d.domain import Accepted, ClipRequest, Priority
from ltx2d.model_host import ModelHost
from ltx2d.result_cache import ResultCache
from ltx2d.service import Ltx2dService
from tests.fake_engine import Consumer, arun

CUTSCENE = ltx2.GenerationParams(
    prompt="a door creaks open", width=64, height=64, num_frames=17, chunk_frames=8, steps=8, seed=3
)
FOLEY = ltx2.GenerationParams(
    prompt="glass breaks", width=64, height=64, num_frames=9, chunk_frames=8, steps=2, seed=4, audio_only=True
)


def chunks(events: list[object]) -> list[object]:
    return [e for e in events if isinstance(e, (ltx2.AudioChunk, ltx2.VideoChunk))]


@pytest.fixture(scope="module")
def engine(tiny_checkpoint: Path) -> ltx2.Engine:
    from ltx2.engine import Ltx2Engine

    return Ltx2Engine.load(tiny_checkpoint)


@pytest.mark.slow
def test_tiny_engine_through_the_service(engine: ltx2.Engine, tmp_path: Path) -> None:
    uninterrupted = chunks(list(engine.generate(CUTSCENE)))
    service = Ltx2dService(ModelHost(lambda: engine), 4, ResultCache(tmp_path, 1 << 30), ltx2.Limits())

    async def body() -> None:
        await service.start()
        cutscene = Consumer(service.generate(ClipRequest.for_params(CUTSCENE, Priority.INTERACTIVE)))
        while not any(
            isinstance(e, ltx2.Progress) and e.phase is ltx2.Phase.DENOISING and e.step >= 1 for e in cutscene.events
        ):
            assert not cutscene.task.done(), cutscene.error
            await asyncio.sleep(0.005)
        foley = Consumer(service.generate(ClipRequest.for_params(FOLEY, Priority.REALTIME)))
        await foley.done()
        assert foley.error is None and isinstance(foley.events[-1], ltx2.Completed)
        assert not cutscene.task.done()  # the foley overtook the running cutscene
        await cutscene.done()
        assert cutscene.error is None
        assert any(isinstance(e, ltx2.Progress) and e.phase is ltx2.Phase.PAUSED for e in cutscene.events)
        assert chunks(cutscene.events) == uninterrupted
        await service.wait_background()
        hit = Consumer(service.generate(ClipRequest.for_params(CUTSCENE)))
        await hit.done()
        first = hit.events[0]
        assert isinstance(first, Accepted) and first.cache_hit
        assert chunks(hit.events) == uninterrupted
        await service.scheduler.shutdown(1.0)  # not service.shutdown: the module's engine stays open

    arun(body(), timeout=120)
