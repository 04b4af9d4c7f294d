"""Dev and distilled presets: what they resolve to, what they cost in transformer passes (counted for
real by a forward hook), and the guidance knobs' validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ltx2 import GenerationParams, InvalidParams
from ltx2.params import LoraWeight
from ltx2.versions import DISTILLED_SIGMAS

from .conftest import collect, small


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"audio_stg_scale": -1.0}, "audio_stg_scale", "between 0 and 30"),
        ({"audio_modality_scale": 0.5}, "audio_modality_scale", "between 1 and 30"),
        ({"audio_modality_scale": float("nan")}, "audio_modality_scale", "finite"),
        ({"preset": "fast"}, "preset", "must be one of dev, distilled"),
        ({"loras": (LoraWeight("style", 2.5),)}, "loras[0].strength", "between 0 and 2"),
        ({"loras": (LoraWeight("style", -0.1),)}, "loras[0].strength", "between 0 and 2"),
        ({"loras": (LoraWeight("a"), LoraWeight("a"))}, "loras[1].name", "must not be listed twice"),
        ({"loras": (LoraWeight(""),)}, "loras[0].name", "non-empty"),
        ({"loras": ("style",)}, "loras", "list of {name, strength}"),
    ],
)
def test_new_fields_are_validated(changes, field, rule):
    with pytest.raises(InvalidParams) as caught:
        GenerationParams(prompt="x", **changes).validate()
    assert caught.value.field == field and rule in str(caught.value)


def test_unset_fields_take_the_checkpoints_default_preset_and_explicit_ones_win(engine):
    dev = engine.resolve(GenerationParams(prompt="x"))
    assert dev.preset == "dev"
    assert (dev.steps, dev.video_guidance_scale, dev.audio_guidance_scale) == (40, 3.0, 7.0)  # LTX-2.0
    assert (dev.stg_scale, dev.audio_stg_scale, dev.modality_scale, dev.audio_modality_scale) == (1.0, 1.0, 3.0, 3.0)
    assert dev.guidance_rescale == 0.7
    mine = engine.resolve(GenerationParams(prompt="x", steps=12, audio_guidance_scale=2.0))
    assert (mine.steps, mine.audio_guidance_scale, mine.video_guidance_scale) == (12, 2.0, 3.0)


def test_dev_steps_follow_the_version(version_engines):
    assert version_engines["2.3"].resolve(GenerationParams(prompt="x")).steps == 30
    assert version_engines["2.5"].resolve(GenerationParams(prompt="x", preset="dev")).steps == 30


def test_distilled_is_eight_fixed_sigmas_with_every_knob_neutral(engine):
    p = engine.resolve(GenerationParams(prompt="x", preset="distilled"))
    assert p.steps == 8
    assert (p.video_guidance_scale, p.audio_guidance_scale, p.modality_scale, p.audio_modality_scale) == (1.0,) * 4
    assert (p.stg_scale, p.audio_stg_scale) == (0.0, 0.0)
    assert engine.pipeline_kwargs(p.with_seed(1))["sigmas"] == list(DISTILLED_SIGMAS)
    with pytest.raises(InvalidParams, match=r"steps=30: must be 8 \(or unset\) with preset='distilled'"):
        engine.resolve(GenerationParams(prompt="x", preset="distilled", steps=30))


def _timesteps(engine, params):
    """The timesteps the transformer really saw in a run (one per step)."""
    seen: list[float] = []
    hook = engine.pipeline.transformer.register_forward_pre_hook(
        lambda _m, _a, kw: seen.append(float(kw["timestep"].flatten()[0])), with_kwargs=True
    )
    try:
        got = collect(engine.generate(params), params)
    finally:
        hook.remove()
    return got, seen


def test_a_distilled_run_uses_the_sigmas_as_given_and_one_pass_a_step(version_engines):
    engine = version_engines["2.3"]
    params = small(preset="distilled", steps=None)
    got, seen = _timesteps(engine, params)
    # Unshifted: the checkpoint's resolution-dependent shift would move every sigma.
    assert seen == pytest.approx([1000 * s for s in DISTILLED_SIGMAS], abs=1e-3)
    assert got.completed.timings.transformer_passes_per_step == 1.0
    assert got.completed.timings.denoise_s_per_pass > 0


@pytest.mark.parametrize(("version", "passes"), [("2.0", 3.0), ("2.3", 4.0), ("2.5", 4.0)])
def test_default_guidance_costs_several_passes_a_step(version, passes, version_engines):
    # CFG runs as a batch of two (2 passes), STG one, modality isolation one. LTX-2.0's transformer has no
    # perturbed-attention processor, so its STG pass would change nothing and is skipped.
    got = collect(version_engines[version].generate(small(steps=3)), small())
    timings = got.completed.timings
    assert timings.transformer_passes_per_step == passes
    assert timings.denoise_s_per_pass == pytest.approx(timings.denoise_s / (3 * passes))


def test_guidance_left_on_with_the_distilled_schedule_costs_four_passes(version_engines):
    params = small(preset="distilled", steps=None, video_guidance_scale=3.0, stg_scale=1.0, modality_scale=3.0)
    got = collect(version_engines["2.3"].generate(params), params)
    assert got.completed.timings.transformer_passes_per_step == 4.0


def _latents(engine, **changes):
    kwargs = {**engine.pipeline_kwargs(small(seed=3)), **changes}
    video, audio = engine.pipeline(prompt="a bell", output_type="latent", return_dict=False, **kwargs)
    return video, audio


def test_stg_changes_nothing_on_ltx_2_0_so_skipping_it_keeps_the_output(engine, version_engines):
    skipped = _latents(engine)
    assert engine.pipeline_kwargs(small(seed=1))["stg_scale"] == 0.0
    # The STG pass runs at batch 1 while the conditional one ran in CFG's batch of 2, so the two predictions
    # differ only by float rounding (about 1e-6 on latents of magnitude 3), whatever the scale.
    for scale in (1.0, 5.0):
        with_stg = _latents(engine, stg_scale=scale, audio_stg_scale=scale)
        assert torch.allclose(skipped[0], with_stg[0], rtol=0, atol=2e-5)
        assert torch.allclose(skipped[1], with_stg[1], rtol=0, atol=2e-5)
    # Where the processor exists (2.3) STG really changes the result.
    newer = version_engines["2.3"]
    assert newer.pipeline_kwargs(small(seed=1))["stg_scale"] == 1.0
    off, on = _latents(newer, stg_scale=0.0, audio_stg_scale=0.0), _latents(newer)
    assert (off[0] - on[0]).abs().max() > 1e-2


def test_audio_stg_of_zero_is_honoured_with_video_stg_on(version_engines):
    # diffusers replaces a falsy audio STG by the video one; the engine must not let it.
    engine = version_engines["2.3"]
    a = collect(engine.generate(small(stg_scale=1.0, audio_stg_scale=0.0)), small())
    b = collect(engine.generate(small(stg_scale=1.0, audio_stg_scale=1.0)), small())
    assert not np.array_equal(a.audio, b.audio)
    assert engine.pipeline_kwargs(small(stg_scale=1.0, audio_stg_scale=0.0))["audio_stg_scale"] < 1e-30


def test_a_value_the_preset_chose_that_breaks_a_limit_names_the_preset(engine):
    from ltx2 import Limits

    with pytest.raises(InvalidParams) as caught:
        engine.info().resolve(GenerationParams(prompt="x", preset="dev"), Limits(max_steps=20))
    assert caught.value.field == "preset"
    assert str(caught.value) == "preset='dev': gives steps=40, which must be between 2 and 20"
    with pytest.raises(InvalidParams, match=r"^steps=25: must be between 2 and 20"):
        engine.info().resolve(GenerationParams(prompt="x", preset="dev", steps=25), Limits(max_steps=20))
