"""Chunk planning and windowed decoding against a whole decode."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from ltx2.audio import resample, sample_at, to_pcm
from ltx2.decode import VideoDecoder, frame_spans, plan_chunks, to_rgb8
from ltx2.params import SampleFormat


@pytest.mark.parametrize(("latent_frames", "chunk"), [(16, 24), (16, 8), (2, 64), (33, 48), (1, 8)])
def test_plans_cover_every_frame_once(latent_frames, chunk):
    plans = plan_chunks(latent_frames, chunk, context=6)
    assert plans[0].first_frame == 0
    assert plans[-1].end_frame == 8 * latent_frames - 7
    for before, after in itertools.pairwise(plans):
        assert before.end_frame == after.first_frame
    assert plans[0].num_frames == min(chunk + 1, 8 * latent_frames - 7)
    for p in plans:
        assert p.window_start <= max(0, p.first_latent - 1) and p.window_end >= p.end_latent


def test_frame_spans_match_the_decode_plan():
    assert frame_spans(121, 24) == [(0, 25), (25, 49), (49, 73), (73, 97), (97, 121)]


def test_windowed_decode_matches_a_whole_decode(engine):
    pipe = engine.pipeline
    gen = torch.Generator().manual_seed(0)
    latents = torch.randn(1, pipe.vae.config.latent_channels, 12, 2, 2, generator=gen)
    with torch.no_grad():
        whole = to_rgb8(pipe.vae.decode(latents, None, return_dict=False)[0])
    for chunk in (8, 16, 40):
        decoder = VideoDecoder(pipe, latents, context=6)
        frames = np.concatenate([f for _, f in decoder.chunks(chunk)])
        assert frames.shape == whole.shape == (89, 64, 64, 3)
        assert np.abs(frames.astype(int) - whole.astype(int)).max() <= 1
    # Without context the chunk edges are visibly wrong: the context is what makes it exact.
    crude = np.concatenate([f for _, f in VideoDecoder(pipe, latents, context=1).chunks(8)])
    assert np.abs(crude.astype(int) - whole.astype(int)).max() > 1


def test_resampling_keeps_the_pitch():
    rate = 24000
    t = np.arange(rate) / rate
    tone = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 880 * t)], axis=1).astype(np.float32) * 0.5
    out = resample(tone, rate, 44100)
    assert out.shape == (44100, 2)
    spectrum = np.abs(np.fft.rfft(out[:, 0]))
    assert abs(np.argmax(spectrum) - 440) <= 1  # one second of audio: bin index = Hz
    assert abs(np.argmax(np.abs(np.fft.rfft(out[:, 1]))) - 880) <= 1


def test_pcm_encoding_and_sample_positions():
    wave = np.array([[0.0, 1.0], [-1.0, 2.0]], np.float32)
    assert np.frombuffer(to_pcm(wave, SampleFormat.S16LE), "<i2").tolist() == [0, 32767, -32767, 32767]
    assert np.frombuffer(to_pcm(wave, SampleFormat.F32LE), "<f4").tolist() == [0.0, 1.0, -1.0, 1.0]
    assert sample_at(25, 24.0, 24000) == 25000
    assert sample_at(1, 30.0, 44100) == 1470


def test_context_is_calibrated_per_vae(engine):
    """The tiny VAE needs 6 frames of context; a deeper decoder reaches further and gets more."""
    from diffusers import AutoencoderKLLTX2Video

    from ltx2 import tiny
    from ltx2.decode import calibrate_context

    assert engine.decode_context == calibrate_context(engine.pipeline.vae) == 6
    torch.manual_seed(0)
    deeper = AutoencoderKLLTX2Video(**{**tiny.video_vae_config(), "decoder_layers_per_block": (3, 3, 3, 3)}).eval()
    deeper.to(torch.bfloat16)
    assert calibrate_context(deeper) > 6
    assert deeper.dtype == torch.bfloat16  # cast back after measuring in float32


def test_a_given_context_skips_calibration_and_is_used(tiny_checkpoint, engine):
    from ltx2.engine import Ltx2Engine
    from tests.engine.conftest import collect, small

    wide = Ltx2Engine.load(tiny_checkpoint, decode_context=9)
    assert wide.decode_context == 9
    a = collect(wide.generate(small()), small())
    b = collect(engine.generate(small()), small())
    assert np.abs(a.frames.astype(int) - b.frames.astype(int)).max() <= 1


def test_chunked_vocoder_matches_a_whole_run(engine):
    from ltx2.audio import AudioDecoder, decode_audio

    pipe = engine.pipeline
    gen = torch.Generator().manual_seed(3)
    bins = pipe.audio_vae.config.mel_bins // pipe.audio_vae_mel_compression_ratio
    latents = torch.randn(1, pipe.audio_vae.config.latent_channels, 60, bins, generator=gen)
    whole = decode_audio(pipe, latents)
    decoder = AudioDecoder(pipe, latents, len(whole))
    edges = [0, 1, 4000, 24000, 24001, 50000, len(whole)]
    pieces = [decoder.samples(a, b) for a, b in itertools.pairwise(edges)]
    assert [len(p) for p in pieces] == [b - a for a, b in itertools.pairwise(edges)]
    assert np.abs(np.concatenate(pieces) - whole).max() <= 1e-5
    crude = AudioDecoder(pipe, latents, len(whole), context=0)
    rough = np.concatenate([crude.samples(a, b) for a, b in itertools.pairwise(edges)])
    assert np.abs(rough - whole).max() > 1e-5  # the context is what makes it match
