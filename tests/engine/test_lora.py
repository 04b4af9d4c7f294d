"""LoRA adapters made offline with peft for the tiny checkpoints: loaded once, switched per job, checked
against the model version, and part of the cache identity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file, save_file

from ltx2 import CheckpointError, InvalidParams, JobControl, Phase, Progress
from ltx2.engine import Ltx2Engine
from ltx2.loader import LoadOptions
from ltx2.lora import LoraSpec
from ltx2.params import LoraWeight
from ltx2.tiny import build_tiny_lora

from .conftest import collect, small

pytest.importorskip("peft")


@pytest.fixture(scope="module")
def lora_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("loras")
    files = {
        "style": build_tiny_lora(folder / "style.safetensors", seed=1),
        "camera": build_tiny_lora(folder / "camera.safetensors", seed=2),
        "for_2.3": build_tiny_lora(folder / "for_23.safetensors", version="2.3", seed=3),
    }
    # The same adapter in ComfyUI / Lightricks key format (`diffusion_model.` instead of `transformer.`).
    comfy = {f"diffusion_model.{k.removeprefix('transformer.')}": v for k, v in load_file(files["style"]).items()}
    files["comfy"] = folder / "style_comfy.safetensors"
    save_file(comfy, files["comfy"])
    return files


@pytest.fixture(scope="module")
def lora_engine(tiny_checkpoint, lora_files) -> Ltx2Engine:
    specs = (
        LoraSpec("style", lora_files["style"]),
        LoraSpec("camera", lora_files["camera"], 0.5),
        LoraSpec("comfy", lora_files["comfy"]),
    )
    return Ltx2Engine.load(tiny_checkpoint, options=LoadOptions(loras=specs))


def run(engine, **changes):
    params = small(**changes)
    return collect(engine.generate(params), params)


def same(a, b) -> bool:
    return np.array_equal(a.frames, b.frames) and np.array_equal(a.audio, b.audio)


def test_the_load_report_lists_the_adapters(lora_engine, lora_files):
    adapters = {a.name: a for a in lora_engine.info().adapters}
    assert set(adapters) == {"style", "camera", "comfy"}
    assert adapters["camera"].default_strength == 0.5
    assert adapters["style"].path == str(lora_files["style"])
    assert adapters["style"].fingerprint != adapters["camera"].fingerprint
    assert adapters["style"].components == ("transformer",)


def test_strength_zero_and_no_adapter_give_the_base_models_bytes(lora_engine, engine):
    base = run(engine)  # the same checkpoint loaded without any adapter
    assert same(run(lora_engine), base)
    assert same(run(lora_engine, loras=(LoraWeight("style", 0.0),)), base)
    styled = run(lora_engine, loras=(LoraWeight("style", 1.0),))
    assert not np.array_equal(styled.frames, base.frames)
    stronger = run(lora_engine, loras=(LoraWeight("style", 2.0),))
    assert not np.array_equal(stronger.frames, styled.frames)


def test_comfyui_key_format_loads_as_the_same_adapter(lora_engine):
    assert same(
        run(lora_engine, loras=(LoraWeight("comfy", 1.0),)), run(lora_engine, loras=(LoraWeight("style", 1.0),))
    )


def test_an_unset_strength_is_the_one_it_was_loaded_with(lora_engine):
    assert same(run(lora_engine, loras=(LoraWeight("camera"),)), run(lora_engine, loras=(LoraWeight("camera", 0.5),)))


def test_interleaved_adapters_give_the_same_bytes_as_each_alone(lora_engine):
    """A job with one adapter is paused mid-denoise while a job with another runs; it resumes with its own."""
    a_params = small(steps=6, seed=5, loras=(LoraWeight("style", 1.0),))
    b_params = small(seed=9, loras=(LoraWeight("camera", 1.5),))
    a_alone = collect(lora_engine.generate(a_params), a_params)
    b_alone = collect(lora_engine.generate(b_params), b_params)
    both = collect(lora_engine.generate(small(seed=9, loras=(LoraWeight("style"), LoraWeight("camera")))), small())
    assert not same(both, b_alone)

    control = JobControl()
    stream = lora_engine.generate(a_params, control)
    events = []
    for event in stream:
        events.append(event)
        if isinstance(event, Progress) and event.phase == Phase.DENOISING and event.step == 3:
            control.request_pause()
            break
    events.append(next(stream))
    assert events[-1].phase == Phase.PAUSED and control.wait_paused(30)
    b_meanwhile = collect(lora_engine.generate(b_params), b_params)
    base_meanwhile = run(lora_engine, seed=9)
    control.resume()
    events.extend(stream)
    assert same(collect(events, a_params), a_alone)
    assert same(b_meanwhile, b_alone)
    assert not same(base_meanwhile, b_alone)


def test_a_request_naming_an_adapter_that_is_not_loaded_is_refused(lora_engine, engine):
    with pytest.raises(InvalidParams, match=r"loras\[0\]\.name='anime': no adapter of that name is loaded "):
        list(lora_engine.generate(small(loras=(LoraWeight("anime"),))))
    with pytest.raises(InvalidParams, match=r"\(loaded: none\)"):
        engine.clip_format(small(loras=(LoraWeight("style"),)))


def test_a_lora_for_another_version_is_refused_at_start_naming_file_and_version(tiny_checkpoint, lora_files):
    spec = LoraSpec("wrong", lora_files["for_2.3"])
    with pytest.raises(CheckpointError) as caught:
        Ltx2Engine.load(tiny_checkpoint, options=LoadOptions(loras=(spec,)))
    message = str(caught.value)
    assert str(lora_files["for_2.3"]) in message and "does not fit the loaded LTX-2.0 model" in message
    assert "to_gate_logits" in message


def test_the_cache_identity_includes_adapter_file_and_strength(lora_engine):
    info = lora_engine.info()
    plain = small()
    assert info.job_fingerprint(plain) == info.fingerprint
    style = small(loras=(LoraWeight("style", 1.0),))
    camera = small(loras=(LoraWeight("camera", 1.0),))
    assert len({info.job_fingerprint(style), info.job_fingerprint(camera), info.fingerprint}) == 3
    half = small(loras=(LoraWeight("style", 0.5),))
    assert style.output_key() != half.output_key()
    assert style.output_key()["loras"] == [["style", 1.0]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("style=/x/a.safetensors", LoraSpec("style", Path("/x/a.safetensors"), 1.0)),
        ("style=/x/a.safetensors:0.8", LoraSpec("style", Path("/x/a.safetensors"), 0.8)),
        ("c=C:/w/a.safetensors", LoraSpec("c", Path("C:/w/a.safetensors"), 1.0)),
    ],
)
def test_lora_spec_parses_name_path_and_strength(text, expected):
    assert LoraSpec.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nopath", "must be NAME=PATH"),
        ("style=/x/a:2.5", "strength=2.5: must be between 0 and 2"),
        ("bad name=/x/a", "must be 1-64 letters"),
    ],
)
def test_lora_spec_refuses_bad_specs(text, message):
    with pytest.raises(ValueError, match=message):
        LoraSpec.parse(text)
