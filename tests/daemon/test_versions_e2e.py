"""A real daemon on the tiny LTX-2.3 checkpoint with a LoRA loaded at start, driven by the SDK:
GetInfo says what the model is, presets and adapters are chosen per request, and the cache tells
adapters and strengths apart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("peft")

from ltx2.tiny import build_tiny_lora, ensure_tiny_checkpoint
from ltx2_client import Client, InvalidArgument

SMALL = {"width": 64, "height": 64, "num_frames": 17, "chunk_frames": 8, "sample_format": "f32le"}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from ltx2d import testing

    model = ensure_tiny_checkpoint(version="2.3")
    lora = build_tiny_lora(tmp_path_factory.mktemp("lora") / "style.safetensors", version="2.3", seed=4)
    args = ["--model", str(model), "--lora", f"style={lora}:0.7", "--default-steps", "model", "--no-bridge"]
    with testing.DaemonProcess([*args, "--preload"], bridge=False) as process:
        yield process


def test_get_info_says_version_audio_text_encoder_features_and_adapters(daemon):
    with Client(daemon.grpc_address) as client:
        info = client.info()
    assert info.model_version == "2.3"
    assert (info.native_sample_rate, info.native_channels) == (48000, 2)
    assert info.text_encoder == "Gemma3ForConditionalGeneration"
    assert info.distilled is False and info.default_preset == "dev"
    assert {"preset:dev", "preset:distilled", "stg", "lora"} <= set(info.features)
    assert [a["name"] for a in info.adapters] == ["style"]
    assert info.adapters[0]["default_strength"] == pytest.approx(0.7)
    assert "steps" not in info.defaults  # unset: the preset's


def test_distilled_preset_runs_one_pass_a_step_and_dev_several(daemon):
    with Client(daemon.grpc_address) as client:
        distilled = client.generate("a bell", seed=2, preset="distilled", cache_policy="bypass", **SMALL).result()
        guided = client.generate("a bell", seed=2, preset="distilled", stg_scale=1.0, cache_policy="bypass",
                                 **SMALL).result()  # fmt: skip
    assert distilled.timings.transformer_passes_per_step == 1.0
    assert guided.timings.transformer_passes_per_step == 2.0  # the STG pass came back
    assert distilled.timings.denoise_s_per_pass > 0
    with Client(daemon.grpc_address) as client, pytest.raises(InvalidArgument) as caught:
        client.generate("a bell", preset="distilled", steps=30, **SMALL).result()
    assert caught.value.field == "steps" and "preset='distilled'" in caught.value.message


def test_adapters_per_request_are_validated_and_cached_apart(daemon):
    with Client(daemon.grpc_address) as client:
        base = client.generate("waves", seed=3, preset="distilled", **SMALL).result()
        styled = client.generate("waves", seed=3, preset="distilled", loras=["style"], **SMALL).result()
        zero = client.generate("waves", seed=3, preset="distilled", loras=[("style", 0.0)], **SMALL).result()
        again = client.generate("waves", seed=3, preset="distilled", loras=["style"], **SMALL).result()
        with pytest.raises(InvalidArgument) as caught:
            client.generate("waves", loras=["anime"], **SMALL).result()
        with pytest.raises(InvalidArgument) as strong:
            client.generate("waves", loras=[{"name": "style", "strength": 3.0}], **SMALL).result()
    assert not styled.cache_hit and not zero.cache_hit and again.cache_hit
    assert not np.array_equal(base.frames, styled.frames)
    assert np.array_equal(base.frames, zero.frames) and np.array_equal(base.audio, zero.audio)
    assert np.array_equal(styled.frames, again.frames)
    assert caught.value.field == "loras[0].name" and "loaded: style" in caught.value.message
    assert strong.value.field == "loras[0].strength"


def test_a_lora_for_another_version_stops_the_daemon_at_start_naming_file_and_version(tmp_path: Path):
    from ltx2d import testing

    lora = build_tiny_lora(tmp_path / "for_23.safetensors", version="2.3")
    process = testing.DaemonProcess(["--lora", f"x={lora}", "--preload", "--no-bridge"], bridge=False)
    with pytest.raises(testing.DaemonError) as caught:
        process.start()
    process.stop()
    assert str(lora) in str(caught.value) and "LTX-2.0" in str(caught.value)
