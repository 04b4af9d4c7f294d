"""Audio stage: decode audio latents into PCM chunks, in step with the video chunks.

The audio VAE is causal and cheap, so the mel spectrogram is decoded whole once. The vocoder is
not causal and costs as much as the video decode on small models, so it runs chunk by chunk with
`VOCODER_CONTEXT` mel frames on each side (8 give about 4e-6 of a whole run, 16 about 1e-7). A request for
another sample rate decodes the whole clip and resamples it with PyAV instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .params import SampleFormat

VOCODER_CONTEXT = 8


@torch.no_grad()
def decode_audio(pipe: Any, audio_latents: torch.Tensor) -> np.ndarray:
    """Denormalized, unpacked audio latents -> float32 waveform shaped (samples, channels).

    The audio VAE is causal and the vocoder nearly so, and audio is cheap next to video: decoding
    it whole once and slicing gives exactly the pipeline's output.
    """
    mel = pipe.audio_vae.decode(audio_latents.to(pipe.audio_vae.dtype), return_dict=False)[0]
    wave = pipe.vocoder(mel)
    return wave[0].float().cpu().numpy().T.copy()


class AudioDecoder:
    """Decodes one clip's audio latents span by span at the vocoder's native rate."""

    def __init__(self, pipe: Any, audio_latents: torch.Tensor, total_samples: int, context: int = VOCODER_CONTEXT):
        self._vocoder = pipe.vocoder
        with torch.no_grad():
            self._mel = pipe.audio_vae.decode(audio_latents.to(pipe.audio_vae.dtype), return_dict=False)[0]
        self._mel_frames = self._mel.shape[2]
        self._hop = total_samples // self._mel_frames
        self._context = context
        if self._hop * self._mel_frames != total_samples:
            raise ValueError(f"{total_samples} samples are not a whole number of {self._mel_frames} mel frames")

    @torch.no_grad()
    def samples(self, first: int, end: int) -> np.ndarray:
        """Float32 (end - first, channels) audio of samples [first, end)."""
        m0 = max(0, first // self._hop - self._context)
        m1 = min(self._mel_frames, -(-end // self._hop) + self._context)
        wave = self._vocoder(self._mel[:, :, m0:m1])[0].float().cpu().numpy().T
        offset = m0 * self._hop
        return wave[first - offset : end - offset]


def resample(wave: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample (samples, channels) float32 audio with FFmpeg's resampler (PyAV).

    The result has exactly round(len * rate_out / rate_in) samples, so its length is known before
    decoding and chunk boundaries stay in step with video.
    """
    if rate_in == rate_out:
        return wave
    import av

    channels = wave.shape[1]
    layout = "stereo" if channels == 2 else "mono"
    resampler = av.AudioResampler(format="flt", layout=layout, rate=rate_out)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave.T, dtype=np.float32), format="fltp", layout=layout)
    frame.sample_rate = rate_in
    pieces = [f.to_ndarray().reshape(-1, channels) for f in resampler.resample(frame)]
    pieces += [f.to_ndarray().reshape(-1, channels) for f in resampler.resample(None)]
    out = np.concatenate(pieces) if pieces else np.zeros((0, channels), np.float32)
    want = resampled_length(len(wave), rate_in, rate_out)
    if len(out) >= want:
        return out[:want]
    return np.concatenate([out, np.zeros((want - len(out), channels), np.float32)])


def resampled_length(samples: int, rate_in: int, rate_out: int) -> int:
    return round(samples * rate_out / rate_in)


def to_pcm(wave: np.ndarray, sample_format: SampleFormat) -> bytes:
    """(samples, channels) float audio -> interleaved little-endian PCM bytes."""
    clipped = np.clip(wave, -1.0, 1.0)
    if sample_format == SampleFormat.F32LE:
        return clipped.astype("<f4").tobytes()
    return np.round(clipped * 32767.0).astype("<i2").tobytes()


def sample_at(frame: int, frame_rate: float, sample_rate: int) -> int:
    """Index of the audio sample presented together with video frame `frame`."""
    return round(frame * sample_rate / frame_rate)
