"""Continuing a clip and retaking part of one, on the tiny model: a continuation's indices follow on
from the earlier clip and its overlap is held exactly; a retake keeps every frame and sample outside
its window byte for byte; and the rules refuse what cannot work, naming the field."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from ltx2 import AudioChunk, GenerationParams, InvalidParams, Limits, SampleFormat, VideoChunk, prepare_params
from ltx2.control import JobControl
from ltx2.denoise import DenoiseJob
from ltx2.earlier_clip import Continuation, EarlierClip, Retake
from ltx2.media_input import RawAudio, RawFrames
from ltx2.modal_denoise import modal_denoise

from .conftest import collect

BASE = GenerationParams(
    prompt="a knight crosses a stone bridge", width=64, height=64, num_frames=25, steps=3, seed=21, chunk_frames=8
)


@pytest.fixture(scope="module")
def earlier(engine):
    """Clip A (25 frames, S16 PCM) and its events."""
    params = prepare_params(BASE, {}, Limits())
    return params, collect(engine.generate(params), params)


def _clip(collected, rate: int = 24000) -> EarlierClip:
    frames = collected.frames
    video = RawFrames(frames.shape[2], frames.shape[1], 24.0, frames.tobytes())
    pcm = np.ascontiguousarray(collected.audio)
    return EarlierClip(video=video, audio=RawAudio(rate, pcm.shape[1], 1, pcm.tobytes()))


def test_a_continuation_numbers_on_from_the_earlier_clip_and_holds_its_tail(engine, earlier):
    params_a, a = earlier
    rate = engine.clip_format(params_a).sample_rate
    params = prepare_params(BASE, {"seed": 22, "continue_from": Continuation(_clip(a, rate), 9)}, Limits())
    fmt = engine.clip_format(params)
    assert (fmt.first_frame, fmt.num_frames) == (25, 16)
    assert fmt.first_sample == a.completed.num_samples and fmt.num_samples == round(41 * rate / 24) - fmt.first_sample
    b = collect(engine.generate(params), params)
    video = [e for e in b.events if isinstance(e, VideoChunk)]
    audio = [e for e in b.events if isinstance(e, AudioChunk)]
    assert video[0].first_frame == 25 and sum(c.num_frames for c in video) == 16
    assert [c.first_frame for c in video[1:]] == [c.first_frame + c.num_frames for c in video[:-1]]
    assert audio[0].first_sample == fmt.first_sample
    assert [c.first_sample for c in audio[1:]] == [c.first_sample + c.num_samples for c in audio[:-1]]
    assert sum(c.num_samples for c in audio) == fmt.num_samples
    assert b.completed.num_frames == 16 and b.completed.num_samples == fmt.num_samples

    # The seam: the overlap's latents (two latent frames for 9 frames) and the audio latents
    # within it come out of the denoiser as the earlier clip's tail encoded them.
    params = engine.resolve(params)
    hold = engine._hold(params)
    kw = {**engine.pipeline_kwargs(params), **engine._encode(params).__dict__}
    job = DenoiseJob(total_steps=params.steps, total_frames=25, started=time.perf_counter())
    video_latents, audio_latents = modal_denoise(engine.pipeline, kw, JobControl(), lambda _: None, job, hold)
    assert hold.video_part.denoise.tolist()[:3] == [0.0, 0.0, 1.0]
    torch.testing.assert_close(video_latents[:, :, :2], hold.video_part.latents[:, :, :2], rtol=0, atol=1e-5)
    held = int((hold.audio_part.denoise == 0).sum())
    assert held == 9  # 9 frames at 24 fps hold 9 whole 40 ms audio latents
    torch.testing.assert_close(audio_latents[:, :, :held], hold.audio_part.latents[:, :, :held], rtol=0, atol=1e-5)
    assert not torch.allclose(audio_latents[:, :, held:], hold.audio_part.latents[:, :, held:], atol=1e-3)


@pytest.mark.parametrize(("video", "audio"), [(True, True), (True, False), (False, True)])
def test_a_retake_keeps_everything_outside_its_window_byte_for_byte(engine, earlier, video, audio):
    params_a, a = earlier
    rate = engine.clip_format(params_a).sample_rate
    retake = Retake(_clip(a, rate), 0.4, 0.7, video=video, audio=audio)
    params = prepare_params(BASE, {"seed": 99, "retake": retake, "sample_format": SampleFormat.S16LE}, Limits())
    b = collect(engine.generate(params), params)
    assert b.frames.shape == a.frames.shape and b.audio.shape == a.audio.shape
    # 0.4 s to 0.7 s is frames 9.6 to 16.8: within latent 2 (frames 9 to 16), whole.
    f0, f1 = params.retake.frame_window(24.0, 25)
    assert (f0, f1) == (9, 17)
    outside = np.r_[0:f0, f1:25]
    assert np.array_equal(b.frames[outside], a.frames[outside])
    assert np.array_equal(b.frames[f0:f1], a.frames[f0:f1]) is not video
    s0, s1 = round(0.4 * rate), round(0.7 * rate)
    assert np.array_equal(b.audio[:s0], a.audio[:s0]) and np.array_equal(b.audio[s1:], a.audio[s1:])
    assert np.array_equal(b.audio[s0:s1], a.audio[s0:s1]) is not audio
    if audio:
        # The new sound fades in and out over 10 ms inside the window: no step at either edge.
        edge = np.abs(b.audio[[s0, s1 - 1]].astype(int) - a.audio[[s0, s1 - 1]].astype(int)).max()
        jump = np.abs(b.audio[s0 + 240 : s1 - 240].astype(int) - a.audio[s0 + 240 : s1 - 240].astype(int)).max()
        assert edge <= 0.01 * jump, (edge, jump)


def test_continuation_and_retake_are_part_of_the_cache_key(earlier):
    _, a = earlier
    clip = _clip(a)

    def key(**values):
        return prepare_params(BASE, values, Limits()).output_key()

    assert key(continue_from=Continuation(clip, 9)) != key(continue_from=Continuation(clip, 17))
    assert key(retake=Retake(clip, 0.1, 0.5)) != key(retake=Retake(clip, 0.1, 0.6))
    assert key(retake=Retake(clip, 0.1, 0.5)) != key(retake=Retake(clip, 0.1, 0.5, audio=False))


def _frames(count: int) -> RawFrames:
    return RawFrames(64, 64, 24.0, bytes(count * 64 * 64 * 3))


def _pcm(samples: int) -> RawAudio:
    return RawAudio(24000, 2, 1, bytes(samples * 4))


@pytest.mark.parametrize(
    ("values", "field", "rule"),
    [
        ({"continue_from": Continuation(EarlierClip(video=_frames(9)), 8)}, "continue_from.overlap_frames", "8k+1"),
        (
            {"continue_from": Continuation(EarlierClip(video=_frames(9)), 25)},
            "continue_from.overlap_frames",
            "at most 17",
        ),
        ({"continue_from": Continuation(EarlierClip(video=_frames(5)), 9)}, "continue_from.clip.video", "at least"),
        ({"continue_from": Continuation(EarlierClip(), 9)}, "continue_from.clip.video", "is required"),
        ({"continue_from": Continuation(EarlierClip(job_id="j1"), 9)}, "continue_from.clip.job_id", "resolved"),
        (
            {"continue_from": Continuation(EarlierClip(video=_frames(9), end_frame=3), 9)},
            "continue_from.clip.end_frame",
            "at least the 9",
        ),
        ({"continue_from": "job-7"}, "continue_from", "Continuation"),
        (
            {"num_frames": 25, "retake": Retake(EarlierClip(video=_frames(17), audio=_pcm(24000)), 0.1, 0.2)},
            "retake.clip.video",
            "whole",
        ),
        ({"retake": Retake(EarlierClip(video=_frames(25)), 0.1, 0.2)}, "retake.clip.audio", "raw PCM"),
        (
            {"retake": Retake(EarlierClip(video=_frames(25), audio=_pcm(25000)), 0.6, 0.2)},
            "retake.end_s",
            "start_s < end_s",
        ),
        (
            {"retake": Retake(EarlierClip(video=_frames(25), audio=_pcm(25000)), -1, 0.2)},
            "retake.start_s",
            "0 <= start_s",
        ),
        (
            {"retake": Retake(EarlierClip(video=_frames(25), audio=_pcm(25000)), 0, 0.2, False, False)},
            "retake.video",
            "must",
        ),
        ({"mode": 2, "retake": Retake(EarlierClip(video=_frames(25)), 0, 0.2)}, "retake", "text_to_audio_video"),
    ],
)
def test_bad_continuations_and_retakes_are_refused_naming_the_field(values, field, rule):
    with pytest.raises(InvalidParams) as info:
        prepare_params(BASE, values, Limits())
    assert info.value.field == field and rule in info.value.rule, str(info.value)


def test_a_retakes_sound_must_be_the_streams_rate_and_length(engine):
    clip = EarlierClip(video=_frames(25), audio=RawAudio(16000, 2, 1, bytes(4 * 16000)))
    with pytest.raises(InvalidParams) as info:
        engine.resolve(prepare_params(BASE, {"retake": Retake(clip, 0.1, 0.5)}, Limits()))
    assert info.value.field == "retake.clip.audio.pcm.sample_rate"
    clip = EarlierClip(video=_frames(25), audio=_pcm(100))
    with pytest.raises(InvalidParams) as info:
        engine.resolve(prepare_params(BASE, {"retake": Retake(clip, 0.1, 0.5)}, Limits()))
    assert info.value.field == "retake.clip.audio.pcm.data" and "25000 samples" in info.value.rule


def test_a_retake_streams_in_the_encoding_its_sound_was_sent_in(engine):
    """An f32 clip sent without a sample_format: the stream is f32 (the deployment's s16 default
    would refuse the sound it must keep bit for bit); a sample_format set still has to match."""
    f32 = EarlierClip(video=_frames(25), audio=RawAudio(24000, 2, 2, bytes(8 * 25000)))
    params = engine.resolve(prepare_params(BASE, {"retake": Retake(f32, 0.1, 0.5)}, Limits()))
    assert params.sample_format == SampleFormat.F32LE
    with pytest.raises(InvalidParams) as info:
        prepare_params(BASE, {"retake": Retake(f32, 0.1, 0.5), "sample_format": SampleFormat.S16LE}, Limits())
    assert info.value.field == "retake.clip.audio.pcm.sample_format"


@pytest.mark.parametrize(("window", "fades"), [((0.1, 0.3), (True, True)), ((0.0, 0.3), (False, True)),
                                               ((0.1, 0.5), (True, False))])  # fmt: skip
def test_a_retakes_sound_fades_only_where_it_joins_the_earlier_clip(window, fades):
    """The splice alone, on known PCM (old all 1000, new all -1000, S16 stereo at 1 kHz: a 0.5 s
    clip): a fade where the window meets kept sound, none at the clip's own start or end."""
    from ltx2.engine import _Splice

    old = np.full((500, 2), 1000, "<i2")
    clip = EarlierClip(pcm=RawAudio(1000, 2, 1, old.tobytes()))
    splice = _Splice(Retake(clip, *window, video=False, audio=True), num_frames=25, frame_rate=50.0, rate=1000)
    new = np.full((500, 2), -1000, "<i2")
    # In two chunks cut inside a fade: the same bytes as in one.
    out = np.frombuffer(splice.audio(new[:105].tobytes(), 0, 105) + splice.audio(new[105:].tobytes(), 105, 500), "<i2")
    out = out.reshape(500, 2)
    a0, a1 = round(window[0] * 1000), round(window[1] * 1000)
    assert (out[:a0] == 1000).all() and (out[a1:] == 1000).all()  # outside: the earlier clip's
    assert (out[a0 + 10 : a1 - 10] == -1000).all()  # 10 ms fades at 1 kHz: 10 samples
    starts, ends = fades
    assert bool(out[a0, 0] > 800) is starts and bool(out[a0, 0] == -1000) is not starts
    assert bool(out[a1 - 1, 0] > 800) is ends and bool(out[a1 - 1, 0] == -1000) is not ends
    assert np.all(np.diff(out[a0 : a0 + 10, 0].astype(int)) <= 0)  # a ramp, old to new
