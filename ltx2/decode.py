"""Video stage: decode denoised latents into RGB8 frame chunks, in order, each latent frame once.

The convolutional LTX-2 VAE is decoded by pushes that carry every temporal layer's state from one
push to the next (streaming_decode.py): the frames equal a whole decode and memory follows the
chunk. A decoder that is not local in time (LTX-2.5's diffusion decoder) or a VAE with tiling on
is decoded whole before the first chunk and sliced; `video_decode_mode` says which, and why.

Latent frame 0 decodes to pixel frame 0; latent frame k >= 1 to pixel frames 8k-7 .. 8k.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .params import TEMPORAL_COMPRESSION as T
from .streaming_decode import StreamingVideoDecode, unsupported_reason

STREAMING = "streaming"
WHOLE = "whole"


@dataclass(frozen=True)
class VideoDecodeMode:
    """How a checkpoint's video is decoded: `streaming` (each latent frame once, state carried
    from chunk to chunk) or `whole` (the whole clip before the first chunk), with the reason."""

    kind: str
    reason: str = ""

    def __str__(self) -> str:
        if self.kind == STREAMING:
            return "streaming (each latent frame decoded once, layer state carried between chunks)"
        return f"whole clip before the first chunk ({self.reason})"


def video_decode_mode(decoder: Any) -> VideoDecodeMode:
    """Streaming when `decoder` is the convolutional LTX-2 VAE in a form that streams exactly."""
    reason = unsupported_reason(decoder)
    return VideoDecodeMode(WHOLE, reason) if reason else VideoDecodeMode(STREAMING)


def frame_spans(num_frames: int, chunk_frames: int) -> list[tuple[int, int]]:
    """Pixel-frame spans [f0, f1) of the chunks of a clip: whole latent frames of `chunk_frames`
    pixel frames each (the first chunk has one frame more: latent frame 0 is a single frame)."""
    latent_frames = (num_frames - 1) // T + 1
    per_chunk = max(1, chunk_frames // T)
    spans = []
    start = 0
    end = min(latent_frames, 1 + per_chunk)
    while start < latent_frames:
        f0 = 0 if start == 0 else T * start - (T - 1)
        spans.append((f0, T * end - (T - 1)))
        start, end = end, min(latent_frames, end + per_chunk)
    return spans


def to_rgb8(video: torch.Tensor) -> np.ndarray:
    """VAE output [1, 3, F, H, W] in [-1, 1] -> uint8 (F, H, W, 3), as diffusers post-processes it."""
    frames = (video[0].float() / 2 + 0.5).clamp(0, 1).permute(1, 2, 3, 0)
    return (frames * 255).round().to(torch.uint8).cpu().numpy()


def vae_temb(vae: Any, batch: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor | None:
    """The decoder's timestep input, as the pipeline passes it: decode_timestep 0 (no added noise)."""
    config = getattr(vae, "config", None)
    if config is None or not getattr(config, "timestep_conditioning", False):
        return None
    return torch.zeros(batch, device=device, dtype=dtype)


def decode_whole(decoder: Any, latents: torch.Tensor) -> torch.Tensor:
    """One `decode` of all latent frames: the reference, and the fallback for any decoder."""
    z = latents.to(decoder.dtype)
    with torch.no_grad():
        if type(decoder).__name__ == "LTX2VideoDiffusionDecoderModel":
            # A diffusion decoder draws noise: seed it so a clip is reproducible.
            generator = torch.Generator(z.device).manual_seed(0)
            return decoder.decode(z, generator=generator, return_dict=False)[0]
        return decoder.decode(z, vae_temb(decoder, z.shape[0], z.device, z.dtype), return_dict=False)[0]


class VideoDecoder:
    """Decodes one clip's denormalized latents [1, C, L, h, w] frame span by frame span, in order.

    `frames(f0, f1)` returns RGB8 frames [f0, f1) (`decoded`, the float output); spans must follow
    each other from 0. Streaming
    pushes `push_latents` latent frames at a time until the span is complete.
    """

    def __init__(self, decoder: Any, latents: torch.Tensor, *, push_latents: int = 3) -> None:
        self.mode = video_decode_mode(decoder)
        self._decoder = decoder
        self._latents = latents
        self._push_latents = max(1, push_latents)
        self._next_latent = 0
        self._next_frame = 0
        self._pending: list[torch.Tensor] = []  # decoded frames not yet returned, in order
        self._pending_frames = 0
        self._stream: StreamingVideoDecode | None = None
        if self.mode.kind == STREAMING:
            temb = vae_temb(decoder, latents.shape[0], latents.device, decoder.dtype)
            self._stream = StreamingVideoDecode(decoder, temb, push_latents=self._push_latents)

    @property
    def latent_frames_decoded(self) -> int:
        """Latent frames pushed through the decoder so far (the decode work)."""
        return self._next_latent

    @property
    def num_frames(self) -> int:
        return T * self._latents.shape[2] - (T - 1)

    def frames(self, first: int, end: int) -> np.ndarray:
        """RGB8 frames [first, end), as the engine streams them."""
        return to_rgb8(self.decoded(first, end))

    def decoded(self, first: int, end: int) -> torch.Tensor:
        """The decoder's own output [1, 3, end - first, H, W] in [-1, 1] for frames [first, end)."""
        if first != self._next_frame or not first < end <= self.num_frames:
            raise ValueError(f"frames [{first}, {end}): spans must follow on from {self._next_frame} within the clip")
        while self._pending_frames < end - first:
            self._decode_more()
        video = torch.cat(self._pending, dim=2)
        out, rest = video[:, :, : end - first], video[:, :, end - first :]
        # A copy: as a slice, the frames not yet returned would keep all of `video` alive.
        self._pending = [rest.clone()] if rest.shape[2] else []
        self._pending_frames = rest.shape[2]
        self._next_frame = end
        return out

    def _decode_more(self) -> None:
        total = self._latents.shape[2]
        if self._stream is not None and self._next_latent >= total and not self._stream.done:
            decoded = self._stream.drain()
        elif self._next_latent >= total:
            raise RuntimeError("the decoder returned fewer frames than the clip has")
        elif self._stream is None:
            decoded = decode_whole(self._decoder, self._latents)
            self._next_latent = total
        else:
            start = self._next_latent
            end = min(total, start + self._push_latents)
            decoded = self._stream.push(self._latents[:, :, start:end], final=end == total)
            self._next_latent = end
        if decoded.shape[2]:
            self._pending.append(decoded)
            self._pending_frames += decoded.shape[2]
