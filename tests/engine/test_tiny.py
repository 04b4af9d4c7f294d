"""The tiny offline checkpoint: layout, reload through diffusers, real compression ratios, determinism,
the command line, and the build-once cache. Real weights-free CPU runs; no network."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import LTX2Pipeline

from ltx2 import tiny
from ltx2.errors import CheckpointError

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny.build_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "ckpt", seed=0)


@pytest.fixture(scope="module")
def pipe(checkpoint: Path) -> LTX2Pipeline:
    pipe = LTX2Pipeline.from_pretrained(checkpoint)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def relative_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def assert_same_files(a: Path, b: Path) -> None:
    files = relative_files(a)
    assert files == relative_files(b)
    _, mismatch, errors = filecmp.cmpfiles(a, b, files, shallow=False)
    assert (mismatch, errors) == ([], [])


def test_build_writes_every_component_and_the_engine_defaults(checkpoint: Path) -> None:
    for name in tiny.COMPONENTS:
        assert (checkpoint / name).is_dir(), name
    index = json.loads((checkpoint / "model_index.json").read_text())
    assert index["_class_name"] == "LTX2Pipeline"
    assert index["text_encoder"] == ["transformers", "Gemma3ForConditionalGeneration"]
    assert index["connectors"] == ["ltx2", "LTX2TextConnectors"]
    assert index["vocoder"] == ["ltx2", "LTX2Vocoder"]
    defaults = json.loads((checkpoint / "ltx2d.json").read_text())
    assert defaults == {"model_id": "ltx2-tiny", "max_sequence_length": 64, "format_version": 1}
    assert tiny.is_tiny_checkpoint(checkpoint)
    # No temporary build folder is left beside the checkpoint.
    assert [p.name for p in checkpoint.parent.iterdir()] == [checkpoint.name]
    size = sum(p.stat().st_size for p in checkpoint.rglob("*") if p.is_file())
    assert size < 16 * 2**20


def test_reload_keeps_the_real_ratios_and_shape_rules(pipe: LTX2Pipeline) -> None:
    assert (pipe.vae_spatial_compression_ratio, pipe.vae_temporal_compression_ratio) == (32, 8)
    assert len(pipe.vae.config.down_block_types) == 4
    assert pipe.vae.config.patch_size == 4
    audio = pipe.audio_vae.config
    assert (audio.sample_rate, audio.mel_bins, audio.mel_hop_length) == (16000, 64, 160)
    assert tuple(audio.ch_mult) == (1, 2, 4)
    assert pipe.vocoder.config.output_sampling_rate == 24000
    assert np.prod(pipe.vocoder.config.upsample_factors) == 240
    assert pipe.vocoder.config.out_channels == 2

    text = pipe.text_encoder.config.text_config
    connectors = pipe.connectors.config
    transformer = pipe.transformer.config
    assert text.hidden_size == transformer.caption_channels == connectors.caption_channels
    assert text.hidden_size == connectors.video_connector_num_attention_heads * (
        connectors.video_connector_attention_head_dim
    )
    assert connectors.text_proj_in_factor == text.num_hidden_layers + 1
    assert transformer.in_channels == pipe.vae.config.latent_channels
    assert transformer.audio_in_channels == audio.base_channels == audio.latent_channels * audio.mel_bins // 4
    assert pipe.vocoder.config.in_channels == audio.output_channels * audio.mel_bins


def test_tokenizer_is_gemma_style(pipe: LTX2Pipeline) -> None:
    tokenizer = pipe.tokenizer
    assert type(tokenizer).__name__ in ("GemmaTokenizer", "GemmaTokenizerFast")
    assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3]) == ["<pad>", "<eos>", "<bos>", "<unk>"]
    assert tokenizer.padding_side == "left"
    ids = tokenizer("a robot dancing", padding="max_length", max_length=12).input_ids
    words = tokenizer("a robot dancing", add_special_tokens=False).input_ids
    pad = 12 - 1 - len(words)
    assert pad > 0
    assert ids == [tokenizer.pad_token_id] * pad + [tokenizer.bos_token_id, *words]
    # Words outside the corpus fall back to bytes rather than <unk>, and decode back.
    ids = tokenizer("zebra ü", add_special_tokens=False).input_ids
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids) == "zebra ü"


def test_video_vae_compresses_32x_in_space_and_8x_in_time(pipe: LTX2Pipeline) -> None:
    video = torch.rand(1, 3, 17, 64, 96) * 2 - 1  # 8k+1 frames
    with torch.no_grad():
        latents = pipe.vae.encode(video).latent_dist.mode()
        decoded = pipe.vae.decode(latents).sample
    assert latents.shape == (1, pipe.vae.config.latent_channels, 3, 2, 3)
    assert decoded.shape == video.shape


def test_generation_shapes_and_audio_length(pipe: LTX2Pipeline) -> None:
    num_frames, frame_rate = 121, 24.0
    out = pipe(
        "a robot dancing in the rain",
        width=128,
        height=128,
        num_frames=num_frames,
        frame_rate=frame_rate,
        num_inference_steps=2,
        max_sequence_length=64,
        output_type="np",
        generator=torch.Generator().manual_seed(0),
    )
    video = out.frames
    assert video.shape == (1, num_frames, 128, 128, 3)
    assert video.dtype == np.float32
    assert np.isfinite(video).all()
    assert video.min() >= 0.0 and video.max() <= 1.0
    assert video.std() > 0.01  # not a constant image

    audio = torch.as_tensor(out.audio)
    latent_frames = round(num_frames / frame_rate * 25)
    assert audio.shape == (1, 2, (4 * latent_frames - 3) * 240)
    assert audio.dtype == torch.float32
    assert torch.isfinite(audio).all()


def test_same_seed_same_bytes_other_seed_other_weights(checkpoint: Path, tmp_path: Path) -> None:
    other = tiny.build_tiny_checkpoint(tmp_path / "seed1", seed=1)
    assert relative_files(other) == relative_files(checkpoint)
    weights = [f for f in relative_files(checkpoint) if f.endswith(".safetensors")]
    configs = [f for f in relative_files(checkpoint) if not f.endswith(".safetensors")]
    _, differ, _ = filecmp.cmpfiles(checkpoint, other, weights, shallow=False)
    assert sorted(differ) == sorted(weights)
    same, _, _ = filecmp.cmpfiles(checkpoint, other, configs, shallow=False)
    assert sorted(same) == sorted(configs)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "ltx2.tiny", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_cli_builds_the_same_bytes_in_another_process(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = run_cli(str(out), "--seed", "0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert_same_files(out, checkpoint)

    again = run_cli(str(out))
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert_same_files(out, checkpoint)


def test_cli_help() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "OUT_DIR" in result.stdout.upper()
    assert "--seed" in result.stdout


def test_default_dir_reads_the_environment_at_call_time(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LTX2D_HOME", str(tmp_path / "home"))
    assert tiny.default_tiny_dir() == tmp_path / "home" / "tiny-v1"
    monkeypatch.delenv("LTX2D_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert tiny.default_tiny_dir() == tmp_path / "user" / ".cache" / "ltx2d" / "tiny-v1"


def test_ensure_builds_once_then_reuses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LTX2D_HOME", str(tmp_path))
    builds: list[Path] = []
    real_build = tiny.build_tiny_checkpoint

    def counting_build(out_dir: Path, *, seed: int = 0, version: str = "2.0") -> Path:
        builds.append(out_dir)
        return real_build(out_dir, seed=seed, version=version)

    monkeypatch.setattr(tiny, "build_tiny_checkpoint", counting_build)
    first = tiny.ensure_tiny_checkpoint()
    assert first == tmp_path / "tiny-v1"
    assert tiny.is_tiny_checkpoint(first)
    marker = (first / "model_index.json").stat().st_mtime_ns
    assert tiny.ensure_tiny_checkpoint() == first
    assert tiny.ensure_tiny_checkpoint(first) == first
    assert builds == [first]
    assert (first / "model_index.json").stat().st_mtime_ns == marker


def test_losing_a_build_race_uses_the_winners_folder(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target = tmp_path / "shared" / "tiny-v1"

    def winner_finishes_first(*, seed: int = 0, version: str = "2.0") -> LTX2Pipeline:
        # Another process completes its rename while this one is still building.
        shutil.copytree(checkpoint, target)
        (target / "winner").write_text("1")
        return LTX2Pipeline.from_pretrained(checkpoint)

    monkeypatch.setattr(tiny, "build_pipeline", winner_finishes_first)
    assert tiny.ensure_tiny_checkpoint(target) == target
    assert (target / "winner").is_file()
    assert [p.name for p in target.parent.iterdir()] == ["tiny-v1"]  # the loser's temp folder is gone


def test_a_failed_build_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def crash(*, seed: int = 0, version: str = "2.0") -> LTX2Pipeline:
        raise RuntimeError("simulated crash while building")

    monkeypatch.setattr(tiny, "build_pipeline", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        tiny.build_tiny_checkpoint(tmp_path / "tiny-v1")
    assert list(tmp_path.iterdir()) == []


def test_ensure_refuses_a_folder_that_is_not_a_tiny_checkpoint(tmp_path: Path) -> None:
    stranger = tmp_path / "tiny-v1"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("keep me")
    with pytest.raises(CheckpointError, match="not a complete ltx2-tiny checkpoint") as info:
        tiny.ensure_tiny_checkpoint(stranger)
    assert str(stranger) in str(info.value)
    assert (stranger / "notes.txt").read_text() == "keep me"
