"""Keeps one engine warm: loads it on demand, unloads it on request or after an idle time.

Keep-alive follows ollama: the model stays loaded after a job; with `keep_alive_s > 0` it is
unloaded once no job has used it for that many seconds; a job arriving while unloaded reloads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable

import ltx2

from .errors import ServiceError, StatusCode

log = logging.getLogger("ltx2d.model_host")

# How long an unload (or a switch to another model) waits for the jobs holding the engine to let
# go before it is refused: a job whose client already has its Completed is still unwinding its
# engine thread for a few milliseconds, and a client that sends Unload or Load right after the
# end must not be told a job still runs. A job that really runs is refused after this.
RELEASE_GRACE_S = 2.0


def _load_error(exc: BaseException, name: str) -> ServiceError:
    if isinstance(exc, ltx2.OutOfMemory):
        return ServiceError(StatusCode.RESOURCE_EXHAUSTED, f"GPU out of memory while loading model {name!r}: {exc}")
    if isinstance(exc, ltx2.CheckpointError):
        return ServiceError(StatusCode.FAILED_PRECONDITION, f"model {name!r} could not be loaded: {exc}")
    return ServiceError(StatusCode.INTERNAL, f"model {name!r} could not be loaded: {type(exc).__name__}: {exc}")


class ModelHost:
    """Owns the engine's lifetime. All methods run on the event loop; loading runs in a thread.

    Jobs bracket their use of the engine with `acquire()` / `release()`: the model is never
    unloaded (idle or on request) while a job holds it.

    `describe_source` describes the model from its checkpoint's configs and files without loading
    it (`ltx2.loader.describe_checkpoint`): its fingerprint for cache keys (a hit on a cold daemon
    must not load tens of GB), its presets, features and audio format for checking a request and
    saying its clip's format. Without one, all that is known only once the model has been loaded
    (test engines). With `warm_up_params`, a load counts as done only after
    `engine.clip_format(warm_up_params)` ran (an engine that measures something on first use
    does it before the daemon says it is ready).
    """

    def __init__(
        self,
        engine_factory: Callable[[], ltx2.Engine],
        keep_alive_s: float = 0.0,
        *,
        describe_source: Callable[[], ltx2.ModelInfo] | None = None,
        warm_up_params: ltx2.GenerationParams | None = None,
        name: str = "default",
    ) -> None:
        if not isinstance(keep_alive_s, (int, float)) or not math.isfinite(keep_alive_s) or keep_alive_s < 0:
            raise ValueError(f"keep_alive_s={keep_alive_s!r}: must be a finite number >= 0 (0 = never unload)")
        self.name = name  # the model's name in requests (--model NAME=PATH)
        self._factory = engine_factory
        self._describe_source = describe_source
        self._described: ltx2.ModelInfo | None = None
        self._warm_up_params = warm_up_params
        self._keep_alive_s = float(keep_alive_s)
        self._engine: ltx2.Engine | None = None
        self._info: ltx2.ModelInfo | None = None
        self._loading: asyncio.Future[ltx2.Engine] | None = None
        self._lock: asyncio.Lock | None = None
        self._uses = 0
        self._idle_timer: asyncio.TimerHandle | None = None
        self._idle_task: asyncio.Task[None] | None = None
        self.loads = 0  # how many times the engine was built (for tests and logs)
        # When the last load failed, and how; None after a load that worked.
        self.last_failure: tuple[float, ServiceError] | None = None

    @property
    def keep_alive_s(self) -> float:
        return self._keep_alive_s

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    @property
    def describable(self) -> bool:
        """Whether the model can be described without loading it (`describe_source` given)."""
        return self._describe_source is not None

    @property
    def in_use(self) -> int:
        """How many jobs hold the engine now."""
        return self._uses

    def info(self) -> ltx2.ModelInfo | None:
        """The loaded model, or the last one loaded (its fingerprint stays valid), or the model as
        described from its files; None if it was neither loaded nor described."""
        return self._info or self._described

    async def describe(self) -> ltx2.ModelInfo:
        """The model: as loaded, else as described from its checkpoint (once, in a thread), else
        by loading it."""
        if self._info is not None:
            return self._info
        if self._describe_source is None:
            return await self.load()
        if self._described is None:
            try:
                self._described = await asyncio.to_thread(self._describe_source)
            except Exception as exc:
                raise _load_error(exc, self.name) from exc
        return self._described

    async def fingerprint(self) -> str:
        """The model's fingerprint (`describe`: no load when the checkpoint can be described)."""
        return (await self.describe()).fingerprint

    async def job_fingerprint(self, params: ltx2.GenerationParams) -> str:
        """The fingerprint of a cache key: the model's, combined with that of each LoRA adapter
        `params` uses (hashed from the adapter files when the model is not loaded)."""
        return (await self.describe()).job_fingerprint(params)

    def _get_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def engine(self) -> ltx2.Engine:
        """The warm engine, loading it first when needed (concurrent callers share one load)."""
        if self._engine is not None:
            return self._engine
        if self._loading is None:
            self._loading = asyncio.ensure_future(self._load())
        # Shielded: a caller that goes away must not abandon a half-built engine.
        return await asyncio.shield(self._loading)

    async def _load(self) -> ltx2.Engine:
        try:
            async with self._get_lock():
                if self._engine is not None:
                    return self._engine
                started = time.monotonic()
                try:
                    engine = await asyncio.to_thread(self._factory)
                    info = await asyncio.to_thread(engine.info)
                    if self._warm_up_params is not None:
                        await asyncio.to_thread(engine.clip_format, self._warm_up_params)
                except Exception as exc:
                    log.exception("model load failed name=%s", self.name)
                    error = _load_error(exc, self.name)
                    self.last_failure = (time.monotonic(), error)
                    raise error from exc
                self._engine, self._info = engine, info
                self.last_failure = None
                self.loads += 1
                log.info(
                    "model loaded name=%s model_id=%s device=%s load_s=%.2f",
                    self.name,
                    info.model_id,
                    info.device,
                    time.monotonic() - started,
                    extra={
                        "event": "model_loaded",
                        "model": self.name,
                        "model_id": info.model_id,
                        "device": info.device,
                    },
                )
                self._arm_idle_timer()
                return engine
        finally:
            self._loading = None

    async def load(self) -> ltx2.ModelInfo:
        """Load the model now (no-op when loaded) and return what was loaded."""
        await self.engine()
        assert self._info is not None
        return self._info

    async def unload(self, reason: str = "request") -> bool:
        """Close the engine and free its device memory. False when nothing was loaded.

        Raises FAILED_PRECONDITION while a job is running on it: closing under a running job would
        crash that job; cancel it (or wait for it) first. Queued jobs reload the model on demand.
        """
        await self.wait_idle(RELEASE_GRACE_S)
        return await self._unload(reason=reason, when_busy="refuse")

    async def wait_idle(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds until no job holds the engine; False if one still does."""
        deadline = time.monotonic() + timeout
        while self._uses and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return not self._uses

    async def _unload(self, reason: str, when_busy: str) -> bool:
        """`when_busy`: "refuse" (raise), "skip" (return False) or "force" (shutdown only)."""
        async with self._get_lock():  # waits for a load or a close in progress to end
            if self._engine is None:
                return False
            # Checked under the lock: a job may have taken the engine while a load was finishing.
            if self._uses and when_busy == "refuse":
                raise ServiceError(
                    StatusCode.FAILED_PRECONDITION,
                    f"cannot unload model {self.name!r} while {self._uses} job(s) are running on it; "
                    "cancel them or wait for them to finish",
                )
            if self._uses and when_busy == "skip":
                return False
            engine, self._engine = self._engine, None
            self._cancel_idle_timer()
            try:
                await asyncio.to_thread(engine.close)
            except Exception:
                log.exception("engine.close() failed; the engine is dropped anyway")
            log.info(
                "model unloaded name=%s reason=%s",
                self.name,
                reason,
                extra={"event": "model_unloaded", "model": self.name, "reason": reason},
            )
            return True

    def acquire(self) -> None:
        """A job starts using the engine: the idle timer stops."""
        self._uses += 1
        self._cancel_idle_timer()

    def release(self) -> None:
        """A job stopped using the engine: the idle timer starts when no job holds it."""
        self._uses = max(0, self._uses - 1)
        if not self._uses:
            self._arm_idle_timer()

    def _arm_idle_timer(self) -> None:
        self._cancel_idle_timer()
        if self._keep_alive_s > 0 and self._engine is not None and not self._uses:
            loop = asyncio.get_running_loop()
            self._idle_timer = loop.call_later(self._keep_alive_s, self._idle_expired)

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _idle_expired(self) -> None:
        self._idle_timer = None
        if self._uses or self._engine is None:
            return
        self._idle_task = asyncio.ensure_future(self._idle_unload())

    async def _idle_unload(self) -> None:
        # A job may have taken the engine between the timer firing and now: then it stays.
        await self._unload(reason=f"idle for {self._keep_alive_s:g} s", when_busy="skip")

    async def close(self) -> None:
        """Unload whatever is loaded, for shutdown (jobs must have ended)."""
        self._cancel_idle_timer()
        if self._loading is not None:
            with contextlib.suppress(ServiceError):
                await asyncio.shield(self._loading)
        await self._unload(reason="shutdown", when_busy="force")
