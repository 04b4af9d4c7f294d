"""Audio only, video-to-audio and audio-to-video: the held stream is exactly what was given, the
generated one matches the pipeline's loop (nothing held) and a reference loop on the transformer
itself (one stream held), and each mode streams what it promises."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from ltx2 import AudioChunk, Completed, GenerationParams, InvalidParams, Limits, VideoChunk, prepare_params
from ltx2.audio import resample
from ltx2.control import JobControl
from ltx2.denoise import DenoiseJob, denoise
from ltx2.media_input import RawAudio, RawFrames
from ltx2.modal_denoise import Hold, modal_denoise
from ltx2.mode_inputs import encode_frames, encode_sound, mel_filterbank
from ltx2.params import Mode

from .conftest import collect

GUIDED = {
    "video_guidance_scale": 3.0,
    "audio_guidance_scale": 5.0,
    "stg_scale": 1.0,
    "audio_stg_scale": 1.0,
    "modality_scale": 3.0,
    "audio_modality_scale": 2.0,
    "guidance_rescale": 0.7,
}
NEUTRAL = {
    "video_guidance_scale": 1.0,
    "audio_guidance_scale": 1.0,
    "stg_scale": 0.0,
    "audio_stg_scale": 0.0,
    "modality_scale": 1.0,
    "audio_modality_scale": 1.0,
    "guidance_rescale": 0.0,
}
DEFAULTS = GenerationParams(prompt="x", width=64, height=64, num_frames=25, steps=2, seed=11)


def _job(params: GenerationParams) -> DenoiseJob:
    return DenoiseJob(total_steps=params.steps, total_frames=params.num_frames, started=time.perf_counter())


def _kwargs(engine, params: GenerationParams) -> dict:
    return {**engine.pipeline_kwargs(params), **engine._encode(params).__dict__}


def _frames(count: int, width: int = 64, height: int = 64, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, (count, height, width, 3), np.uint8).tobytes()


def _tone(seconds: float, rate: int = 16000, channels: int = 1) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * 440 * t) * np.linspace(1, 0.2, len(t))
    return np.repeat(wave[:, None], channels, axis=1).astype(np.float32)


class Recorder:
    """The video and audio hidden states of every transformer call."""

    def __init__(self, transformer: torch.nn.Module) -> None:
        self.video: list[torch.Tensor] = []
        self.audio: list[torch.Tensor] = []
        self._handle = transformer.register_forward_pre_hook(self._record, with_kwargs=True)

    def _record(self, _module, _args, kwargs) -> None:
        self.video.append(kwargs["hidden_states"].detach().clone())
        self.audio.append(kwargs["audio_hidden_states"].detach().clone())

    def close(self) -> None:
        self._handle.remove()


@pytest.mark.parametrize("version", ["2.0", "2.3"])
def test_with_nothing_held_the_loop_is_the_pipelines_bit_for_bit(version, version_engines):
    """CFG, STG (2.3 has the perturbed-attention processor) and modality isolation, both streams."""
    engine = version_engines[version]
    params = engine.resolve(replace(DEFAULTS, **GUIDED))
    video, audio = denoise(engine.pipeline, _kwargs(engine, params), JobControl(), lambda e: None, _job(params))
    video2, audio2 = modal_denoise(
        engine.pipeline, _kwargs(engine, params), JobControl(), lambda e: None, _job(params), Hold()
    )
    assert torch.equal(video, video2) and torch.equal(audio, audio2)
    assert video.abs().max() > 0 and audio.abs().max() > 0


def _reference(
    engine, params: GenerationParams, *, video: torch.Tensor | None = None, audio: torch.Tensor | None = None
):
    """Flow-matching Euler on the transformer called directly, one unguided pass a step: the given
    stream clean at timestep 0, the other from noise drawn as the pipeline draws it (video first).
    Returns (video latents, audio latents), unpacked and denormalized."""
    from diffusers.pipelines.ltx2.pipeline_ltx2 import calculate_shift

    pipe, vae, audio_vae = engine.pipeline, engine.pipeline.vae, engine.pipeline.audio_vae
    emb = engine._encode(params)
    video_text, audio_text, mask = pipe.connectors(emb.prompt_embeds, emb.prompt_attention_mask, padding_side="left")
    frames, h, w = params.latent_frames, params.height // 32, params.width // 32
    length = engine.audio_latent_frames(params)
    generator = torch.Generator("cpu").manual_seed(params.seed)
    if video is None:
        v = pipe._pack_latents(torch.randn((1, vae.config.latent_channels, frames, h, w), generator=generator))
    else:
        v = pipe._pack_latents(
            pipe._normalize_latents(video, vae.latents_mean, vae.latents_std, vae.config.scaling_factor)
        )
    if audio is None:
        a = pipe._pack_audio_latents(
            torch.randn((1, audio_vae.config.latent_channels, length, 16), generator=generator)
        )
    else:
        a = pipe._normalize_audio_latents(
            pipe._pack_audio_latents(audio), audio_vae.latents_mean, audio_vae.latents_std
        )
    scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
    scheduler.set_timesteps(
        sigmas=np.linspace(1.0, 1 / params.steps, params.steps), mu=calculate_shift(v.shape[1], 1024, 4096, 0.95, 2.05)
    )
    zero = torch.zeros(1)
    for i, t in enumerate(scheduler.timesteps):
        t_video, t_audio = (zero, t.expand(1)) if video is not None else (t.expand(1), zero)
        velocity_video, velocity_audio = pipe.transformer(
            hidden_states=v, audio_hidden_states=a, encoder_hidden_states=video_text,
            audio_encoder_hidden_states=audio_text, timestep=t_video, sigma=t_video, audio_timestep=t_audio,
            audio_sigma=t_audio, encoder_attention_mask=mask, audio_encoder_attention_mask=mask,
            num_frames=frames, height=h, width=w, fps=params.frame_rate, audio_num_frames=length,
            use_cross_timestep=True, return_dict=False,
        )  # fmt: skip
        dt = scheduler.sigmas[i + 1] - scheduler.sigmas[i]
        if video is None:
            v = v + dt * velocity_video.float()
        if audio is None:
            a = a + dt * velocity_audio.float()
    out_video = pipe._denormalize_latents(
        pipe._unpack_latents(v, frames, h, w), vae.latents_mean, vae.latents_std, vae.config.scaling_factor
    )
    out_audio = pipe._denormalize_audio_latents(a, audio_vae.latents_mean, audio_vae.latents_std)
    return out_video, pipe._unpack_audio_latents(out_audio, length, num_mel_bins=16)


def test_video_to_audio_holds_the_frames_latents_and_matches_a_direct_transformer_loop(engine):
    params = prepare_params(
        DEFAULTS,
        {"mode": Mode.VIDEO_TO_AUDIO, "video_input": RawFrames(64, 64, 24.0, _frames(25)), **NEUTRAL},
        Limits(),
    )
    params = engine.resolve(params)
    clean = encode_frames(engine.pipeline, params.video_input, params.num_frames)
    recorder = Recorder(engine.pipeline.transformer)
    try:
        video, audio = modal_denoise(
            engine.pipeline, _kwargs(engine, params), JobControl(), lambda e: None, _job(params), Hold(video=clean)
        )
    finally:
        recorder.close()
    assert video is clean
    # The video stream went in unchanged at every step; the audio stream moved.
    assert len(recorder.video) == params.steps
    assert all(torch.equal(v, recorder.video[0]) for v in recorder.video)
    assert not torch.equal(recorder.audio[0], recorder.audio[1])
    reference = _reference(engine, params, video=clean)[1]
    assert torch.allclose(audio, reference, atol=1e-5), (audio - reference).abs().max()


def test_audio_to_video_matches_a_direct_transformer_loop(engine):
    tone = _tone(1.0, 16000, 1)
    values = {"mode": Mode.AUDIO_TO_VIDEO, "audio_input": RawAudio(16000, 1, 2, tone.tobytes()), **NEUTRAL}
    params = engine.resolve(prepare_params(DEFAULTS, values, Limits()))
    clean = encode_sound(engine.pipeline, params.audio_input, engine.audio_latent_frames(params))
    video, audio = modal_denoise(
        engine.pipeline, _kwargs(engine, params), JobControl(), lambda e: None, _job(params), Hold(audio=clean)
    )
    assert audio is clean
    reference = _reference(engine, params, audio=clean)[0]
    assert video.shape == reference.shape and video.abs().max() > 0
    assert torch.allclose(video, reference, atol=1e-5), (video - reference).abs().max()


def test_video_to_audio_streams_sound_of_exactly_the_given_frames(engine):
    # 20 frames at 20 fps: 1 s; the job pads them to 25 (8k+1), the stream spans the 20.
    params = prepare_params(
        DEFAULTS, {"mode": Mode.VIDEO_TO_AUDIO, "video_input": RawFrames(96, 64, 20.0, _frames(20, 96))}, Limits()
    )
    assert (params.num_frames, params.frame_rate, params.width, params.height) == (25, 20.0, 64, 64)
    fmt = engine.clip_format(params)
    assert fmt.audio_only and fmt.num_frames == 20 and fmt.num_samples == 24000
    got = collect(engine.generate(params), params)
    assert not [e for e in got.events if isinstance(e, VideoChunk)]
    assert got.audio.shape == (24000, 2) and got.completed.num_samples == 24000
    assert got.completed.num_frames == 0
    assert np.abs(got.audio).max() > 0
    # Other frames give other sound: the frames condition the audio.
    others = RawFrames(96, 64, 20.0, _frames(20, 96, seed=5))
    other = prepare_params(DEFAULTS, {"mode": Mode.VIDEO_TO_AUDIO, "video_input": others}, Limits())
    assert not np.array_equal(collect(engine.generate(replace(other, seed=params.seed)), other).audio, got.audio)


def test_audio_to_video_streams_the_given_sound_and_holds_its_latents(engine):
    tone = _tone(0.9, 16000, 1)
    params = prepare_params(
        DEFAULTS,
        {"mode": Mode.AUDIO_TO_VIDEO, "audio_input": RawAudio(16000, 1, 2, tone.tobytes()), "audio_sample_rate": 24000},
        Limits(),
    )
    # 0.9 s at 24 fps needs 21.6 frames: 25 (8k+1) cover it.
    assert params.num_frames == 25
    recorder = Recorder(engine.pipeline.transformer)
    try:
        got = collect(engine.generate(params), params)
    finally:
        recorder.close()
    assert got.frames.shape == (25, 64, 64, 3) and got.frames.std() > 1.0
    # Every row of every pass (CFG pairs, the modality pass) got the same clean audio.
    assert all(torch.equal(row, recorder.audio[0][0]) for a in recorder.audio for row in a)
    clean = encode_sound(engine.pipeline, params.audio_input, engine.audio_latent_frames(params))
    expected = engine.pipeline._pack_audio_latents(clean)
    expected = engine.pipeline._normalize_audio_latents(
        expected, engine.pipeline.audio_vae.latents_mean, engine.pipeline.audio_vae.latents_std
    )
    assert torch.equal(recorder.audio[0][:1], expected.to(recorder.audio[0].dtype))
    # The stream's audio is the given sound resampled (mono to both channels), then the fade to silence.
    given = resample(tone, 16000, 24000)
    pcm = got.audio.astype(np.float32) / 32767.0
    assert pcm.shape == (25000, 2) and got.completed.audio_padded_samples == 25000 - len(given)
    assert np.abs(pcm[: len(given)] - np.repeat(given, 2, axis=1)).max() <= 1 / 32767 + 1e-7
    assert np.all(pcm[len(given) + 120 :] == 0)


def test_audio_only_streams_sound_only_and_ignores_the_video_size(engine):
    params = prepare_params(DEFAULTS, {"mode": Mode.AUDIO_ONLY}, Limits())
    got = collect(engine.generate(params), params)
    assert not [e for e in got.events if isinstance(e, VideoChunk)]
    assert [type(e) for e in got.events if isinstance(e, AudioChunk | Completed)][-1] is Completed
    assert got.audio.shape == (25000, 2) and np.abs(got.audio).max() > 0
    # The video stream is one held token whatever the request's size: the sound is the same.
    bigger = replace(params, width=128, height=96)
    assert np.array_equal(collect(engine.generate(bigger), bigger).audio, got.audio)
    # One CFG pair a step (2.0: no STG pass; the modality pass is skipped, the streams are isolated).
    assert got.completed.timings.transformer_passes_per_step == 2.0
    joint = collect(engine.generate(replace(params, mode=Mode.TEXT_TO_AUDIO_VIDEO)), params)
    assert joint.completed.timings.transformer_passes_per_step == 3.0


def test_a_held_streams_zero_stg_buys_no_pass(version_engines):
    """2.3 has the perturbed-attention processor: video STG on, audio STG 0 is the engine's stand-in
    (the smallest float), which must not cost video-to-audio an STG pass."""
    engine = version_engines["2.3"]
    frames = RawFrames(64, 64, 24.0, _frames(9))
    base = {"mode": Mode.VIDEO_TO_AUDIO, "video_input": frames, **NEUTRAL, "stg_scale": 1.0}

    def passes(audio_stg: float) -> float:
        params = prepare_params(DEFAULTS, {**base, "audio_stg_scale": audio_stg}, Limits())
        return collect(engine.generate(params), params).completed.timings.transformer_passes_per_step

    assert passes(0.0) == 1.0 and passes(1.0) == 2.0


def test_mel_filterbank_is_slaneys_as_transformers_computes_it():
    from transformers.audio_utils import mel_filter_bank

    ours = mel_filterbank(16000, 1024, 64).numpy()
    theirs = mel_filter_bank(
        num_frequency_bins=513, num_mel_filters=64, min_frequency=0.0, max_frequency=8000.0, sampling_rate=16000,
        norm="slaney", mel_scale="slaney",
    )  # fmt: skip
    assert ours.shape == (513, 64)
    assert np.abs(ours - theirs).max() < 1e-6


@pytest.mark.parametrize(
    ("values", "field", "rule"),
    [
        ({"mode": Mode.VIDEO_TO_AUDIO}, "video_input", "is required with mode=video_to_audio"),
        ({"mode": Mode.AUDIO_TO_VIDEO}, "audio_input", "is required with mode=audio_to_video"),
        ({"video_input": RawFrames(64, 64, 24.0, _frames(9))}, "video_input", "must only be set with"),
        ({"mode": 7}, "mode", "must be one of"),
        ({"mode": Mode.AUDIO_ONLY, "audio_only": True}, "audio_only", "must not be set with mode=audio_only"),
        (
            {"mode": Mode.VIDEO_TO_AUDIO, "video_input": RawFrames(64, 64, 24.0, _frames(9)[:-5])},
            "video_input.frames.rgb",
            "must be whole RGB8 frames of 64x64",
        ),
        (
            {"mode": Mode.VIDEO_TO_AUDIO, "video_input": RawFrames(64, 64, 24.0, _frames(258))},
            "video_input.frames.rgb",
            "must be at most 257 frames",
        ),
        (
            {"mode": Mode.VIDEO_TO_AUDIO, "video_input": RawFrames(64, 64, 0.0, _frames(9))},
            "video_input.frames.frame_rate",
            "must be a frame rate between 1 and 60",
        ),
        (
            {"mode": Mode.VIDEO_TO_AUDIO, "video_input": RawFrames(64, 64, 24.0, _frames(9)), "num_frames": 9},
            "num_frames",
            "video_input sets it",
        ),
        (
            {"mode": Mode.AUDIO_TO_VIDEO, "audio_input": RawAudio(16000, 3, 2, b"\0" * 12)},
            "audio_input.pcm.channels",
            "must be 1 or 2",
        ),
        (
            {"mode": Mode.AUDIO_TO_VIDEO, "audio_input": RawAudio(16000, 1, 1, b"\0" * 3)},
            "audio_input.pcm.data",
            "must be whole samples",
        ),
        (
            {"mode": Mode.AUDIO_TO_VIDEO, "audio_input": RawAudio(16000, 1, 2, _tone(11.0).tobytes())},
            "audio_input.pcm.data",
            "must be at most 10.6667 s long",
        ),
    ],
)
def test_bad_mode_inputs_are_refused_naming_the_field(values, field, rule):
    with pytest.raises(InvalidParams) as info:
        prepare_params(DEFAULTS, {"prompt": "x", **values}, Limits())
    assert info.value.field == field and rule in info.value.rule, info.value


def test_decoded_frames_over_the_held_bytes_limit_are_refused():
    limits = Limits(max_input_frame_bytes=64 * 64 * 3 * 16)
    with pytest.raises(InvalidParams) as info:
        prepare_params(
            DEFAULTS, {"mode": Mode.VIDEO_TO_AUDIO, "video_input": RawFrames(64, 64, 24.0, _frames(17))}, limits
        )
    assert info.value.field == "video_input.frames.rgb" and "a smaller width and height" in info.value.rule


def test_mode_inputs_are_part_of_the_cache_key():
    def key(**values):
        return prepare_params(DEFAULTS, {"seed": 1, **values}, Limits()).output_key()

    frames = {"mode": Mode.VIDEO_TO_AUDIO, "video_input": RawFrames(64, 64, 24.0, _frames(9))}
    assert key(**frames) == key(**frames)
    assert key(**frames) != key(mode=Mode.VIDEO_TO_AUDIO, video_input=RawFrames(64, 64, 24.0, _frames(9, seed=3)))
    assert key(mode=Mode.AUDIO_ONLY) != key()
    assert key(mode=Mode.AUDIO_ONLY)["mode"] == int(Mode.AUDIO_ONLY)
