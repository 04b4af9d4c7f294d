"""Denoising with parts held clean: audio only (T2A), video-to-audio (V2A), audio-to-video (A2V), and
keyframes (image-to-video, `conditions`).

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

Keyframes hold tokens, not a stream, with a mask per token (1: denoise, 0: hold; 1 - strength), the
condition pipeline's mechanism (pipeline_ltx2_condition.py): each token starts at
noise*mask + clean*(1-mask) and goes in at timestep t*mask, the predicted x0 is blended the same
way, and after each step a held token is put back exactly. A keyframe at frame 0 replaces the first
latent frames' tokens; one at a later pixel frame is appended as tokens of its own, with RoPE
coordinates at that frame (`_prepare_keyframe_coords`), and sliced off at the end. Its noise is
drawn after both streams', so a keyframe does not change the noise of the clip itself; the shift
(mu) counts the clip's tokens only.

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
from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2ConditionPipeline
from diffusers.utils.torch_utils import randn_tensor

from .audio import audio_latent_frames
from .control import JobControl
from .denoise import DenoiseJob, StepHook, job_view
from .events import Progress


@dataclass(frozen=True)
class KeyframeLatents:
    """A keyframe, encoded: clean latents [1, C, f, h, w] (denormalized) of `pixel_frames` frames
    (1: a picture) placed from pixel frame `frame`, held with `strength` (0 to 1)."""

    latents: torch.Tensor
    frame: int
    strength: float
    pixel_frames: int


@dataclass(frozen=True)
class Partial:
    """A stream held in part (continuation, retake): clean latents of the whole stream, unpacked and
    denormalized as the VAE encodes them, and `denoise`, one value per latent frame (1: denoise it,
    0: hold it as given)."""

    latents: torch.Tensor
    denoise: torch.Tensor


@dataclass(frozen=True)
class Hold:
    """What a job holds clean. `video`/`audio`: a whole stream's clean latents, unpacked and
    denormalized as the VAEs encode them ([1, C, F, h, w] / [1, C, L, M]); `no_video`: audio only,
    with a one-token video stream; `keyframes`: tokens of the video stream."""

    video: torch.Tensor | None = None
    audio: torch.Tensor | None = None
    no_video: bool = False
    keyframes: tuple[KeyframeLatents, ...] = ()
    video_part: Partial | None = None
    audio_part: Partial | None = None

    def __post_init__(self) -> None:
        if sum((self.video is not None, self.audio is not None, self.no_video)) > 1:
            raise ValueError("hold one modality at most")
        if self.video_part is not None and (self.video is not None or self.no_video):
            raise ValueError("a video stream held whole or absent cannot be held in part")
        if self.audio_part is not None and self.audio is not None:
            raise ValueError("an audio stream held whole cannot be held in part")
        if self.keyframes and (self.video is not None or self.no_video):
            raise ValueError("keyframes need a video stream to denoise")


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
    """One modality's state in the loop: packed float32 latents, its scheduler and guidance knobs,
    and for a stream held in part, the clean tokens and the mask ([1, N, 1], 1: denoise)."""

    latents: torch.Tensor
    scheduler: Any
    denoised: bool
    cfg: float
    stg: float
    modality: float
    rescale: float
    clean: torch.Tensor | None = None
    mask: torch.Tensor | None = None

    def timestep(self, t: torch.Tensor, batch: int) -> torch.Tensor:
        """The transformer's timestep: (batch,), or (batch, N) per token when held in part."""
        if not self.denoised:
            return torch.zeros_like(t).expand(batch)
        if self.mask is None:
            return t.expand(batch)
        return (t * self.mask[..., 0]).expand(batch, -1)

    def sigma(self, t: torch.Tensor, batch: int) -> torch.Tensor:
        # Scalar per row even when held in part: it modulates the other stream's cross-attention.
        return (t if self.denoised else torch.zeros_like(t)).expand(batch)

    def hold(self, latents: torch.Tensor) -> torch.Tensor:
        """`latents` (or an x0) with the held tokens' part taken from the clean ones."""
        if self.mask is None:
            return latents
        return latents * self.mask + self.clean * (1 - self.mask)

    def restore(self, latents: torch.Tensor) -> torch.Tensor:
        """After a step: held tokens exactly as given, whatever the scheduler computed."""
        if self.mask is None:
            return latents
        return torch.where(self.mask == 0, self.clean, latents)


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
    video_coords = view.transformer.rope.prepare_video_coords(
        1, latent_frames, latent_height, latent_width, device, fps=fps
    )
    grid_tokens = video.latents.shape[1]
    if hold.video_part is not None:
        per_token = hold.video_part.denoise.to(device, torch.float32).repeat_interleave(latent_height * latent_width)
        _hold_part(video, _pack_video(view, hold.video_part.latents, device), per_token)
    if hold.audio_part is not None:
        _hold_part(audio, _pack_audio(view, hold.audio_part.latents, device), hold.audio_part.denoise.to(device))
    if hold.keyframes:
        video_coords = _hold_keyframes(view, video, hold.keyframes, video_coords, fps, device, generator)
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
    mu = schedule_shift(view.scheduler, schedule_tokens(view, grid_tokens, hold.no_video))
    retrieve_timesteps(audio.scheduler, steps, device, None, sigmas=sigmas, mu=mu)
    timesteps, _ = retrieve_timesteps(video.scheduler, steps, device, None, sigmas=sigmas, mu=mu)
    video.scheduler.set_begin_index(0)
    audio.scheduler.set_begin_index(0)

    audio_coords = view.transformer.audio_rope.prepare_audio_coords(1, audio_frames, device)
    dtype = kw["prompt_embeds"].dtype

    def forward(batch: int, *, isolate: bool = False, stg_blocks: list[int] | None = None) -> list[torch.Tensor]:
        full = batch == 2
        v_text, v_mask = video_context.rows(full)
        a_text, a_mask = audio_context.rows(full)
        out = view.transformer(
            hidden_states=torch.cat([video.latents] * batch).to(dtype),
            audio_hidden_states=torch.cat([audio.latents] * batch).to(dtype),
            encoder_hidden_states=v_text,
            audio_encoder_hidden_states=a_text,
            timestep=video.timestep(t, batch),
            sigma=video.sigma(t, batch),
            audio_timestep=audio.timestep(t, batch),
            audio_sigma=audio.sigma(t, batch),
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
            velocity = view.convert_x0_to_velocity(stream.latents, stream.hold(guided), i, stream.scheduler)
            stepped = stream.scheduler.step(velocity, t, stream.latents, return_dict=False)[0]
            stream.latents = stream.restore(stepped)
        hook(i, video.latents[:, :grid_tokens] if video.denoised else None)

    video_out = None
    if hold.video is not None:
        video_out = hold.video
    elif not hold.no_video:
        p, pt = view.transformer_spatial_patch_size, view.transformer_temporal_patch_size
        grid = video.latents[:, :grid_tokens]  # appended keyframe tokens off
        unpacked = view._unpack_latents(grid, latent_frames, latent_height, latent_width, p, pt)
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


def _pack_video(view: Any, latents: torch.Tensor, device: Any) -> torch.Tensor:
    """Denormalized [1, C, F, h, w] latents as the transformer's normalized tokens [1, F*h*w, C]."""
    normalized = view._normalize_latents(
        latents.to(device, torch.float32), view.vae.latents_mean, view.vae.latents_std, view.vae.config.scaling_factor
    )
    return view._pack_latents(normalized, view.transformer_spatial_patch_size, view.transformer_temporal_patch_size)


def _hold_keyframes(
    view: Any,
    video: _Stream,
    keyframes: tuple[KeyframeLatents, ...],
    coords: torch.Tensor,
    fps: float,
    device: Any,
    generator: Any,
) -> torch.Tensor:
    """Put `keyframes` into the video stream (its clean tokens and mask, appended tokens and their
    noise) and return the RoPE coordinates of all its tokens."""
    clean = torch.zeros_like(video.latents) if video.clean is None else video.clean.clone()
    mask = torch.ones(*video.latents.shape[:2], 1, dtype=torch.float32, device=device)
    if video.mask is not None:
        mask = video.mask.clone()
    extra_clean, extra_mask, extra_coords = [], [], []
    for kf in keyframes:
        tokens = _pack_video(view, kf.latents, device)
        if kf.frame == 0:
            # Replaces the first latent frames: the causal encoder's latent 0 is one pixel frame.
            clean[:, : tokens.shape[1]] = tokens
            mask[:, : tokens.shape[1]] = 1.0 - kf.strength
            continue
        _, _, frames, height, width = kf.latents.shape
        extra_clean.append(tokens)
        extra_mask.append(torch.full((1, tokens.shape[1], 1), 1.0 - kf.strength, device=device))
        extra_coords.append(
            LTX2ConditionPipeline._prepare_keyframe_coords(
                view, frames, height, width, kf.frame, kf.pixel_frames, fps, device
            ).to(coords.dtype)
        )
    noise = video.latents
    if extra_clean:
        appended = torch.cat(extra_clean, dim=1)
        # Drawn after both streams' noise: the clip's own noise is the same with or without it.
        extra = randn_tensor(appended.shape, generator=generator, device=device, dtype=torch.float32)
        noise = torch.cat([noise, extra], dim=1)
        clean = torch.cat([clean, appended], dim=1)
        mask = torch.cat([mask, *extra_mask], dim=1)
        coords = torch.cat([coords, *extra_coords], dim=2)
    video.clean, video.mask = clean, mask
    video.latents = noise * mask + clean * (1 - mask)
    return coords


def _hold_part(stream: _Stream, clean: torch.Tensor, mask: torch.Tensor) -> None:
    """Hold `stream`'s tokens where `mask` (one per token, 1: denoise) is 0, at `clean`."""
    stream.clean, stream.mask = clean, mask.to(torch.float32).reshape(1, -1, 1)
    stream.latents = stream.latents * stream.mask + clean * (1 - stream.mask)


def _pack_audio(view: Any, latents: torch.Tensor, device: Any) -> torch.Tensor:
    """Denormalized [1, C, L, M] audio latents as the transformer's normalized tokens [1, L, C*M]."""
    packed = view._pack_audio_latents(latents.to(device, torch.float32))
    return view._normalize_audio_latents(packed, view.audio_vae.latents_mean, view.audio_vae.latents_std)


def _video_latents(
    view: Any, hold: Hold, height: int, width: int, num_frames: int, device: Any, generator: Any
) -> torch.Tensor:
    if hold.video is not None:
        return _pack_video(view, hold.video, device)
    channels = view.transformer.config.in_channels
    noise = view.prepare_latents(1, channels, height, width, num_frames, 0.0, torch.float32, device, generator)
    # No video: a clean zero token (drawn all the same, so the audio noise follows the same draw order).
    return torch.zeros_like(noise) if hold.no_video else noise


def _audio_latents(view: Any, hold: Hold, frames: int, device: Any, generator: Any) -> torch.Tensor:
    if hold.audio is not None:
        return _pack_audio(view, hold.audio, device)
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
