"""Keyframes (image-to-video, conditions): the conditioning reaches the model and is held where it
is placed, a strength of 0 gives the unconditioned clip, pictures are fitted as diffusers' condition
pipeline fits them, and every bad keyframe is refused naming the field."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
import torch
from diffusers.pipelines.ltx2 import pipeline_ltx2_condition
from diffusers.pipelines.ltx2 import utils as ltx2_utils

from ltx2 import GenerationParams, InvalidParams, Limits, prepare_params
from ltx2.control import JobControl
from ltx2.denoise import DenoiseJob, denoise
from ltx2.keyframes import Keyframe
from ltx2.media_input import MediaFile, RawFrames, RawImage, decode_video
from ltx2.modal_denoise import Hold, KeyframeLatents, modal_denoise
from ltx2.mode_inputs import encode_keyframes, fit_picture
from ltx2.versions import DEFAULT_IMAGE_CRF, LTX2_5_IMAGE_CRF

from .conftest import collect
from .test_modes import GUIDED, Recorder

BASE = GenerationParams(prompt="a knight walks into the tavern", width=64, height=64, num_frames=25, steps=3, seed=5)


def _picture(width: int = 80, height: int = 48, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)


def _raw(rgb: np.ndarray) -> RawImage:
    return RawImage(rgb.shape[1], rgb.shape[0], rgb.tobytes())


def _png(rgb: np.ndarray, kind: str = "PNG") -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(rgb).save(out, kind)
    return out.getvalue()


def _prepared(**values: object) -> GenerationParams:
    return prepare_params(BASE, {**GUIDED, **values}, Limits())


def _denoise(engine, params: GenerationParams, hold: Hold | None):
    kw = {**engine.pipeline_kwargs(params), **engine._encode(params).__dict__}
    job = DenoiseJob(total_steps=params.steps, total_frames=params.num_frames, started=time.perf_counter())
    if hold is None:
        return denoise(engine.pipeline, kw, JobControl(), lambda _: None, job)
    return modal_denoise(engine.pipeline, kw, JobControl(), lambda _: None, job, hold)


def _latents(engine, *keyframes: Keyframe, params: GenerationParams) -> tuple[KeyframeLatents, ...]:
    return encode_keyframes(engine.pipeline, list(keyframes), params.width, params.height, DEFAULT_IMAGE_CRF)


def test_an_image_of_strength_1_is_the_first_latent_frame_of_the_denoised_latents(engine):
    params = _prepared(image=Keyframe(_raw(_picture())))
    (encoded,) = _latents(engine, params.image, params=params)
    video, _ = _denoise(engine, params, Hold(keyframes=(encoded,)))
    plain, _ = _denoise(engine, params, None)
    torch.testing.assert_close(video[:, :, :1], encoded.latents, rtol=0, atol=1e-6)
    # The rest is denoised, under the keyframe's influence.
    assert not torch.allclose(video[:, :, 1:], plain[:, :, 1:], atol=1e-3)


def test_frames_of_strength_1_at_frame_0_replace_as_many_latent_frames(engine):
    frames = np.random.default_rng(1).integers(0, 256, (9, 64, 64, 3), np.uint8)
    params = _prepared(conditions=[Keyframe(RawFrames(64, 64, 24.0, frames.tobytes()))])
    (encoded,) = _latents(engine, *params.conditions, params=params)
    assert encoded.latents.shape[2] == 2  # 9 frames: the causal first one, then 8
    video, _ = _denoise(engine, params, Hold(keyframes=(encoded,)))
    torch.testing.assert_close(video[:, :, :2], encoded.latents, rtol=0, atol=1e-6)


def test_strength_0_gives_the_unconditioned_clip(engine):
    params = _prepared(image=Keyframe(_raw(_picture()), strength=0.0))
    plain = _prepared()
    # The engine skips it: bit for bit the clip without it.
    got, want = collect(engine.generate(params), params), collect(engine.generate(plain), plain)
    assert np.array_equal(got.frames, want.frames) and np.array_equal(got.audio, want.audio)
    # And the mechanism at strength 0 (every token denoised, per-token timesteps) is that clip too,
    # to float rounding: the (B, N) timestep path rounds differently from the (B,) one.
    channels = engine.pipeline.vae.config.latent_channels
    encoded = KeyframeLatents(torch.randn(1, channels, 1, 2, 2), 0, 0.0, 1)
    video, audio = _denoise(engine, plain, Hold(keyframes=(encoded,)))
    ref_video, ref_audio = _denoise(engine, plain, None)
    torch.testing.assert_close(video, ref_video, rtol=0, atol=1e-4)
    torch.testing.assert_close(audio, ref_audio, rtol=0, atol=1e-4)


def test_a_partial_strength_lies_between_free_and_held(engine):
    params = _prepared(image=Keyframe(_raw(_picture())))
    encoded = _latents(engine, params.image, params=params)[0]
    held = {
        s: _denoise(engine, params, Hold(keyframes=(KeyframeLatents(encoded.latents, 0, s, 1),)))[0] for s in (0.5, 1.0)
    }
    free, _ = _denoise(engine, params, None)
    first = {s: (v[:, :, :1] - encoded.latents).abs().mean().item() for s, v in held.items()}
    first[0.0] = (free[:, :, :1] - encoded.latents).abs().mean().item()
    assert first[1.0] < first[0.5] < first[0.0]


def test_a_later_keyframe_is_appended_held_exactly_with_its_own_coordinates(engine):
    params = _prepared(conditions=[Keyframe(_raw(_picture(seed=3)), frame=24)])
    (encoded,) = _latents(engine, *params.conditions, params=params)
    pipe = engine.pipeline
    grid = params.latent_frames * 2 * 2
    recorder = Recorder(pipe.transformer)
    coords: list[torch.Tensor] = []
    handle = pipe.transformer.register_forward_pre_hook(
        lambda _m, _a, kw: coords.append(kw["video_coords"].clone()), with_kwargs=True
    )
    try:
        video, _ = _denoise(engine, params, Hold(keyframes=(encoded,)))
        plain_calls = len(recorder.video)
        _denoise(engine, params, None)
    finally:
        handle.remove()
        recorder.close()
    from ltx2.modal_denoise import _pack_video

    tokens = _pack_video(pipe, encoded.latents, "cpu").to(recorder.video[0].dtype)
    for states in recorder.video[:plain_calls]:
        assert states.shape[1] == grid + tokens.shape[1]
        assert torch.equal(states[:1, grid:], tokens)
    # The clip's own noise is drawn as without the keyframe (first call, grid tokens).
    assert torch.equal(recorder.video[0][:, :grid], recorder.video[plain_calls][:, :grid])
    # Its time coordinate is [24, 25) frames, in seconds.
    frame_coords = coords[0][0, 0, grid:]
    torch.testing.assert_close(frame_coords, torch.tensor([[24 / 24.0, 25 / 24.0]]).expand_as(frame_coords))
    assert video.shape[2] == params.latent_frames  # sliced off at the end


def test_pictures_are_fitted_and_compressed_as_diffusers_condition_pipeline_does(engine):
    rgb = _picture(100, 60, seed=4)
    pipe = engine.pipeline
    condition_pipe = pipeline_ltx2_condition.LTX2ConditionPipeline(**pipe.components)
    for crf in (0, DEFAULT_IMAGE_CRF):
        condition = pipeline_ltx2_condition.LTX2VideoCondition(frames=rgb, index=0, strength=1.0, crf=crf)
        (want,), _, _, _ = condition_pipe.preprocess_conditions([condition], 64, 96, 25, torch.device("cpu"))
        got = fit_picture(rgb, 96, 64, crf, torch.device("cpu"))
        assert torch.equal(got, want.float())
    assert (DEFAULT_IMAGE_CRF, LTX2_5_IMAGE_CRF) == (ltx2_utils.DEFAULT_IMAGE_CRF, ltx2_utils.LTX2_5_IMAGE_CRF)


def test_the_default_crf_is_the_versions(version_engines):
    assert version_engines["2.0"].version.default_image_crf == DEFAULT_IMAGE_CRF
    assert version_engines["2.5"].version.default_image_crf == LTX2_5_IMAGE_CRF


def test_png_and_jpeg_files_decode_and_frames_are_fitted_by_cover_and_crop():
    rgb = _picture(80, 48)
    png = _prepared(image=Keyframe(MediaFile(_png(rgb))))
    assert np.array_equal(png.image.media.rgb, rgb)  # lossless, at its own size
    jpeg = _prepared(image=Keyframe(MediaFile(_png(rgb, "JPEG"))))
    assert jpeg.image.media.rgb.shape == rgb.shape
    # 128x64 frames covering 64x64: scaled to 128x64 (already covers), centre 64 columns kept.
    frames = np.zeros((1, 64, 128, 3), np.uint8)
    frames[:, :, 32:96] = 200
    decoded = decode_video(
        RawFrames(128, 64, 24.0, frames.tobytes()),
        size=(64, 64),
        box=(64, 64),
        multiple=1,
        min_size=1,
        max_frames=9,
        max_bytes=1 << 20,
        max_frame_bytes=1 << 20,
        frame_rate_range=(1.0, 60.0),
        cover=True,
    )
    assert decoded.frames.shape == (1, 64, 64, 3) and int(decoded.frames.min()) >= 190


def _frames(count: int, width: int = 64, height: int = 64) -> RawFrames:
    return RawFrames(width, height, 24.0, bytes(count * width * height * 3))


PICTURE = _raw(_picture())


@pytest.mark.parametrize(
    ("values", "field", "rule"),
    [
        ({"image": Keyframe(PICTURE, strength=1.5)}, "image.strength", "between 0 and 1"),
        ({"image": Keyframe(PICTURE, strength=float("nan"))}, "image.strength", "finite"),
        ({"image": Keyframe(PICTURE, crf=52)}, "image.crf", "between 0 and 51"),
        ({"image": Keyframe(PICTURE, frame=3)}, "image.frame", "must be 0"),
        ({"image": Keyframe(_frames(9))}, "image", "one picture"),
        ({"image": Keyframe(MediaFile(b"not a picture at all"))}, "image.file", "must be a png, jpeg"),
        ({"conditions": [Keyframe(MediaFile(b"not media at all"))]}, "conditions[0].file", "png, jpeg, mp4"),
        ({"image": Keyframe(MediaFile(b"\x89PNG\r\n\x1a\n" + b"\0" * 40))}, "image.file", "could not be decoded"),
        ({"image": Keyframe(RawImage(10, 10, b"\0" * 299))}, "image.pixels.rgb", "must be 300 bytes"),
        ({"image": Keyframe(RawImage(4000, 3000, b""))}, "image.pixels", "at most"),
        ({"conditions": [Keyframe(PICTURE, frame=25)]}, "conditions[0].frame", "between 0 and 24"),
        ({"conditions": [Keyframe(PICTURE, frame=-1)]}, "conditions[0].frame", "between 0 and 24"),
        ({"conditions": [Keyframe(_frames(8))]}, "conditions[0].frames", "8k+1"),
        ({"conditions": [Keyframe(_frames(9), frame=20)]}, "conditions[0].frames", "must end by"),
        ({"image": Keyframe(PICTURE), "conditions": [Keyframe(PICTURE)]}, "conditions[0].frame", "frame 0 holds one"),
        ({"conditions": [Keyframe(PICTURE, frame=i) for i in range(9)]}, "conditions", "at most 8"),
        ({"conditions": ["a picture"]}, "conditions", "list of keyframes"),
        ({"mode": 2, "image": Keyframe(PICTURE)}, "image", "mode that generates video"),
    ],
)
def test_bad_keyframes_are_refused_naming_the_field(values, field, rule):
    with pytest.raises(InvalidParams) as info:
        prepare_params(BASE, values, Limits())
    assert info.value.field == field and rule in info.value.rule, str(info.value)


def test_decoded_keyframes_count_against_the_held_bytes_limit():
    limits = Limits(max_input_frame_bytes=80 * 48 * 3 * 2)
    with pytest.raises(InvalidParams) as info:
        prepare_params(BASE, {"conditions": [Keyframe(PICTURE, frame=f) for f in (0, 8, 16)]}, limits)
    assert info.value.field == "conditions[2]" and "decoded pixels" in info.value.rule


def test_keyframes_are_part_of_the_cache_key():
    def key(**values):
        return prepare_params(BASE, values, Limits()).output_key()

    plain = key()
    one = key(image=Keyframe(PICTURE))
    assert one != plain
    assert key(image=Keyframe(PICTURE)) == one
    assert key(image=Keyframe(_raw(_picture(seed=9)))) != one
    assert key(image=Keyframe(PICTURE, strength=0.5)) != one
    assert key(image=Keyframe(PICTURE, crf=0)) != one
    assert key(conditions=[Keyframe(PICTURE, frame=8)]) != key(conditions=[Keyframe(PICTURE, frame=16)])
