"""A fake `ltx2.Engine` for fast daemon tests: no torch, deterministic bytes, real pause and cancel.

It streams like the real engine (Progress for encode and every denoising step, then per chunk an
AudioChunk before the VideoChunk of the same span, then Completed) and calls
`control.checkpoint()` at the same places: after every step and before every chunk. All state of
a run lives in its generator, so several runs can be alive at once (one running, others parked in
a checkpoint), and a run's bytes depend only on its params and seed, so a paused-and-resumed run
equals an uninterrupted one.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import ltx2
from ltx2 import Phase, Progress

T = TypeVar("T")
SAMPLE_RATE = 24_000
CHANNELS = 2


class FakeEngine:
    """Implements `ltx2.Engine`. Knobs: `step_s` (sleep per denoising step), `fail_with`
    (step, exception) raised once at that step, `on_step(params, step)` called before each step
    (tests block there to hold a job at a known point)."""

    def __init__(
        self,
        *,
        step_s: float = 0.0,
        fingerprint: str = "fake-model-1",
        on_step: Callable[[ltx2.GenerationParams, int], None] | None = None,
        chooses_frames: int | None = None,
        says_length: bool = True,
    ) -> None:
        # Auto duration: the length this engine "chooses" (it then lists the feature), and whether
        # it says so first (False: an engine that breaks the LengthChosen rule).
        self.chooses_frames = chooses_frames
        self.says_length = says_length
        self.step_s = step_s
        self.fingerprint = fingerprint
        self.on_step = on_step
        self.fail_with: tuple[int, BaseException] | None = None
        self.closed = False
        self.generate_calls = 0
        self.steps_run = 0
        self.started: list[str] = []  # prompts in the order their runs started
        self.finished: list[str] = []  # prompts in the order their runs completed
        self._lock = threading.Lock()
        self._running = 0
        self.max_running = 0  # runs that were ever between two checkpoints at the same time

    def info(self) -> ltx2.ModelInfo:
        return ltx2.ModelInfo(
            model_id="fake",
            model_path="/nowhere",
            fingerprint=self.fingerprint,
            device="cpu",
            dtype="float32",
            native_sample_rate=SAMPLE_RATE,
            channels=CHANNELS,
            features=("auto_duration",) if self.chooses_frames is not None else (),
        )

    def clip_format(self, params: ltx2.GenerationParams) -> ltx2.ClipFormat:
        return self.info().clip_format(params)  # as the real engine: a function of the model's info

    def close(self) -> None:
        self.closed = True

    def generate(self, params: ltx2.GenerationParams, control: ltx2.JobControl | None = None) -> Iterator[ltx2.Event]:
        assert not self.closed, "generate() on a closed engine"
        params = self.info().resolve(params)
        self.generate_calls += 1
        return self._run(params, control or ltx2.JobControl())

    # -- one run --------------------------------------------------------------------------------

    def _busy(self, delta: int) -> None:
        with self._lock:
            self._running += delta
            self.max_running = max(self.max_running, self._running)

    def _hand(self, *events: ltx2.Event) -> Iterator[ltx2.Event]:
        """Yield the events; a run waiting for its consumer to take them is not running (nor is
        one between the events of one chunk: like the real engine, it computed both first)."""
        self._busy(-1)
        try:
            yield from events
        finally:
            self._busy(+1)

    def _checkpoint(self, control: ltx2.JobControl) -> None:
        self._busy(-1)  # parked or stopped in a checkpoint is not running
        try:
            control.checkpoint()
        finally:
            self._busy(+1)

    def _run(self, params: ltx2.GenerationParams, control: ltx2.JobControl) -> Iterator[ltx2.Event]:
        assert params.seed is not None
        self.started.append(params.prompt)
        self._busy(+1)
        try:
            if params.auto_duration:
                assert self.chooses_frames is not None
                frames = min(self.chooses_frames, params.num_frames)
                params = replace(params, num_frames=frames, min_seconds=None, max_seconds=None)
                if self.says_length:
                    yield from self._hand(ltx2.LengthChosen(self.clip_format(params)))
            fmt = self.clip_format(params)
            steps, total, rate, chunk = params.steps, params.num_frames, fmt.sample_rate, params.chunk_frames
            yield from self._hand(Progress(Phase.ENCODING, total_steps=steps, total_frames=total))
            self._checkpoint(control)
            for step in range(steps):
                if self.on_step is not None:
                    self.on_step(params, step)
                if self.fail_with is not None and self.fail_with[0] == step:
                    _, exc = self.fail_with
                    self.fail_with = None
                    raise exc
                if self.step_s:
                    time.sleep(self.step_s)
                self.steps_run += 1
                yield from self._hand(Progress(Phase.DENOISING, step=step + 1, total_steps=steps, total_frames=total))
                self._checkpoint(control)
            yield from self._hand(Progress(Phase.DECODING, total_steps=steps, total_frames=total))
            spans = [(f0, min(f0 + chunk, total)) for f0 in range(0, total, chunk)]
            sample_bytes = fmt.channels * params.sample_format.bytes_per_sample
            for index, (f0, f1) in enumerate(spans):
                self._checkpoint(control)
                s0 = round(f0 * rate / params.frame_rate)
                s1 = fmt.num_samples if index == len(spans) - 1 else round(f1 * rate / params.frame_rate)
                audio = _bytes(params, f"audio{s0}", (s1 - s0) * sample_bytes)
                parts: list[ltx2.Event] = [
                    ltx2.AudioChunk(s0, s1 - s0, rate, fmt.channels, params.sample_format, audio)
                ]
                if not params.audio_only:
                    video = _bytes(params, f"video{f0}", (f1 - f0) * params.width * params.height * 3)
                    parts.append(ltx2.VideoChunk(f0, f1 - f0, params.width, params.height, params.frame_rate, video))
                yield from self._hand(*parts)
                yield from self._hand(
                    Progress(Phase.DECODING, total_steps=steps, frames_decoded=f1, total_frames=total)
                )
            self.finished.append(params.prompt)
            yield from self._hand(ltx2.Completed(params.seed, total, fmt.num_samples, ltx2.Timings(total_s=0.0)))
        finally:
            self._busy(-1)


def _bytes(params: ltx2.GenerationParams, label: str, n: int) -> bytes:
    """`n` bytes that depend on everything that changes the clip, and on `label`."""
    seed = hashlib.sha256(repr((sorted(params.output_key().items()), label)).encode()).digest()
    out = bytearray()
    block = seed
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


class FakeEngineFactory:
    """An engine factory for `ModelHost`: builds a new FakeEngine per load, with shared knobs."""

    def __init__(self, **kwargs: object) -> None:
        self.kwargs = kwargs
        self.built: list[FakeEngine] = []

    def __call__(self) -> FakeEngine:
        engine = FakeEngine(**self.kwargs)  # type: ignore[arg-type]
        self.built.append(engine)
        return engine

    @property
    def engine(self) -> FakeEngine:
        """The engine built last."""
        return self.built[-1]

    @property
    def generate_calls(self) -> int:
        return sum(engine.generate_calls for engine in self.built)


class Gate:
    """An `on_step` hook that holds runs of the named prompts at a step until released."""

    def __init__(self, prompts: dict[str, int]) -> None:
        self.prompts = prompts  # prompt -> step to hold at
        self.reached: dict[str, threading.Event] = {p: threading.Event() for p in prompts}
        self.release: dict[str, threading.Event] = {p: threading.Event() for p in prompts}

    def __call__(self, params: ltx2.GenerationParams, step: int) -> None:
        if self.prompts.get(params.prompt) == step:
            self.reached[params.prompt].set()
            if not self.release[params.prompt].wait(10):
                raise TimeoutError(f"gate for {params.prompt!r} never released")

    def open(self, prompt: str) -> None:
        self.release[prompt].set()

    def open_all(self) -> None:
        for event in self.release.values():
            event.set()


def small_params(prompt: str = "a bell rings", **overrides: object) -> ltx2.GenerationParams:
    """Tiny, fast params: 64x64, 17 frames in chunks of 8, 4 steps, seed 1 unless overridden."""
    values: dict[str, object] = dict(
        prompt=prompt, width=64, height=64, num_frames=17, chunk_frames=8, steps=4, seed=1, frame_rate=24.0
    )
    values.update(overrides)
    return ltx2.GenerationParams(**values)  # type: ignore[arg-type]


def arun(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    """Run one async test body on a fresh loop, failing instead of hanging."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


class Consumer:
    """Reads one service stream in a task, as a transport would."""

    def __init__(self, stream: AsyncIterator[Any]) -> None:
        self.stream = stream
        self.events: list[Any] = []
        self.error: Exception | None = None
        self._accepted = asyncio.Event()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for event in self.stream:
                self.events.append(event)
                self._accepted.set()
        except Exception as exc:  # ServiceError, kept for the test to inspect
            self.error = exc
        finally:
            self._accepted.set()

    async def accepted(self) -> Any:
        """The first event (Accepted); raises the stream's error if it failed before one."""
        await self._accepted.wait()
        if not self.events:
            assert self.error is not None
            raise self.error
        return self.events[0]

    async def done(self) -> Consumer:
        await self.task
        return self

    @property
    def job_id(self) -> str:
        return self.events[0].job_id

    def chunks(self) -> list[Any]:
        return [e for e in self.events if isinstance(e, (ltx2.AudioChunk, ltx2.VideoChunk))]

    def of_type(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll `predicate` on the loop until it holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition never held")
        await asyncio.sleep(0.005)


async def drain(job: Any) -> list[object]:
    """Every event of a scheduler job (`ltx2d.scheduler.Job`) up to its end."""
    events = []
    while (event := await job.next_event()) is not None:
        events.append(event)
    return events


def reading(job: Any) -> asyncio.Future[list[object]]:
    """Read the job's events in a task, as a transport does: the engine runs only as far as its
    reader has read (lock-step), so a job nobody reads does not get past its first event."""
    return asyncio.ensure_future(drain(job))
