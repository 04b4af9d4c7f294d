"""One GPU worker: a bounded priority queue, cancellation, deadlines, preemption and stall limits.

The worker runs one job at a time. A job's events come from its `ltx2.worker.Stream`: one engine
thread per running job, handing events to the event loop one at a time in lock-step, so the
consumer (the transport writing to a socket) paces the engine and at most one event waits between
them. A REALTIME job arriving while a lower-priority job runs pauses that job at its next step
boundary (`JobControl.request_pause`) or, if its consumer is slow, right where it waits to hand
over an event; the REALTIME job runs to completion, and the paused job then resumes where it
stopped: its thread was parked the whole time, so its state is untouched. A consumer that reads
nothing for `stall_limit_s` has its job cancelled (it is never buffered for). Cache replays are
admitted here too (`admit_replay`) and count against the same capacity.

With several models configured (`ModelPool`), one is resident at a time and a job runs on its own
model: the worker switches (unloads one, loads the other) only between jobs, never under a running
or paused one. Within a priority, jobs of the resident model go first, so that a switch is paid once
for a run of jobs rather than per job; an older job of another model is passed over at most
`MAX_PASSED_FOR_RESIDENT` times (REALTIME jobs of the resident model always go first: they never
wait behind a switch). A REALTIME job preempts only a job of its own model; one for another model
waits for the running job to end, then goes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

import ltx2
from ltx2.worker import ITEM, Stream, as_stream

from .domain import Priority
from .domain import StreamEvent as JobEvent
from .errors import ServiceError, StatusCode, service_error
from .model_host import ModelHost
from .model_pool import ModelPool

log = logging.getLogger("ltx2d.scheduler")

_PARK_POLL_S = 0.01
DEFAULT_STALL_LIMIT_S = 30.0
# A job whose consumer has taken nothing for this long is parked while other jobs wait, so that a
# stalled client holds up no one (it is cancelled at the stall limit, or resumes when it reads).
PARK_STALLED_AFTER_S = 1.0
# How often a queued job may be passed over for younger jobs of the same priority on the resident
# model: a switch costs a full load (tens of seconds for a 19B model), so runs of jobs of one model
# are kept together, but never for long.
MAX_PASSED_FOR_RESIDENT = 4

JobSpec = (
    tuple[str, ltx2.GenerationParams, Priority, float | None, dict[str, object] | None]
    | tuple[str, ltx2.GenerationParams, Priority, float | None, dict[str, object] | None, str]
)


@dataclass(frozen=True)
class _Message:
    """One event as the job's stream hands it over; `more`: it is not the last of its chunk (an
    AudioChunk before its video, or a part of the video before the rest)."""

    event: JobEvent
    more: bool = False


def _chunk_messages(
    event: JobEvent, split: Callable[[JobEvent], Iterable[JobEvent]] | None, audio_only: bool
) -> Iterator[_Message]:
    parts = iter(split(event) if split is not None else (event,))
    part = next(parts, None)
    while part is not None:
        following = next(parts, None)
        more = following is not None or (isinstance(part, ltx2.AudioChunk) and not audio_only)
        yield _Message(part, more)
        part = following


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSING = "pausing"  # asked to park at its next step boundary for a REALTIME job
    PAUSED = "paused"
    DONE = "done"


class _StallWatch:
    """Times how long the consumer of a stream has been away since it last took an event.

    `left()` when an event goes out, `back()` when the consumer asks for the next one. After
    `limit_s` away, `on_stall()` is called once (on the event loop).
    """

    def __init__(self, limit_s: float, on_stall: Callable[[float], None]) -> None:
        self._limit_s = limit_s
        self._on_stall = on_stall
        self._away_since: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._fired = False

    def left(self) -> None:
        self._away_since = time.monotonic()
        if self._limit_s > 0 and self._timer is None and not self._fired:
            self._timer = asyncio.get_running_loop().call_later(self._limit_s, self._check)

    def back(self) -> None:
        self._away_since = None

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        if self._away_since is None or self._fired:
            return
        away = time.monotonic() - self._away_since
        if away >= self._limit_s:
            self._fired = True
            self._on_stall(away)
        else:
            self._timer = asyncio.get_running_loop().call_later(self._limit_s - away, self._check)


def stall_error(limit_s: float) -> ServiceError:
    return ServiceError(
        StatusCode.CANCELLED,
        f"the job was cancelled: the client read nothing for {limit_s:g} s "
        "(the daemon's stall limit, --stall-limit / LTX2D_STALL_LIMIT)",
    )


class Job:
    """One queued or running generation, and the stream of its events.

    The owner reads events with `next_event()` until it returns None (success) or raises the
    job's `ServiceError`. Nothing is buffered for a slow owner: at most the scheduler's latest
    QUEUED and PAUSED notices and the one event the engine has handed over.
    """

    def __init__(
        self,
        job_id: str,
        params: ltx2.GenerationParams,
        priority: Priority,
        deadline: float | None,
        seq: int,
        model: str,
    ) -> None:
        self.id = job_id
        self.params = params
        self.priority = priority
        self.deadline = deadline
        self.seq = seq
        self.model = model  # the configured model it runs on
        self.passed = 0  # times a younger job of the resident model went first
        self.control = ltx2.JobControl()
        self.state = JobState.QUEUED
        self.queue_position = 0
        self.accepted_at = time.monotonic()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.error: ServiceError | None = None
        self.log_fields: dict[str, object] = {}
        self.finished = asyncio.Event()
        self.stream: Stream[_Message] | None = None
        self._notices: list[ltx2.Progress] = []  # the scheduler's own: at most one per phase
        self._wake = asyncio.Event()
        self._hold = False  # paused: the engine thread is kept where it waits
        self._completed = False
        self._cancel_error: ServiceError | None = None
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._last_progress: ltx2.Progress | None = None
        self._thread_ended = False
        self._holds_engine = False
        self._watch: _StallWatch | None = None
        self._reading = False  # the owner is inside next_event()
        # The owner took part of a chunk (its audio, or part of its video) and not the rest yet:
        # notices wait until the chunk is whole, and a paused job still hands over the rest
        # (the engine computed all of a chunk before its first message: nothing is computed).
        self._mid_chunk = False

    @property
    def sort_key(self) -> tuple[int, int]:
        return (int(self.priority), self.seq)

    @property
    def done(self) -> bool:
        return self.state is JobState.DONE

    async def next_event(self) -> JobEvent | None:
        """The next event; None after the last one; raises the job's ServiceError if it failed."""
        self._reading = True
        if self._watch is not None:
            self._watch.back()
        try:
            while True:
                self._wake.clear()
                if self._notices and not self._mid_chunk:
                    return self._notices.pop(0)
                if self.done:
                    if self.error is not None:
                        raise self.error
                    return None
                if self.stream is not None:
                    got = self.stream.take(release=not self._hold or self._mid_chunk)
                    if got is not None and got[0] == ITEM:
                        message = got[1]
                        assert isinstance(message, _Message)
                        event, self._mid_chunk = message.event, message.more
                        if isinstance(event, ltx2.Progress) and event.phase is not ltx2.Phase.PAUSED:
                            self._last_progress = event
                        elif isinstance(event, ltx2.Completed):
                            self._completed = True
                        return event  # type: ignore[return-value]
                    # DONE / ERROR: the job ends when its thread has (`_thread_ended`).
                await self._wake.wait()
        finally:
            self._reading = False
            if self._watch is not None and not self.done:
                self._watch.left()

    def _notify(self, notice: ltx2.Progress) -> None:
        """Queue a scheduler notice; a newer one of the same phase replaces an unread one."""
        if self.done:
            return
        self._notices = [n for n in self._notices if n.phase is not notice.phase]
        self._notices.append(notice)
        self._wake.set()

    def _ready(self) -> None:
        self._wake.set()


def engine_error(exc: BaseException, job: Job | None = None) -> ServiceError:
    """The ServiceError an exception from `engine.generate` becomes."""
    if isinstance(exc, ltx2.Cancelled) and job is not None and job._cancel_error is not None:
        return job._cancel_error
    if isinstance(exc, ltx2.Ltx2Error):
        return service_error(exc)  # the one mapping both transports use
    return ServiceError(StatusCode.INTERNAL, f"generation failed: {type(exc).__name__}: {exc}")


class Replay:
    """A cache replay admitted by the scheduler: it holds a slot, can be cancelled by id, and is
    cancelled when its consumer stalls. The service streams the entry; the engine is not used."""

    def __init__(self, job_id: str, log_fields: dict[str, object]) -> None:
        self.id = job_id
        self.log_fields = log_fields
        self.error: ServiceError | None = None
        self.watch: _StallWatch | None = None

    def check(self) -> None:
        """Raise the replay's ServiceError once it was cancelled (call before each chunk)."""
        if self.error is not None:
            raise self.error


class Scheduler:
    """A bounded priority queue in front of one worker that runs each job on its model's engine.

    `capacity` bounds the jobs waiting plus the cache replays streaming; more are refused with
    RESOURCE_EXHAUSTED at once. `stall_limit_s` (0: never) cancels a job or replay whose consumer
    has read nothing for that long. `messages` turns each engine event into the events a consumer
    reads (the service splits big video chunks), in the engine's thread.
    """

    def __init__(
        self,
        models: ModelPool | ModelHost,
        capacity: int,
        stall_limit_s: float = DEFAULT_STALL_LIMIT_S,
        *,
        messages: Callable[[ltx2.Event], Iterable[ltx2.Event]] | None = None,
    ) -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity={capacity!r}: must be an integer >= 1")
        if not isinstance(stall_limit_s, (int, float)) or not stall_limit_s >= 0:
            raise ValueError(f"stall_limit_s={stall_limit_s!r}: must be a number >= 0 (0 = no limit)")
        self._pool = models if isinstance(models, ModelPool) else ModelPool.single(models)
        # Each engine event as the messages a consumer gets, applied in the job's engine thread.
        self._messages = messages
        self._capacity = capacity
        self._stall_limit_s = float(stall_limit_s)
        self._queued: dict[str, Job] = {}  # at most `capacity`: scanned, not kept sorted
        self._jobs: dict[str, Job] = {}  # every job not yet done
        self._replays: dict[str, Replay] = {}
        self._seq = itertools.count()
        self._kick = asyncio.Event()
        self._running: Job | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self.preemptions = 0  # counter for metrics
        self.stalls = 0  # jobs and replays cancelled for a stalled consumer

    @property
    def queue_depth(self) -> int:
        return len(self._queued)

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def stall_limit_s(self) -> float:
        return self._stall_limit_s

    @property
    def running_job_id(self) -> str:
        """The job on the model, "" if none. A job whose consumer has taken its `Completed` is
        no longer reported, although its thread may still be unwinding: a client that has seen
        the end and then asks GetInfo must not be told the job still runs."""
        job = self._running
        return job.id if job is not None and not job._completed else ""

    @property
    def free_slots(self) -> int:
        return self._capacity - len(self._queued) - len(self._replays)

    def get(self, job_id: str) -> Job | None:
        """A job that is queued, running or paused."""
        return self._jobs.get(job_id)

    def start(self) -> None:
        """Start the worker on the running event loop."""
        if self._worker_task is None:
            self._loop = asyncio.get_running_loop()
            self._worker_task = asyncio.create_task(self._worker(), name="ltx2d-scheduler")

    def check_room(self, count: int) -> None:
        """Raise RESOURCE_EXHAUSTED (or UNAVAILABLE) unless `count` more jobs fit now."""
        self._check_admission(count)

    def _check_admission(self, count: int) -> None:
        if self._closing:
            raise ServiceError(StatusCode.UNAVAILABLE, "the daemon is shutting down")
        if self._worker_task is None:
            raise ServiceError(StatusCode.UNAVAILABLE, "the scheduler is not started")
        if count > self.free_slots:
            if count == 1:
                raise ServiceError(
                    StatusCode.RESOURCE_EXHAUSTED,
                    f"the queue is full ({self._capacity} jobs waiting or replaying); try again later",
                )
            raise ServiceError(
                StatusCode.RESOURCE_EXHAUSTED,
                f"the queue has room for {max(0, self.free_slots)} jobs but {count} requests are not cached; "
                "send fewer or try again later",
            )

    def submit(
        self,
        job_id: str,
        params: ltx2.GenerationParams,
        priority: Priority = Priority.INTERACTIVE,
        deadline: float | None = None,
        log_fields: dict[str, object] | None = None,
        model: str = "",
    ) -> Job:
        """Queue a job (params validated, seed resolved) on model `model` ("" for the default) or
        raise at once when it cannot be."""
        return self.submit_all([(job_id, params, priority, deadline, log_fields, model)])[0]

    def submit_all(self, specs: list[JobSpec]) -> list[Job]:
        """Queue every `(job_id, params, priority, deadline, log_fields[, model])` or none of them.

        Admission is checked and the jobs are queued in one step on the loop, so no other request
        can take a slot in between (prefetch relies on it).
        """
        self._check_admission(len(specs))
        now = time.monotonic()
        models = []
        for job_id, _, _, deadline, _, *model in specs:
            if job_id in self._jobs or job_id in self._replays:
                raise ValueError(f"job id {job_id!r} is already pending")
            models.append(self._pool.resolve_name(model[0] if model else ""))  # INVALID_ARGUMENT if unknown
            if deadline is not None and deadline <= now:
                raise ServiceError(StatusCode.DEADLINE_EXCEEDED, "the deadline passed before the job was queued")
        return [self._enqueue(*spec[:5], model, now=now) for spec, model in zip(specs, models, strict=True)]

    def _enqueue(
        self,
        job_id: str,
        params: ltx2.GenerationParams,
        priority: Priority,
        deadline: float | None,
        log_fields: dict[str, object] | None,
        model: str,
        *,
        now: float,
    ) -> Job:
        """Queue one job on model `model` (a configured name, as `submit_all` resolved it)."""
        job = Job(job_id, params, Priority(priority), deadline, next(self._seq), model)
        job.log_fields = {"job_id": job_id, "priority": job.priority.name, **(log_fields or {})}
        if len(self._pool.names) > 1:
            job.log_fields["model"] = model
        job.queue_position = sum(1 for other in self._queued.values() if other.sort_key < job.sort_key)
        self._queued[job_id] = job
        self._jobs[job_id] = job
        if deadline is not None:
            assert self._loop is not None
            job._deadline_timer = self._loop.call_later(deadline - now, self._deadline_passed, job)
        if self._running is not None or job.queue_position > 0:  # it waits: say so, and where
            job._notify(self._queued_notice(job, job.queue_position))
        self._kick.set()
        return job

    @staticmethod
    def _queued_notice(job: Job, position: int) -> ltx2.Progress:
        last = job._last_progress
        return ltx2.Progress(
            phase=ltx2.Phase.QUEUED,
            step=last.step if last else 0,
            total_steps=last.total_steps if last else job.params.steps,
            frames_decoded=last.frames_decoded if last else 0,
            total_frames=last.total_frames if last else job.params.num_frames,
            elapsed_s=last.elapsed_s if last else 0.0,
            queue_position=position,
        )

    # -- cache replays -------------------------------------------------------------------------

    def admit_replay(self, job_id: str, log_fields: dict[str, object]) -> Replay:
        """Take a slot for a cache replay (RESOURCE_EXHAUSTED when none is free); `end_replay`
        gives it back."""
        self._check_admission(1)
        if job_id in self._jobs or job_id in self._replays:
            raise ValueError(f"job id {job_id!r} is already pending")
        replay = Replay(job_id, log_fields)
        replay.watch = _StallWatch(self._stall_limit_s, lambda away: self._replay_stalled(replay, away))
        self._replays[job_id] = replay
        return replay

    def end_replay(self, replay: Replay) -> None:
        if replay.watch is not None:
            replay.watch.stop()
        if self._replays.get(replay.id) is replay:
            del self._replays[replay.id]
            self._kick.set()

    def _replay_stalled(self, replay: Replay, away: float) -> None:
        self.stalls += 1
        self._log_stall(replay.log_fields, away)
        if replay.error is None:
            replay.error = stall_error(self._stall_limit_s)
        self.end_replay(replay)  # its slot is free now, whatever the stalled client does

    def _log_stall(self, fields: dict[str, object], away: float) -> None:
        log.warning(
            "job stalled %s away_s=%.1f stall_limit_s=%g: cancelling",
            kv(fields),
            away,
            self._stall_limit_s,
            extra={"event": "job_stalled", "away_s": away, "stall_limit_s": self._stall_limit_s, **fields},
        )

    # -- cancel, deadlines, end ----------------------------------------------------------------

    def cancel(
        self, job_id: str, code: StatusCode = StatusCode.CANCELLED, message: str = "the job was cancelled"
    ) -> bool:
        """Cancel a queued, running or paused job or a replay; False when no such job is pending.

        A queued job leaves the queue at once; a running one stops at its next step or chunk.
        """
        replay = self._replays.get(job_id)
        if replay is not None:
            if replay.error is None:
                replay.error = ServiceError(code, message)
            return True
        job = self._jobs.get(job_id)
        return job is not None and self._cancel(job, ServiceError(code, message))

    def _cancel(self, job: Job, error: ServiceError) -> bool:
        if job.done:
            return False
        if job._cancel_error is None:
            job._cancel_error = error
        if job.state is JobState.QUEUED:
            self._queued.pop(job.id, None)
            self._finish(job, job._cancel_error)
        else:
            job.control.cancel(job._cancel_error.message)
            if job.stream is not None:
                job.stream.abort()  # its thread must not wait for a consumer that may never read
        return True

    def _deadline_passed(self, job: Job) -> None:
        where = "queued" if job.state is JobState.QUEUED else "running"
        self._cancel(job, ServiceError(StatusCode.DEADLINE_EXCEEDED, f"the deadline passed while the job was {where}"))

    def _job_stalled(self, job: Job, away: float) -> None:
        if job.done:
            return
        self.stalls += 1
        self._log_stall(job.log_fields, away)
        self._cancel(job, stall_error(self._stall_limit_s))

    def _finish(self, job: Job, error: ServiceError | None) -> None:
        if job.done:
            return
        job.state = JobState.DONE
        job.error = error
        job.finished_at = time.monotonic()
        if job._deadline_timer is not None:
            job._deadline_timer.cancel()
        if job._watch is not None:
            job._watch.stop()
        self._queued.pop(job.id, None)
        self._jobs.pop(job.id, None)
        job._notices.clear()
        job._wake.set()
        job.finished.set()

    def _waiting(self, realtime_only: bool = False, model: str | None = None) -> list[Job]:
        """The queued jobs, REALTIME ones only if `realtime_only`, of `model` only if given."""
        return [
            job
            for job in self._queued.values()
            if (not realtime_only or job.priority is Priority.REALTIME) and (model is None or job.model == model)
        ]

    def _pop(self, realtime_only: bool = False, model: str | None = None) -> Job | None:
        """Take the next job: the highest priority, the oldest, but the resident model's first
        within a priority (bounded by `MAX_PASSED_FOR_RESIDENT` for non-REALTIME jobs)."""
        waiting = self._waiting(realtime_only, model)
        if not waiting:
            return None
        top = min(job.priority for job in waiting)
        same = sorted((job for job in waiting if job.priority is top), key=lambda job: job.seq)
        job = same[0]
        resident = self._pool.resident
        if resident is not None and job.model != resident.name:
            mine = next((other for other in same if other.model == resident.name), None)
            if mine is not None and (top is Priority.REALTIME or job.passed < MAX_PASSED_FOR_RESIDENT):
                for other in same:
                    if other.seq < mine.seq:
                        other.passed += 1
                job = mine
        del self._queued[job.id]
        return job

    def _realtime_waiting(self, model: str) -> bool:
        """A REALTIME job of `model` is queued (one of another model cannot preempt: a switch waits
        for the running job to end)."""
        return bool(self._waiting(realtime_only=True, model=model))

    # -- the worker ----------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            job = self._pop()
            if job is None:
                self._kick.clear()
                if not self._queued:
                    await self._kick.wait()
                continue
            try:
                await self._execute(job)
            except Exception as exc:  # a scheduler bug must not stop the worker
                log.exception("scheduler error", extra={"event": "scheduler_error", **job.log_fields})
                job.control.cancel("scheduler error")
                if job.stream is not None:
                    job.stream.abort()
                self._finish(job, ServiceError(StatusCode.INTERNAL, f"scheduler error: {exc}"))

    async def _execute(self, job: Job) -> None:
        """Run one job until its thread ends, pausing it for REALTIME jobs on the way."""
        job.state = JobState.RUNNING
        job.started_at = time.monotonic()
        self._running = job
        self._pool.host(job.model).acquire()
        job._holds_engine = True
        try:
            try:
                engine = await self._pool.activate(job.model)
            except ServiceError as exc:
                self._release_engine(job)
                self._finish(job, exc)
                return
            if job.control.cancelled:
                self._release_engine(job)
                self._finish(job, job._cancel_error)
                return
            log.info(
                "job started %s queue_s=%.3f",
                kv(job.log_fields),
                job.started_at - job.accepted_at,
                extra={"event": "job_started", **job.log_fields},
            )
            if not self._start_stream(job, engine):
                return
            preemptible = job.priority is not Priority.REALTIME
            while not job._thread_ended:
                if preemptible and self._realtime_waiting(job.model):
                    await self._preempt(job, for_realtime=True)
                    continue
                others = bool(self._waiting(model=job.model))  # only they can run while it is parked
                if others and self._stalled_for(job) >= PARK_STALLED_AFTER_S:
                    await self._preempt(job, for_realtime=False)
                    continue
                self._kick.clear()
                if job._thread_ended or (preemptible and self._realtime_waiting(job.model)):
                    continue
                if others and job.stream is not None and job.stream.stalled:
                    with contextlib.suppress(TimeoutError):  # look again: is it stalled for long?
                        async with asyncio.timeout(PARK_STALLED_AFTER_S / 4):
                            await self._kick.wait()
                else:
                    await self._kick.wait()
        finally:
            self._release_engine(job)
            if self._running is job:
                self._running = None

    def _start_stream(self, job: Job, engine: ltx2.Engine) -> bool:
        """Start the job's engine thread; False (and the job finished) if generate refused it."""
        loop = self._loop
        assert loop is not None
        control = job.control
        try:
            events = engine.generate(job.params, control)
        except Exception as exc:
            self._thread_ended(job, exc)
            return False
        split, audio_only = self._messages, not job.params.sends_video
        job.stream = as_stream(events, abandon=lambda: control.cancel("the consumer left")).expanded(
            lambda event: _chunk_messages(event, split, audio_only)
        )
        job._watch = _StallWatch(self._stall_limit_s, lambda away: self._job_stalled(job, away))
        if not job._reading:
            job._watch.left()

        def handed() -> None:  # on the loop: the consumer can take it; the worker looks for a stall
            job._ready()
            self._kick.set()

        def ready() -> None:
            with contextlib.suppress(RuntimeError):  # RuntimeError: the loop is gone (process exit)
                loop.call_soon_threadsafe(handed)

        def ended(error: BaseException | None) -> None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._thread_ended, job, error)

        job.stream.start(on_ready=ready, on_end=ended)
        return True

    def _release_engine(self, job: Job) -> None:
        if job._holds_engine:
            job._holds_engine = False
            self._pool.host(job.model).release()

    @staticmethod
    def _stalled_for(job: Job) -> float:
        """Seconds the job's thread has waited for a consumer that is not asking (0 if it is not)."""
        stream = job.stream
        since = stream.waiting_since if stream is not None and stream.stalled and not job._reading else None
        return 0.0 if since is None else time.monotonic() - since

    async def _preempt(self, job: Job, for_realtime: bool) -> None:
        """Park `job` and run others meanwhile: the REALTIME jobs waiting, or (its consumer being
        stalled) queued jobs one by one until its consumer reads again or it is cancelled."""
        job.control.request_pause()
        job._hold = True  # from now on its thread is not let past an event it hands over
        job.state = JobState.PAUSING
        parked = await self._wait_parked(job)
        if not parked:  # it ended before reaching a boundary
            job._hold = False
            job.control.resume()
            job._wake.set()
            if not job.done:
                job.state = JobState.RUNNING
            return
        self.preemptions += 1
        job.state = JobState.PAUSED
        self._running = None
        last = job._last_progress
        job._notify(
            ltx2.Progress(
                phase=ltx2.Phase.PAUSED,
                step=last.step if last else 0,
                total_steps=last.total_steps if last else 0,
                frames_decoded=last.frames_decoded if last else 0,
                total_frames=last.total_frames if last else 0,
                elapsed_s=last.elapsed_s if last else 0.0,
            )
        )
        ahead = len(self._waiting(realtime_only=for_realtime, model=job.model))
        job._notify(self._queued_notice(job, ahead))
        reason = "realtime" if for_realtime else "stalled"
        log.info(
            "job paused %s reason=%s",
            kv(job.log_fields),
            reason,
            extra={"event": "job_paused", "reason": reason, **job.log_fields},
        )
        paused_at = time.monotonic()
        try:
            # Only jobs of its own model: the parked job holds that model's engine.
            while (other := self._pop(realtime_only=for_realtime, model=job.model)) is not None:
                await self._execute(other)
                if not for_realtime and (job._reading or job.done):
                    break
        finally:
            job._hold = False
            job.control.resume()
            job._wake.set()
            if not job.done:
                job.state = JobState.RUNNING
                self._running = job
            paused_s = time.monotonic() - paused_at
            log.info(
                "job resumed %s paused_s=%.3f",
                kv(job.log_fields),
                paused_s,
                extra={"event": "job_resumed", "paused_s": paused_s, **job.log_fields},
            )

    @staticmethod
    async def _wait_parked(job: Job) -> bool:
        """Until the job's thread is parked: in a checkpoint, or waiting to hand over an event
        (a slow consumer must not hold up a REALTIME job). False if the thread ended first."""
        stream = job.stream
        assert stream is not None
        while not stream.finished.is_set() and not job._thread_ended:
            if job.control.is_paused or stream.stalled:
                return True
            await asyncio.sleep(_PARK_POLL_S)
        return False

    def _thread_ended(self, job: Job, error: BaseException | None) -> None:
        job._thread_ended = True
        result: ServiceError | None = None
        if error is not None:
            result = engine_error(error, job)
            if result.code is StatusCode.INTERNAL:
                log.error(
                    "job failed %s",
                    kv(job.log_fields),
                    exc_info=error,
                    extra={"event": "job_failed", **job.log_fields},
                )
        elif job._cancel_error is not None and not job._completed:
            result = job._cancel_error  # it was abandoned (its emits returned at once) before the end
        elif not job._completed:
            result = ServiceError(StatusCode.INTERNAL, "the engine stopped without completing the clip")
        self._release_engine(job)  # before the owner hears of the end, so that unload() is allowed
        if self._running is job:
            self._running = None
        self._finish(job, result)
        self._kick.set()

    async def shutdown(self, grace_s: float) -> None:
        """Refuse new jobs, drop queued ones, give running ones `grace_s` seconds, cancel the rest."""
        self._closing = True
        for job in list(self._queued.values()):
            self._cancel(job, ServiceError(StatusCode.UNAVAILABLE, "the daemon is shutting down"))
        if self._jobs:
            await _wait_finished(list(self._jobs.values()), max(0.0, grace_s))
        for replay in list(self._replays.values()):
            if replay.error is None:
                replay.error = ServiceError(StatusCode.UNAVAILABLE, "the daemon shut down before the replay finished")
        if self._jobs:
            for job in list(self._jobs.values()):
                self._cancel(job, ServiceError(StatusCode.UNAVAILABLE, "the daemon shut down before the job finished"))
            # Jobs stop within one step; the bound only guards against a stuck engine.
            await _wait_finished(list(self._jobs.values()), 60.0)
        if self._worker_task is not None:
            self._worker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker_task


async def _wait_finished(jobs: list[Job], timeout: float) -> None:
    if not jobs:
        return
    waiters = [asyncio.ensure_future(job.finished.wait()) for job in jobs]
    _, pending = await asyncio.wait(waiters, timeout=timeout)
    for waiter in pending:
        waiter.cancel()


def kv(fields: dict[str, object]) -> str:
    """`key=value` pairs for log lines; dicts (tags) as compact JSON."""
    return " ".join(
        f"{key}={json.dumps(value, separators=(',', ':')) if isinstance(value, dict) else value}"
        for key, value in fields.items()
    )
