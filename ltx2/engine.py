"""Ltx2Engine: a warm LTX2Pipeline that turns GenerationParams into a stream of A/V chunks.

One call of `generate` reads top to bottom: resolve the preset (the request's, or the checkpoint's
default) into steps, schedule and guidance, encode the prompt (cached), switch to the job's LoRA
adapters, denoise with diffusers' pipeline loop (denoise.py), then per chunk vocode its audio span
(audio.py) and push its latent frames through the video decoder, which carries its state from
chunk to chunk (decode.py), sending for each chunk its audio span before its frames.
"""

from __future__ import annotations

import copy
import logging
import math
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import lora
from .audio import (
    AudioDecoder,
    VideoSpanAudio,
    audio_latent_frames,
    decode_audio,
    resample,
    resampled_length,
    to_pcm,
    vocoder_reach,
)
from .control import JobControl
from .decode import VideoDecoder, frame_spans
from .denoise import DenoiseJob, PassCounter, denoise
from .duration import choose_frames
from .earlier_clip import kept_pcm
from .engine_api import ModelInfo
from .errors import InvalidParams, OutOfMemory
from .events import AudioChunk, ClipFormat, Completed, Event, LengthChosen, Phase, Progress, Timings, VideoChunk
from .loader import LoadedPipeline, LoadOptions, load_pipeline
from .media_input import AudioInput, VideoInput
from .modal_denoise import Hold, Partial, modal_denoise, schedule_shift, schedule_tokens
from .mode_inputs import encode_frames, encode_keyframes, encode_sound, given_sound
from .params import TEMPORAL_COMPRESSION, GenerationParams, Mode, sample_at
from .prompt_cache import PromptCache, PromptEmbeddings
from .versions import preset
from .worker import Emit, Stream, stream

log = logging.getLogger(__name__)


class Ltx2Engine:
    """A loaded LTX-2 model kept warm; implements `ltx2.Engine`."""

    def __init__(
        self,
        loaded: LoadedPipeline,
        *,
        prompt_cache_size: int = 32,
    ) -> None:
        self._loaded = loaded
        self._pipe = loaded.pipe
        started = time.perf_counter()
        # Mel frames of context on each side of a vocoded chunk: the vocoder's receptive field.
        self.vocoder_context = vocoder_reach(self._pipe, loaded.device)
        log.info(
            "vocoder: %s (measured in %.2f s)",
            "whole clip (not local in time)"
            if self.vocoder_context is None
            else f"chunk by chunk with {self.vocoder_context} mel frames of context",
            time.perf_counter() - started,
        )
        self.prompt_cache = PromptCache(prompt_cache_size)
        self._samples_per_latent: tuple[int, int] | None = None
        self.version = loaded.version
        self._passes = PassCounter(self._pipe.transformer)
        if not self.version.perturbed_attention:
            log.info(
                "this transformer has no perturbed-attention processor (LTX-2.0 in diffusers): spatio-temporal "
                "guidance would change nothing, so its pass is skipped"
            )

    @classmethod
    def load(
        cls,
        model_path: Path | str | None = None,
        *,
        options: LoadOptions = LoadOptions(),
        prompt_cache_size: int = 32,
    ) -> Ltx2Engine:
        """Load a checkpoint folder (None: the embedded tiny checkpoint, built on first use)."""
        if model_path is None:
            from .tiny import ensure_tiny_checkpoint

            model_path = ensure_tiny_checkpoint()
        loaded = load_pipeline(Path(model_path), options)
        return cls(loaded, prompt_cache_size=prompt_cache_size)

    @property
    def pipeline(self) -> Any:
        """The underlying diffusers LTX2Pipeline (shared; do not change its state)."""
        return self._pipe

    @property
    def max_sequence_length(self) -> int:
        return self._loaded.max_sequence_length

    def info(self) -> ModelInfo:
        return self._loaded.info

    def close(self) -> None:
        self._passes.close()
        self.prompt_cache.clear()
        self._pipe = None
        self._loaded.pipe = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # -- shape of a clip -------------------------------------------------------------------------

    def audio_latent_frames(self, params: GenerationParams) -> int:
        return audio_latent_frames(self._pipe, params.num_frames, params.frame_rate)

    def model_samples(self, params: GenerationParams) -> int:
        """Samples of the model's own audio at the requested rate (the rest up to the video's span
        is a faded tail)."""
        native = self._native_samples(self.audio_latent_frames(params))
        return resampled_length(native, self.info().native_sample_rate, self._rate(params))

    def _rate(self, params: GenerationParams) -> int:
        return params.audio_sample_rate or self.info().native_sample_rate

    def _native_samples(self, latent_frames: int) -> int:
        # Samples per latent frame differ between vocoders (24 kHz, 48 kHz bandwidth extension);
        # measure the affine map once on zeros instead of trusting a formula.
        if self._samples_per_latent is None:
            lengths = [len(self._decode_zeros(n)) for n in (4, 8)]
            slope = (lengths[1] - lengths[0]) // 4
            self._samples_per_latent = (slope, lengths[0] - 4 * slope)
        slope, offset = self._samples_per_latent
        return slope * latent_frames + offset

    def _decode_zeros(self, latent_frames: int) -> np.ndarray:
        vae = self._pipe.audio_vae
        bins = vae.config.mel_bins // self._pipe.audio_vae_mel_compression_ratio
        zeros = torch.zeros(1, vae.config.latent_channels, latent_frames, bins, device=self._loaded.device)
        return decode_audio(self._pipe, zeros)

    def resolve(self, params: GenerationParams) -> GenerationParams:
        """`params` as this model runs them (`ModelInfo.resolve`: LoRAs checked, preset applied)
        under LTX-2's own limits; a daemon resolves under its deployment's limits before queueing."""
        return self.info().resolve(params)

    def clip_format(self, params: GenerationParams) -> ClipFormat:
        return self.info().clip_format(params)

    # -- stages ----------------------------------------------------------------------------------

    def _encode(self, params: GenerationParams) -> PromptEmbeddings:
        # The pipeline's own rule (`do_classifier_free_guidance`): either stream's CFG above 1.
        guided = params.video_guidance_scale > 1.0 or params.audio_guidance_scale > 1.0
        key = (params.prompt, params.negative_prompt, guided, self.max_sequence_length)
        cached = self.prompt_cache.get(key)
        if cached is not None:
            return cached
        embeds, mask, negative, negative_mask = self._pipe.encode_prompt(
            prompt=params.prompt,
            negative_prompt=params.negative_prompt,
            do_classifier_free_guidance=guided,
            max_sequence_length=self.max_sequence_length,
            device=self._loaded.device,
        )
        result = PromptEmbeddings(embeds, mask, negative, negative_mask)
        self.prompt_cache.put(key, result)
        return result

    def _choose_length(self, params: GenerationParams, embeddings: PromptEmbeddings) -> GenerationParams:
        """`params` with the length the duration head chose for the prompt (`ltx2.duration`)."""
        # The connectors may be adapted: the choice is this request's adapters', not the last job's.
        lora.activate(self._pipe, self.info().adapters, params.loras)
        with torch.no_grad():
            frames = choose_frames(self._pipe, embeddings.prompt_embeds, embeddings.prompt_attention_mask, params)
        log.info("duration head chose %d frames (%.2f s)", frames, frames / params.frame_rate)
        return replace(params, num_frames=frames, min_seconds=None, max_seconds=None)

    def check_schedule(self, params: GenerationParams) -> None:
        """Refuse a request whose noise schedule would be non-finite (the output would be all NaN).

        `Limits.max_video_tokens` and the minimum of 2 steps cover LTX-2's own scheduler; this exact
        check covers checkpoints whose scheduler config differs. Fixed (distilled) sigmas are not shifted.
        """
        params = self.info().with_preset(params)
        if self._fixed_sigmas(params) is not None:
            return
        scheduler = copy.deepcopy(self._pipe.scheduler)
        sigmas = np.linspace(1.0, 1 / params.steps, params.steps)
        no_video = params.mode == Mode.AUDIO_ONLY
        mu = schedule_shift(scheduler, schedule_tokens(self._pipe, params.video_tokens, no_video))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                scheduler.set_timesteps(sigmas=sigmas, mu=mu)
            finite = bool(torch.isfinite(scheduler.sigmas).all())
        except (OverflowError, ZeroDivisionError):
            finite = False
        if not finite:
            raise InvalidParams(
                "steps",
                params.steps,
                f"the noise schedule for {params.video_tokens} video tokens is degenerate at this step count; "
                "use more steps or a smaller clip",
            )

    def _audio_spans(
        self, audio_latents: torch.Tensor, params: GenerationParams, fmt: ClipFormat, total: int
    ) -> VideoSpanAudio:
        """The clip's audio over the video's span (`total` samples, from the clip's start): vocoded
        chunk by chunk at the native rate, or decoded whole and resampled when another rate was
        asked for (or the vocoder is not local)."""
        native = self.info().native_sample_rate
        model = self.model_samples(params)
        span = None
        if fmt.sample_rate == native and self.vocoder_context is not None:
            try:
                span = AudioDecoder(self._pipe, audio_latents, model, self.vocoder_context).samples
            except ValueError:
                log.warning("vocoder output is not whole mel frames; decoding the audio whole")
        if span is None:
            wave = _fit_length(resample(decode_audio(self._pipe, audio_latents), native, fmt.sample_rate), model)
            span = lambda first, end: wave[first:end]  # noqa: E731
        return VideoSpanAudio(span, model, total, fmt.sample_rate, fmt.channels)

    def _hold(self, params: GenerationParams) -> Hold | None:
        """What the job holds clean (None: nothing, the pipeline's own loop runs)."""
        if params.mode == Mode.AUDIO_ONLY:
            return Hold(no_video=True)
        if params.video_input is not None:
            return Hold(video=encode_frames(self._pipe, params.video_input, params.num_frames))
        if params.continue_from is not None:
            return self._continuation_hold(params)
        if params.retake is not None:
            return self._retake_hold(params)
        keyframes = encode_keyframes(
            self._pipe,
            [kf for kf in (params.image, *params.conditions) if kf is not None],
            params.width,
            params.height,
            self.version.default_image_crf,
        )
        audio = None
        if params.audio_input is not None:
            audio = encode_sound(self._pipe, params.audio_input, self.audio_latent_frames(params))
        if audio is None and not keyframes:
            return None
        return Hold(audio=audio, keyframes=keyframes)

    def _audio_latent_seconds(self) -> float:
        pipe = self._pipe
        return pipe.audio_hop_length * pipe.audio_vae_temporal_compression_ratio / pipe.audio_sampling_rate

    def _continuation_hold(self, params: GenerationParams) -> Hold:
        """The earlier clip's last frames as the first latent frames, held; the sound under them as
        the first audio latents that lie wholly within them, held."""
        clip, overlap = params.continue_from.clip, params.overlap_frames
        tail = clip.video.frames[-overlap:]
        encoded = encode_frames(self._pipe, VideoInput(tail, params.frame_rate, ""), overlap)
        held = encoded.shape[2]
        clean = torch.zeros(*encoded.shape[:2], params.latent_frames, *encoded.shape[3:], device=encoded.device)
        clean[:, :, :held] = encoded
        denoise = torch.ones(params.latent_frames)
        denoise[:held] = 0
        audio_part = None
        sound = clip.audio
        if sound is not None:
            given = clip.video.num_frames
            first = sample_at(given - overlap, params.frame_rate, sound.sample_rate)
            end = sample_at(given, params.frame_rate, sound.sample_rate)
            latent_frames = self.audio_latent_frames(params)
            under = AudioInput(sound.samples[first:end], sound.sample_rate, "")
            audio_clean = encode_sound(self._pipe, under, latent_frames)
            audio_denoise = torch.ones(latent_frames)
            audio_denoise[: int(overlap / params.frame_rate / self._audio_latent_seconds() + 1e-9)] = 0
            audio_part = Partial(audio_clean, audio_denoise)
        return Hold(video_part=Partial(clean, denoise), audio_part=audio_part)

    def _retake_hold(self, params: GenerationParams) -> Hold:
        """The earlier clip's latents, denoised only in the window: its latent frames (video) and
        the audio latents whose span overlaps it (audio); a stream not retaken is held whole."""
        retake = params.retake
        video = encode_frames(self._pipe, retake.clip.video, params.num_frames)
        latent_frames = self.audio_latent_frames(params)
        audio = encode_sound(self._pipe, retake.clip.audio, latent_frames)
        video_part = audio_part = None
        if retake.video:
            k0, k1 = retake.latent_window(params.frame_rate, params.num_frames)
            denoise = torch.zeros(params.latent_frames)
            denoise[k0:k1] = 1
            video_part = Partial(video, denoise)
        if retake.audio:
            seconds = self._audio_latent_seconds()
            j0, j1 = int(retake.start_s / seconds + 1e-9), math.ceil(retake.end_s / seconds - 1e-9)
            denoise = torch.zeros(latent_frames)
            denoise[j0:j1] = 1
            audio_part = Partial(audio, denoise)
        return Hold(
            video=None if retake.video else video,
            audio=None if retake.audio else audio,
            video_part=video_part,
            audio_part=audio_part,
        )

    def _fixed_sigmas(self, params: GenerationParams) -> list[float] | None:
        sigmas = preset(params.preset, self.version.version).sigmas if params.preset else None
        return list(sigmas) if sigmas is not None else None

    def pipeline_kwargs(self, params: GenerationParams) -> dict[str, Any]:
        """Arguments of `LTX2Pipeline.__call__` that reproduce `params` (seed must be resolved)."""
        params = self.resolve(params)
        layers = self._pipe.transformer.config.num_layers
        stg_block = preset("dev", self.version.version).stg_block
        stg, audio_stg = params.stg_scale, params.audio_stg_scale
        if not self.version.perturbed_attention:
            # Without the perturbed-attention processor the STG pass predicts exactly what the conditional
            # pass does, so its guidance term is zero: skip the pass, same output.
            stg = audio_stg = 0.0
        if stg and not audio_stg:
            audio_stg = float(np.finfo(np.float32).tiny)
        kwargs = {
            "height": params.height,
            "width": params.width,
            "num_frames": params.num_frames,
            "frame_rate": params.frame_rate,
            "num_inference_steps": params.steps,
            "guidance_scale": params.video_guidance_scale,
            "audio_guidance_scale": params.audio_guidance_scale,
            # The pipeline replaces a falsy audio STG (0.0) by the video one (`audio_stg_scale or stg_scale`):
            # an audio STG of 0 with video STG on goes in as the smallest normal float, whose guidance term
            # vanishes below float32 resolution.
            "stg_scale": stg,
            "audio_stg_scale": audio_stg,
            "modality_scale": params.modality_scale,
            "audio_modality_scale": params.audio_modality_scale,
            "guidance_rescale": params.guidance_rescale,
            "audio_guidance_rescale": params.guidance_rescale,
            "spatio_temporal_guidance_blocks": [min(stg_block, layers - 1)],
            "generator": torch.Generator("cpu").manual_seed(params.seed),
            "max_sequence_length": self.max_sequence_length,
        }
        sigmas = self._fixed_sigmas(params)
        if sigmas is not None:
            kwargs["sigmas"] = sigmas
        return kwargs

    # -- the stream ------------------------------------------------------------------------------

    def generate(self, params: GenerationParams, control: JobControl | None = None) -> Stream[Event]:
        """Yield Progress, (AudioChunk, VideoChunk) per chunk, and Completed.

        `params` are checked by the caller, once (`ltx2.prepare_params`: the rules and the seed);
        the engine adds only the check that needs the model (`check_schedule`). The work runs on a
        reused worker thread in lock-step with the consumer (worker.py), which may iterate the
        stream or read it from an event loop; closing it early cancels the job.
        """
        job_control = control or JobControl()
        return stream(
            lambda emit: self._produce(params, job_control, emit),
            abandon=lambda: job_control.cancel("consumer closed the stream"),
        )

    def _produce(self, params: GenerationParams, control: JobControl, emit: Emit[Event]) -> None:
        if params.seed is None:
            raise InvalidParams("seed", None, "must be resolved before generate (ltx2.prepare_params does it)")
        params = self.resolve(params)
        self.check_schedule(params)
        try:
            self._generate(params, control, emit)
        except torch.OutOfMemoryError as exc:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise OutOfMemory(f"GPU out of memory at {params.width}x{params.height}x{params.num_frames}") from exc

    def _generate(self, params: GenerationParams, control: JobControl, emit: Emit[Event]) -> None:
        started = time.perf_counter()
        # The length is chosen from the prompt's embeddings: encoded first, and once (the prompt
        # cache may hold none).
        embeddings = self._encode(params) if params.auto_duration else None
        if embeddings is not None:
            params = self._choose_length(params, embeddings)
            emit(LengthChosen(self.clip_format(params)))
        fmt = self.clip_format(params)
        total = fmt.num_frames

        emit(Progress(Phase.ENCODING, total_steps=params.steps, total_frames=total))
        control.checkpoint()
        embeddings = embeddings if embeddings is not None else self._encode(params)
        hold = self._hold(params)
        encoded = time.perf_counter()

        latent_shape = None
        if params.preview and params.generates_video:
            s = self._pipe.vae_spatial_compression_ratio
            latent_shape = (params.latent_frames, params.height // s, params.width // s)
        adapters = self.info().adapters
        loras = params.loras
        job = DenoiseJob(
            total_steps=params.steps,
            total_frames=total,
            started=started,
            latent_shape=latent_shape,
            fixed_sigmas=self._fixed_sigmas(params) is not None,
            activate=lambda: lora.activate(self._pipe, adapters, loras),
        )
        call_kwargs = {**self.pipeline_kwargs(params), **embeddings.__dict__}
        self._passes.start()
        if hold is None:
            video_latents, audio_latents = denoise(self._pipe, call_kwargs, control, emit, job)
        else:
            video_latents, audio_latents = modal_denoise(self._pipe, call_kwargs, control, emit, job, hold)
        denoised = time.perf_counter()
        calls, passes = self._passes.stop()
        log.debug("denoise: %d transformer calls, %d passes for %d steps", calls, passes, params.steps)

        emit(Progress(Phase.DECODING, total_steps=params.steps, total_frames=total, elapsed_s=denoised - started))
        control.checkpoint()
        # Local frames (the generated clip's) [skip, skip + total) are sent as frames from
        # fmt.first_frame on: a continuation's overlap is generated, not sent.
        skip, rate = params.overlap_frames, fmt.sample_rate
        offset = fmt.first_frame - skip
        local_first_sample = sample_at(skip, params.frame_rate, rate)
        if params.audio_input is not None:
            audio = given_sound(params.audio_input, fmt)
        else:
            audio = self._audio_spans(audio_latents, params, fmt, local_first_sample + fmt.num_samples)
        retake = params.retake
        decoder = None
        if params.sends_video and (retake is None or retake.video):
            push = params.chunk_frames // TEMPORAL_COMPRESSION
            decoder = VideoDecoder(self._pipe.vae, video_latents, push_latents=push)
            if skip:
                decoder.frames(0, skip)  # the overlap: decoded (the decoder runs in order), not sent
        splice = _Splice(retake, params.num_frames, params.frame_rate, rate) if retake is not None else None

        first_chunk = 0.0
        # Video-to-audio pads the given frames to 8k+1: the stream spans the given ones.
        spans = [
            (max(f0, skip), min(f1, skip + total))
            for f0, f1 in frame_spans(params.num_frames, params.chunk_frames)
            if max(f0, skip) < min(f1, skip + total)
        ]
        for f0, f1 in spans:
            control.checkpoint()
            s0 = sample_at(f0 + offset, params.frame_rate, rate) - fmt.first_sample  # in the stream
            s1 = sample_at(f1 + offset, params.frame_rate, rate) - fmt.first_sample
            # Both halves of the chunk are computed before either is handed over, so that handing
            # over a chunk's messages costs no compute: the daemon lets a paused job's consumer
            # take the rest of a chunk it has begun, and reports the pause between whole chunks.
            pcm = b""
            if s1 > s0:
                pcm = to_pcm(audio.span(local_first_sample + s0, local_first_sample + s1), params.sample_format)
                if splice is not None:
                    pcm = splice.audio(pcm, s0, s1)
            rgb = None
            if params.sends_video:
                frames = decoder.frames(f0, f1) if decoder is not None else None
                rgb = (splice.video(frames, f0, f1) if splice is not None else frames).tobytes()
            if s1 > s0:
                emit(
                    AudioChunk(
                        first_sample=fmt.first_sample + s0,
                        num_samples=s1 - s0,
                        sample_rate=fmt.sample_rate,
                        channels=fmt.channels,
                        sample_format=params.sample_format,
                        data=pcm,
                    )
                )
            if rgb is not None:
                emit(
                    VideoChunk(
                        first_frame=f0 + offset,
                        num_frames=f1 - f0,
                        width=params.width,
                        height=params.height,
                        frame_rate=params.frame_rate,
                        data=rgb,
                    )
                )
            if not first_chunk:
                first_chunk = time.perf_counter() - started
            emit(
                Progress(
                    Phase.DECODING,
                    total_steps=params.steps,
                    frames_decoded=f1 - skip,
                    total_frames=fmt.num_frames,
                    elapsed_s=time.perf_counter() - started,
                )
            )
        finished = time.perf_counter()
        emit(
            Completed(
                seed=params.seed,
                num_frames=total if params.sends_video else 0,
                num_samples=fmt.num_samples,
                audio_padded_samples=audio.padded_samples,
                timings=Timings(
                    encode_s=encoded - started,
                    denoise_s=denoised - encoded,
                    decode_s=finished - denoised,
                    first_chunk_s=first_chunk,
                    total_s=finished - started,
                    transformer_passes_per_step=passes / params.steps,
                    denoise_s_per_pass=(denoised - encoded) / passes if passes else 0.0,
                ),
            )
        )


def _fit_length(wave: np.ndarray, samples: int) -> np.ndarray:
    if len(wave) == samples:
        return wave
    log.warning("audio decoded to %d samples, expected %d; fitting", len(wave), samples)
    if len(wave) > samples:
        return wave[:samples]
    return np.concatenate([wave, np.zeros((samples - len(wave), wave.shape[1]), wave.dtype)])


class _Splice:
    """A retake's stream: the earlier clip's frames and PCM bytes outside the window, the new ones
    inside (the whole clip for a stream not retaken).

    The sound is crossfaded inside the window's edges (linear, over `CROSSFADE_S`, at most a
    quarter of the window each): the new sound does not start where the old one stopped, and a
    cut would click. Linear, not equal power: the two sides of a join are the same scene's sound,
    correlated, and equal power would swell them by up to 41% mid-fade. Outside the window every
    byte is the earlier clip's."""

    CROSSFADE_S = 0.010

    def __init__(self, retake: Any, num_frames: int, frame_rate: float, rate: int) -> None:
        self._old_frames = retake.clip.video.frames if retake.clip.video is not None else None
        self._pcm = retake.clip.pcm
        self._frames = retake.frame_window(frame_rate, num_frames) if retake.video else (0, 0)
        self._samples = (round(retake.start_s * rate), round(retake.end_s * rate)) if retake.audio else (0, 0)
        a0, a1 = self._samples
        self._fade = min(round(self.CROSSFADE_S * rate), (a1 - a0) // 4)
        # An edge at the clip's start or end joins nothing: the new sound goes right to it.
        self._joins = (a0 > 0, self._pcm is not None and a1 < self._pcm.num_samples)

    def video(self, new: np.ndarray | None, f0: int, f1: int) -> np.ndarray:
        w0, w1 = self._frames
        out = np.array(self._old_frames[f0:f1]) if new is None else new
        inside = np.arange(f0, f1)
        outside = (inside < w0) | (inside >= w1)
        if new is not None and outside.any():
            out[outside] = self._old_frames[f0:f1][outside]
        return out

    def audio(self, new: bytes, s0: int, s1: int) -> bytes:
        a0, a1 = self._samples
        rows = np.frombuffer(new, np.uint8).reshape(s1 - s0, -1).copy()
        old = kept_pcm(self._pcm, s0, s1)  # the PCM covers the clip (ModelInfo.resolve)
        index = np.arange(s0, s1)
        outside = (index < a0) | (index >= a1)
        rows[outside] = old[outside]
        # Position in each edge's fade, 0 (all old) to 1 (all new); 1 in the window's middle.
        t = np.ones(len(index))
        if self._fade:
            starts, ends = self._joins
            if starts:
                t = np.minimum(t, (index - a0 + 0.5) / self._fade)
            if ends:
                t = np.minimum(t, (a1 - index - 0.5) / self._fade)
        fading = ~outside & (t < 1)
        if fading.any():
            rows[fading] = self._crossfade(old[fading], rows[fading], t[fading])
        return rows.tobytes()

    def _crossfade(self, old: np.ndarray, new: np.ndarray, t: np.ndarray) -> np.ndarray:
        channels, dtype = self._pcm.channels, self._pcm.dtype
        a = np.ascontiguousarray(old).view(dtype).reshape(-1, channels).astype(np.float64)
        b = np.ascontiguousarray(new).view(dtype).reshape(-1, channels).astype(np.float64)
        mixed = a + (b - a) * t[:, None]
        if dtype.kind == "i":
            mixed = np.clip(np.round(mixed), -32768, 32767)
        return mixed.astype(dtype).view(np.uint8).reshape(len(t), -1)
