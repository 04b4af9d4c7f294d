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
    """Shared by the stand-ins of one streaming decode.

    `final`: the clip's last latent frame is in (later calls drain the upsamplers' queues).
    """

    final: bool = False


class _Layer:
    """A stand-in's place in the stream: its input ends when the clip's latents have ended and
    the nearest upsampler before it (if any) has released its last frame."""

    def __init__(self, push: PushState, upstream: StreamingUpsampler | None) -> None:
        self._push = push
        self.upstream = upstream
        self.finished = False  # flushed: the end of the clip has passed through

    def input_ends_now(self) -> bool:
        return self._push.final and (self.upstream is None or self.upstream.exhausted)

    def no_output(self, out: torch.Tensor, raises: bool, done: bool | None = None) -> torch.Tensor:
        # A layer already flushed passes nothing on while an upsampler further down drains its
        # queue, so only an empty output of a layer still streaming ends the call.
        if out.shape[2] == 0 and raises and not (self.finished if done is None else done):
            raise NoOutput
        return out


def _kept(frames: torch.Tensor) -> torch.Tensor:
    """A copy of the frames a layer keeps to its next call. A slice would keep its whole buffer
    alive: every temporal conv holds its last two input frames, and as views those held each
    conv's entire input of the push, 4.05 GiB at the peak of a streamed 768x512x121 decode with
    the full-size decoder in bf16, more than a whole decode's 3.78 GiB (counted on the meta device;
    1.13 GiB with copies, an empty slice included: it too keeps its buffer)."""
    return frames.clone()


def _empty_like(x: torch.Tensor, channels: int, scale: int = 1) -> torch.Tensor:
    b, _, _, h, w = x.shape
    return x.new_zeros(b, channels, 0, h * scale, w * scale)


class DelayedConv(_Layer):
    """Streams one `LTX2VideoCausalConv3d` (stride 1 and dilation 1 in time) across pushes."""

    def __init__(
        self,
        module: torch.nn.Module,
        push: PushState,
        upstream: StreamingUpsampler | None = None,
        *,
        raises: bool = True,
    ) -> None:
        super().__init__(push, upstream)
        self.module = module
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
        return self.no_output(self.step(x, causal), self._raises)

    def step(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        self._causal = causal
        k = self._kernel
        empty = _empty_like(x, self.module.out_channels)
        if self.finished:
            return empty
        if self._held is None:
            if x.shape[2] == 0:
                return empty
            # The left padding of a whole decode: the first frame repeated.
            pad = k - 1 if causal else (k - 1) // 2
            buf = torch.cat([x[:, :, :1]] * pad + [x], dim=2)
        else:
            buf = torch.cat([self._held, x], dim=2)
        if self.input_ends_now():
            self.finished = True
            if not causal:  # the right padding of a whole decode: the last frame repeated
                buf = torch.cat([buf] + [buf[:, :, -1:]] * ((k - 1) // 2), dim=2)
        self._held = None if self.finished else _kept(buf[:, :, -(k - 1) :])
        if buf.shape[2] < k:
            return empty
        return self.module.conv(buf)


class DelayLine(_Layer, torch.nn.Module):
    """Delays a stream by `delay()` frames (read at call time), flushing when its input ends.

    Installed as a resnet block's `conv_shortcut` (wrapping the real one when the block has one,
    which is pointwise in time), so the block's own forward adds matching frames.
    """

    def __init__(
        self,
        delay: Callable[[], int],
        push: PushState,
        upstream: StreamingUpsampler | None = None,
        inner: torch.nn.Module | None = None,
        *,
        raises: bool = True,
    ) -> None:
        torch.nn.Module.__init__(self)
        _Layer.__init__(self, push, upstream)
        self._delay = delay
        self._raises = raises
        # Not registered as a submodule: the wrapped conv stays owned (and placed) by its block.
        self.__dict__["_inner"] = inner
        self._held: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._inner is not None:
            x = self._inner(x) if x.shape[2] else _empty_like(x, self._inner.out_channels)
        buf = x if self._held is None else torch.cat([self._held, x], dim=2)
        if self.finished:
            out = buf
        elif self.input_ends_now():
            out, self._held, self.finished = buf, None, True
        else:
            keep = min(self._delay(), buf.shape[2])
            out, self._held = buf[:, :, : buf.shape[2] - keep], _kept(buf[:, :, buf.shape[2] - keep :])
        return self.no_output(out, self._raises)


class StreamingUpsampler(_Layer):
    """Streams one `LTX2VideoUpsampler3d` by running its own forward on frames whose conv is known.

    The conv runs one frame behind (a `DelayedConv`), the input is delayed to match, and the
    upsampler's forward gets both, its conv answering with the precomputed output. After the first
    push a dummy frame goes in front (its conv output zeros), so that the forward's drop of the
    clip's first frame drops part of the dummy; the rest of the dummy is cut off after.

    At the end of the clip every layer releases the frames it held back, which the upsamplers
    double: all at once, the last push would carry about 22 latent frames' worth through the
    full-resolution layers. So from the last push on, each upsampler releases at most `cap`
    frames a call and queues the rest; `drain` calls take them on in bounded pieces.
    """

    def __init__(self, module: torch.nn.Module, push: PushState, upstream: StreamingUpsampler | None, cap: int):
        super().__init__(push, upstream)
        self.module = module
        self._conv = DelayedConv(module.conv, push, upstream, raises=False)
        self._inputs = DelayLine(lambda: self._conv.delay, push, upstream, raises=False)
        self._cap = cap
        self._started = False
        self._queue: torch.Tensor | None = None

    @property
    def exhausted(self) -> bool:
        """Its input has ended and it has released every frame."""
        return self._conv.finished and (self._queue is None or self._queue.shape[2] == 0)

    @property
    def queued(self) -> int:
        return 0 if self._queue is None else self._queue.shape[2]

    def __call__(self, x: torch.Tensor, causal: bool = True) -> torch.Tensor:
        out = self._upsample(x, causal)
        queue = out if self._queue is None else torch.cat([self._queue, out], dim=2)
        limit = self._cap if self._push.final else queue.shape[2]
        out, self._queue = queue[:, :, :limit], _kept(queue[:, :, limit:])
        return self.no_output(out, True, self.exhausted)

    def _upsample(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        conv = self._conv.step(x, causal)
        aligned = self._inputs(x)
        if aligned.shape[2] != conv.shape[2]:
            raise RuntimeError(f"upsampler stream out of step: {aligned.shape[2]} inputs, {conv.shape[2]} conv frames")
        if conv.shape[2] == 0:
            if self._queue is None:
                raise NoOutput  # nothing has come this far yet
            return self._queue[:, :, :0]
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
