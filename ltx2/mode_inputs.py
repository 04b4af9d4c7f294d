"""Encoding a request's media into the latents a job holds clean, and the given sound as the stream's.

- Keyframes: a picture goes through the H.264 round trip at its own size (crf), is scaled to cover
  the clip's size and centre-cropped (bilinear, no antialias: the condition pipeline's rule, which is
  Lightricks' `resize_and_center_crop`), then through the video VAE's encoder, one latent frame;
  frames (already fitted as they were decoded) give (n-1)/8+1 latent frames.

- Frames (video-to-audio) go through the video VAE's encoder, the posterior's mode as diffusers'
  image-to-video pipeline takes it; frames padded to 8k+1 repeat the last one.
- Sound (audio-to-video) goes through a mel front end and the audio VAE's encoder. diffusers has no
  waveform-to-mel step, so this is Lightricks' (ltx-core `model/audio_vae/ops.py`): torchaudio's
  MelSpectrogram with a periodic Hann window of 1024, the checkpoint's hop and mel bins, f_min 0,
  f_max at Nyquist, magnitude (power 1), Slaney mel scale and norm, centre reflect padding, then
  log(max(mel, 1e-5)), one spectrogram per channel at the audio VAE's rate, mono repeated to its
  input channels. torch.stft and the filterbank below stand in for torchaudio, which is not used.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from diffusers.pipelines.ltx2.utils import apply_image_conditioning_crf

from .audio import VideoSpanAudio, resample
from .events import ClipFormat
from .keyframes import Keyframe
from .media_input import AudioInput, ImageInput, VideoInput, cover_size
from .modal_denoise import KeyframeLatents

N_FFT = 1024  # Lightricks' filter_length; the diffusers audio VAE config does not carry it
LOG_FLOOR = 1e-5


def encode_frames(pipe: Any, video: VideoInput, num_frames: int) -> torch.Tensor:
    """Clean video latents [1, C, F, h, w] (denormalized, as the VAE gives them) of `video`'s frames,
    the last one repeated up to `num_frames` (8k+1)."""
    frames = video.frames
    if len(frames) < num_frames:
        frames = np.concatenate([frames, np.repeat(frames[-1:], num_frames - len(frames), axis=0)])
    pixels = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).unsqueeze(0)
    return _encode_pixels(pipe, pixels.to(pipe._execution_device, torch.float32) / 127.5 - 1.0)


def _encode_pixels(pipe: Any, pixels: torch.Tensor) -> torch.Tensor:
    """[1, 3, n, H, W] in [-1, 1] on the execution device -> the posterior's mode, float32."""
    vae = pipe.vae
    # The execution device, not the VAE's: with model offload the VAE waits on the CPU until its
    # forward hook moves it, and its input must already be where it is going.
    with torch.no_grad():
        latents = vae.encode(pixels.to(vae.dtype)).latent_dist.mode()
    return latents.float()


def fit_picture(rgb: np.ndarray, width: int, height: int, crf: int, device: Any) -> torch.Tensor:
    """A picture (uint8 (h, w, 3) at its own size) as the encoder's input [1, 3, 1, height, width]
    in [-1, 1]: H.264 round trip at `crf` (0: none), scaled to cover, centre-cropped."""
    rgb = apply_image_conditioning_crf(rgb, crf)
    src_h, src_w = rgb.shape[:2]
    new_w, new_h = cover_size(src_w, src_h, width, height)
    pixels = torch.from_numpy(np.ascontiguousarray(rgb)).to(device, torch.float32).permute(2, 0, 1).unsqueeze(0)
    pixels = torch.nn.functional.interpolate(pixels, size=(new_h, new_w), mode="bilinear", align_corners=False)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    pixels = pixels[:, :, top : top + height, left : left + width]
    return (pixels / 127.5 - 1.0).unsqueeze(2)


def encode_keyframes(
    pipe: Any, keyframes: list[Keyframe], width: int, height: int, default_crf: int
) -> tuple[KeyframeLatents, ...]:
    """The keyframes of strength above 0 (one of 0 holds nothing and is skipped), encoded."""
    device = pipe._execution_device
    out = []
    for kf in keyframes:
        if kf.strength <= 0:
            continue
        if isinstance(kf.media, ImageInput):
            crf = default_crf if kf.crf is None else kf.crf
            pixels = fit_picture(kf.media.rgb, width, height, crf, device)
        elif isinstance(kf.media, VideoInput):
            frames = torch.from_numpy(np.ascontiguousarray(kf.media.frames)).permute(3, 0, 1, 2).unsqueeze(0)
            pixels = frames.to(device, torch.float32) / 127.5 - 1.0
        else:
            raise TypeError(f"keyframe media must be decoded, not {type(kf.media).__name__}")
        out.append(KeyframeLatents(_encode_pixels(pipe, pixels), kf.frame, float(kf.strength), kf.num_frames))
    return tuple(out)


def _hz_to_mel(hz: float) -> float:
    # Slaney: linear below 1 kHz, logarithmic above.
    return hz / (200.0 / 3) if hz < 1000.0 else 15.0 + math.log(hz / 1000.0) / (math.log(6.4) / 27.0)


def _mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    return torch.where(mel >= 15.0, 1000.0 * torch.exp(math.log(6.4) / 27.0 * (mel - 15.0)), mel * (200.0 / 3))


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> torch.Tensor:
    """(n_fft // 2 + 1, n_mels) triangular filters, Slaney scale and area norm (torchaudio's
    `melscale_fbanks(..., norm="slaney", mel_scale="slaney")`), 0 Hz to Nyquist."""
    freqs = torch.linspace(0, sample_rate // 2, n_fft // 2 + 1, dtype=torch.float64)
    points = _mel_to_hz(torch.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_mels + 2, dtype=torch.float64))
    widths = points[1:] - points[:-1]
    slopes = points[None, :] - freqs[:, None]
    rising, falling = -slopes[:, :-2] / widths[:-1], slopes[:, 2:] / widths[1:]
    bank = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return (bank * (2.0 / (points[2:] - points[:-2]))[None, :]).float()


def log_mel(wave: torch.Tensor, sample_rate: int, hop: int, n_mels: int) -> torch.Tensor:
    """[C, S] float32 at `sample_rate` -> the encoder's input [1, C, frames, n_mels]."""
    window = torch.hann_window(N_FFT, dtype=wave.dtype, device=wave.device)
    spec = torch.stft(
        wave, N_FFT, hop_length=hop, win_length=N_FFT, window=window, center=True, pad_mode="reflect",
        normalized=False, onesided=True, return_complex=True,
    ).abs()  # fmt: skip
    mel = spec.transpose(-1, -2) @ mel_filterbank(sample_rate, N_FFT, n_mels).to(wave)
    return torch.log(torch.clamp(mel, min=LOG_FLOOR)).unsqueeze(0)


def encode_sound(pipe: Any, sound: AudioInput, latent_frames: int) -> torch.Tensor:
    """Clean audio latents [1, C, latent_frames, M] (denormalized) of `sound`, silence after its end."""
    vae = pipe.audio_vae
    config = vae.config
    rate, hop = int(config.sample_rate), int(config.mel_hop_length)
    wave = _with_channels(resample(sound.samples, sound.sample_rate, rate), config.in_channels)
    # Enough samples for `latent_frames` latents (4 mel frames each, causal: 4(L-1)+1 mel frames).
    needed = hop * pipe.audio_vae_temporal_compression_ratio * latent_frames
    if len(wave) < needed:
        wave = np.concatenate([wave, np.zeros((needed - len(wave), wave.shape[1]), np.float32)])
    wave_t = torch.from_numpy(np.ascontiguousarray(wave.T)).to(pipe._execution_device)
    mel = log_mel(wave_t, rate, hop, config.mel_bins)
    with torch.no_grad():
        latents = vae.encode(mel.to(vae.dtype)).latent_dist.mode().float()
    return latents[:, :, :latent_frames]


def _with_channels(wave: np.ndarray, channels: int) -> np.ndarray:
    """(samples, c) audio as (samples, `channels`): mono repeated, or the channels' mean repeated."""
    if wave.shape[1] == channels:
        return wave
    return np.repeat(wave.mean(axis=1, keepdims=True), channels, axis=1)


def given_sound(sound: AudioInput, fmt: ClipFormat) -> VideoSpanAudio:
    """The request's sound as the stream's audio: resampled to the delivered rate, mixed to its
    channels, then (after its end) the short fade to silence of every clip's tail."""
    wave = _with_channels(resample(sound.samples, sound.sample_rate, fmt.sample_rate), fmt.channels)
    wave = np.ascontiguousarray(wave[: fmt.num_samples], dtype=np.float32)
    return VideoSpanAudio(lambda first, end: wave[first:end], len(wave), fmt.num_samples, fmt.sample_rate, fmt.channels)
