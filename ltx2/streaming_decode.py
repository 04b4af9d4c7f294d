"""Streaming video decode: push latent frames through diffusers' LTX-2 decoder a few at a time.

Each latent frame goes through the decoder once. Between pushes every temporal layer keeps the
few frames it still needs (temporal_layers.py), so the concatenated output of the pushes equals a
whole `vae.decode` of the same latents, the edge padding of the first and last frame included,
and memory follows the push, not the clip.

The decoder is non-causal, so output runs behind input: the first frames come out only once
enough latent frames are in to fill every layer's delay (about 22 latent frames for the full-size
LTX-2 decoder: 12 at latent rate, then fewer at each upsampled rate; 8 for the tiny one). Later
pushes of `n` latent frames give `8n` frames each, and after the last push `drain` gives the
frames still held in the layers, a push's worth at a time.

`unsupported_reason` says when a VAE cannot be streamed this way (another decoder class, such as
LTX-2.5's diffusion decoder; noise injection; tiling; layers not local in time); decode.py then
decodes the clip whole.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import torch

from .temporal_layers import DelayedConv, DelayLine, NoOutput, PushState, StreamingUpsampler

# Module classes of the decoder that are pointwise in time, or containers whose forward only
# chains their children: anything else (attention, a new temporal layer) is not known to stream.
_POINTWISE = {
    "PerChannelRMSNorm",
    "SiLU",
    "Dropout",
    "LayerNorm",
    "Conv3d",  # only as a resnet's 1x1x1 conv_shortcut; checked below
    "PixArtAlphaCombinedTimestepSizeEmbeddings",
    "TimestepEmbedding",
    "Timesteps",
    "Linear",
    "ModuleList",
    "LTX2VideoMidBlock3d",
    "LTX2VideoUpBlock3d",
    "LTX2VideoDecoder3d",
}
_PLAIN = object()
_STREAMED = {"LTX2VideoCausalConv3d", "LTX2VideoResnetBlock3d", "LTX2VideoUpsampler3d"}

# One push at a time per decoder: the stand-ins are installed on the shared modules while it runs.
_locks: dict[int, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(module: torch.nn.Module) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(id(module), threading.Lock())


def unsupported_reason(vae: Any) -> str | None:
    """Why `vae` cannot be decoded by pushes (None: it can)."""
    name = type(vae).__name__
    if name != "AutoencoderKLLTX2Video":
        return f"{name} is not the convolutional LTX-2 video VAE"
    if getattr(vae, "use_tiling", False) or getattr(vae, "use_framewise_decoding", False):
        return "VAE tiling is enabled (tiles would share one layer state)"
    decoder = vae.decoder
    inner = {id(m.conv) for m in decoder.modules() if type(m).__name__ == "LTX2VideoCausalConv3d"}
    for path, module in decoder.named_modules():
        kind = type(module).__name__
        if kind == "LTX2VideoCausalConv3d":
            conv = module.conv
            if module.kernel_size[0] % 2 != 1 or conv.stride[0] != 1 or conv.dilation[0] != 1:
                shape = f"kernel {module.kernel_size[0]}, stride {conv.stride[0]}, dilation {conv.dilation[0]}"
                return f"temporal conv {path} has {shape} in time"
        elif kind == "LTX2VideoResnetBlock3d":
            if module.per_channel_scale1 is not None or module.per_channel_scale2 is not None:
                return f"resnet {path} injects random noise (each push would draw other noise)"
        elif kind == "Conv3d" and id(module) not in inner:
            if not path.endswith("conv_shortcut") or module.kernel_size[0] != 1:
                return f"layer {path} is a Conv3d with temporal kernel {module.kernel_size[0]}"
        elif kind not in _POINTWISE and kind not in _STREAMED and path:
            return f"layer {path} ({kind}) is not known to be local in time"
    return None


class StreamingVideoDecode:
    """One clip's streaming decode. `push(latents, final=...)` returns the frames it completes.

    `latents` are the denormalized latents [B, C, n, h, w] that come next in time; the last push
    must say `final=True`. Then `drain()` returns the rest, in pieces of at most about
    `push_latents` latent frames' worth, until `done`. Each returns decoded frames
    [B, 3, m, H, W] in [-1, 1] (m may be 0 early on).
    """

    def __init__(self, vae: Any, temb: torch.Tensor | None = None, *, push_latents: int = 3) -> None:
        reason = unsupported_reason(vae)
        if reason is not None:
            raise ValueError(f"cannot stream this VAE: {reason}")
        self._vae = vae
        self._temb = temb
        self._push = PushState()
        self._convs: dict[int, DelayedConv] = {}
        self._upsamplers: dict[int, StreamingUpsampler] = {}
        self._shortcuts: dict[int, DelayLine] = {}
        self._pushed_last = False
        self._targets: list[torch.nn.Module] | None = None
        self.latent_frames_pushed = 0
        self._build(max(1, push_latents))

    def _build(self, push_latents: int) -> None:
        # Registration order is the order of the decoder's forward (conv_in, mid block, each up
        # block's conv_in, upsampler and resnets, conv_out): each layer reads the end of the clip
        # from the nearest upsampler before it.
        upstream: StreamingUpsampler | None = None
        rate = 1  # frames per latent frame at the current layer
        inside = set()
        for module in self._vae.decoder.modules():
            kind = type(module).__name__
            if kind == "LTX2VideoUpsampler3d":
                rate *= module.stride[0]
                upstream = StreamingUpsampler(module, self._push, upstream, cap=rate * push_latents)
                self._upsamplers[id(module)] = upstream
                inside.add(id(module.conv))
            elif kind == "LTX2VideoResnetBlock3d":
                # The block's convs may emit nothing early on; its shortcut, which runs last, says so.
                first = DelayedConv(module.conv1, self._push, upstream, raises=False)
                second = DelayedConv(module.conv2, self._push, upstream, raises=False)
                self._convs[id(module.conv1)] = first
                self._convs[id(module.conv2)] = second
                inside |= {id(module.conv1), id(module.conv2)}
                self._shortcuts[id(module)] = DelayLine(
                    lambda a=first, b=second: a.delay + b.delay, self._push, upstream, module.conv_shortcut
                )
            elif kind == "LTX2VideoCausalConv3d" and id(module) not in inside:
                self._convs[id(module)] = DelayedConv(module, self._push, upstream)

    @property
    def done(self) -> bool:
        """The last latent frame is in and every frame has come out."""
        return self._pushed_last and all(u.exhausted for u in self._upsamplers.values())

    @contextlib.contextmanager
    def _installed(self) -> Iterator[None]:
        if self._targets is None:  # walked once: a walk of the full-size decoder costs about 1 ms a push
            stand_ins = self._convs.keys() | self._upsamplers.keys() | self._shortcuts.keys()
            self._targets = [m for m in self._vae.decoder.modules() if id(m) in stand_ins]
        patched: list[tuple[torch.nn.Module, str, Any]] = []
        try:
            for module in self._targets:
                key = id(module)
                if key in self._convs:
                    module.forward = self._convs[key]
                    patched.append((module, "forward", None))
                elif key in self._upsamplers:
                    module.forward = self._upsamplers[key]
                    patched.append((module, "forward", None))
                elif key in self._shortcuts:
                    # A block without a shortcut conv holds None as a plain attribute: put it back there.
                    patched.append((module, "conv_shortcut", module._modules.get("conv_shortcut", _PLAIN)))
                    module.conv_shortcut = self._shortcuts[key]
            yield
        finally:
            for module, name, original in reversed(patched):
                if name == "forward":
                    del module.forward
                elif original is _PLAIN:
                    del module._modules[name]
                    module.__dict__[name] = None
                else:
                    setattr(module, name, original)

    def push(self, latents: torch.Tensor, *, final: bool = False) -> torch.Tensor:
        if self._pushed_last:
            raise RuntimeError("the clip's last latent frame was already pushed")
        if latents.shape[2] == 0:
            raise ValueError("push at least one latent frame")
        self._push.final = final
        self._pushed_last = final
        self.latent_frames_pushed += latents.shape[2]
        return self._run(latents)

    def drain(self) -> torch.Tensor:
        """The next piece of the frames still queued after the last push."""
        if not self._pushed_last or self.done:
            raise RuntimeError("drain only after the last push, while frames remain")
        return self._run(self._latents_template)

    @torch.no_grad()
    def _run(self, latents: torch.Tensor) -> torch.Tensor:
        vae = self._vae
        z = latents.to(vae.dtype)
        self._latents_template = z[:, :, :0]
        with _lock_for(vae.decoder), self._installed():
            try:
                # Through `vae.decode`, so offload hooks place the weights as for a whole decode.
                return vae.decode(z, self._temb, return_dict=False)[0]
            except NoOutput:
                b, _, _, h, w = z.shape
                s = vae.spatial_compression_ratio
                return z.new_zeros(b, vae.config.out_channels, 0, h * s, w * s)
