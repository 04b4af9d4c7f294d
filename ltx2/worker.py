"""Run a job's producer on a reused worker thread and hand its events to the consumer in lock-step.

All torch work of a job (encode, denoise, decode) runs on one thread, and threads are reused:
with OpenMP (torch on CPU) every new thread that computes starts its own team of worker threads,
and two teams spinning at once on a small machine slow both several fold.

Lock-step: `emit` returns only when the consumer asks for the next event, so a cancel or pause
issued on seeing event i takes effect before the producer computes anything after it, and
decoded chunks never pile up in memory ahead of a slow consumer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

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


def stream(produce: Callable[[Emit[T]], None], abandon: Callable[[], None]) -> Iterator[T]:
    """Iterate what `produce(emit)` emits; closing the iterator early calls `abandon()` and waits.

    Exceptions raised by `produce` are re-raised to the consumer. `abandon` must make `produce`
    stop soon (for example by cancelling its JobControl).
    """
    items: queue.SimpleQueue[tuple[str, object]] = queue.SimpleQueue()
    taken = threading.Semaphore(0)

    def emit(item: T) -> None:
        items.put(("item", item))
        taken.acquire()

    finished = threading.Event()

    def run() -> None:
        try:
            produce(emit)
            items.put(("done", None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            items.put(("error", exc))
        finally:
            finished.set()

    _submit(run)
    try:
        while True:
            kind, value = items.get()
            if kind == "item":
                try:
                    yield value  # type: ignore[misc]
                except GeneratorExit:
                    abandon()
                    raise
                finally:
                    taken.release()
            elif kind == "done":
                return
            else:
                raise value  # type: ignore[misc]
    finally:
        if not finished.is_set():
            abandon()
            # Let the producer run to its stop: release every event it still emits.
            while not finished.is_set():
                try:
                    kind, _ = items.get(timeout=0.05)
                except queue.Empty:
                    continue
                if kind == "item":
                    taken.release()
