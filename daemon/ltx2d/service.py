"""The one service layer both transports call: validate, look up the cache, queue, stream back.

A request goes: validate against the limits -> resolve the seed -> cache lookup (a hit replays
the stored chunks without the engine) -> queue on the scheduler -> stream the job's events. A
consumer that stops iterating (aclose, or its task cancelled: that is how a gRPC disconnect or a
bridge connection close arrives) cancels its job, which stops within one step.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import replace

import ltx2

from .jobs import (
    Accepted,
    CachePolicy,
    JobEvent,
    JobRecord,
    JobRequest,
    Priority,
    ServiceError,
    ServiceInfo,
    StatusCode,
)
from .model_host import ModelHost
from .result_cache import CachedClip, ResultCache, cache_key
from .scheduler import Job, Scheduler, engine_error, kv

log = logging.getLogger("ltx2d.service")

JobListener = Callable[[JobRecord], None]


def new_job_id() -> str:
    return secrets.token_hex(8)


class Ltx2dService:
    """Generation, cancel, info, load/unload and prefetch over one scheduler and one model host."""

    def __init__(self, host: ModelHost, queue_capacity: int, cache: ResultCache | None, limits: ltx2.Limits) -> None:
        self.host = host
        self.cache = cache
        self.limits = limits
        self.scheduler = Scheduler(host, queue_capacity)
        self._listeners: list[JobListener] = []
        self._background: set[asyncio.Task[object]] = set()
        self._closing = False

    # -- read-only views (metrics read these) -------------------------------------------------

    @property
    def queue_depth(self) -> int:
        return self.scheduler.queue_depth

    @property
    def running_job_id(self) -> str:
        return self.scheduler.running_job_id

    def add_job_listener(self, listener: JobListener) -> None:
        """Call `listener(record)` on the event loop whenever an accepted job's stream ends."""
        self._listeners.append(listener)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the scheduler's worker on the running loop (the model loads on first use)."""
        self.scheduler.start()

    async def shutdown(self, grace_s: float) -> None:
        """Refuse new work (UNAVAILABLE), let running jobs finish within `grace_s`, cancel the
        rest, finish pending cache writes and unload the model."""
        self._closing = True
        await self.scheduler.shutdown(grace_s)
        await self.wait_background()
        await self.host.close()

    async def wait_background(self) -> None:
        """Wait for pending cache writes and prefetch jobs."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def _check_open(self) -> None:
        if self._closing:
            raise ServiceError(StatusCode.UNAVAILABLE, "the daemon is shutting down")

    # -- simple calls --------------------------------------------------------------------------

    async def info(self) -> ServiceInfo:
        return ServiceInfo(
            model=self.host.info(),
            loaded=self.host.loaded,
            limits=self.limits,
            queue_depth=self.scheduler.queue_depth,
            queue_capacity=self.scheduler.capacity,
            running_job_id=self.scheduler.running_job_id,
            keep_alive_s=self.host.keep_alive_s,
        )

    async def load(self) -> ServiceInfo:
        self._check_open()
        await self.host.load()
        return await self.info()

    async def unload(self) -> ServiceInfo:
        await self.host.unload()
        return await self.info()

    async def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; its stream ends with CANCELLED. False if none pending."""
        found = self.scheduler.cancel(job_id)
        if found:
            log.info("job cancel requested job_id=%s", job_id, extra={"event": "job_cancel", "job_id": job_id})
        return found

    # -- generate ------------------------------------------------------------------------------

    def _prepare(self, request: JobRequest, where: str = "") -> ltx2.GenerationParams:
        """Validated params with the seed resolved; ServiceError INVALID_ARGUMENT otherwise."""
        try:
            Priority(request.priority)
        except ValueError:
            raise _invalid(
                where, "priority", request.priority, "must be REALTIME (1), INTERACTIVE (2) or BATCH (3)"
            ) from None
        try:
            CachePolicy(request.cache_policy)
        except ValueError:
            raise _invalid(
                where, "cache_policy", request.cache_policy, "must be USE (0), BYPASS (1) or REFRESH (2)"
            ) from None
        info = self.host.info()
        try:
            request.params.validate(self.limits)
            # With the model known: its preset applied and LoRA names checked (ltx2's one rule).
            params = info.resolve(request.params, self.limits) if info is not None else request.params
        except ltx2.InvalidParams as exc:
            raise _invalid(where, exc.field, exc.value, exc.rule) from None
        return params if params.seed is not None else params.with_seed(secrets.randbits(63))

    async def _fingerprint(self, params: ltx2.GenerationParams) -> str:
        """The model's fingerprint, combined with those of the LoRA adapters `params` uses."""
        info = self.host.info()
        if info is None:  # never loaded: the fingerprint comes from the checkpoint
            info = await self.host.load()
        return info.job_fingerprint(params)

    async def _clip_format(self, params: ltx2.GenerationParams) -> ltx2.ClipFormat:
        self.host.acquire()  # no unload while the engine is asked
        try:
            engine = await self.host.engine()
            # In a thread: a real engine may touch the device the first time.
            return await asyncio.to_thread(engine.clip_format, params)
        except ServiceError:
            raise
        except Exception as exc:
            raise engine_error(exc) from exc
        finally:
            self.host.release()

    async def generate(self, request: JobRequest) -> AsyncIterator[JobEvent]:
        """Stream Accepted, then the job's events, ending with Completed; raise ServiceError on
        failure. Stopping the iteration (aclose or task cancel) cancels the job."""
        accepted_at = time.monotonic()
        self._check_open()
        params = self._prepare(request)
        if self.host.info() is None:
            # The model decides the preset's values and which adapters exist; resolving before any cache
            # key is made keeps one key per clip whether or not the model was loaded yet.
            await self.host.load()
            params = self._prepare(replace(request, params=replace(request.params, seed=params.seed)))
        job_id = new_job_id()
        fields = _log_fields(job_id, request)
        key: str | None = None
        if self.cache is not None and request.cache_policy is not CachePolicy.BYPASS:
            key = cache_key(await self._fingerprint(params), params)
            if request.cache_policy is CachePolicy.USE:
                clip = await asyncio.to_thread(self.cache.get, key)
                if clip is not None:
                    async with aclosing(self._replay(job_id, request, clip, accepted_at, fields)) as events:
                        async for event in events:
                            yield event
                    return
        fmt = await self._clip_format(params)
        self._check_open()
        job = self.scheduler.submit(job_id, params, request.priority, request.deadline, fields)
        log.info(
            "job accepted %s position=%d cache_hit=false",
            kv(fields),
            job.queue_position,
            extra={
                "event": "job_accepted",
                "queue_position": job.queue_position,
                "cache_hit": False,
                **fields,
            },
        )
        accepted = Accepted(job_id, job.queue_position, False, fmt)
        async with aclosing(self._follow(job, request, fmt, key, fields, accepted_at, accepted)) as events:
            async for event in events:
                yield event

    async def _follow(
        self,
        job: Job,
        request: JobRequest,
        fmt: ltx2.ClipFormat,
        key: str | None,
        fields: dict[str, object],
        received_at: float,
        accepted: Accepted | None = None,
    ) -> AsyncIterator[JobEvent]:
        """`accepted`, then the job's events; stores the clip under `key` when it completes.

        Leaving early (consumer gone) cancels the job.
        """
        outcome = "OK"
        first_chunk_at: float | None = None
        chunks: list[ltx2.AudioChunk | ltx2.VideoChunk] = []
        kept = 0
        completed = False
        try:
            if accepted is not None:
                yield accepted
            while (event := await job.next_event()) is not None:
                if isinstance(event, (ltx2.AudioChunk, ltx2.VideoChunk)):
                    first_chunk_at = first_chunk_at or time.monotonic()
                    if key is not None:
                        chunks.append(event)
                        kept += len(event.data)
                        if self.cache is not None and kept > self.cache.max_bytes:
                            key, chunks = None, []  # larger than the whole cache: keep nothing
                elif isinstance(event, ltx2.Completed):
                    completed = True
                    queue_s = (job.started_at or received_at) - received_at
                    event = replace(event, timings=replace(event.timings, queue_s=queue_s))
                    if key is not None:
                        # Stored before Completed goes out, so a request sent after Completed hits.
                        clip = CachedClip(fmt, tuple(chunks), event.seed, event.num_frames, event.num_samples)
                        await self._store(key, clip)
                yield event
        except ServiceError as exc:
            outcome = exc.code.value
            raise
        except (GeneratorExit, asyncio.CancelledError):
            if not completed:
                late = request.deadline is not None and time.monotonic() >= request.deadline
                outcome = (StatusCode.DEADLINE_EXCEEDED if late else StatusCode.CANCELLED).value
            raise
        finally:
            if not job.done and not completed:
                self.scheduler.cancel(job.id, StatusCode.CANCELLED, "the client went away")
            self._finished(job.id, request, outcome, False, received_at, job.started_at, first_chunk_at, fields)

    async def _replay(
        self,
        job_id: str,
        request: JobRequest,
        clip: CachedClip,
        accepted_at: float,
        fields: dict[str, object],
    ) -> AsyncIterator[JobEvent]:
        """Stream a cache entry as the miss streamed it, without the engine."""
        started = time.monotonic()
        first_chunk_at: float | None = None
        outcome = StatusCode.CANCELLED.value
        log.info(
            "job accepted %s position=0 cache_hit=true",
            kv(fields),
            extra={"event": "job_accepted", "queue_position": 0, "cache_hit": True, **fields},
        )
        try:
            yield Accepted(job_id, 0, True, clip.format)
            for chunk in clip.chunks:
                first_chunk_at = first_chunk_at or time.monotonic()
                yield chunk
            end = time.monotonic()
            timings = ltx2.Timings(
                queue_s=started - accepted_at,
                first_chunk_s=(first_chunk_at or end) - accepted_at,
                total_s=end - accepted_at,
            )
            outcome = "OK"
            yield ltx2.Completed(clip.seed, clip.num_frames, clip.num_samples, timings, cache_hit=True)
        finally:
            self._finished(job_id, request, outcome, True, accepted_at, started, first_chunk_at, fields)

    def _finished(
        self,
        job_id: str,
        request: JobRequest,
        outcome: str,
        cache_hit: bool,
        accepted_at: float,
        started_at: float | None,
        first_chunk_at: float | None,
        fields: dict[str, object],
    ) -> None:
        now = time.monotonic()
        record = JobRecord(
            job_id=job_id,
            priority=Priority(request.priority),
            outcome=outcome,
            cache_hit=cache_hit,
            queue_s=(started_at - accepted_at) if started_at is not None else now - accepted_at,
            first_chunk_s=(first_chunk_at - accepted_at) if first_chunk_at is not None else None,
            total_s=now - accepted_at,
            tags=dict(request.params.tags),
        )
        log.info(
            "job finished %s outcome=%s cache_hit=%s queue_s=%.3f total_s=%.3f",
            kv(fields),
            outcome,
            str(cache_hit).lower(),
            record.queue_s,
            record.total_s,
            extra={
                "event": "job_finished",
                "outcome": outcome,
                "cache_hit": cache_hit,
                "queue_s": record.queue_s,
                "first_chunk_s": record.first_chunk_s,
                "total_s": record.total_s,
                **fields,
            },
        )
        for listener in self._listeners:
            try:
                listener(record)
            except Exception:
                log.exception("job listener failed")

    async def _store(self, key: str, clip: CachedClip) -> None:
        assert self.cache is not None
        try:
            await asyncio.to_thread(self.cache.put, key, clip)
        except Exception:
            log.exception("cache store failed", extra={"event": "cache_write_failed"})

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- prefetch ------------------------------------------------------------------------------

    async def prefetch(self, requests: list[JobRequest]) -> tuple[list[str], int]:
        """Queue every request not yet cached at BATCH priority; the results land in the cache.

        Returns one job id per request ("" for one already cached) and how many were cached.
        Every request needs a seed (a clip made with a random seed could never be asked for
        again). Nothing is queued unless all requests are valid and all fit in the queue.
        """
        received_at = time.monotonic()
        self._check_open()
        if self.cache is None:
            raise ServiceError(
                StatusCode.FAILED_PRECONDITION,
                "the result cache is disabled, so prefetched clips cannot be kept",
            )
        if self.host.info() is None:  # the model's presets and adapters decide what is valid
            await self.host.load()
        prepared: list[tuple[JobRequest, ltx2.GenerationParams]] = []
        for i, request in enumerate(requests):
            request = replace(request, priority=Priority.BATCH, cache_policy=CachePolicy.USE)
            prepared.append((request, self._prepare(request, f"requests[{i}].")))
        for i, request in enumerate(requests):  # seeds last: every other rule of every request first
            if request.params.seed is None:
                rule = "must be set for prefetch (a random seed is never asked for again)"
                raise _invalid(f"requests[{i}].", "seed", None, rule)
        keys = [cache_key(await self._fingerprint(params), params) for _, params in prepared]
        todo = [i for i, key in enumerate(keys) if key not in self.cache]
        if len(todo) > self.scheduler.free_slots:
            raise ServiceError(
                StatusCode.RESOURCE_EXHAUSTED,
                f"the queue has room for {self.scheduler.free_slots} jobs but {len(todo)} requests are not "
                "cached; send fewer or try again later",
            )
        formats = {i: await self._clip_format(prepared[i][1]) for i in todo}
        self._check_open()
        job_ids = [""] * len(prepared)
        for i in todo:
            request, params = prepared[i]
            job_id = new_job_id()
            fields = {**_log_fields(job_id, request), "prefetch": True}
            job = self.scheduler.submit(job_id, params, Priority.BATCH, request.deadline, fields)
            log.info(
                "job accepted %s position=%d",
                kv(fields),
                job.queue_position,
                extra={"event": "job_accepted", **fields},
            )
            job_ids[i] = job_id
            self._spawn(self._drain(self._follow(job, request, formats[i], keys[i], fields, received_at)))
        return job_ids, len(prepared) - len(todo)

    @staticmethod
    async def _drain(events: AsyncIterator[JobEvent]) -> None:
        try:
            async with aclosing(events) as stream:  # type: ignore[type-var]
                async for _ in stream:
                    pass
        except ServiceError:
            pass  # already logged and recorded by _follow


def _invalid(where: str, field: str, value: object, rule: str) -> ServiceError:
    return ServiceError(StatusCode.INVALID_ARGUMENT, f"{where}{field}={value!r}: {rule}", field=f"{where}{field}")


def _log_fields(job_id: str, request: JobRequest) -> dict[str, object]:
    fields: dict[str, object] = {"job_id": job_id, "priority": Priority(request.priority).name}
    if request.client:
        fields["client"] = request.client
    if request.params.tags:
        fields["tags"] = dict(request.params.tags)
    return fields
