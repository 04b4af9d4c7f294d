"""Which LTX-2 a checkpoint is, read from its own configs, and the sampling presets of each version.

Every version loads through the same diffusers classes (`LTX2Pipeline` and its components), so the
folder name says nothing reliable; the configs do:

| signal (config file: key)                                   | 2.0   | 2.3   | 2.5   |
| ----------------------------------------------------------- | ----- | ----- | ----- |
| transformer: `gated_attn`, `cross_attn_mod`                 | false | true  | true  |
| transformer: `use_prompt_adaln_single` (with cross_attn_mod) | -     | true  | true  |
| transformer: `use_keyframes_abs_pos_embedding`              | false | false | true  |
| connectors: `per_modality_projections`                      | false | true  | true  |
| model_index: vocoder class (`LTX2Vocoder` 24 kHz, BWE 48 kHz) | 24 kHz | BWE   | BWE   |
| model_index: text encoder class                             | Gemma 3 | Gemma 3 | Gemma 4 |
| model_index: `duration_head`                                | -     | -     | LTX2DurationHead |

Distilled checkpoints have exactly the structure of their dev sibling (only the weights differ), so
"distilled" cannot be read from the structure: it is taken from the optional `ltx2d.json` sidecar
(`"distilled": true`) or the loader's `distilled` option, and the report says which.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CheckpointError

# diffusers.pipelines.ltx2.utils.DISTILLED_SIGMA_VALUES (kept here so validation needs no diffusers import;
# tests check the two agree).
DISTILLED_SIGMAS: tuple[float, ...] = (1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875)

# diffusers.pipelines.ltx2.utils.DEFAULT_IMAGE_CRF / LTX2_5_IMAGE_CRF (tests check they agree): the
# H.264 CRF keyframe pictures were compressed at in training, up to 2.3 and from 2.5.
DEFAULT_IMAGE_CRF = 33
LTX2_5_IMAGE_CRF = 18

PRESETS = ("dev", "distilled")
# Request features a checkpoint may or may not support (names used in load reports and GetInfo).
FEATURE_DEV = "preset:dev"
FEATURE_DISTILLED = "preset:distilled"
FEATURE_STG = "stg"
FEATURE_AUTO_DURATION = "auto_duration"
FEATURE_KEYFRAMES = "keyframe_position_embedding"
FEATURE_LORA = "lora"


@dataclass(frozen=True)
class Preset:
    """The sampling settings of one preset: steps, schedule and the six guidance knobs."""

    name: str
    steps: int
    # None: the pipeline's own schedule (linspace shifted by the checkpoint's scheduler); else fixed sigmas.
    sigmas: tuple[float, ...] | None
    video_guidance_scale: float
    audio_guidance_scale: float
    stg_scale: float
    audio_stg_scale: float
    modality_scale: float
    audio_modality_scale: float
    guidance_rescale: float
    stg_block: int

    def knobs(self) -> dict[str, Any]:
        """The GenerationParams fields this preset fills when a request leaves them unset."""
        return {
            "steps": self.steps,
            "video_guidance_scale": self.video_guidance_scale,
            "audio_guidance_scale": self.audio_guidance_scale,
            "stg_scale": self.stg_scale,
            "audio_stg_scale": self.audio_stg_scale,
            "modality_scale": self.modality_scale,
            "audio_modality_scale": self.audio_modality_scale,
            "guidance_rescale": self.guidance_rescale,
        }


def dev_preset(version: str) -> Preset:
    """Lightricks' recommended settings: LTX-2.0 40 steps, STG at block 29; LTX-2.3+ 30 steps, block 28.
    Both: CFG 3 (video) / 7 (audio), STG 1, modality guidance 3, rescale 0.7 (about 4 passes a step)."""
    steps, block = (40, 29) if version == "2.0" else (30, 28)
    return Preset("dev", steps, None, 3.0, 7.0, 1.0, 1.0, 3.0, 3.0, 0.7, block)


def distilled_preset(version: str) -> Preset:
    """The 8 distilled sigmas with every guidance knob neutral (one transformer pass a step): any knob
    left on would bring back CFG, STG or modality passes (about 4 a step)."""
    return Preset("distilled", len(DISTILLED_SIGMAS), DISTILLED_SIGMAS, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0)


def preset(name: str, version: str) -> Preset:
    if name == "dev":
        return dev_preset(version)
    if name == "distilled":
        return distilled_preset(version)
    raise ValueError(f"preset={name!r}: must be one of {', '.join(PRESETS)}")


@dataclass(frozen=True)
class ModelVersion:
    """What a checkpoint is, from its configs: the load report's version section."""

    version: str  # "2.0" | "2.3" | "2.5"
    text_encoder: str  # class name, e.g. Gemma3ForConditionalGeneration
    text_encoder_family: str  # "gemma3" | "gemma4"
    vocoder: str  # class name
    native_sample_rate: int
    channels: int
    gated_attention: bool
    cross_attention_modulation: bool
    prompt_adaln: bool
    per_modality_projections: bool
    keyframe_position_embedding: bool
    duration_head: bool
    # STG only changes anything with the perturbed-attention processor (2.3+ configs set it; 2.0 has none).
    perturbed_attention: bool
    distilled: bool
    distilled_source: str  # "sidecar" | "option" | "default"

    @property
    def default_preset(self) -> str:
        return "distilled" if self.distilled else "dev"

    @property
    def default_image_crf(self) -> int:
        """The H.264 CRF a keyframe picture is round-tripped at when the request sets none: what the
        model was trained on (diffusers' and Lightricks' constants: 33 up to 2.3, 18 from 2.5)."""
        return LTX2_5_IMAGE_CRF if self.text_encoder_family == "gemma4" else DEFAULT_IMAGE_CRF

    @property
    def features(self) -> tuple[str, ...]:
        """Request features this checkpoint supports."""
        out = [FEATURE_DEV, FEATURE_DISTILLED, FEATURE_LORA]
        if self.perturbed_attention:
            out.append(FEATURE_STG)
        if self.duration_head:
            out.append(FEATURE_AUTO_DURATION)
        if self.keyframe_position_embedding:
            out.append(FEATURE_KEYFRAMES)
        return tuple(out)

    def summary(self) -> str:
        """One line for logs: version, audio, text encoder, distilled, features."""
        return (
            f"LTX-{self.version} ({'distilled' if self.distilled else 'dev'}, {self.distilled_source}); "
            f"audio {self.native_sample_rate} Hz x{self.channels} ({self.vocoder}); "
            f"text encoder {self.text_encoder}; features {', '.join(self.features)}"
        )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{str(path)!r}: unreadable config: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _class_name(index: dict[str, Any], component: str) -> str:
    entry = index.get(component)
    if isinstance(entry, list) and len(entry) == 2 and entry[1]:
        return str(entry[1])
    return ""


def detect_version(path: Path, *, distilled: bool | None = None) -> ModelVersion:
    """Read `path`'s model_index.json and component configs and say which LTX-2 it is.

    `distilled`: None takes the sidecar's `"distilled"` (default False); a bool overrides it.
    """
    path = Path(path)
    index = _read_json(path / "model_index.json")
    transformer = _read_json(path / "transformer" / "config.json")
    connectors = _read_json(path / "connectors" / "config.json")
    vocoder = _read_json(path / "vocoder" / "config.json")
    sidecar = _read_json(path / "ltx2d.json")

    text_encoder = _class_name(index, "text_encoder")
    vocoder_cls = _class_name(index, "vocoder") or str(vocoder.get("_class_name", ""))
    family = "gemma4" if text_encoder.startswith("Gemma4") else "gemma3"
    gated = bool(transformer.get("gated_attn") or transformer.get("audio_gated_attn"))
    cross_mod = bool(transformer.get("cross_attn_mod") or transformer.get("audio_cross_attn_mod"))
    prompt_adaln = cross_mod and bool(transformer.get("use_prompt_adaln_single", True))
    per_modality = bool(connectors.get("per_modality_projections"))
    keyframes = bool(transformer.get("use_keyframes_abs_pos_embedding"))
    duration = bool(_class_name(index, "duration_head"))
    bwe = vocoder_cls == "LTX2VocoderWithBWE"

    if family == "gemma4" or duration or keyframes:
        version = "2.5"
    elif gated or cross_mod or per_modality or bwe:
        version = "2.3"
    else:
        version = "2.0"

    if distilled is not None:
        is_distilled, source = bool(distilled), "option"
    elif "distilled" in sidecar:
        is_distilled, source = bool(sidecar["distilled"]), "sidecar"
    else:
        is_distilled, source = False, "default"

    return ModelVersion(
        version=version,
        text_encoder=text_encoder,
        text_encoder_family=family,
        vocoder=vocoder_cls,
        native_sample_rate=int(vocoder.get("output_sampling_rate", 24000)),
        channels=int(vocoder.get("out_channels", 2)),
        gated_attention=gated,
        cross_attention_modulation=cross_mod,
        prompt_adaln=prompt_adaln,
        per_modality_projections=per_modality,
        keyframe_position_embedding=keyframes,
        duration_head=duration,
        perturbed_attention=bool(transformer.get("perturbed_attn")),
        distilled=is_distilled,
        distilled_source=source,
    )
