"""Video stage: decode denoised latents window by window into RGB8 frame chunks.

LTX-2's video VAE decoder is not causal, so decoding latent frames [a, b) alone differs from a
whole decode near the window's edges. Each chunk is decoded from a window that adds `context`
latent frames on both sides, and only the chunk's own frames are kept. Latent frame 0 decodes to
pixel frame 0; latent frame k >= 1 to pixel frames 8k-7 .. 8k; a window starting at latent frame
`ws` decodes to pixel frames starting at 8*ws.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .params import TEMPORAL_COMPRESSION as T

DEFAULT_CONTEXT = 6
# How far a windowed decode may differ from a whole decode, in [0, 1] pixel units: half a level
# of 8-bit colour, so the uint8 frames differ by at most one level.
CONTEXT_TOLERANCE = 0.5 / 255
MAX_CONTEXT = 16


@dataclass(frozen=True)
class ChunkPlan:
    """One chunk: latent frames [first_latent, end_latent) make pixel frames [first_frame, end_frame)."""

    first_latent: int
    end_latent: int
    window_start: int
    window_end: int

    @property
    def first_frame(self) -> int:
        return 0 if self.first_latent == 0 else T * self.first_latent - (T - 1)

    @property
    def end_frame(self) -> int:
        return T * self.end_latent - (T - 1)

    @property
    def num_frames(self) -> int:
        return self.end_frame - self.first_frame


def plan_chunks(latent_frames: int, chunk_frames: int, context: int = DEFAULT_CONTEXT) -> list[ChunkPlan]:
    """Cut `latent_frames` into chunks of `chunk_frames` pixel frames (the first has one more)."""
    per_chunk = max(1, chunk_frames // T)
    plans = []
    start = 0
    end = min(latent_frames, 1 + per_chunk)
    while start < latent_frames:
        plans.append(
            ChunkPlan(
                first_latent=start,
                end_latent=end,
                # A window's first latent frame yields only its last pixel frame, so a chunk that
                # does not start the clip needs at least one latent frame before it.
                window_start=max(0, start - max(context, 1)),
                window_end=min(latent_frames, end + context),
            )
        )
        start, end = end, min(latent_frames, end + per_chunk)
    return plans


def frame_spans(num_frames: int, chunk_frames: int) -> list[tuple[int, int]]:
    """Pixel-frame spans [f0, f1) of the chunks of a clip (the same cut with or without video)."""
    latent_frames = (num_frames - 1) // T + 1
    return [(p.first_frame, p.end_frame) for p in plan_chunks(latent_frames, chunk_frames, 0)]


def to_rgb8(video: torch.Tensor) -> np.ndarray:
    """VAE output [1, 3, F, H, W] in [-1, 1] -> uint8 (F, H, W, 3), as diffusers post-processes it."""
    frames = (video[0].float() / 2 + 0.5).clamp(0, 1).permute(1, 2, 3, 0)
    return (frames * 255).round().to(torch.uint8).cpu().numpy()


def _vae_temb(vae: Any, batch: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor | None:
    # Mirrors the pipeline: a timestep-conditioned VAE gets decode_timestep 0 and no added noise.
    return torch.zeros(batch, device=device, dtype=dtype) if vae.config.timestep_conditioning else None


@torch.no_grad()
def calibrate_context(
    vae: Any,
    *,
    device: torch.device | None = None,
    tolerance: float = CONTEXT_TOLERANCE,
    limit: int = MAX_CONTEXT,
) -> int:
    """The fewest latent frames of context on each side that keep a windowed decode within
    `tolerance` of a whole decode, measured on this VAE with random latents.

    The decoder's effective temporal reach depends on its depth and weights: 6 frames suffice for
    the tiny test VAE, the full-size LTX-2 architecture needs about 8 to 10. Measured in float32
    (the VAE is cast and cast back, which is exact for bf16 and fp16 weights), so that half
    precision rounding is not mistaken for missing context. Costs a few small decodes. `device`
    is where decoding runs (the pipeline's execution device: with CPU offload the weights sit on
    the CPU until the decode moves them); by default, where the weights are.
    """
    dtype = vae.dtype
    device = device or next(vae.parameters()).device
    frames, core = 2 * limit + 3, limit + 1
    generator = torch.Generator().manual_seed(0)
    latents = torch.randn(1, vae.config.latent_channels, frames, 2, 2, generator=generator).to(device)
    temb = _vae_temb(vae, 1, device, torch.float32)
    torch.nn.Module.to(vae, torch.float32)
    try:
        whole = vae.decode(latents, temb, return_dict=False)[0]
        target = whole[:, :, T * core - (T - 1) : T * core + 1]

        def error(context: int) -> float:
            start = core - context
            window = vae.decode(latents[:, :, start : core + 1 + context], temb, return_dict=False)[0]
            got = window[:, :, T * core - (T - 1) - T * start : T * core + 1 - T * start]
            return float((got - target).abs().max()) / 2  # [-1, 1] -> [0, 1] units

        if error(limit) > tolerance:
            return limit
        low, high = 1, limit
        while low < high:
            middle = (low + high) // 2
            if error(middle) <= tolerance:
                high = middle
            else:
                low = middle + 1
        return low
    finally:
        torch.nn.Module.to(vae, dtype)  # diffusers' own `to` warns about fp32 modules on every cast


class VideoDecoder:
    """Decodes one clip's denormalized latents [1, C, F, h, w] chunk by chunk."""

    def __init__(self, pipe: Any, latents: torch.Tensor, context: int = DEFAULT_CONTEXT) -> None:
        self._vae = pipe.vae
        self._latents = latents
        self._context = context
        self._temb = _vae_temb(self._vae, latents.shape[0], latents.device, self._vae.dtype)

    def plans(self, chunk_frames: int) -> list[ChunkPlan]:
        return plan_chunks(self._latents.shape[2], chunk_frames, self._context)

    @torch.no_grad()
    def decode(self, plan: ChunkPlan) -> np.ndarray:
        window = self._latents[:, :, plan.window_start : plan.window_end].to(self._vae.dtype)
        video = self._vae.decode(window, self._temb, return_dict=False)[0]
        offset = T * plan.window_start
        return to_rgb8(video[:, :, plan.first_frame - offset : plan.end_frame - offset])

    def chunks(self, chunk_frames: int) -> Iterator[tuple[ChunkPlan, np.ndarray]]:
        for plan in self.plans(chunk_frames):
            yield plan, self.decode(plan)
