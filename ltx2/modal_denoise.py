"""Denoising with one modality held clean: audio only (T2A), video-to-audio (V2A), audio-to-video (A2V).

diffusers' LTX2Pipeline always denoises both streams, so these modes run their own loop on the
pipeline's modules (connectors, latent preparation, scheduler, transformer), step for step the
pipeline's loop (pipeline_ltx2.py, "7. Denoising loop") with two changes:

- A held stream goes in at timestep and sigma 0 (clean) and is never stepped: its latents come out
  exactly as given. Its guidance terms are not computed; only the denoised stream's knobs pick the
  passes (CFG when its scale is above 1, STG above 0, modality isolation above 1).
- Under CFG the held stream reads the positive prompt in the unconditional row too (as Lightricks'
  pipelines do): only the denoised stream is guided away from the negative prompt.

Audio only has no video to hold, but the transformer needs at least one video token (its RoPE
splits fail on zero). It gets one latent token (32x32 px, one frame) of zeros, held at timestep 0,
with the modalities isolated (no audio-video cross-attention) and a one-token text context, so the
video stream costs next to nothing and cannot change the audio; the modality-isolation pass would
repeat the main pass and is skipped.

With nothing held the loop is the pipeline's (tests/engine/test_modes.py checks it bit for bit), so
T2AV stays on the pipeline itself (denoise.py).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from diffusers.pipelines.ltx2.pipeline_ltx2 import calculate_shift, rescale_noise_cfg, retrieve_timesteps

from .audio import audio_latent_frames
from .control import JobControl
from .denoise import DenoiseJob, StepHook, job_view
from .events import Progress


@dataclass(frozen=True)
class Hold:
    """What a mode holds clean. `video`/`audio`: clean latents, unpacked and denormalized as the VAEs
    encode them ([1, C, F, h, w] / [1, C, L, M]); `no_video`: audio only, with a one-token video stream."""

    video: torch.Tensor | None = None
    audio: torch.Tensor | None = None
    no_video: bool = False

    def __post_init__(self) -> None:
        if sum((self.video is not None, self.audio is not None, self.no_video)) > 1:
            raise ValueError("hold one modality at most")


def schedule_tokens(pipe: Any, video_tokens: int, no_video: bool) -> int:
    """Token count of the resolution-dependent shift (mu): the video's, or, with no video (audio
    only), the scheduler's `max_image_seq_len` (4096, Lightricks' audio-only schedule)."""
    if no_video:
        return int(pipe.scheduler.config.get("max_image_seq_len", 4096))
    return video_tokens


def schedule_shift(scheduler: Any, tokens: int) -> float:
    """The pipeline's mu for `tokens` video tokens."""
    config = scheduler.config
    return calculate_shift(
        tokens,
        config.get("base_image_seq_len", 1024),
        config.get("max_image_seq_len", 4096),
        config.get("base_shift", 0.95),
        config.get("max_shift", 2.05),
    )


@dataclass
class _Stream:
    """One modality's state in the loop: packed float32 latents, its scheduler and guidance knobs."""

    latents: torch.Tensor
    scheduler: Any
    denoised: bool
    cfg: float
    stg: float
    modality: float
    rescale: float


def modal_denoise(
    pipe: Any,
    kw: dict[str, Any],
    control: JobControl,
    emit: Callable[[Progress], None],
    job: DenoiseJob,
    hold: Hold,
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """Denoise with `kw` as `Ltx2Engine.pipeline_kwargs` and the prompt embeddings give them; returns
    (video latents [1, C, F, h, w] or None with no video, audio latents [1, C, L, M]), denormalized.
    Emits one DENOISING Progress per step (and PAUSED when parked), like `denoise`."""
    view = job_view(pipe, fixed_sigmas=job.fixed_sigmas)
    hook = StepHook(view, control, emit, job)
    device = view._execution_device
    generator = kw["generator"]
    fps = kw["frame_rate"]
    spatial, temporal = view.vae_spatial_compression_ratio, view.vae_temporal_compression_ratio
    height, width, num_frames = kw["height"], kw["width"], kw["num_frames"]
    if hold.no_video:
        height, width, num_frames = spatial, spatial, 1
    if hold.video is not None:
        _, _, latent_frames, latent_height, latent_width = hold.video.shape
    else:
        latent_frames = (num_frames - 1) // temporal + 1
        latent_height, latent_width = height // spatial, width // spatial
    # The audio spans the request's duration, whatever the video stream is.
    audio_frames = hold.audio.shape[2] if hold.audio is not None else audio_latent_frames(view, kw["num_frames"], fps)

    video = _Stream(
        _video_latents(view, hold, height, width, num_frames, device, generator),
        view.scheduler,
        denoised=hold.video is None and not hold.no_video,
        cfg=kw["guidance_scale"],
        stg=kw["stg_scale"],
        modality=kw["modality_scale"],
        rescale=kw["guidance_rescale"],
    )
    audio = _Stream(
        _audio_latents(view, hold, audio_frames, device, generator),
        copy.deepcopy(view.scheduler),
        denoised=hold.audio is None,
        cfg=kw["audio_guidance_scale"],
        stg=kw["audio_stg_scale"],
        modality=kw["audio_modality_scale"],
        rescale=kw["audio_guidance_rescale"],
    )
    streams = (video, audio)
    denoised = [s for s in streams if s.denoised]
    cfg = any(s.cfg > 1.0 for s in denoised)
    # An STG scale of float32's smallest normal is the engine's stand-in for 0 (the pipeline reads
    # a 0 audio STG as "the video's"): it must not buy a pass on its own.
    stg = any(s.stg > float(np.finfo(np.float32).tiny) for s in denoised)
    # Isolated already (no video): the modality pass would repeat the main one.
    modality = not hold.no_video and any(s.modality > 1.0 for s in denoised)

    # Text: the connectors on [negative, positive] under CFG, as the pipeline runs them.
    embeds, mask = kw["prompt_embeds"], kw["prompt_attention_mask"]
    if cfg:
        embeds = torch.cat([kw["negative_prompt_embeds"], embeds])
        mask = torch.cat([kw["negative_prompt_attention_mask"], mask])
    padding_side = getattr(getattr(view, "tokenizer", None), "padding_side", "left")
    video_text, audio_text, text_mask = view.connectors(embeds, mask, padding_side=padding_side)
    positive = slice(1, 2) if cfg else slice(0, 1)
    rows = 2 if cfg else 1
    video_context = _Context(video_text, text_mask, video.denoised, positive)
    if hold.no_video:
        # One (real, left padding puts it last) text token: the video stream's cross-attention
        # over the whole prompt would be spent on a stream nobody sees.
        video_context = _Context(video_text[:, -1:], text_mask[:, -1:], False, positive)
    audio_context = _Context(audio_text, text_mask, audio.denoised, positive)

    steps = kw["num_inference_steps"]
    sigmas = kw.get("sigmas")
    sigmas = np.linspace(1.0, 1 / steps, steps) if sigmas is None else sigmas
    mu = schedule_shift(view.scheduler, schedule_tokens(view, video.latents.shape[1], hold.no_video))
    retrieve_timesteps(audio.scheduler, steps, device, None, sigmas=sigmas, mu=mu)
    timesteps, _ = retrieve_timesteps(video.scheduler, steps, device, None, sigmas=sigmas, mu=mu)
    video.scheduler.set_begin_index(0)
    audio.scheduler.set_begin_index(0)

    video_coords = view.transformer.rope.prepare_video_coords(
        1, latent_frames, latent_height, latent_width, device, fps=fps
    )
    audio_coords = view.transformer.audio_rope.prepare_audio_coords(1, audio_frames, device)
    dtype = kw["prompt_embeds"].dtype

    def forward(batch: int, *, isolate: bool = False, stg_blocks: list[int] | None = None) -> list[torch.Tensor]:
        full = batch == 2
        t_video = (t if video.denoised else torch.zeros_like(t)).expand(batch)
        t_audio = (t if audio.denoised else torch.zeros_like(t)).expand(batch)
        v_text, v_mask = video_context.rows(full)
        a_text, a_mask = audio_context.rows(full)
        out = view.transformer(
            hidden_states=torch.cat([video.latents] * batch).to(dtype),
            audio_hidden_states=torch.cat([audio.latents] * batch).to(dtype),
            encoder_hidden_states=v_text,
            audio_encoder_hidden_states=a_text,
            timestep=t_video,
            sigma=t_video,
            audio_timestep=t_audio,
            audio_sigma=t_audio,
            encoder_attention_mask=v_mask,
            audio_encoder_attention_mask=a_mask,
            num_frames=latent_frames,
            height=latent_height,
            width=latent_width,
            fps=fps,
            audio_num_frames=audio_frames,
            video_coords=video_coords.repeat(batch, *(1,) * (video_coords.ndim - 1)),
            audio_coords=audio_coords.repeat(batch, *(1,) * (audio_coords.ndim - 1)),
            isolate_modalities=isolate,
            spatio_temporal_guidance_blocks=stg_blocks,
            perturbation_mask=None,
            use_cross_timestep=True,
            return_dict=False,
        )
        return [o.float() for o in out]

    job.activate()
    for i, t in enumerate(timesteps):

        def x0(stream: _Stream, prediction: torch.Tensor) -> torch.Tensor:
            return view.convert_velocity_to_x0(stream.latents, prediction, i, stream.scheduler)  # noqa: B023

        main = forward(rows, isolate=hold.no_video)
        cond, deltas = [], []
        for stream, prediction in zip(streams, main, strict=True):
            if cfg:
                uncond, prediction = prediction.chunk(2)
            cond.append(x0(stream, prediction))
            deltas.append([(stream.cfg - 1) * (cond[-1] - x0(stream, uncond))] if cfg else [])
        if stg:
            perturbed = forward(1, isolate=hold.no_video, stg_blocks=kw["spatio_temporal_guidance_blocks"])
            for k, (stream, prediction) in enumerate(zip(streams, perturbed, strict=True)):
                deltas[k].append(stream.stg * (cond[k] - x0(stream, prediction)))
        if modality:
            for k, (stream, prediction) in enumerate(zip(streams, forward(1, isolate=True), strict=True)):
                deltas[k].append((stream.modality - 1) * (cond[k] - x0(stream, prediction)))
        for k, stream in enumerate(streams):
            if not stream.denoised:
                continue
            guided = cond[k]
            for delta in deltas[k]:
                guided = guided + delta
            if stream.rescale > 0:
                guided = rescale_noise_cfg(guided, cond[k], guidance_rescale=stream.rescale)
            velocity = view.convert_x0_to_velocity(stream.latents, guided, i, stream.scheduler)
            stream.latents = stream.scheduler.step(velocity, t, stream.latents, return_dict=False)[0]
        hook(i, video.latents if video.denoised else None)

    video_out = None
    if hold.video is not None:
        video_out = hold.video
    elif not hold.no_video:
        p, pt = view.transformer_spatial_patch_size, view.transformer_temporal_patch_size
        unpacked = view._unpack_latents(video.latents, latent_frames, latent_height, latent_width, p, pt)
        video_out = view._denormalize_latents(
            unpacked, view.vae.latents_mean, view.vae.latents_std, view.vae.config.scaling_factor
        )
    if hold.audio is not None:
        return video_out, hold.audio
    audio_latents = view._denormalize_audio_latents(
        audio.latents, view.audio_vae.latents_mean, view.audio_vae.latents_std
    )
    mel_bins = view.audio_vae.config.mel_bins // view.audio_vae_mel_compression_ratio
    return video_out, view._unpack_audio_latents(audio_latents, audio_frames, num_mel_bins=mel_bins)


@dataclass(frozen=True)
class _Context:
    """One stream's text context: [negative, positive] rows under CFG, except that a held stream
    reads the positive prompt in both."""

    text: torch.Tensor
    mask: torch.Tensor
    guided: bool
    positive: slice

    def rows(self, full: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if not full:
            return self.text[self.positive], self.mask[self.positive]
        if self.guided:
            return self.text, self.mask
        return self.text[self.positive].repeat(2, 1, 1), self.mask[self.positive].repeat(2, 1)


def _video_latents(
    view: Any, hold: Hold, height: int, width: int, num_frames: int, device: Any, generator: Any
) -> torch.Tensor:
    if hold.video is not None:
        normalized = view._normalize_latents(
            hold.video.to(device, torch.float32),
            view.vae.latents_mean,
            view.vae.latents_std,
            view.vae.config.scaling_factor,
        )
        return view._pack_latents(normalized, view.transformer_spatial_patch_size, view.transformer_temporal_patch_size)
    channels = view.transformer.config.in_channels
    noise = view.prepare_latents(1, channels, height, width, num_frames, 0.0, torch.float32, device, generator)
    # No video: a clean zero token (drawn all the same, so the audio noise follows the same draw order).
    return torch.zeros_like(noise) if hold.no_video else noise


def _audio_latents(view: Any, hold: Hold, frames: int, device: Any, generator: Any) -> torch.Tensor:
    if hold.audio is not None:
        packed = view._pack_audio_latents(hold.audio.to(device, torch.float32))
        return view._normalize_audio_latents(packed, view.audio_vae.latents_mean, view.audio_vae.latents_std)
    vae = view.audio_vae
    return view.prepare_audio_latents(
        1,
        num_channels_latents=vae.config.latent_channels,
        audio_latent_length=frames,
        num_mel_bins=vae.config.mel_bins,
        noise_scale=0.0,
        dtype=torch.float32,
        device=device,
        generator=generator,
    )
