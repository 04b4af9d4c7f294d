"""One GPU worker: a bounded priority queue, cancellation, deadlines and step-level preemption.

The worker runs one job at a time. Each job's `engine.generate()` iterator runs in its own
thread (it blocks), and its events cross to the event loop with `call_soon_threadsafe`. A
REALTIME job arriving while a lower-priority job runs pauses that job at its next step boundary
(`JobControl.request_pause`), runs to completion, and the paused job then resumes where it
stopped: its thread was parked inside the engine the whole time, so its state is untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import logging
import threading
import time
from enum import StrEnum

import ltx2

from .domain import Priority
from .domain import StreamEvent as JobEvent
from .errors import ServiceError, StatusCode, service_error
from .model_host import ModelHost

log = logging.getLogger("ltx2d.scheduler")

_END = object()  # the last item of a job's event queue
_PARK_POLL_S = 0.01


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSING = "pausing"  # asked to park at its next step boundary for a REALTIME job
    PAUSED = "paused"
    DONE = "done"


class Job:
    """One queued or running generation, and the stream of its events.

    The owner reads events with `next_event()` until it returns None (success) or raises the
    job's `ServiceError`.
    """

    def __init__(
        self, job_id: str, params: ltx2.GenerationParams, priority: Priority, deadline: float | None, seq: int
    ) -> None:
        self.id = job_id
        self.params = params
        self.priority = priority
        self.deadline = deadline
        self.seq = seq
        self.control = ltx2.JobControl()
        self.state = JobState.QUEUED
        self.queue_position = 0
        self.accepted_at = time.monotonic()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.error: ServiceError | None = None
        self.log_fields: dict[str, object] = {}
        self.finished = asyncio.Event()
        self._events: asyncio.Queue[object] = asyncio.Queue()
        self._cancel_error: ServiceError | None = None
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._last_progress: ltx2.Progress | None = None
        self._thread_done = threading.Event()  # set by the job's thread as it exits
        self._thread_ended = False  # the same, seen from the event loop
        self._holds_engine = False

    @property
    def sort_key(self) -> tuple[int, int]:
        return (int(self.priority), self.seq)

    @property
    def done(self) -> bool:
        return self.state is JobState.DONE

    async def next_event(self) -> JobEvent | None:
        """The next event; None after the last one; raises the job's ServiceError if it failed."""
        item = await self._events.get()
        if item is _END:
            self._events.put_nowait(_END)  # later calls see the end again
            if self.error is not None:
                raise self.error
            return None
        return item  # type: ignore[return-value]

    def _push(self, event: JobEvent) -> None:
        if self.done:
            return
        if isinstance(event, ltx2.Progress) and event.phase is not ltx2.Phase.PAUSED:
            self._last_progress = event
        self._events.put_nowait(event)


def engine_error(exc: BaseException, job: Job | None = None) -> ServiceError:
    """The ServiceError an exception from `engine.generate` becomes."""
    if isinstance(exc, ltx2.Cancelled) and job is not None and job._cancel_error is not None:
        return job._cancel_error
    if isinstance(exc, ltx2.Ltx2Error):
        return service_error(exc)  # the one mapping both transports use
    return ServiceError(StatusCode.INTERNAL, f"generation failed: {type(exc).__name__}: {exc}")


class Scheduler:
    """A bounded priority queue in front of one worker that runs jobs on the host's engine."""

    def __init__(self, host: ModelHost, capacity: int) -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity={capacity!r}: must be an integer >= 1")
        self._host = host
        self._capacity = capacity
        self._heap: list[tuple[tuple[int, int], Job]] = []
        self._queued: dict[str, Job] = {}
        self._jobs: dict[str, Job] = {}  # every job not yet done
        self._seq = itertools.count()
        self._kick = asyncio.Event()
        self._running: Job | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self.preemptions = 0  # counter for metrics

    @property
    def queue_depth(self) -> int:
        return len(self._queued)

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def running_job_id(self) -> str:
        return self._running.id if self._running is not None else ""

    @property
    def free_slots(self) -> int:
        return self._capacity - len(self._queued)

    def get(self, job_id: str) -> Job | None:
        """A job that is queued, running or paused."""
        return self._jobs.get(job_id)

    def start(self) -> None:
        """Start the worker on the running event loop."""
        if self._worker_task is None:
            self._loop = asyncio.get_running_loop()
            self._worker_task = asyncio.create_task(self._worker(), name="ltx2d-scheduler")

    def submit(
        self,
        job_id: str,
        params: ltx2.GenerationParams,
        priority: Priority = Priority.INTERACTIVE,
        deadline: float | None = None,
        log_fields: dict[str, object] | None = None,
    ) -> Job:
        """Queue a job (params validated, seed resolved) or raise at once when it cannot be."""
        if self._closing:
            raise ServiceError(StatusCode.UNAVAILABLE, "the daemon is shutting down")
        if self._worker_task is None:
            raise ServiceError(StatusCode.UNAVAILABLE, "the scheduler is not started")
        if len(self._queued) >= self._capacity:
            raise ServiceError(
                StatusCode.RESOURCE_EXHAUSTED,
                f"the queue is full ({self._capacity} jobs waiting); try again later",
            )
        if job_id in self._jobs:
            raise ValueError(f"job id {job_id!r} is already pending")
        now = time.monotonic()
        if deadline is not None and deadline <= now:
            raise ServiceError(StatusCode.DEADLINE_EXCEEDED, "the deadline passed before the job was queued")
        job = Job(job_id, params, Priority(priority), deadline, next(self._seq))
        job.log_fields = {"job_id": job_id, "priority": job.priority.name, **(log_fields or {})}
        job.queue_position = sum(1 for other in self._queued.values() if other.sort_key < job.sort_key)
        heapq.heappush(self._heap, (job.sort_key, job))
        self._queued[job_id] = job
        self._jobs[job_id] = job
        if deadline is not None:
            assert self._loop is not None
            job._deadline_timer = self._loop.call_later(deadline - now, self._deadline_passed, job)
        self._kick.set()
        return job

    def cancel(
        self, job_id: str, code: StatusCode = StatusCode.CANCELLED, message: str = "the job was cancelled"
    ) -> bool:
        """Cancel a queued, running or paused job; False when no such job is pending.

        A queued job leaves the queue at once; a running one stops at its next step or chunk.
        """
        job = self._jobs.get(job_id)
        return job is not None and self._cancel(job, ServiceError(code, message))

    def _cancel(self, job: Job, error: ServiceError) -> bool:
        if job.done:
            return False
        if job._cancel_error is None:
            job._cancel_error = error
        if job.state is JobState.QUEUED:
            self._queued.pop(job.id, None)  # its heap entry is skipped when popped...
            self._finish(job, job._cancel_error)
            if len(self._heap) > 2 * len(self._queued) + 64:  # ...or dropped here if many pile up
                self._heap = [entry for entry in self._heap if self._queued.get(entry[1].id) is entry[1]]
                heapq.heapify(self._heap)
        else:
            job.control.cancel(job._cancel_error.message)
        return True

    def _deadline_passed(self, job: Job) -> None:
        where = "queued" if job.state is JobState.QUEUED else "running"
        self._cancel(job, ServiceError(StatusCode.DEADLINE_EXCEEDED, f"the deadline passed while the job was {where}"))

    def _finish(self, job: Job, error: ServiceError | None) -> None:
        if job.done:
            return
        job.state = JobState.DONE
        job.error = error
        job.finished_at = time.monotonic()
        if job._deadline_timer is not None:
            job._deadline_timer.cancel()
        self._queued.pop(job.id, None)
        self._jobs.pop(job.id, None)
        job._events.put_nowait(_END)
        job.finished.set()

    def _pop(self, realtime_only: bool = False) -> Job | None:
        while self._heap:
            _, job = self._heap[0]
            if job.id not in self._queued or job.done:
                heapq.heappop(self._heap)
                continue
            if realtime_only and job.priority is not Priority.REALTIME:
                return None
            heapq.heappop(self._heap)
            del self._queued[job.id]
            return job
        return None

    def _realtime_waiting(self) -> bool:
        return any(job.priority is Priority.REALTIME for job in self._queued.values())

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
                self._finish(job, ServiceError(StatusCode.INTERNAL, f"scheduler error: {exc}"))

    async def _execute(self, job: Job) -> None:
        """Run one job until its thread ends, pausing it for REALTIME jobs on the way."""
        job.state = JobState.RUNNING
        job.started_at = time.monotonic()
        self._running = job
        self._host.acquire()
        job._holds_engine = True
        try:
            try:
                engine = await self._host.engine()
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
            assert self._loop is not None
            threading.Thread(
                target=self._drive, args=(job, engine, self._loop), name=f"ltx2d-job-{job.id}", daemon=True
            ).start()
            preemptible = job.priority is not Priority.REALTIME
            while not job._thread_ended:
                if preemptible and self._realtime_waiting():
                    await self._preempt(job)
                    continue
                self._kick.clear()
                if job._thread_ended or (preemptible and self._realtime_waiting()):
                    continue
                await self._kick.wait()
        finally:
            self._release_engine(job)
            if self._running is job:
                self._running = None

    def _release_engine(self, job: Job) -> None:
        if job._holds_engine:
            job._holds_engine = False
            self._host.release()

    async def _preempt(self, job: Job) -> None:
        job.control.request_pause()
        job.state = JobState.PAUSING
        parked = await asyncio.to_thread(self._wait_parked, job)
        if not parked:  # it ended before reaching a boundary
            job.control.resume()
            if not job.done:
                job.state = JobState.RUNNING
            return
        self.preemptions += 1
        job.state = JobState.PAUSED
        self._running = None
        last = job._last_progress
        job._push(
            ltx2.Progress(
                phase=ltx2.Phase.PAUSED,
                step=last.step if last else 0,
                total_steps=last.total_steps if last else 0,
                frames_decoded=last.frames_decoded if last else 0,
                total_frames=last.total_frames if last else 0,
                elapsed_s=last.elapsed_s if last else 0.0,
            )
        )
        log.info("job paused %s", kv(job.log_fields), extra={"event": "job_paused", **job.log_fields})
        paused_at = time.monotonic()
        try:
            while (realtime := self._pop(realtime_only=True)) is not None:
                await self._execute(realtime)
        finally:
            job.control.resume()
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
    def _wait_parked(job: Job) -> bool:
        while not job._thread_done.is_set():
            if job.control.wait_paused(_PARK_POLL_S):
                return True
        return False

    def _drive(self, job: Job, engine: ltx2.Engine, loop: asyncio.AbstractEventLoop) -> None:
        """The job's thread: iterate the engine and hand every event to the loop."""
        error: BaseException | None = None
        completed = False
        try:
            for event in engine.generate(job.params, job.control):
                completed = completed or isinstance(event, ltx2.Completed)
                loop.call_soon_threadsafe(job._push, event)
        except BaseException as exc:
            error = exc
        finally:
            job._thread_done.set()
            with contextlib.suppress(RuntimeError):  # RuntimeError: the loop is gone (process exit)
                loop.call_soon_threadsafe(self._thread_ended, job, error, completed)

    def _thread_ended(self, job: Job, error: BaseException | None, completed: bool) -> None:
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
        elif not completed:
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
