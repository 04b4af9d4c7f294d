"""Denoising stage: run diffusers' own LTX2Pipeline loop, one step at a time under our control.

The pipeline's `__call__` owns the loop; `callback_on_step_end` is our hook after every step:
it emits a Progress event and passes the job's checkpoint, where a cancel raises (raising inside
the callback aborts at once and leaves the pipeline usable) and a pause parks the job between
steps while another job uses the model.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class DenoiseJob:
    """What one denoising run needs besides the pipeline arguments."""

    total_steps: int
    total_frames: int
    started: float
    # (latent frames, height, width) when per-step previews are wanted, else None.
    latent_shape: tuple[int, int, int] | None = None


def denoise(
    pipe: Any,
    call_kwargs: dict[str, Any],
    control: JobControl,
    emit: Callable[[Progress], None],
    job: DenoiseJob,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the pipeline with output_type="latent"; returns (video latents [1, C, F, h, w], audio
    latents), both denormalized. Emits one DENOISING Progress per step (and PAUSED when parked)."""
    view = job_view(pipe)

    def progress(phase: Phase, step: int, latents: torch.Tensor | None = None) -> Progress:
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

    def on_step_end(_pipe: Any, i: int, _t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        emit(progress(Phase.DENOISING, i + 1, kwargs.get("latents")))
        control.checkpoint(on_pause=lambda: emit(progress(Phase.PAUSED, i + 1)))
        return kwargs

    video, audio = view(
        **call_kwargs,
        output_type="latent",
        return_dict=False,
        callback_on_step_end=on_step_end,
        callback_on_step_end_tensor_inputs=["latents"],
    )
    return video, audio
