"""Cheap per-step previews: the middle latent frame projected from latent channels to RGB."""

from __future__ import annotations

import numpy as np
import torch


def latent_preview(latents: torch.Tensor) -> tuple[bytes, int, int]:
    """Unpacked latents [1, C, F, h, w] -> (RGB8 bytes, width, height) of the middle frame.

    Channels are split into three groups whose means become R, G and B, then stretched to the
    frame's own range: no learned projection is needed to see composition and motion emerge.
    """
    frame = latents[0, :, latents.shape[2] // 2].float()
    groups = torch.stack([g.mean(0) for g in frame.chunk(3, dim=0)], dim=-1)
    low, high = groups.amin(), groups.amax()
    scaled = (groups - low) / (high - low).clamp_min(1e-6)
    rgb = (scaled * 255).round().to(torch.uint8).cpu().numpy()
    return np.ascontiguousarray(rgb).tobytes(), int(rgb.shape[1]), int(rgb.shape[0])
