"""LTX-2.0, 2.3 and 2.5: each tiny checkpoint has its version's structure, is detected from its configs
(never its folder name), and loads, generates and streams through the same engine code."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from diffusers.pipelines.ltx2.utils import DISTILLED_SIGMA_VALUES

from ltx2 import AudioChunk, GenerationParams, SampleFormat, VideoChunk, tiny
from ltx2.loader import describe_checkpoint
from ltx2.versions import DISTILLED_SIGMAS, detect_version

from .conftest import collect, small

EXPECTED = {
    # version: (vocoder, rate, text encoder, gated, per-modality projections, keyframes, duration head)
    "2.0": ("LTX2Vocoder", 24000, "Gemma3ForConditionalGeneration", False, False, False, False),
    "2.3": ("LTX2VocoderWithBWE", 48000, "Gemma3ForConditionalGeneration", True, True, False, False),
    "2.5": ("LTX2VocoderWithBWE", 48000, "Gemma4UnifiedForConditionalGeneration", True, True, True, True),
}


def test_distilled_sigmas_match_diffusers():
    assert list(DISTILLED_SIGMAS) == DISTILLED_SIGMA_VALUES


@pytest.mark.parametrize("version", tiny.VERSIONS)
def test_each_tiny_checkpoint_has_its_versions_structure(version, version_checkpoints):
    path = version_checkpoints[version]
    index = json.loads((path / "model_index.json").read_text())
    transformer = json.loads((path / "transformer" / "config.json").read_text())
    connectors = json.loads((path / "connectors" / "config.json").read_text())
    vocoder, rate, text_encoder, gated, per_modality, keyframes, duration = EXPECTED[version]
    assert index["vocoder"] == ["ltx2", vocoder]
    assert index["text_encoder"] == ["transformers", text_encoder]
    assert json.loads((path / "vocoder" / "config.json").read_text())["output_sampling_rate"] == rate
    assert transformer["gated_attn"] is gated and transformer["cross_attn_mod"] is gated
    assert transformer["use_prompt_adaln_single"] is True
    assert transformer["use_keyframes_abs_pos_embedding"] is keyframes
    assert transformer["use_prompt_embeddings"] is not gated  # 2.3+ project the caption in the connectors
    assert connectors["per_modality_projections"] is per_modality
    assert (index.get("duration_head") == ["ltx2", "LTX2DurationHead"]) is duration
    assert (path / "duration_head").is_dir() is duration
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    assert size < 16 * 2**20


@pytest.mark.parametrize("version", tiny.VERSIONS)
def test_version_is_read_from_the_configs(version, version_checkpoints):
    found = detect_version(version_checkpoints[version])
    vocoder, rate, text_encoder, gated, per_modality, keyframes, duration = EXPECTED[version]
    assert (found.version, found.vocoder, found.native_sample_rate, found.channels) == (version, vocoder, rate, 2)
    assert found.text_encoder == text_encoder
    assert found.text_encoder_family == ("gemma4" if version == "2.5" else "gemma3")
    assert (found.gated_attention, found.cross_attention_modulation, found.prompt_adaln) == (gated,) * 3
    assert (found.per_modality_projections, found.keyframe_position_embedding) == (per_modality, keyframes)
    assert found.duration_head is duration
    assert (found.distilled, found.distilled_source, found.default_preset) == (False, "default", "dev")
    assert ("stg" in found.features) is (version != "2.0")
    assert ("auto_duration" in found.features) is duration


def test_the_folder_name_is_ignored_and_distilled_comes_from_the_sidecar(version_checkpoints, tmp_path):
    misleading = tmp_path / "LTX-2.0-dev"
    shutil.copytree(version_checkpoints["2.3"], misleading)
    assert detect_version(misleading).version == "2.3"
    sidecar = misleading / "ltx2d.json"
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "distilled": True}))
    found = detect_version(misleading)
    assert (found.distilled, found.distilled_source, found.default_preset) == (True, "sidecar", "distilled")
    assert detect_version(misleading, distilled=False).distilled_source == "option"


def test_one_structural_flag_changes_the_detected_version(version_checkpoints, tmp_path):
    copy = tmp_path / "ckpt"
    shutil.copytree(version_checkpoints["2.0"], copy, ignore=shutil.ignore_patterns("*.safetensors"))
    config = copy / "transformer" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "use_keyframes_abs_pos_embedding": True}))
    assert detect_version(copy).version == "2.5"


@pytest.mark.parametrize("version", tiny.VERSIONS)
def test_load_report_says_version_audio_text_encoder_and_features(version, version_engines):
    info = version_engines[version].info()
    _vocoder, rate, text_encoder, *_ = EXPECTED[version]
    assert info.version == version
    assert (info.native_sample_rate, info.channels) == (rate, 2)
    assert info.text_encoder == text_encoder
    assert info.distilled is False and info.default_preset == "dev"
    assert "preset:distilled" in info.features
    assert info.model_id == tiny.model_id(version)
    assert ("duration_head" in info.parameter_counts) is (version == "2.5")


@pytest.mark.parametrize("version", tiny.VERSIONS)
def test_a_checkpoint_is_described_from_its_configs_as_loading_reports_it(version, version_engines, monkeypatch):
    loaded = version_engines[version].info()
    import diffusers

    def no_weights(*args, **kwargs):
        raise AssertionError("describing a checkpoint loaded a model")

    monkeypatch.setattr(diffusers.LTX2Pipeline, "from_pretrained", no_weights)
    described = describe_checkpoint(Path(loaded.model_path))
    same = ("model_id", "model_path", "fingerprint", "native_sample_rate", "channels", "version", "text_encoder")
    assert {f: getattr(described, f) for f in same} == {f: getattr(loaded, f) for f in same}
    assert (described.distilled, described.default_preset, described.features) == (
        loaded.distilled,
        loaded.default_preset,
        loaded.features,
    )
    # The clip's format, which a daemon sends in Accepted before the model is loaded, is the engine's.
    params = GenerationParams(prompt="a door", width=64, height=64, num_frames=25, seed=3)
    assert described.clip_format(params) == version_engines[version].clip_format(params)
    assert described.clip_format(replace(params, audio_sample_rate=16000)).num_samples == round(25 * 16000 / 24)


@pytest.mark.parametrize("version", tiny.VERSIONS)
def test_load_generate_stream_per_version(version, version_engines):
    engine = version_engines[version]
    params = small(num_frames=25, chunk_frames=8)
    events = list(engine.generate(params))
    got = collect(events, params)
    rate = EXPECTED[version][1]
    chunks = [e for e in events if isinstance(e, AudioChunk | VideoChunk)]
    assert [type(c) for c in chunks] == [AudioChunk, VideoChunk] * 3
    assert all(c.sample_rate == rate for c in chunks if isinstance(c, AudioChunk))
    assert got.frames.shape == (25, 64, 64, 3) and got.frames.std() > 1.0
    latent = round(25 / 24.0 * 25)
    # The model's (4L-3) mel frames of hop 160 at 16 kHz, at the vocoder's rate, padded to the video's span.
    model = (4 * latent - 3) * 160 * rate // 16000
    assert len(got.audio) == 25 * rate // 24 == got.completed.num_samples
    assert got.completed.num_samples - got.completed.audio_padded_samples == model
    assert np.isfinite(got.audio).all() and np.abs(got.audio).max() <= 1.0
    again = collect(engine.generate(params), params)
    assert np.array_equal(got.frames, again.frames) and np.array_equal(got.audio, again.audio)


@pytest.mark.parametrize("version", ["2.3", "2.5"])
def test_newer_versions_match_a_plain_pipeline_call(version, version_engines):
    engine = version_engines[version]
    params = GenerationParams(
        prompt="rain on a tin roof", width=64, height=64, num_frames=17, steps=3, seed=7,
        sample_format=SampleFormat.F32LE,
    )  # fmt: skip
    got = collect(engine.generate(params), params)
    out = engine.pipeline(prompt=params.prompt, negative_prompt="", output_type="np", **engine.pipeline_kwargs(params))
    assert np.abs(got.frames / 255.0 - out.frames[0]).max() <= 1 / 255
    ref_audio = out.audio[0].float().numpy().T
    # The stream's audio is the model's, then the padding to the video's span.
    assert len(got.audio) - got.completed.audio_padded_samples == len(ref_audio)
    assert np.abs(got.audio[: len(ref_audio)] - ref_audio).max() <= 1e-4


def test_cli_builds_each_version(tmp_path):
    from tests.engine.test_tiny import run_cli

    result = run_cli(str(tmp_path / "v23"), "--version", "2.3")
    assert result.returncode == 0, result.stderr
    assert detect_version(tmp_path / "v23").version == "2.3"
    bad = run_cli(str(tmp_path / "v9"), "--version", "9.9")
    assert bad.returncode == 2 and "invalid choice: '9.9'" in bad.stderr
