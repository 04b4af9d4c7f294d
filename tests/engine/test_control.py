"""Cancel, pause/resume and failure recovery of the real tiny engine."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from ltx2 import AudioChunk, Cancelled, JobControl, OutOfMemory, Phase, Progress, VideoChunk
from ltx2.worker import stream

from .conftest import collect, small


def test_cancel_mid_denoise_stops_within_one_step_then_the_engine_still_works(engine):
    control = JobControl()
    steps_seen = []
    with pytest.raises(Cancelled):
        for event in engine.generate(small(steps=8), control):
            if isinstance(event, Progress) and event.phase == Phase.DENOISING:
                steps_seen.append(event.step)
                if event.step == 2:
                    control.cancel("test")
    assert steps_seen == [1, 2]
    baseline = collect(engine.generate(small()), small())
    again = collect(engine.generate(small()), small())
    assert np.array_equal(baseline.frames, again.frames)


def test_cancel_mid_decode_stops_before_the_next_chunk(engine):
    control = JobControl()
    chunks = []
    with pytest.raises(Cancelled):
        for event in engine.generate(small(num_frames=41, chunk_frames=8), control):
            if isinstance(event, VideoChunk):
                chunks.append(event)
                control.cancel()
    assert len(chunks) == 1
    assert len(collect(engine.generate(small()), small()).frames) == 25


def test_cancel_from_another_thread_while_denoising(engine):
    control = JobControl()
    started = threading.Event()

    def consume() -> None:
        for event in engine.generate(small(steps=50), control):
            if isinstance(event, Progress) and event.phase == Phase.DENOISING:
                started.set()

    errors = []

    def run() -> None:
        try:
            consume()
        except Cancelled as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert started.wait(60)
    control.cancel("client went away")
    worker.join(60)
    assert not worker.is_alive()
    assert errors and errors[0].reason == "client went away"


def test_closing_the_stream_stops_the_producer(engine):
    control = JobControl()
    stream = engine.generate(small(steps=50), control)
    steps = []
    for event in stream:
        if isinstance(event, Progress) and event.phase == Phase.DENOISING:
            steps.append(event.step)
            if event.step == 2:
                break
    stream.close()  # returns once the worker has stopped: at its next step boundary
    assert control.cancelled and control.cancel_reason == "consumer closed the stream"
    assert steps == [1, 2]
    assert len(collect(engine.generate(small()), small()).frames) == 25


def test_worker_threads_are_reused(engine):
    import threading

    for _ in range(3):
        collect(engine.generate(small(steps=2)), small())
    workers = [t for t in threading.enumerate() if t.name == "ltx2-worker"]
    # Sequential jobs share one thread (plus any left from tests that paused a job).
    assert 1 <= len(workers) <= 3
    assert all(t.daemon for t in workers)


def test_paused_job_resumes_where_it_stopped_with_identical_output(engine):
    """Pause a job between steps, run another job to completion meanwhile, then resume it."""
    params = small(steps=6, seed=5)
    uninterrupted = collect(engine.generate(params), params)

    control = JobControl()
    stream = engine.generate(params, control)
    events = []
    for event in stream:
        events.append(event)
        if isinstance(event, Progress) and event.phase == Phase.DENOISING and event.step == 3:
            control.request_pause()
            break
    # The pipeline thread parks at its next step boundary and says so.
    paused = next(stream)
    events.append(paused)
    assert paused.phase == Phase.PAUSED and paused.step == 3
    assert control.wait_paused(30)

    urgent = collect(engine.generate(small(prompt="a bell rings", seed=9)), small())
    assert len(urgent.frames) == 25

    control.resume()
    events.extend(stream)
    resumed = collect(events, params)
    assert [p.step for p in resumed.progress if p.phase == Phase.DENOISING] == [1, 2, 3, 4, 5, 6]
    assert np.array_equal(resumed.frames, uninterrupted.frames)
    assert np.array_equal(resumed.audio, uninterrupted.audio)


def test_cancel_wakes_a_paused_job(engine):
    control = JobControl()
    stream = engine.generate(small(steps=6), control)
    for event in stream:
        if isinstance(event, Progress) and event.phase == Phase.DENOISING:
            control.request_pause()
            break
    assert next(stream).phase == Phase.PAUSED
    control.cancel()
    with pytest.raises(Cancelled):
        list(stream)


def test_out_of_memory_is_reported_and_the_engine_recovers(engine, monkeypatch):
    transformer = engine.pipeline.transformer
    original = type(transformer).forward

    def exhausted(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")

    monkeypatch.setattr(type(transformer), "forward", exhausted)
    with pytest.raises(OutOfMemory, match="out of memory"):
        list(engine.generate(small()))
    monkeypatch.setattr(type(transformer), "forward", original)
    got = collect(engine.generate(small()), small())
    assert len(got.frames) == 25
    assert any(isinstance(e, AudioChunk) for e in got.events)


def test_an_expanded_stream_hands_over_each_piece_in_lock_step():
    made: list[int] = []

    def produce(emit):
        for item in (1, 2, 3):
            made.append(item)
            emit(item)

    pieces = stream(produce, abandon=lambda: None).expanded(lambda item: [item] * item)
    assert next(pieces) == 1 and made == [1]
    assert next(pieces) == 2 and next(pieces) == 2
    assert made == [1, 2]  # the producer waits while a split item still has pieces to hand over
    assert list(pieces) == [3, 3, 3] and made == [1, 2, 3]
    started = stream(produce, abandon=lambda: None)
    next(started)
    with pytest.raises(RuntimeError, match="before it starts"):
        started.expanded(lambda item: [item])
    started.close()
