"""The streamed clip: shapes, order, sync, and equality with a plain LTX2Pipeline call."""

from __future__ import annotations

import numpy as np
import pytest

from ltx2 import (
    AudioChunk,
    Completed,
    GenerationParams,
    InvalidParams,
    Limits,
    Phase,
    SampleFormat,
    VideoChunk,
    prepare_params,
)

from .conftest import collect, small


def reference(engine, params: GenerationParams) -> tuple[np.ndarray, np.ndarray]:
    """A non-streaming diffusers call with the same arguments: (frames float [0,1], audio (S, C))."""
    out = engine.pipeline(
        prompt=params.prompt,
        negative_prompt=params.negative_prompt,
        output_type="np",
        **engine.pipeline_kwargs(params),
    )
    return out.frames[0], out.audio[0].float().numpy().T


def test_full_size_clip_matches_a_plain_pipeline_call(engine):
    params = GenerationParams(
        prompt="rain on a tin roof", width=128, height=128, num_frames=121, steps=8, seed=7,
        sample_format=SampleFormat.F32LE,
    )  # fmt: skip
    got = collect(engine.generate(params), params)
    ref_frames, ref_audio = reference(engine, params)

    assert got.frames.shape == (121, 128, 128, 3) and got.frames.dtype == np.uint8
    assert ref_frames.shape == got.frames.shape
    # Streamed frames equal a whole decode up to float32 rounding, which may flip a colour level.
    assert np.abs(got.frames / 255.0 - ref_frames).max() <= 1 / 255
    # The audio covers the video's 121/24 s exactly: the model's 120,240 samples, then 760 (32 ms)
    # of its last sample faded to silence.
    assert ref_audio.shape == (120240, 2) and got.audio.shape == (121000, 2)
    assert got.completed.audio_padded_samples == 760 and got.completed.num_samples == 121000
    assert np.abs(got.audio[:120240] - ref_audio).max() <= 1e-6
    assert np.all(got.audio[120240 + 120 :] == 0.0)  # silent after the 5 ms fade
    assert np.abs(got.audio[120240:]).max() <= np.abs(ref_audio[-1]).max() + 1e-7
    assert np.isfinite(got.audio).all() and np.abs(got.audio).max() <= 1.0
    # Frames are not a constant image: the model really drew something.
    assert got.frames.std() > 1.0


def test_audio_covers_exactly_the_video_span_at_the_vocoder_rate(engine):
    params = small(num_frames=9)
    got = collect(engine.generate(params), params)
    rate = engine.pipeline.vocoder.config.output_sampling_rate
    assert rate == 24000
    latent = round(9 / 24.0 * 25)
    model = (4 * latent - 3) * 240  # 7,920 samples: 0.330 s against 0.375 s of video
    assert len(got.audio) == 9000 == got.completed.num_samples
    assert got.completed.audio_padded_samples == 9000 - model == 1080  # 45 ms
    assert engine.model_samples(params) == model
    assert got.audio.shape[1] == engine.info().channels == 2
    ref = reference(engine, params)[1]
    assert np.abs(got.audio[:model] - ref).max() <= 1e-6


def test_audio_of_each_span_comes_before_its_frames_and_indices_are_contiguous(engine):
    params = small(num_frames=49, chunk_frames=16)
    events = list(engine.generate(params))
    chunks = [e for e in events if isinstance(e, (AudioChunk, VideoChunk))]
    assert [type(c) for c in chunks] == [AudioChunk, VideoChunk] * 3
    next_frame = next_sample = 0
    for audio, video in zip(chunks[::2], chunks[1::2], strict=True):
        assert video.first_frame == next_frame and audio.first_sample == next_sample
        # The audio chunk covers the same span of time as the frames after it.
        assert audio.pts_s == pytest.approx(video.pts_s, abs=1 / audio.sample_rate)
        next_frame += video.num_frames
        next_sample += audio.num_samples
    assert [c.num_frames for c in chunks[1::2]] == [17, 16, 16]
    assert next_frame == 49
    # The last chunk's audio ends with its frames: 49 frames at 24 fps are 49,000 samples.
    assert isinstance(events[-1], Completed) and events[-1].num_samples == next_sample == 49000


def test_progress_covers_encoding_every_step_and_decoding(engine):
    params = small(steps=4, preview=True)
    got = collect(engine.generate(params), params)
    phases = [p.phase for p in got.progress]
    assert phases[0] == Phase.ENCODING
    steps = [p.step for p in got.progress if p.phase == Phase.DENOISING]
    assert steps == [1, 2, 3, 4]
    decoded = [p.frames_decoded for p in got.progress if p.phase == Phase.DECODING]
    assert decoded[-1] == 25 and decoded == sorted(decoded)
    previews = [p for p in got.progress if p.phase == Phase.DENOISING]
    assert all(len(p.preview_rgb) == p.preview_width * p.preview_height * 3 > 0 for p in previews)
    assert (previews[0].preview_width, previews[0].preview_height) == (2, 2)  # 64 px / 32


def test_same_seed_is_bit_identical_and_another_seed_differs(engine):
    params = small()
    first = collect(engine.generate(params), params)
    again = collect(engine.generate(params), params)
    other = collect(engine.generate(small(seed=99)), params)
    assert np.array_equal(first.frames, again.frames) and np.array_equal(first.audio, again.audio)
    assert not np.array_equal(first.frames, other.frames)


def test_an_unresolved_seed_is_refused_and_prepare_params_picks_one(engine):
    with pytest.raises(InvalidParams, match=r"seed=None: must be resolved before generate"):
        list(engine.generate(small(seed=None)))
    params = prepare_params(small(seed=None), {}, Limits())
    assert params.seed is not None and 0 <= params.seed < 2**63
    done = collect(engine.generate(params), params).completed
    assert done.seed == params.seed
    replay = collect(engine.generate(small(seed=done.seed)), params)
    first = collect(engine.generate(small(seed=done.seed)), params)
    assert np.array_equal(replay.frames, first.frames)


def test_chunk_size_changes_the_cut_not_the_clip(engine):
    a = collect(engine.generate(small(chunk_frames=8)), small())
    b = collect(engine.generate(small(chunk_frames=24)), small())
    assert np.abs(a.frames.astype(int) - b.frames.astype(int)).max() <= 1
    # The vocoder runs per chunk with its whole reach as context: equal up to rounding.
    assert a.audio.shape == b.audio.shape and np.abs(a.audio - b.audio).max() <= 1e-6


def test_audio_only_skips_video_and_keeps_the_same_audio(engine):
    full = collect(engine.generate(small()), small())
    foley = collect(engine.generate(small(audio_only=True)), small())
    assert not any(isinstance(e, VideoChunk) for e in foley.events)
    assert np.array_equal(full.audio, foley.audio)


def test_s16_is_the_rounded_f32(engine):
    f32 = collect(engine.generate(small()), small())
    s16 = collect(engine.generate(small(sample_format=SampleFormat.S16LE)), small(sample_format=SampleFormat.S16LE))
    assert s16.audio.dtype == np.int16
    assert np.abs(s16.audio.astype(np.int32) - np.round(f32.audio * 32767)).max() <= 1


def test_resampled_audio_has_the_promised_length_and_chunks(engine):
    params = small(audio_sample_rate=48000)
    fmt = engine.clip_format(params)
    got = collect(engine.generate(params), params)
    native = collect(engine.generate(small()), small())
    assert fmt.sample_rate == 48000
    assert len(got.audio) == fmt.num_samples == 2 * len(native.audio)
    chunks = [e for e in got.events if isinstance(e, AudioChunk)]
    assert all(c.sample_rate == 48000 for c in chunks)
    assert chunks[1].first_sample == round(9 * 48000 / 24)  # the second chunk starts at frame 9


def test_prompt_embeddings_are_cached(engine):
    engine.prompt_cache.clear()
    params = small(prompt="a glass shatters on stone")
    first = collect(engine.generate(params), params)
    hits = engine.prompt_cache.hits
    second = collect(engine.generate(params), params)
    assert engine.prompt_cache.hits == hits + 1
    assert np.array_equal(first.frames, second.frames)


def test_clip_format_predicts_the_stream(engine):
    params = small(num_frames=33, audio_sample_rate=44100)
    fmt = engine.clip_format(params)
    got = collect(engine.generate(params), params)
    assert (fmt.width, fmt.height, fmt.num_frames) == (64, 64, 33)
    assert fmt.num_samples == len(got.audio) == got.completed.num_samples == round(33 / 24 * 44100)
    assert fmt.channels == got.audio.shape[1]
    assert got.completed.audio_padded_samples == fmt.num_samples - engine.model_samples(params) > 0


def test_timings_are_reported(engine):
    params = small()
    t = collect(engine.generate(params), params).completed.timings
    assert t.encode_s > 0 and t.denoise_s > 0 and t.decode_s > 0
    assert 0 < t.first_chunk_s <= t.total_s
    assert t.total_s >= t.encode_s + t.denoise_s


def test_model_info_reports_what_was_loaded(engine, tiny_checkpoint):
    info = engine.info()
    assert info.model_id == "ltx2-tiny"
    assert info.device == "cpu" and info.dtype == "float32"
    assert info.model_path == str(tiny_checkpoint.resolve())
    assert set(info.parameter_counts) >= {"transformer", "vae", "audio_vae", "vocoder", "text_encoder", "connectors"}
    assert all(n > 0 for n in info.parameter_counts.values())
    assert info.memory_bytes >= 4 * sum(info.parameter_counts.values())
    assert len(info.fingerprint) == 16


def test_a_degenerate_noise_schedule_is_refused_before_running(engine):
    huge = GenerationParams(prompt="a storm", width=1920, height=1088, num_frames=257, steps=2)
    with pytest.raises(InvalidParams, match=r"steps=2: the noise schedule for 67320 video tokens is degenerate"):
        engine.check_schedule(huge)
    engine.check_schedule(GenerationParams(prompt="a storm", width=768, height=512, num_frames=121, steps=2))


def test_completed_counts_what_was_sent(engine):
    foley = collect(engine.generate(small(audio_only=True)), small())
    assert foley.completed.num_frames == 0
    assert foley.completed.num_samples == len(foley.audio) == 25000  # audio only still spans 25 frames


def test_a_video_chunk_splits_into_runs_of_whole_frames_within_a_size():
    frame = 4 * 2 * 3  # 4x2 RGB8
    data = bytes(range(7 * frame))
    chunk = VideoChunk(first_frame=10, num_frames=7, width=4, height=2, frame_rate=24.0, data=data)
    pieces = list(chunk.pieces(3 * frame + 5))  # room for 3 whole frames, not 4
    assert [(p.first_frame, p.num_frames) for p in pieces] == [(10, 3), (13, 3), (16, 1)]
    assert b"".join(p.data for p in pieces) == data
    assert all(len(p.data) == p.num_frames * frame and p.frame_rate == 24.0 for p in pieces)
    assert pieces[1].pts_s == pytest.approx(13 / 24)
    assert list(chunk.pieces(len(data))) == [chunk]  # fits: the chunk itself
    assert [p.num_frames for p in chunk.pieces(frame - 1)] == [1] * 7  # a frame bigger than the size travels alone
