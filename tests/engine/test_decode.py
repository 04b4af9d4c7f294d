"""The streaming video decode against a whole decode, its fallback, and the chunk cut.

Exactness is checked twice: in float64, where streamed and whole decodes agree to 1e-14 (the same
arithmetic on every frame, only grouped differently), and in float32, where they agree to about
1e-5: the float32 noise floor of the decoder itself (a whole decode of the same latents in a
batch of two differs from it by up to 1.6e-5 on the tiny VAE).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLLTX2Video

from ltx2 import tiny
from ltx2.decode import STREAMING, WHOLE, VideoDecoder, decode_whole, frame_spans, to_rgb8, video_decode_mode
from ltx2.streaming_decode import StreamingVideoDecode, unsupported_reason

# float32 streamed vs whole: the decoder's own rounding spread (see the module docstring).
F32 = 2e-5
F64 = 1e-12


def tiny_vae(dtype: torch.dtype = torch.float32, **overrides: object) -> AutoencoderKLLTX2Video:
    torch.manual_seed(0)
    vae = AutoencoderKLLTX2Video(**{**tiny.video_vae_config(), **overrides}).eval()
    return torch.nn.Module.to(vae, dtype)


def latents(vae: AutoencoderKLLTX2Video, frames: int, size: int = 2, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(1, vae.config.latent_channels, frames, size, size, generator=gen).to(vae.dtype)


def streamed(vae: AutoencoderKLLTX2Video, z: torch.Tensor, sizes: list[int]) -> tuple[torch.Tensor, list[int]]:
    """Push `z` in pieces of the given sizes (the last repeats), then drain; returns the output and
    the frames of each call."""
    stream = StreamingVideoDecode(vae, push_latents=sizes[-1])
    outs, start, i = [], 0, 0
    while start < z.shape[2]:
        end = min(z.shape[2], start + sizes[min(i, len(sizes) - 1)])
        outs.append(stream.push(z[:, :, start:end], final=end == z.shape[2]))
        start, i = end, i + 1
    while not stream.done:
        outs.append(stream.drain())
    assert stream.latent_frames_pushed == z.shape[2]  # every latent frame went through once
    # No call releases more than about a push's worth of frames, the end of the clip included.
    assert max(o.shape[2] for o in outs) <= 8 * sizes[-1] + 16
    return torch.cat(outs, dim=2), [o.shape[2] for o in outs]


def whole(vae: AutoencoderKLLTX2Video, z: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return vae.decode(z, return_dict=False)[0]


def test_frame_spans_cut_whole_latent_frames():
    assert frame_spans(121, 24) == [(0, 25), (25, 49), (49, 73), (73, 97), (97, 121)]
    assert frame_spans(121, 48) == [(0, 49), (49, 97), (97, 121)]
    assert frame_spans(9, 64) == [(0, 9)]
    assert frame_spans(1, 8) == [(0, 1)]


@pytest.mark.parametrize("frames", [1, 2, 5, 16, 33])
@pytest.mark.parametrize("sizes", [[1], [3], [4, 2], [6]])
def test_streamed_pushes_equal_a_whole_decode_of_the_tiny_vae(frames, sizes):
    vae = tiny_vae(torch.float64)
    z = latents(vae, frames, seed=frames)
    got, _ = streamed(vae, z, sizes)
    ref = whole(vae, z)
    assert got.shape == ref.shape == (1, 3, 8 * frames - 7, 64, 64)
    # The same arithmetic on every frame, only grouped in other calls: equal up to float64 rounding.
    assert float((got - ref).abs().max()) <= F64


@pytest.mark.parametrize("sizes", [[1], [3], [6]])
def test_in_float32_streamed_pushes_are_within_the_decoders_own_rounding(sizes):
    vae = tiny_vae()
    z = latents(vae, 33, seed=7)
    got, _ = streamed(vae, z, sizes)
    ref = whole(vae, z)
    batched = whole(vae, torch.cat([z, z.flip(2)]))[:1]  # the same decode, another problem shape
    assert float((got - ref).abs().max()) <= F32
    assert float((batched - ref).abs().max()) > 1e-6  # float32 itself is not exact to better


def test_the_first_and_last_frames_get_the_edge_padding_of_a_whole_decode():
    vae = tiny_vae(torch.float64)
    z = latents(vae, 20, seed=5)
    got, counts = streamed(vae, z, [2])
    ref = whole(vae, z)
    # The decoder runs behind its input: nothing comes out of the first pushes, drains finish it.
    assert counts[0] == 0 and len(counts) > 10
    assert float((got[:, :, :8] - ref[:, :, :8]).abs().max()) <= F64
    assert float((got[:, :, -8:] - ref[:, :, -8:]).abs().max()) <= F64
    # A decode of the last frames alone (other padding) differs: the edges are the real test.
    alone = whole(vae, z[:, :, -4:])
    assert float((alone[:, :, -8:] - ref[:, :, -8:]).abs().max()) > 1e-3


def test_a_timestep_conditioned_decoder_streams_exactly():
    vae = tiny_vae(torch.float64, timestep_conditioning=True)
    z = latents(vae, 12, seed=2)
    temb = torch.full((1,), 0.05, dtype=torch.float64)
    stream = StreamingVideoDecode(vae, temb)
    outs = [stream.push(z[:, :, :5]), stream.push(z[:, :, 5:9]), stream.push(z[:, :, 9:], final=True)]
    while not stream.done:
        outs.append(stream.drain())
    got = torch.cat(outs, 2)
    with torch.no_grad():
        ref = vae.decode(z, temb, return_dict=False)[0]
    assert float((got - ref).abs().max()) <= F64


def test_the_decoder_is_left_as_it_was_between_and_after_pushes():
    vae = tiny_vae()
    before = {name: type(m) for name, m in vae.named_modules()}
    shortcut_attrs = [r.__dict__.get("conv_shortcut", "module") for r in vae.decoder.modules() if hasattr(r, "norm3")]
    z = latents(vae, 6)
    stream = StreamingVideoDecode(vae)
    stream.push(z[:, :, :3])
    assert {name: type(m) for name, m in vae.named_modules()} == before
    assert not any("forward" in m.__dict__ for m in vae.modules())
    assert float((whole(vae, z) - whole(tiny_vae(), z)).abs().max()) == 0.0  # a whole decode meanwhile is plain
    stream.push(z[:, :, 3:], final=True)
    while not stream.done:
        stream.drain()
    after = [r.__dict__.get("conv_shortcut", "module") for r in vae.decoder.modules() if hasattr(r, "norm3")]
    assert after == shortcut_attrs
    with pytest.raises(RuntimeError, match="already pushed"):
        stream.push(z[:, :, :1], final=True)


def test_two_clips_decoded_in_turns_keep_their_state_apart():
    vae = tiny_vae(torch.float64)
    a, b = latents(vae, 10, seed=1), latents(vae, 10, seed=2)
    first, second = StreamingVideoDecode(vae), StreamingVideoDecode(vae)
    outs_a, outs_b = [], []
    for start in range(0, 10, 2):
        final = start + 2 == 10
        outs_a.append(first.push(a[:, :, start : start + 2], final=final))
        outs_b.append(second.push(b[:, :, start : start + 2], final=final))
    while not (first.done and second.done):
        if not first.done:
            outs_a.append(first.drain())
        if not second.done:
            outs_b.append(second.drain())
    assert float((torch.cat(outs_a, 2) - whole(vae, a)).abs().max()) <= F64
    assert float((torch.cat(outs_b, 2) - whole(vae, b)).abs().max()) <= F64


@pytest.mark.slow
def test_the_full_size_ltx2_decoder_streams_exactly():
    """The real LTX-2.0 decoder (0.5B parameters, 5 resnets a level, random weights) at 64x64, in
    float32 (2 GB; float64 would need 4)."""
    from benchmarks.full_size import build_full_size_video_vae

    vae = build_full_size_video_vae()
    assert video_decode_mode(vae).kind == STREAMING
    z = latents(vae, 26, seed=3)
    ref = whole(vae, z)
    got, counts = streamed(vae, z, [3])
    assert got.shape == ref.shape == (1, 3, 201, 64, 64)
    # Its delay is about 22 latent frames: the first frames come out of the eighth push, and the
    # last 170 or so are drained after the last push in pieces of a push's worth.
    assert counts[:7] == [0] * 7 and sum(counts) == 201 and len(counts) > 12
    assert float((got - ref).abs().max()) <= 1e-5


def test_the_full_size_decoder_at_768x512x121_streams_in_a_third_of_a_whole_decodes_memory():
    """Counted on the meta device (shapes only, bf16): the real decoder at a real clip size. Each
    temporal layer keeps two frames to its next push; kept as slices of its input, they kept every
    layer's whole input alive: 4.05 GiB, more than the whole decode's 3.78. The tiny VAE, with few
    layers, barely shows it (0.19 of a whole decode's peak against 0.16 at 128x128x257)."""
    from benchmarks.decode import latents_for, streamed_spans
    from benchmarks.full_size import build_full_size_video_vae
    from benchmarks.meta_count import peak_bytes

    vae = build_full_size_video_vae("meta", torch.bfloat16)
    z = latents_for(vae, 121, 768, 512, "meta")
    whole_peak = peak_bytes(lambda: decode_whole(vae, z))
    peak = peak_bytes(lambda: streamed_spans(vae, z, 121, 24))
    assert 3.5 * 2**30 < whole_peak < 4 * 2**30  # 3.78 GiB
    assert peak < 0.4 * whole_peak, (peak / 2**30, whole_peak / 2**30)  # 1.13 GiB (4.05 as slices)


def test_the_video_decoder_returns_each_span_in_rgb8():
    vae = tiny_vae()
    z = latents(vae, 16, seed=4)
    decoder = VideoDecoder(vae, z, push_latents=3)
    assert decoder.mode.kind == STREAMING
    frames = np.concatenate([decoder.frames(f0, f1) for f0, f1 in frame_spans(121, 24)])
    ref = to_rgb8(whole(vae, z))
    assert frames.shape == ref.shape == (121, 64, 64, 3)
    assert np.abs(frames.astype(int) - ref.astype(int)).max() <= 1  # float rounding may flip a level
    assert decoder.latent_frames_decoded == 16
    with pytest.raises(ValueError, match="follow on from 121"):
        decoder.frames(0, 25)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: _tiled(tiny_vae()), "tiling is enabled"),
        (lambda: tiny_vae(decoder_inject_noise=(True, False, False, False)), "injects random noise"),
    ],
)
def test_a_decoder_that_cannot_stream_is_decoded_whole_and_sliced(make, reason):
    vae = make()
    mode = video_decode_mode(vae)
    assert mode.kind == WHOLE and reason in mode.reason
    z = latents(vae, 6, seed=6)
    decoder = VideoDecoder(vae, z, push_latents=1)
    first = decoder.frames(0, 9)
    assert decoder.latent_frames_decoded == 6  # the whole clip before the first chunk
    rest = decoder.frames(9, 41)
    if "noise" not in reason:  # the noise is drawn afresh on every decode
        assert np.array_equal(np.concatenate([first, rest]), to_rgb8(decode_whole(vae, z)))
    with pytest.raises(ValueError, match="cannot stream"):
        StreamingVideoDecode(vae)


def _tiled(vae: AutoencoderKLLTX2Video) -> AutoencoderKLLTX2Video:
    vae.enable_tiling()
    return vae


def test_ltx25_diffusion_decoder_is_not_streamed():
    from diffusers.models.autoencoders import LTX2VideoDiffusionDecoderModel

    decoder = LTX2VideoDiffusionDecoderModel(
        latent_channels=16,
        decoder_head_dim=8,
        decoder_stage_channels=(64, 32, 16, 16, 8),
        decoder_stage_depths=(1, 1, 1, 1, 1),
        decoder_t_emb_dim=16,
    )
    assert "LTX2VideoDiffusionDecoderModel is not the convolutional" in unsupported_reason(decoder)
    assert video_decode_mode(decoder).kind == WHOLE


def test_a_layer_not_known_to_be_local_in_time_is_not_streamed():
    vae = tiny_vae()
    vae.decoder.mid_block.resnets.append(torch.nn.MultiheadAttention(8, 1))
    assert "not known to be local in time" in unsupported_reason(vae)
