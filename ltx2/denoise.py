"""Denoising stage: run diffusers' own LTX2Pipeline loop, one step at a time under our control.

The pipeline's `__call__` owns the loop; `callback_on_step_end` is our hook after every step. The
call runs in its own thread so that progress events can be yielded while it runs, a cancel can
stop it (raising inside the callback aborts at once and leaves the pipeline usable) and a pause
can park it between steps while another job uses the model.
"""

from __future__ import annotations

import copy
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import torch

from .control import JobControl
from .events import Phase, Progress
from .preview import latent_preview


def job_view(pipe: Any) -> Any:
    """A per-job view of the pipeline: shared weights, private scheduler and per-call state.

    `__call__` keeps guidance scales and the step index on `self` and steps `self.scheduler`, so a
    parked job and the job that preempted it must not share those. `__dict__` is written directly
    because DiffusionPipeline.__setattr__ would also rewrite the shared config.
    """
    view = copy.copy(pipe)
    view.__dict__["scheduler"] = copy.deepcopy(pipe.scheduler)
    return view


class DenoiseRun:
    """Runs one pipeline call with output_type="latent"; `events()` yields its Progress.

    After `events()` is exhausted, `video_latents` ([1, C, F, h, w], denormalized) and
    `audio_latents` (denormalized, unpacked) hold the result. Errors raised in the pipeline thread
    (Cancelled included) are re-raised from `events()`.
    """

    def __init__(
        self,
        pipe: Any,
        call_kwargs: dict[str, Any],
        control: JobControl,
        *,
        total_steps: int,
        total_frames: int,
        started: float,
        latent_shape: tuple[int, int, int] | None = None,
    ) -> None:
        self._pipe = job_view(pipe)
        self._kwargs = call_kwargs
        self._control = control
        self._total_steps = total_steps
        self._total_frames = total_frames
        self._started = started
        self._latent_shape = latent_shape  # (frames, height, width) when previews are wanted
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        # Lock-step: after each step the pipeline thread waits until the consumer has taken that
        # step's event, so a cancel or pause issued on seeing step i acts before step i+1 starts.
        self._taken = threading.Semaphore(0)
        self.video_latents: torch.Tensor | None = None
        self.audio_latents: torch.Tensor | None = None

    def _progress(self, phase: Phase, step: int, latents: torch.Tensor | None = None) -> Progress:
        preview = (b"", 0, 0)
        if latents is not None and self._latent_shape is not None:
            frames, height, width = self._latent_shape
            p = self._pipe.transformer_spatial_patch_size
            pt = self._pipe.transformer_temporal_patch_size
            preview = latent_preview(self._pipe._unpack_latents(latents, frames, height, width, p, pt))
        return Progress(
            phase=phase,
            step=step,
            total_steps=self._total_steps,
            total_frames=self._total_frames,
            elapsed_s=time.perf_counter() - self._started,
            preview_rgb=preview[0],
            preview_width=preview[1],
            preview_height=preview[2],
        )

    def _on_step_end(self, pipe: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        self._queue.put(("step", self._progress(Phase.DENOISING, i + 1, kwargs.get("latents"))))
        self._taken.acquire()
        self._control.checkpoint(on_pause=lambda: self._queue.put(("progress", self._progress(Phase.PAUSED, i + 1))))
        return kwargs

    def _run(self) -> None:
        try:
            video, audio = self._pipe(
                **self._kwargs,
                output_type="latent",
                return_dict=False,
                callback_on_step_end=self._on_step_end,
                callback_on_step_end_tensor_inputs=["latents"],
            )
            self._queue.put(("done", (video, audio)))
        except BaseException as exc:  # handed to the consumer thread, which re-raises it
            self._queue.put(("error", exc))

    def events(self) -> Iterator[Progress]:
        thread = threading.Thread(target=self._run, name="ltx2-denoise", daemon=True)
        thread.start()
        try:
            while True:
                kind, value = self._queue.get()
                if kind == "step":
                    try:
                        yield value
                    except GeneratorExit:
                        self._control.cancel("consumer closed the stream")
                        raise
                    finally:
                        self._taken.release()
                elif kind == "progress":
                    yield value
                elif kind == "done":
                    self.video_latents, self.audio_latents = value
                    return
                else:
                    raise value
        finally:
            if thread.is_alive():
                # The consumer went away mid-run: stop the pipeline at its next step.
                self._control.cancel("consumer closed the stream")
                thread.join()
