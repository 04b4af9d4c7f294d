"""Run a job's producer on a reused worker thread and hand its events to the consumer in lock-step.

All torch work of a job (encode, denoise, decode) runs on one thread, and threads are reused:
with OpenMP (torch on CPU) every new thread that computes starts its own team of worker threads,
and two teams spinning at once on a small machine slow both several fold.

Lock-step: `emit` returns only when the consumer asks for the next event, so a cancel or pause
issued on seeing event i takes effect before the producer computes anything after it, and
decoded chunks never pile up in memory ahead of a slow consumer: one event is in flight between
the producer and the consumer, whoever the consumer is. A `Stream` is read either by iterating it
(a thread blocks in `next`) or from an event loop without any thread in between (`take` plus an
`on_ready` callback), which is how the daemon carries the lock-step to its socket.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
Emit = Callable[[T], None]

_tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
_lock = threading.Lock()
_idle = 0  # worker threads waiting for a task


def _serve() -> None:
    global _idle
    while True:
        task = _tasks.get()
        try:
            task()
        finally:
            with _lock:
                _idle += 1


def _submit(task: Callable[[], None]) -> None:
    """Run `task` on an idle worker thread, or on a new one when all are busy.

    A paused job keeps its thread, so the pool grows rather than making a job wait for another.
    Daemon threads: a job parked forever must not keep the process from exiting.
    """
    global _idle
    with _lock:
        if _idle:
            _idle -= 1
        else:
            threading.Thread(target=_serve, name="ltx2-worker", daemon=True).start()
        _tasks.put(task)


ITEM, DONE, ERROR = "item", "done", "error"


class _Handoff:
    """The state shared by a producer thread and its consumer (the thread holds only this)."""

    def __init__(self, produce: Callable[[Emit[T]], None], abandon: Callable[[], None]) -> None:
        self.produce = produce
        self.abandon = abandon
        self.cond = threading.Condition()
        self.slot: tuple[str, object] | None = None  # handed over, not yet taken
        self.held = False  # the consumer took an item and has not asked for the next yet
        self.closed = False
        self.started = False
        self.on_ready: Callable[[], None] | None = None
        self.on_end: Callable[[BaseException | None], None] | None = None
        self.finished = threading.Event()
        self.waiting_since: float | None = None

    def hand(self, kind: str, value: object) -> None:
        with self.cond:
            self.slot = (kind, value)
            self.waiting_since = time.monotonic()
            self.cond.notify_all()
            ready = self.on_ready
        if ready is not None:
            ready()

    def emit(self, item: object) -> None:
        with self.cond:
            closed = self.closed
        if not closed:
            self.hand(ITEM, item)
            with self.cond:
                while (self.slot is not None or self.held) and not self.closed:
                    self.cond.wait()
        with self.cond:
            self.waiting_since = None

    def run(self) -> None:
        error: BaseException | None = None
        try:
            self.produce(self.emit)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            error = exc
        with self.cond:
            closed = self.closed
        if not closed:
            self.hand(ERROR if error is not None else DONE, error)
        with self.cond:
            self.waiting_since = None
        self.finished.set()
        if self.on_end is not None:
            self.on_end(error)

    def release_held(self) -> None:
        """The consumer asks for the next item: the producer's `emit` of the last one returns."""
        if self.held:
            self.held = False
            self.cond.notify_all()

    def abort(self) -> None:
        with self.cond:
            if self.closed:
                return
            self.closed = True
            self.slot = None
            self.held = False
            self.cond.notify_all()
        self.abandon()


class Stream(Generic[T], Iterator[T]):
    """What `produce(emit)` emits on a worker thread, handed to one consumer an item at a time.

    `abandon()` must make `produce` stop soon (for example by cancelling its JobControl); it is
    called when the consumer leaves early, or drops the stream. Exceptions raised by `produce`
    reach the consumer. A producer blocked in `emit` computes nothing: a consumer that holds back
    its next `take` (the daemon does while a job is paused) keeps the producer parked there.
    """

    def __init__(
        self,
        produce: Callable[[Emit[T]], None],
        abandon: Callable[[], None],
    ) -> None:
        self._h = _Handoff(produce, abandon)

    def expanded(self, split: Callable[[T], Iterable[T]]) -> Stream[T]:
        """A stream of `split(item)` for each item of this one, split on the producer's thread and
        handed over one at a time in the same lock-step. Only before the stream starts."""
        h = self._h
        if h.started:
            raise RuntimeError("a stream can be expanded only before it starts")
        produce = h.produce

        def produce_split(emit: Emit[T]) -> None:
            def emit_split(item: T) -> None:
                for piece in split(item):
                    emit(piece)

            produce(emit_split)

        return Stream(produce_split, h.abandon)

    @property
    def finished(self) -> threading.Event:
        """Set once the producer has returned or raised."""
        return self._h.finished

    @property
    def waiting_since(self) -> float | None:
        """`time.monotonic()` when the producer began waiting for the consumer; None while it works."""
        return self._h.waiting_since

    @property
    def stalled(self) -> bool:
        """The producer is blocked in `emit`, waiting for the consumer (it computes nothing)."""
        h = self._h
        return h.waiting_since is not None and not h.closed and not h.finished.is_set()

    def start(
        self,
        on_ready: Callable[[], None] | None = None,
        on_end: Callable[[BaseException | None], None] | None = None,
    ) -> None:
        """Start the producer (once). `on_ready()` is called on the producer's thread whenever
        something can be taken; `on_end(error)` once after the producer returned or raised."""
        h = self._h
        with h.cond:
            if h.started:
                return
            h.started = True
            h.on_ready, h.on_end = on_ready, on_end
        _submit(h.run)

    def take(self, release: bool = True) -> tuple[str, object] | None:
        """Ask for the next item without blocking: (ITEM, value), (DONE, None), (ERROR, exc), or
        None when nothing is ready yet. Each call also releases the producer from the item taken
        before, so call it only when ready for the next one; `release=False` takes only an item
        already handed over and keeps the producer where it is."""
        h = self._h
        with h.cond:
            if h.held and not release:
                return None
            h.release_held()
            got, h.slot = h.slot, None
            if got is not None and got[0] == ITEM:
                h.held = True
            return got

    def abort(self) -> None:
        """Leave without waiting: `abandon()`, and the producer's `emit` no longer blocks."""
        self._h.abort()

    def __iter__(self) -> Stream[T]:
        return self

    def __next__(self) -> T:
        self.start()
        h = self._h
        with h.cond:
            h.release_held()
            while h.slot is None and not h.closed:
                h.cond.wait()
            if h.slot is None:
                raise StopIteration
            kind, value = h.slot
            h.slot = None
            if kind == ITEM:
                h.held = True
                return value  # type: ignore[return-value]
            h.closed = True
        if kind == ERROR:
            raise value  # type: ignore[misc]
        raise StopIteration

    def close(self) -> None:
        """Leave early (iterating consumers): abandon the producer and wait until it stopped."""
        h = self._h
        with h.cond:
            started = h.started
            if not started:
                h.closed = True
        if not started:
            return
        if not h.finished.is_set():
            h.abort()
        h.finished.wait()

    def __del__(self) -> None:
        # A consumer that drops a running stream must not leave its thread parked in `emit`.
        h = getattr(self, "_h", None)
        if h is not None and h.started and not h.finished.is_set():
            h.abort()


def stream(produce: Callable[[Emit[T]], None], abandon: Callable[[], None]) -> Stream[T]:
    """A `Stream` of what `produce(emit)` emits; iterating it starts the producer."""
    return Stream(produce, abandon)


def as_stream(events: Iterable[T], abandon: Callable[[], None]) -> Stream[T]:
    """`events` itself when it is a `Stream`, else a `Stream` that iterates it on a worker thread."""
    if isinstance(events, Stream):
        return events

    def produce(emit: Emit[T]) -> None:
        for event in events:
            emit(event)

    return Stream(produce, abandon)
