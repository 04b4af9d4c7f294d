"""Loading checkpoints: errors that say what is wrong, and options honoured."""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from ltx2 import CheckpointError
from ltx2.engine import Ltx2Engine
from ltx2.loader import LoadOptions, check_checkpoint, fingerprint, load_pipeline


def test_missing_folder(tmp_path):
    with pytest.raises(CheckpointError, match="not a folder"):
        check_checkpoint(tmp_path / "nope")


def test_folder_without_model_index(tmp_path):
    with pytest.raises(CheckpointError, match=r"no model_index\.json"):
        check_checkpoint(tmp_path)


def test_missing_component_is_named(tmp_path, tiny_checkpoint):
    copy = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, copy)
    shutil.rmtree(copy / "vocoder")
    with pytest.raises(CheckpointError, match="missing component folders vocoder"):
        load_pipeline(copy)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (LoadOptions(dtype="int3"), "dtype='int3': must be one of auto, bf16, fp16, fp32"),
        (LoadOptions(device="cpu", offload=True), "offload=True: model CPU offload needs a CUDA device"),
        (LoadOptions(quantization="q2"), "quantization='q2': must be one of none, int8, nf4, fp8"),
    ],
)
def test_bad_options(tiny_checkpoint, options, message):
    with pytest.raises(CheckpointError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_pipeline(tiny_checkpoint, options)


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is not None, reason="bitsandbytes is installed")
def test_quantization_without_its_library_is_a_clear_error(tiny_checkpoint):
    with pytest.raises(CheckpointError, match=r"needs the bitsandbytes package"):
        load_pipeline(tiny_checkpoint, LoadOptions(quantization="nf4"))


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bf16_load(tiny_checkpoint):
    engine = Ltx2Engine.load(tiny_checkpoint, options=LoadOptions(device="cuda", dtype="bf16"))
    assert engine.info().device.startswith("cuda") and engine.info().dtype == "bfloat16"


def test_bf16_on_cpu_streams_float_audio_and_uint8_frames(tiny_checkpoint):
    from tests.engine.conftest import collect, small

    engine = Ltx2Engine.load(tiny_checkpoint, options=LoadOptions(device="cpu", dtype="bf16"))
    assert engine.info().dtype == "bfloat16"
    got = collect(engine.generate(small()), small())
    assert got.frames.dtype.name == "uint8" and got.audio.dtype.name == "float32"
    assert len(got.frames) == 25


def test_fingerprint_is_stable_and_changes_with_the_weights(tmp_path, tiny_checkpoint):
    copy = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, copy)
    assert fingerprint(copy) == fingerprint(tiny_checkpoint)
    config = copy / "scheduler" / "scheduler_config.json"
    config.write_text(config.read_text().replace("}", ', "note": 1}', 1))
    assert fingerprint(copy) != fingerprint(tiny_checkpoint)


def test_vae_tiling_option_is_applied(tiny_checkpoint):
    loaded = load_pipeline(tiny_checkpoint, LoadOptions(vae_tiling=True))
    assert loaded.pipe.vae.use_tiling
    assert loaded.max_sequence_length == 64  # from the tiny checkpoint's ltx2d.json


def test_the_load_report_says_how_the_video_is_decoded(tiny_checkpoint, engine, caplog):
    from tests.engine.conftest import collect, small

    assert engine.info().video_decode == "streaming"
    with caplog.at_level("INFO", logger="ltx2.loader"):
        tiled = Ltx2Engine.load(tiny_checkpoint, options=LoadOptions(vae_tiling=True))
    # Tiles would share one layer state: a tiled VAE decodes the whole clip before the first chunk.
    assert tiled.info().video_decode.startswith("whole: VAE tiling is enabled")
    assert "video decode: whole clip before the first chunk (VAE tiling is enabled" in caplog.text
    a, b = collect(tiled.generate(small()), small()), collect(engine.generate(small()), small())
    assert a.frames.shape == b.frames.shape == (25, 64, 64, 3)
    assert abs(a.frames.astype(int) - b.frames.astype(int)).max() <= 1  # 64 px: below the tile size
    assert (a.audio == b.audio).all()


def test_a_declared_distilled_changes_the_fingerprint_the_same_way_loaded_or_not(tiny_checkpoint):
    """`--distilled` changes the default preset without touching the files: cache keys must differ,
    and the daemon's fingerprint from the files must equal the loaded model's."""
    plain = fingerprint(tiny_checkpoint)
    declared = fingerprint(tiny_checkpoint, distilled=True)
    assert len({plain, declared, fingerprint(tiny_checkpoint, distilled=False)}) == 3
    assert fingerprint(tiny_checkpoint, None) == plain
    loaded = load_pipeline(tiny_checkpoint, LoadOptions(distilled=True))
    assert loaded.info.fingerprint == declared and loaded.info.distilled
