"""A real daemon serving two tiny checkpoints, LTX-2.0 (the default) and LTX-2.3, with one
resident at a time: requests name a model over gRPC (SDK) and the bridge, GetInfo lists both and
says which is resident, a cache hit for the other model loads nothing, bad names are refused."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from ltx2.tiny import ensure_tiny_checkpoint
from ltx2_client import Client, InvalidArgument

SMALL = {"width": 64, "height": 64, "num_frames": 17, "chunk_frames": 8, "steps": 2, "sample_format": "f32le"}


@pytest.fixture(scope="module")
def daemon() -> Iterator[Any]:
    from ltx2d import testing

    v20, v23 = ensure_tiny_checkpoint(version="2.0"), ensure_tiny_checkpoint(version="2.3")
    args = ["--model", f"v20={v20}", "--model", f"v23={v23}", "--metrics-port", "0"]
    with testing.DaemonProcess(args) as process:
        yield process


def _models(info: Any) -> list[tuple[str, bool, bool, str]]:
    return [(m["name"], m["loaded"], m["is_default"], m["model_version"]) for m in info.models]


def test_requests_choose_the_model_and_one_is_resident_at_a_time(daemon: Any) -> None:
    with Client(daemon.grpc_address) as client:
        cold = client.info()
        assert [m[:3] for m in _models(cold)] == [("v20", False, True), ("v23", False, False)]
        assert cold.resident_model == "" and not cold.loaded

        on_23 = client.generate("a door creaks", seed=4, model="v23", **SMALL).result()
        after_23 = client.info()
        on_20 = client.generate("a door creaks", seed=4, **SMALL).result()  # unset: the default
        after_20 = client.info()
        hit_23 = client.generate("a door creaks", seed=4, model="v23", **SMALL).result()
        after_hit = client.info()

    # Each clip has its model's audio format: 2.0's vocoder 24 kHz, 2.3's BWE vocoder 48 kHz.
    assert (on_23.sample_rate, on_20.sample_rate) == (48000, 24000)
    assert after_23.resident_model == "v23" and after_23.model_version == "2.3"
    assert _models(after_23) == [("v20", False, True, "2.0"), ("v23", True, False, "2.3")]
    assert after_20.resident_model == "v20" and after_20.model_version == "2.0"
    assert [m[1] for m in _models(after_20)] == [True, False]
    # The v23 clip again is a cache hit: the same bytes, and v23 was not loaded to serve it.
    assert hit_23.cache_hit and np.array_equal(hit_23.frames, on_23.frames)
    assert np.array_equal(hit_23.audio, on_23.audio)
    assert after_hit.resident_model == "v20"
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{daemon.metrics_port}/metrics", timeout=10).read().decode()
    assert 'ltx2d_model_resident{model="v20"} 1.0' in metrics
    assert 'ltx2d_model_resident{model="v23"} 0.0' in metrics
    assert 'ltx2d_model_loads_total{model="v23"} 1.0' in metrics  # the hit loaded nothing


def test_load_switches_models_and_bad_names_are_refused_naming_the_field(daemon: Any) -> None:
    with Client(daemon.grpc_address) as client:
        loaded = client.load("v23")
        assert loaded.resident_model == "v23" and loaded.model_version == "2.3"
        with pytest.raises(InvalidArgument) as caught:
            client.generate("a door creaks", model="v30", **SMALL).result()
        with pytest.raises(InvalidArgument) as on_load:
            client.load("nope")
        assert client.load().resident_model == "v20"  # "" is the default
    assert caught.value.field == "model" and "'v30'" in caught.value.message
    assert "v20, v23" in caught.value.message
    assert on_load.value.field == "model"


def test_the_bridge_names_the_model_too(daemon: Any) -> None:
    from ltx2d.testing import BridgeClient

    async def body() -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
        client = await BridgeClient.connect(daemon.bridge_address)
        try:
            request = {"type": "generate", "id": 1, "prompt": "rain on a tin roof", "seed": 2, "model": "v23"}
            await client.send({**request, **SMALL, "sample_format": "SAMPLE_FORMAT_F32LE"})
            stream = await client.stream(1, timeout=120)
            bad = await client.request({"type": "generate", "id": 2, "prompt": "x", "model": "v9"})
            load = await client.request({"type": "load", "id": 3, "model": "v20"}, timeout=120)
            return stream, bad, load
        finally:
            await client.close()

    stream, bad, load = asyncio.run(body())
    assert stream[0]["type"] == "accepted" and stream[0]["format"]["sample_rate"] == 48000
    assert stream[-1]["type"] == "completed"
    assert bad["type"] == "error" and bad["field"] == "model" and "'v9'" in bad["message"]
    assert load["type"] == "info" and load["resident_model"] == "v20"


def test_a_model_whose_checkpoint_cannot_be_read_stops_the_start_naming_it(tmp_path: Any) -> None:
    from ltx2d import testing

    v20 = ensure_tiny_checkpoint(version="2.0")
    missing = tmp_path / "missing"
    process = testing.DaemonProcess(["--model", str(v20), "--model", f"gone={missing}", "--no-bridge"], bridge=False)
    with pytest.raises(testing.DaemonError) as caught:
        process.start()
    process.stop()
    assert "--model gone" in str(caught.value) and str(missing) in str(caught.value)


def test_the_cli_lists_loads_and_generates_on_a_named_model(daemon: Any, tmp_path: Any, capsys: Any) -> None:
    import wave

    from ltx2_client.cli import main

    address = daemon.grpc_address
    assert main(["load", "--model", "v23", "--address", address]) == 0
    assert "(v23): loaded" in capsys.readouterr().out
    assert main(["info", "--address", address]) == 0
    listed = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("models"))
    assert "v20 2.0 (default)" in listed and "v23 2.3 (resident)" in listed
    wav = tmp_path / "door.wav"
    argv = ["generate", "a door", "--wav", str(wav), "--model", "v20", "--frames", "17", "--width", "64"]
    assert main([*argv, "--height", "64", "--steps", "2", "-q", "--address", address]) == 0
    with wave.open(str(wav)) as audio:
        assert audio.getframerate() == 24000
