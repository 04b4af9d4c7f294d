"""Denoising stage: run diffusers' own LTX2Pipeline loop, one step at a time under our control.

The pipeline's `__call__` owns the loop; `callback_on_step_end` is our hook after every step:
it emits a Progress event and passes the job's checkpoint, where a cancel raises (raising inside
the callback aborts at once and leaves the pipeline usable) and a pause parks the job between
steps while another job uses the model. A job that was parked re-applies its own LoRA adapters
before its next step (the job that ran meanwhile may have switched them).

Transformer passes are counted for real by a forward pre-hook (`PassCounter`): per thread, since each
job runs on its own worker thread and a parked job's counter must not see the preempting job's passes.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from .control import JobControl
from .events import Phase, Progress
from .preview import latent_preview


class PassCounter:
    """Counts transformer forward passes of the current thread: calls and batch rows."""

    def __init__(self, transformer: torch.nn.Module) -> None:
        self._local = threading.local()
        self._handle = transformer.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, _module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        counts = getattr(self._local, "counts", None)
        if counts is not None:
            hidden = kwargs.get("hidden_states", args[0] if args else None)
            counts[0] += 1
            counts[1] += int(hidden.shape[0]) if hidden is not None else 1

    def start(self) -> None:
        self._local.counts = [0, 0]

    def stop(self) -> tuple[int, int]:
        """(calls, passes) since `start` on this thread."""
        counts = getattr(self._local, "counts", None) or [0, 0]
        self._local.counts = None
        return counts[0], counts[1]

    def close(self) -> None:
        self._handle.remove()


def job_view(pipe: Any, *, fixed_sigmas: bool = False) -> Any:
    """A per-job view of the pipeline: shared weights, private scheduler and per-call state.

    `__call__` keeps guidance scales and the step index on `self` and steps `self.scheduler`, so a
    parked job and the job that preempted it must not share those. `__dict__` is written directly
    because DiffusionPipeline.__setattr__ would also rewrite the shared config.

    `fixed_sigmas`: the job passes its own sigma schedule (distilled), which must be used as given:
    the checkpoint's resolution-dependent shift and terminal stretch would move every sigma.
    """
    view = copy.copy(pipe)
    scheduler = copy.deepcopy(pipe.scheduler)
    if fixed_sigmas:
        scheduler = type(scheduler).from_config(scheduler.config, use_dynamic_shifting=False, shift_terminal=None)
    view.__dict__["scheduler"] = scheduler
    return view


@dataclass(frozen=True)
class DenoiseJob:
    """What one denoising run needs besides the pipeline arguments."""

    total_steps: int
    total_frames: int
    started: float
    # (latent frames, height, width) when per-step previews are wanted, else None.
    latent_shape: tuple[int, int, int] | None = None
    # The job's sigmas are fixed (distilled): see job_view.
    fixed_sigmas: bool = False
    # Puts the job's adapters in place; called before the first step and after every pause.
    activate: Callable[[], None] = field(default=lambda: None)


class StepHook:
    """What runs after every denoising step, whichever loop runs it: one DENOISING Progress (with a
    preview of the packed video latents when wanted), then the job's checkpoint, where a cancel
    raises and a pause parks the job (PAUSED), re-applying its adapters when it resumes."""

    def __init__(self, view: Any, control: JobControl, emit: Callable[[Progress], None], job: DenoiseJob) -> None:
        self._view, self._control, self._emit, self._job = view, control, emit, job

    def progress(self, phase: Phase, step: int, latents: torch.Tensor | None = None) -> Progress:
        job, view = self._job, self._view
        preview = (b"", 0, 0)
        if latents is not None and job.latent_shape is not None:
            frames, height, width = job.latent_shape
            p, pt = view.transformer_spatial_patch_size, view.transformer_temporal_patch_size
            preview = latent_preview(view._unpack_latents(latents, frames, height, width, p, pt))
        return Progress(
            phase=phase,
            step=step,
            total_steps=job.total_steps,
            total_frames=job.total_frames,
            elapsed_s=time.perf_counter() - job.started,
            preview_rgb=preview[0],
            preview_width=preview[1],
            preview_height=preview[2],
        )

    def __call__(self, i: int, latents: torch.Tensor | None) -> None:
        """After step `i` (0-based); `latents`: the packed video latents, or None."""
        self._emit(self.progress(Phase.DENOISING, i + 1, latents))
        paused = []

        def on_pause() -> None:
            paused.append(True)
            self._emit(self.progress(Phase.PAUSED, i + 1))

        self._control.checkpoint(on_pause=on_pause)
        if paused:
            self._job.activate()


def denoise(
    pipe: Any,
    call_kwargs: dict[str, Any],
    control: JobControl,
    emit: Callable[[Progress], None],
    job: DenoiseJob,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the pipeline with output_type="latent"; returns (video latents [1, C, F, h, w], audio
    latents), both denormalized. Emits one DENOISING Progress per step (and PAUSED when parked)."""
    view = job_view(pipe, fixed_sigmas=job.fixed_sigmas)
    hook = StepHook(view, control, emit, job)

    def on_step_end(_pipe: Any, i: int, _t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        hook(i, kwargs.get("latents"))
        return kwargs

    job.activate()
    video, audio = view(
        **call_kwargs,
        output_type="latent",
        return_dict=False,
        callback_on_step_end=on_step_end,
        callback_on_step_end_tensor_inputs=["latents"],
    )
    return video, audio
