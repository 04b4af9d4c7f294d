"""The audio stage: chunked vocoding against a whole run, the faded tail, resampling, PCM."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from ltx2.audio import (
    AudioDecoder,
    VideoSpanAudio,
    decode_audio,
    decode_mel,
    fade_tail,
    resample,
    to_pcm,
    vocoder_reach,
)
from ltx2.params import SampleFormat, sample_at


def audio_latents(pipe, frames: int, seed: int = 3) -> torch.Tensor:
    bins = pipe.audio_vae.config.mel_bins // pipe.audio_vae_mel_compression_ratio
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(1, pipe.audio_vae.config.latent_channels, frames, bins, generator=gen)


def test_the_vocoder_reach_is_its_receptive_field(engine):
    # The LTX-2.0 vocoder's receptive field: conv_in (kernel 7), then resblocks of kernel up to 11
    # and dilations 1, 3, 5 at every upsampled rate: 18 mel frames on each side. A mel frame just
    # outside it cannot change the samples of the centre frame (bit for bit: a whole run of the
    # same shape computes them from the same inputs). Inside, a near frame changes them; the
    # influence of the frames near the edge is below float32 resolution (why a probe of the
    # output measured 12), so only the gradient sees it.
    pipe = engine.pipeline
    reach = vocoder_reach(pipe, torch.device("cpu"))
    assert reach == engine.vocoder_context == 18
    assert all(p.grad is None for p in pipe.vocoder.parameters())  # reading it leaves no weight gradients
    mel = decode_mel(pipe, audio_latents(pipe, 41))[:, :, :160]
    centre = 80
    plain = pipe.vocoder(mel)
    hop = plain.shape[-1] // mel.shape[2]
    span = slice(centre * hop, (centre + 1) * hop)
    for offset, moves in ((reach + 1, False), (-(reach + 1), False), (1, True), (-1, True)):
        bumped = mel.clone()
        bumped[:, :, centre + offset] += 100.0
        changed = not torch.equal(pipe.vocoder(bumped)[..., span], plain[..., span])
        assert changed is moves, (offset, moves)


@pytest.mark.parametrize("frames", [9, 60, 126])
def test_chunked_vocoding_with_the_reach_as_context_matches_a_whole_run(engine, frames):
    pipe = engine.pipeline
    latents = audio_latents(pipe, frames)
    whole = decode_audio(pipe, latents)
    decoder = AudioDecoder(pipe, latents, len(whole), engine.vocoder_context)
    edges = sorted({0, 1, 4000, 24000, 24001, len(whole) // 2, len(whole)} & set(range(len(whole) + 1)))
    pieces = [decoder.samples(a, b) for a, b in itertools.pairwise(edges)]
    assert [len(p) for p in pieces] == [b - a for a, b in itertools.pairwise(edges)]
    assert np.abs(np.concatenate(pieces) - whole).max() <= 1e-6
    # With less context than the reach the chunk edges are off: the reach is what makes it match.
    short = AudioDecoder(pipe, latents, len(whole), engine.vocoder_context // 3)
    rough = np.concatenate([short.samples(a, b) for a, b in itertools.pairwise(edges)])
    assert np.abs(rough - whole).max() > 1e-6


def test_the_tail_fades_from_the_last_sample_to_silence():
    tail = fade_tail(np.array([0.5, -0.25], np.float32), 760, 24000)
    assert tail.shape == (760, 2)
    assert 0 < tail[0, 0] < 0.5 and tail[0, 1] < 0  # starts just below the last sample
    assert np.all(np.diff(np.abs(tail[:120, 0])) < 0)  # falls for 5 ms
    assert np.all(tail[119:] == 0)
    short = fade_tail(np.array([1.0], np.float32), 10, 24000)  # a tail shorter than the fade
    assert short[-1, 0] == 0 and short[0, 0] == pytest.approx(0.9)


def test_video_span_audio_serves_model_samples_then_the_tail():
    model = np.linspace(-1, 1, 1000, dtype=np.float32)[:, None].repeat(2, axis=1)
    calls = []

    def span(first: int, end: int) -> np.ndarray:
        calls.append((first, end))
        return model[first:end]

    audio = VideoSpanAudio(span, 1000, 1100, 24000, 2)
    assert audio.padded_samples == 100
    out = np.concatenate([audio.span(0, 400), audio.span(400, 990), audio.span(990, 1100)])
    assert out.shape == (1100, 2)
    assert np.array_equal(out[:1000], model)
    assert np.allclose(out[1000:], fade_tail(model[-1], 100, 24000))
    assert calls == [(0, 400), (400, 990), (990, 1000)]  # never asks the model past its end
    tail_only = VideoSpanAudio(span, 1000, 1100, 24000, 2)
    assert np.allclose(tail_only.span(1050, 1100), fade_tail(model[-1], 100, 24000)[50:])


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
