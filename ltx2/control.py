"""Cancel token and pause gate shared between a job's owner and the engine running it."""

from __future__ import annotations

import threading
from collections.abc import Callable

from .errors import Cancelled


class JobControl:
    """Lets another thread cancel or pause a generation at its next step or chunk boundary.

    The engine calls `checkpoint()` after every denoising step and every decoded chunk. A cancel
    raises `Cancelled` there; a pause blocks there (setting `paused`) until `resume()` or
    `cancel()`. Nothing is interrupted mid-step, so a paused job resumes exactly where it stopped.
    """

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._cancel_reason: str | None = None
        self._pause_requested = False
        self._paused = threading.Event()
        self._on_pause: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        return self._cancel_reason is not None

    @property
    def cancel_reason(self) -> str | None:
        return self._cancel_reason

    @property
    def is_paused(self) -> bool:
        return self._paused.is_set()

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop the job at its next boundary (also wakes a paused job so it can stop)."""
        with self._lock:
            if self._cancel_reason is None:
                self._cancel_reason = reason
            self._lock.notify_all()

    def request_pause(self) -> None:
        """Ask the job to park at its next boundary; `wait_paused` tells when it has."""
        with self._lock:
            self._pause_requested = True

    def wait_paused(self, timeout: float | None = None) -> bool:
        """Block until the job is parked; False on timeout."""
        return self._paused.wait(timeout)

    def resume(self) -> None:
        with self._lock:
            self._pause_requested = False
            self._lock.notify_all()

    def checkpoint(self, on_pause: Callable[[], None] | None = None) -> None:
        """Called by the engine at a boundary: raise if cancelled, park while paused."""
        with self._lock:
            if self._cancel_reason is not None:
                raise Cancelled(self._cancel_reason)
            if not self._pause_requested:
                return
            self._paused.set()
        if on_pause is not None:
            on_pause()
        with self._lock:
            while self._pause_requested and self._cancel_reason is None:
                self._lock.wait()
            self._paused.clear()
            if self._cancel_reason is not None:
                raise Cancelled(self._cancel_reason)
