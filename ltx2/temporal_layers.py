"""Stateful stand-ins for the temporal layers of diffusers' LTX-2 video decoder.

A streaming decode pushes latent frames through `LTX2VideoDecoder3d` a few at a time. Every layer
of that decoder is pointwise in time except three kinds, which these stand-ins replace while a push
runs (streaming_decode.py installs them):

- `DelayedConv` for each `LTX2VideoCausalConv3d` (kernel 3): it keeps the last two input frames of
  the previous push, so each output frame is computed once from the same three input frames a whole
  decode uses. Non-causal (the LTX-2 decoder), the output for the newest input frame needs the frame
  after it, so it is held back to the next push: the conv runs one frame behind its input. The
  first push repeats the first frame on the left and the last push repeats the last frame on the
  right, exactly the padding of a whole decode.
- `DelayLine` on a resnet block's shortcut: the block adds its input to the output of two convs,
  which now run two frames behind, so the shortcut is delayed by as much to add matching frames.
- `StreamingUpsampler` for `LTX2VideoUpsampler3d`: its depth-to-space drops the first output frame
  of the clip, so only the first push may drop it, and its residual must meet the conv output of
  the same frames.

Each stand-in emits the frames it can compute and raises `NoOutput` when a push yields none yet
(its state already updated), which ends that push early: the layers after it would not change.
The arithmetic of every frame is the module's own (`conv.conv`, the upsampler's and the resnet's
own forward), so the concatenated pushes equal a whole decode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


class NoOutput(Exception):
    """A push produced no frames at this layer yet; the layers after it are left untouched."""


@dataclass
class PushState:
    """Shared by the stand-ins of one streaming decode: whether the current push ends the clip."""

    final: bool = False


def _empty_like(x: torch.Tensor, channels: int, scale: int = 1) -> torch.Tensor:
    b, _, _, h, w = x.shape
    return x.new_zeros(b, channels, 0, h * scale, w * scale)


class DelayedConv:
    """Streams one `LTX2VideoCausalConv3d` (stride 1 and dilation 1 in time) across pushes."""

    def __init__(self, module: torch.nn.Module, push: PushState, *, raises: bool = True) -> None:
        self.module = module
        self._push = push
        self._raises = raises
        self._held: torch.Tensor | None = None
        self._causal: bool | None = None
        self._kernel = module.kernel_size[0]

    @property
    def delay(self) -> int:
        """Frames the output runs behind the input: half the kernel non-causally, none causally."""
        if self._causal is None:
            raise RuntimeError("the delay of a conv is known once it has run")
        return 0 if self._causal else (self._kernel - 1) // 2

    def __call__(self, x: torch.Tensor, causal: bool = True) -> torch.Tensor:
        out = self.step(x, causal)
        if out.shape[2] == 0 and self._raises:
            raise NoOutput
        return out

    def step(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        self._causal = causal
        k = self._kernel
        if self._held is None:
            if x.shape[2] == 0:
                return _empty_like(x, self.module.out_channels)
            # The left padding of a whole decode: the first frame repeated.
            pad = k - 1 if causal else (k - 1) // 2
            buf = torch.cat([x[:, :, :1]] * pad + [x], dim=2)
        else:
            buf = torch.cat([self._held, x], dim=2)
        if self._push.final and not causal:
            buf = torch.cat([buf] + [buf[:, :, -1:]] * ((k - 1) // 2), dim=2)
        self._held = buf[:, :, -(k - 1) :]
        if buf.shape[2] < k:
            return _empty_like(x, self.module.out_channels)
        return self.module.conv(buf)


class DelayLine(torch.nn.Module):
    """Delays a stream by `delay()` frames (read at call time), flushing on the last push.

    Installed as a resnet block's `conv_shortcut` (wrapping the real one when the block has one,
    which is pointwise in time), so the block's own forward adds matching frames.
    """

    def __init__(
        self,
        delay: Callable[[], int],
        push: PushState,
        inner: torch.nn.Module | None = None,
        *,
        raises: bool = True,
    ) -> None:
        super().__init__()
        self._delay = delay
        self._push = push
        self._raises = raises
        # Not registered as a submodule: the wrapped conv stays owned (and placed) by its block.
        self.__dict__["_inner"] = inner
        self._held: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._inner is not None:
            x = self._inner(x)
        buf = x if self._held is None else torch.cat([self._held, x], dim=2)
        if self._push.final:
            out, self._held = buf, None
        else:
            keep = min(self._delay(), buf.shape[2])
            out, self._held = buf[:, :, : buf.shape[2] - keep], buf[:, :, buf.shape[2] - keep :]
        if out.shape[2] == 0 and self._raises:
            raise NoOutput
        return out


class StreamingUpsampler:
    """Streams one `LTX2VideoUpsampler3d` by running its own forward on frames whose conv is known.

    The conv runs one frame behind (a `DelayedConv`), the input is delayed to match, and the
    upsampler's forward gets both, its conv answering with the precomputed output. After the first
    push a dummy frame goes in front (its conv output zeros), so that the forward's drop of the
    clip's first frame drops part of the dummy; the rest of the dummy is cut off after.
    """

    def __init__(self, module: torch.nn.Module, push: PushState) -> None:
        self.module = module
        self._conv = DelayedConv(module.conv, push, raises=False)
        self._inputs = DelayLine(lambda: self._conv.delay, push, raises=False)
        self._started = False

    def __call__(self, x: torch.Tensor, causal: bool = True) -> torch.Tensor:
        conv = self._conv.step(x, causal)
        aligned = self._inputs(x)
        if aligned.shape[2] != conv.shape[2]:
            raise RuntimeError(f"upsampler stream out of step: {aligned.shape[2]} inputs, {conv.shape[2]} conv frames")
        if conv.shape[2] == 0:
            raise NoOutput
        dummy = self._started and self.module.stride[0] > 1
        if dummy:
            aligned = torch.cat([aligned[:, :, :1], aligned], dim=2)
            conv = torch.cat([torch.zeros_like(conv[:, :, :1]), conv], dim=2)
        inner = self.module.conv
        inner.forward = lambda *_args, **_kwargs: conv
        try:
            out = type(self.module).forward(self.module, aligned, causal=causal)
        finally:
            del inner.forward
        self._started = True
        return out[:, :, 1:] if dummy else out
