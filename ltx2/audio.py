"""Audio stage: decode audio latents into PCM chunks, in step with the video chunks.

The audio VAE is causal and small, so the clip's mel spectrogram is decoded whole once (exactly a
whole decode). The vocoder is not causal but local in time: each chunk is vocoded from a window
with exact context, all the mel frames its samples depend on. How far the vocoder reaches is
read once per model from its gradient (`vocoder_reach`: the mel frames one frame's samples
depend on), so the chunks equal a whole run up to float rounding (about 1e-7). A vocoder that
reaches across the whole probe is run on the whole clip instead.

The model's audio ends (4L-3) mel frames after its start, 10-50 ms before the video: the tail is
padded from the model's last sample with a short fade to silence (`VideoSpanAudio`), so the audio
covers exactly the video's span and every chunk its [t0, t1). A request for another sample rate
decodes the whole clip and resamples it with PyAV.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .params import SampleFormat

# The vocoder's receptive field is read on a probe of this many mel frames.
_PROBE_MEL = 160
FADE_S = 0.005  # the padded tail fades from the model's last sample to silence in 5 ms


def audio_latent_frames(pipe: Any, num_frames: int, frame_rate: float) -> int:
    """Audio latent frames of a clip of `num_frames` at `frame_rate`, as LTX2Pipeline sizes them."""
    per_second = pipe.audio_sampling_rate / pipe.audio_hop_length / float(pipe.audio_vae_temporal_compression_ratio)
    return round(num_frames / frame_rate * per_second)


def decode_mel(pipe: Any, audio_latents: torch.Tensor) -> torch.Tensor:
    """The audio VAE's mel spectrogram [B, C, frames, bins] of denormalized, unpacked latents."""
    with torch.no_grad():
        return pipe.audio_vae.decode(audio_latents.to(pipe.audio_vae.dtype), return_dict=False)[0]


def vocoder_reach(pipe: Any, device: torch.device) -> int | None:
    """Mel frames on each side that a vocoder sample depends on (None: not local in time).

    The receptive field is read from the gradient of the samples of one mel frame in the middle
    of a probe with respect to every mel frame (one small forward and backward): a frame outside
    the field has a gradient of exactly zero, one inside a nonzero gradient (the vocoder's
    activations, leaky ReLU, snake and tanh, never have a zero slope). A probe of the output
    instead (perturb a frame, see which samples move) misses the far edge of the field, where
    the change is below float32 resolution: it measured 12 frames on the LTX-2.0 vocoder, whose
    field is 18 (the tiny and the full-size vocoder alike: the tiny one keeps the real kernels).
    A field reaching an end of the probe means the vocoder is not local in time.
    """
    vae = pipe.audio_vae
    bins = vae.config.mel_bins // pipe.audio_vae_mel_compression_ratio
    shape = (1, vae.config.latent_channels, _PROBE_MEL // 4 + 1, bins)
    latents = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    mel = decode_mel(pipe, latents.to(device))[:, :, :_PROBE_MEL].detach().clone().requires_grad_(True)
    with torch.enable_grad():
        wave = pipe.vocoder(mel)
        hop = wave.shape[-1] // mel.shape[2]
        centre = mel.shape[2] // 2
        # The gradient with respect to the mel only: `.backward()` would also leave a `.grad` on
        # every vocoder weight, held for the model's life (222 MB at full size, 55.6M weights).
        (grad,) = torch.autograd.grad(wave[..., centre * hop : (centre + 1) * hop].float().sum(), mel)
    reached = torch.nonzero(grad.abs().amax(dim=(0, 1, 3))).flatten()
    lo, hi = int(reached[0]), int(reached[-1])
    if lo == 0 or hi == mel.shape[2] - 1:
        return None
    return max(centre - lo, hi - centre)


@torch.no_grad()
def decode_audio(pipe: Any, audio_latents: torch.Tensor) -> np.ndarray:
    """Denormalized, unpacked audio latents -> float32 waveform shaped (samples, channels), whole:
    exactly the pipeline's output."""
    wave = pipe.vocoder(decode_mel(pipe, audio_latents))
    return wave[0].float().cpu().numpy().T.copy()


class AudioDecoder:
    """Decodes one clip's audio span by span at the vocoder's native rate.

    The audio VAE is causal and small: its mel spectrogram of the whole clip is decoded once (a
    few hundred KB; exactly a whole decode). The vocoder runs per span with `context` mel frames
    on each side, its receptive field, so each span equals the same samples of a whole run.
    """

    def __init__(self, pipe: Any, audio_latents: torch.Tensor, model_samples: int, context: int) -> None:
        self._vocoder = pipe.vocoder
        self._mel = decode_mel(pipe, audio_latents)
        self._mel_frames = self._mel.shape[2]
        self._hop = model_samples // self._mel_frames
        self._context = context
        if self._hop * self._mel_frames != model_samples:
            raise ValueError(f"{model_samples} samples are not a whole number of {self._mel_frames} mel frames")
        self.model_samples = model_samples
        self.mel_frames_vocoded = 0

    @torch.no_grad()
    def samples(self, first: int, end: int) -> np.ndarray:
        """Float32 (end - first, channels) model audio of samples [first, end) (within the model's)."""
        if not 0 <= first < end <= self.model_samples:
            raise ValueError(f"samples [{first}, {end}) outside the model's {self.model_samples}")
        m0 = max(0, first // self._hop - self._context)
        m1 = min(self._mel_frames, -(-end // self._hop) + self._context)
        self.mel_frames_vocoded += m1 - m0
        wave = self._vocoder(self._mel[:, :, m0:m1])[0].float().cpu().numpy().T
        offset = m0 * self._hop
        return wave[first - offset : end - offset]


def fade_tail(last: np.ndarray, samples: int, sample_rate: int) -> np.ndarray:
    """`samples` frames that carry `last` (one frame, per channel) down to silence in FADE_S, then 0."""
    ramp = np.zeros(samples, np.float32)
    fade = min(samples, max(1, round(FADE_S * sample_rate)))
    ramp[:fade] = np.linspace(1.0, 0.0, fade + 1, dtype=np.float32)[1:]
    return ramp[:, None] * last[None, :].astype(np.float32)


class VideoSpanAudio:
    """The clip's audio over exactly the video's span: the model's samples, then a faded tail.

    `span(first, end)` serves any [first, end) within `total` samples; `model(first, end)` gives
    the model's own samples (within `model_samples`).
    """

    def __init__(self, model: Any, model_samples: int, total: int, sample_rate: int, channels: int) -> None:
        self._model = model
        self.model_samples = min(model_samples, total)
        self.total = total
        self.padded_samples = total - self.model_samples
        self._rate = sample_rate
        self._channels = channels
        self._last: np.ndarray | None = None

    def span(self, first: int, end: int) -> np.ndarray:
        pieces = []
        if first < self.model_samples:
            own = self._model(first, min(end, self.model_samples))
            pieces.append(own)
            if end >= self.model_samples:
                self._last = own[-1]
        if end > self.model_samples:
            if self._last is None:
                self._last = self._model(self.model_samples - 1, self.model_samples)[-1]
            tail = fade_tail(self._last, self.total - self.model_samples, self._rate)
            start = max(first, self.model_samples) - self.model_samples
            pieces.append(tail[start : end - self.model_samples])
        return np.concatenate(pieces) if pieces else np.zeros((0, self._channels), np.float32)


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
