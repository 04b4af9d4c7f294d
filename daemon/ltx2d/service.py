"""The one service layer both transports call: validate, look up the cache, queue, stream back.

A request goes: validate, once, against the limits (`validation.prepare` on `ltx2.params`) ->
resolve the seed -> cache lookup (a hit replays
the stored chunks without the engine) -> queue on the scheduler -> stream the job's events. A
consumer that stops iterating (aclose, or its task cancelled: that is how a gRPC disconnect or a
bridge connection close arrives) cancels its job, which stops within one step.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import replace

import ltx2

from . import validation
from .domain import (
    Accepted,
    CachePolicy,
    ClipRequest,
    ModelEntry,
    PreparedRequest,
    Priority,
    ServiceInfo,
    StreamEvent,
    StreamRecord,
    stream_messages,
)
from .earlier_clips import JOB_INDEX, ClipIndex, continued_job, names_a_job, resolve_earlier
from .errors import ServiceError, StatusCode, invalid, service_error
from .model_host import ModelHost
from .model_pool import ModelPool
from .result_cache import CacheReader, CacheWriter, DamagedEntry, ResultCache, cache_key
from .scheduler import DEFAULT_STALL_LIMIT_S, Job, Replay, Scheduler, kv

log = logging.getLogger("ltx2d.service")
MAX_CONCURRENT_DECODES = 2

JobListener = Callable[[StreamRecord], None]


def new_job_id() -> str:
    return secrets.token_hex(8)


class Ltx2dService:
    """Generation, cancel, info, load/unload and prefetch over one scheduler and the configured
    models (one `ModelHost`, or a `ModelPool` of several with one resident at a time)."""

    def __init__(
        self,
        host: ModelHost | ModelPool,
        queue_capacity: int,
        cache: ResultCache | None,
        limits: ltx2.Limits,
        defaults: ltx2.GenerationParams = ltx2.GenerationParams(prompt=""),
        stall_limit_s: float = DEFAULT_STALL_LIMIT_S,
    ) -> None:
        self.models = host if isinstance(host, ModelPool) else ModelPool.single(host)
        self.cache = cache
        # Which job made which cached clip, for continue_from / retake by job id (kept beside the
        # entries, so a restart keeps it as it keeps them).
        self.clips = ClipIndex(path=cache.folder / JOB_INDEX if cache is not None else None)
        # The one copy of the deployment's limits and defaults: every request is checked here.
        self.limits = limits
        self.defaults = defaults
        self.scheduler = Scheduler(self.models, queue_capacity, stall_limit_s, messages=stream_messages)
        self._listeners: list[JobListener] = []
        self._background: set[asyncio.Task[object]] = set()
        self._closing = False
        # Requests whose media are being decoded at once: each may hold up to
        # Limits.max_input_frame_bytes while it decodes; the others wait their turn.
        self._decoding = asyncio.Semaphore(MAX_CONCURRENT_DECODES)

    # -- read-only views (metrics read these) -------------------------------------------------

    @property
    def host(self) -> ModelHost:
        """The default model's host."""
        return self.models.host()

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
        await self.models.close()

    async def wait_background(self) -> None:
        """Wait for pending cache writes and prefetch jobs."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def _check_open(self) -> None:
        if self._closing:
            raise ServiceError(StatusCode.UNAVAILABLE, "the daemon is shutting down")

    # -- simple calls --------------------------------------------------------------------------

    async def info(self) -> ServiceInfo:
        resident = self.models.resident
        return ServiceInfo(
            model=self.models.info(),
            loaded=resident is not None,
            limits=self.limits,
            queue_depth=self.scheduler.queue_depth,
            queue_capacity=self.scheduler.capacity,
            running_job_id=self.scheduler.running_job_id,
            keep_alive_s=self.host.keep_alive_s,
            defaults=self.defaults,
            preemptions=self.scheduler.preemptions,
            stalls=self.scheduler.stalls,
            models=tuple(_model_entry(host, host.name == self.models.default) for host in self.models),
            resident_model=resident.name if resident is not None else "",
        )

    async def load(self, model: str = "") -> ServiceInfo:
        """Make `model` ("" for the default) resident, unloading the one that was."""
        self._check_open()
        await self.models.load(model)
        return await self.info()

    async def unload(self) -> ServiceInfo:
        """Unload the resident model (FAILED_PRECONDITION while a job runs on it)."""
        await self.models.unload()
        return await self.info()

    async def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; its stream ends with CANCELLED. False if none pending."""
        found = self.scheduler.cancel(job_id)
        if found:
            log.info("job cancel requested job_id=%s", job_id, extra={"event": "job_cancel", "job_id": job_id})
        return found

    # -- generate ------------------------------------------------------------------------------

    async def _prepare(self, request: ClipRequest, where: str = "") -> PreparedRequest:
        """The request validated, with its seed resolved; ServiceError INVALID_ARGUMENT otherwise."""
        prepare = functools.partial(
            validation.prepare, request, self.defaults, self.limits, where, models=self.models.names
        )
        if not _has_media(request):
            return prepare()
        if names_a_job(request):
            resolve = functools.partial(resolve_earlier, request, self.cache, self.clips, self.limits)
            try:
                request = await asyncio.to_thread(resolve)
            except ServiceError as exc:
                if not where:
                    raise
                raise ServiceError(exc.code, f"{where}{exc.message}", f"{where}{exc.field}") from None
            prepare = functools.partial(
                validation.prepare, request, self.defaults, self.limits, where, models=self.models.names
            )
        # Decoding a request's media (FFmpeg, scaling every frame) takes up to seconds: off the
        # event loop, so that the other streams keep flowing meanwhile, a few at a time.
        async with self._decoding:
            return await asyncio.to_thread(prepare)

    async def _fingerprint(self, request: PreparedRequest) -> str:
        # From the checkpoint's and the adapters' files: a hit loads no model.
        return await self.models.host(request.model).job_fingerprint(request.params)

    async def _resolve(
        self, request: PreparedRequest, where: str = ""
    ) -> tuple[ltx2.GenerationParams, ltx2.ClipFormat]:
        """The request's params as its model runs them under this deployment's limits (its preset
        applied, LoRA names and features checked: `ModelInfo.resolve`), and the clip's format.
        From the model as described by its checkpoint: a request for a model that is not resident
        loads nothing here (the worker switches when the job's turn comes)."""
        try:
            info = await self.models.host(request.model).describe()
            try:
                resolved = info.resolve(request.params, self.limits)
            except ltx2.InvalidParams as exc:
                raise invalid(f"{where}{exc.field}", exc.value, exc.rule) from None
            return resolved, info.clip_format(resolved, self.limits)
        except ServiceError:
            raise
        except Exception as exc:
            raise service_error(exc) from exc

    async def generate(self, clip_request: ClipRequest) -> AsyncIterator[StreamEvent]:
        """Stream Accepted, then the job's events, ending with Completed; raise ServiceError on
        failure. Stopping the iteration (aclose or task cancel) cancels the job."""
        accepted_at = time.monotonic()
        self._check_open()
        request = await self._prepare(clip_request)
        params = request.params
        job_id = new_job_id()
        fields = _log_fields(job_id, request)
        key: str | None = None
        if self.cache is not None and request.cache_policy is not CachePolicy.BYPASS:
            key = cache_key(await self._fingerprint(request), params)
            self.clips.record(job_id, key, continued_job(clip_request))
            if request.cache_policy is CachePolicy.USE:
                reader = await asyncio.to_thread(self.cache.open, key)
                if reader is not None:
                    try:
                        replay = self.scheduler.admit_replay(job_id, fields)
                    except BaseException:
                        reader.close()
                        raise
                    async with aclosing(self._replay(replay, request, reader, accepted_at)) as events:
                        async for event in events:
                            yield event
                    return
        params, fmt = await self._resolve(request)
        self._check_open()
        job = self.scheduler.submit(job_id, params, request.priority, request.deadline, fields, request.model)
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
        accepted = Accepted(job_id, job.queue_position, False, fmt, request.delivery)
        async with aclosing(self._follow(job, request, fmt, key, fields, accepted_at, accepted)) as events:
            async for event in events:
                yield event

    async def _follow(
        self,
        job: Job,
        request: PreparedRequest,
        fmt: ltx2.ClipFormat,
        key: str | None,
        fields: dict[str, object],
        received_at: float,
        accepted: Accepted | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """`accepted`, then the job's events; stores the clip under `key` when it completes.

        When the model chooses the length (auto duration), `fmt` is only its bound: Accepted goes
        out with the engine's LengthChosen format, and the scheduler's notices from before it
        (queued, paused) are dropped: they would precede Accepted, or say a stale bound.
        Leaving early (consumer gone) cancels the job.
        """
        outcome = "OK"
        first_chunk_at: float | None = None
        completed = False
        choosing = job.params.auto_duration
        writer = await self._open_writer(key, fmt) if key is not None and not choosing else None
        write: asyncio.Future[bool] | None = None  # the chunk being written while it is sent
        try:
            if accepted is not None and not choosing:
                yield accepted
            while (event := await job.next_event()) is not None:
                if isinstance(event, ltx2.LengthChosen):
                    if not choosing:
                        raise ServiceError(StatusCode.INTERNAL, "the engine said the length twice or unasked")
                    choosing, fmt = False, event.format
                    writer = await self._open_writer(key, fmt) if key is not None else None
                    if accepted is not None:
                        # The job runs now: nothing is ahead of it.
                        yield replace(accepted, format=fmt, queue_position=0)
                    continue
                if choosing:
                    if not isinstance(event, ltx2.Progress):
                        raise ServiceError(StatusCode.INTERNAL, "the engine streamed before saying the length")
                    continue  # a scheduler notice (queued, paused) from before the job knew its length
                if isinstance(event, (ltx2.AudioChunk, ltx2.VideoChunk)):
                    first_chunk_at = first_chunk_at or time.monotonic()
                    # Stored as sent (video already in messages: `stream_messages`), so a hit replays
                    # the same messages.
                    if writer is not None and writer.open:
                        write = asyncio.ensure_future(asyncio.to_thread(writer.add, event))
                    yield event
                    if write is not None:
                        await write
                        write = None
                    continue
                if isinstance(event, ltx2.Completed):
                    completed = True
                    queue_s = (job.started_at or received_at) - received_at
                    event = replace(event, timings=replace(event.timings, queue_s=queue_s))
                    if writer is not None:
                        # Stored before Completed goes out, so a request sent after Completed hits.
                        await self._commit(writer, event)
                        writer = None
                yield event
            if choosing:
                raise ServiceError(StatusCode.INTERNAL, "the job ended without the engine saying the length")
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
            if writer is not None:  # the clip did not complete: drop what was written
                self._spawn(self._abort_write(write, writer))
            self._finished(job.id, request, outcome, False, received_at, job.started_at, first_chunk_at, fields)

    async def _open_writer(self, key: str, fmt: ltx2.ClipFormat) -> CacheWriter | None:
        assert self.cache is not None
        try:
            return await asyncio.to_thread(self.cache.writer, key, fmt)
        except OSError:
            log.exception("cache store failed", extra={"event": "cache_write_failed"})
            return None

    async def _commit(self, writer: CacheWriter, done: ltx2.Completed) -> None:
        try:
            await asyncio.to_thread(
                writer.commit, done.seed, done.num_frames, done.num_samples, done.audio_padded_samples
            )
        except Exception:
            log.exception("cache store failed", extra={"event": "cache_write_failed"})
            await asyncio.to_thread(writer.abort)

    @staticmethod
    async def _abort_write(write: asyncio.Future[bool] | None, writer: CacheWriter) -> None:
        if write is not None:
            with contextlib.suppress(Exception):
                await write
        await asyncio.to_thread(writer.abort)

    async def _replay(
        self, replay: Replay, request: PreparedRequest, reader: CacheReader, accepted_at: float
    ) -> AsyncIterator[StreamEvent]:
        """Stream a cache entry as the miss streamed it, without the engine: each chunk is read
        (and checked) while the one before it is sent, so at most two are in memory."""
        started = time.monotonic()
        first_chunk_at: float | None = None
        outcome = StatusCode.CANCELLED.value
        fields = replay.log_fields
        log.info(
            "job accepted %s position=0 cache_hit=true",
            kv(fields),
            extra={"event": "job_accepted", "queue_position": 0, "cache_hit": True, **fields},
        )
        ahead: asyncio.Future[ltx2.AudioChunk | ltx2.VideoChunk | None] | None = None
        watch = replay.watch
        assert watch is not None
        try:
            ahead = asyncio.ensure_future(asyncio.to_thread(reader.next_chunk))
            watch.left()
            yield Accepted(replay.id, 0, True, reader.format, request.delivery)
            watch.back()
            while True:
                replay.check()
                chunk = await ahead
                ahead = None
                if chunk is None:
                    break
                ahead = asyncio.ensure_future(asyncio.to_thread(reader.next_chunk))
                first_chunk_at = first_chunk_at or time.monotonic()
                watch.left()
                yield chunk
                watch.back()
            replay.check()
            end = time.monotonic()
            timings = ltx2.Timings(
                queue_s=started - accepted_at,
                first_chunk_s=(first_chunk_at or end) - accepted_at,
                total_s=end - accepted_at,
            )
            outcome = "OK"
            yield ltx2.Completed(
                reader.seed,
                reader.num_frames,
                reader.num_samples,
                timings,
                cache_hit=True,
                audio_padded_samples=reader.audio_padded_samples,
            )
        except DamagedEntry as exc:
            outcome = StatusCode.UNAVAILABLE.value
            raise ServiceError(
                StatusCode.UNAVAILABLE, f"{exc}; the entry was removed: send the request again to generate it"
            ) from None
        except ServiceError as exc:
            outcome = exc.code.value
            raise
        finally:
            self.scheduler.end_replay(replay)
            self._spawn(_close_reader(ahead, reader))
            self._finished(replay.id, request, outcome, True, accepted_at, started, first_chunk_at, fields)

    def _finished(
        self,
        job_id: str,
        request: PreparedRequest,
        outcome: str,
        cache_hit: bool,
        accepted_at: float,
        started_at: float | None,
        first_chunk_at: float | None,
        fields: dict[str, object],
    ) -> None:
        now = time.monotonic()
        record = StreamRecord(
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

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- prefetch ------------------------------------------------------------------------------

    async def prefetch(self, requests: list[ClipRequest]) -> tuple[list[str], int]:
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
        with_media = sum(_has_media(r) for r in requests)
        if with_media > self.scheduler.capacity:
            # Each decoded medium is held until its job runs: no more than the queue can take.
            raise ServiceError(
                StatusCode.INVALID_ARGUMENT,
                f"requests=<{with_media} with media (inputs, keyframes, earlier clips)>: at most "
                f"{self.scheduler.capacity} (the queue capacity) may carry media",
                "requests",
            )
        prepared: list[PreparedRequest] = []
        for i, clip_request in enumerate(requests):  # every rule of every request first ...
            # Checked as sent (a bad cache_policy is refused, not ignored), then queued as prefetch.
            request = await self._prepare(clip_request, f"requests[{i}].")
            prepared.append(replace(request, priority=Priority.BATCH, cache_policy=CachePolicy.USE))
        for i, clip_request in enumerate(requests):  # ... then the one of prefetch
            if clip_request.values.get("seed") is None:
                raise ServiceError(
                    StatusCode.INVALID_ARGUMENT,
                    f"requests[{i}].seed=None: must be set for prefetch (a random seed is never asked for again)",
                    f"requests[{i}].seed",
                )
        keys = [cache_key(await self._fingerprint(request), request.params) for request in prepared]
        todo = [i for i, key in enumerate(keys) if key not in self.cache]
        self.scheduler.check_room(len(todo))  # refuse early, before asking the engine anything
        resolved = {i: await self._resolve(prepared[i], f"requests[{i}].") for i in todo}
        self._check_open()
        job_ids = [""] * len(prepared)
        specs = []
        for i in todo:
            request = prepared[i]
            params = resolved[i][0]
            job_ids[i] = new_job_id()
            self.clips.record(job_ids[i], keys[i], continued_job(requests[i]))
            fields = {**_log_fields(job_ids[i], request), "prefetch": True}
            specs.append((job_ids[i], params, Priority.BATCH, request.deadline, fields, request.model))
        # All or nothing, checked again here: a generate may have taken a slot during the awaits.
        jobs = self.scheduler.submit_all(specs)
        for i, job in zip(todo, jobs, strict=True):
            request = prepared[i]
            log.info(
                "job accepted %s position=%d",
                kv(job.log_fields),
                job.queue_position,
                extra={"event": "job_accepted", **job.log_fields},
            )
            self._spawn(self._drain(self._follow(job, request, resolved[i][1], keys[i], job.log_fields, received_at)))
        return job_ids, len(prepared) - len(todo)

    @staticmethod
    async def _drain(events: AsyncIterator[StreamEvent]) -> None:
        try:
            async with aclosing(events) as stream:  # type: ignore[type-var]
                async for _ in stream:
                    pass
        except ServiceError:
            pass  # already logged and recorded by _follow


async def _close_reader(ahead: asyncio.Future[object] | None, reader: CacheReader) -> None:
    if ahead is not None:
        with contextlib.suppress(Exception):
            await ahead
    await asyncio.to_thread(reader.close)


def _model_entry(host: ModelHost, default: bool) -> ModelEntry:
    info = host.info()
    return ModelEntry(
        name=host.name,
        loaded=host.loaded,
        default=default,
        model_path=info.model_path if info is not None else "",
        version=info.version if info is not None else "",
        loads=host.loads,
    )


def _log_fields(job_id: str, request: PreparedRequest) -> dict[str, object]:
    fields: dict[str, object] = {"job_id": job_id, "priority": Priority(request.priority).name}
    if request.client:
        fields["client"] = request.client
    if request.params.tags:
        fields["tags"] = dict(request.params.tags)
    return fields


def _has_media(request: ClipRequest) -> bool:
    """Whether the request carries media to decode (frames, sound, keyframes, an earlier clip)."""
    values = request.values
    media = ("video_input", "audio_input", "image", "conditions", "continue_from", "retake")
    return any(values.get(name) for name in media)
