"""A tiny random-weight LTX-2 checkpoint in diffusers layout, built fully offline, for LTX-2.0, 2.3 or 2.5.

The default checkpoint has LTX-2.0's structure with every width and depth shrunk: the video VAE keeps the real
block layout (4 down blocks, patch 4, 32x spatial and 8x temporal compression), the audio VAE the real
16 kHz / 64 mel bins / hop 160 front end with `ch_mult=(1, 2, 4)` (25 latent frames per second), and the
vocoder the real five upsampling stages (6*5*2*2*2 = 240) so it outputs 24 kHz stereo. Token counts and
output shapes therefore scale like the real model, and `LTX2Pipeline.from_pretrained` loads it with
exactly the same code as real weights. Outputs are noise, not pictures.

`version="2.3"` builds LTX-2.3's structure instead (gated attention, cross-attention modulation with the
prompt AdaLN, per-modality connector projections, LTX-2.3's VAE decoder layout, and the bandwidth-extension
vocoder: 16 kHz then 48 kHz stereo); `version="2.5"` adds to that a Gemma 4 text encoder
(`Gemma4UnifiedForConditionalGeneration`, the class `LTX2Pipeline` names for it), the duration head, the
keyframe position embedding and bias-free video feed-forwards. The configs follow diffusers' conversion
script for each version (`scripts/convert_ltx2_to_diffusers.py`).

Use it as a command (`python -m ltx2.tiny OUT_DIR [--version 2.3]`) or through `ensure_tiny_checkpoint()`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

TINY_MODEL_ID = "ltx2-tiny"
TINY_DIR_NAME = "tiny-v1"
VERSIONS = ("2.0", "2.3", "2.5")
DEFAULT_VERSION = "2.0"
# Bump with TINY_DIR_NAME whenever the configs below change, so a cached old build is not reused.
FORMAT_VERSION = 1
MAX_SEQUENCE_LENGTH = 64
ENGINE_DEFAULTS_FILE = "ltx2d.json"
COMPONENTS = (
    "transformer",
    "vae",
    "audio_vae",
    "vocoder",
    "connectors",
    "text_encoder",
    "tokenizer",
    "scheduler",
)
# Only LTX-2.5 checkpoints carry it (an optional pipeline component).
DURATION_HEAD = "duration_head"

# Gemma 3 text encoder: hidden 32, 2 layers, 2 heads, 1 key/value head, head dim 16.
TEXT_HIDDEN = 32
TEXT_LAYERS = 2
# Video latent channels (real: 128) and audio VAE latent channels (real: 8).
VIDEO_LATENT_CHANNELS = 16
AUDIO_LATENT_CHANNELS = 1
MEL_BINS = 64
# The audio VAE halves the mel axis twice (ch_mult has three levels), as in the real model.
AUDIO_PACKED_CHANNELS = AUDIO_LATENT_CHANNELS * MEL_BINS // 4


def video_vae_config(version: str = DEFAULT_VERSION) -> dict[str, Any]:
    """The video VAE config of `version` from diffusers' conversion script, with widths and depths shrunk."""
    if version != "2.0":
        # LTX-2.3 and 2.5 share a new decoder: four up blocks (one temporal-only, one spatial-only), no
        # residual upsampling, zero padding. Same 32x / 8x compression.
        return {
            **video_vae_config("2.0"),
            "block_out_channels": (4, 8, 16, 16),  # real: (256, 512, 1024, 1024)
            "decoder_block_out_channels": (8, 16, 16, 32),  # real: (256, 512, 512, 1024)
            "decoder_layers_per_block": (1, 1, 1, 1, 1),  # real: (4, 6, 4, 2, 2)
            "decoder_spatio_temporal_scaling": (True, True, True, True),
            "decoder_inject_noise": (False, False, False, False, False),
            "upsample_type": ("spatiotemporal", "spatiotemporal", "temporal", "spatial"),
            "upsample_residual": (False, False, False, False),
            "upsample_factor": (2, 2, 1, 2),
            "decoder_spatial_padding_mode": "zeros",
        }
    return {
        "in_channels": 3,
        "out_channels": 3,
        "latent_channels": VIDEO_LATENT_CHANNELS,
        "block_out_channels": (4, 8, 16, 32),  # real: (256, 512, 1024, 2048)
        "down_block_types": ("LTX2VideoDownBlock3D",) * 4,
        "decoder_block_out_channels": (8, 16, 32),  # real: (256, 512, 1024)
        "layers_per_block": (1, 1, 1, 1, 1),  # real: (4, 6, 6, 2, 2)
        "decoder_layers_per_block": (1, 1, 1, 1),  # real: (5, 5, 5, 5)
        "spatio_temporal_scaling": (True, True, True, True),
        "decoder_spatio_temporal_scaling": (True, True, True),
        "decoder_inject_noise": (False, False, False, False),
        "downsample_type": ("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
        "upsample_residual": (True, True, True),
        "upsample_factor": (2, 2, 2),
        "timestep_conditioning": False,  # LTX-2.0's VAE has none (LTX-2.3's has)
        "patch_size": 4,
        "patch_size_t": 1,
        "resnet_norm_eps": 1e-6,
        "encoder_causal": True,
        "decoder_causal": False,
        "encoder_spatial_padding_mode": "zeros",
        "decoder_spatial_padding_mode": "reflect",
        "spatial_compression_ratio": 32,
        "temporal_compression_ratio": 8,
    }


def audio_vae_config() -> dict[str, Any]:
    """The LTX-2.0 audio VAE config with the channel widths shrunk."""
    return {
        # The pipeline normalizes packed latents (latent channels x latent mel bins) with per-channel
        # statistics of length `base_channels`, so the two must match (real: 8 x 16 = 128).
        "base_channels": AUDIO_PACKED_CHANNELS,
        "output_channels": 2,
        "ch_mult": (1, 2, 4),
        "num_res_blocks": 1,  # real: 2
        "attn_resolutions": None,
        "in_channels": 2,
        "resolution": 256,
        "latent_channels": AUDIO_LATENT_CHANNELS,
        "norm_type": "pixel",
        "causality_axis": "height",
        "dropout": 0.0,
        "mid_block_add_attention": False,
        "sample_rate": 16000,
        "mel_hop_length": 160,
        "is_causal": True,
        "mel_bins": MEL_BINS,
        "double_z": True,
    }


def vocoder_config(version: str = DEFAULT_VERSION) -> dict[str, Any]:
    """The vocoder of `version`: the real upsampling stages and resblocks, with the width shrunk.

    LTX-2.0: `LTX2Vocoder`, mel at hop 160 -> 24 kHz. LTX-2.3+: `LTX2VocoderWithBWE`, a first vocoder to
    16 kHz (x160), then a bandwidth extender on its own hop-80 mel to 48 kHz (x240, plus a resampled skip).
    """
    if version != "2.0":
        return {
            "in_channels": 2 * MEL_BINS,
            "hidden_channels": 128,  # real: 1536; halved by each of the six upsampling stages
            "out_channels": 2,
            "upsample_kernel_sizes": [11, 4, 4, 4, 4, 4],
            "upsample_factors": [5, 2, 2, 2, 2, 2],  # 160: hop 160 at 16 kHz -> 16 kHz
            "resnet_kernel_sizes": [3, 7, 11],
            "resnet_dilations": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
            "act_fn": "snakebeta",
            "leaky_relu_negative_slope": 0.1,
            "antialias": True,
            "antialias_ratio": 2,
            "antialias_kernel_size": 12,
            "final_act_fn": None,
            "final_bias": False,
            "bwe_in_channels": 2 * MEL_BINS,
            "bwe_hidden_channels": 32,  # real: 512
            "bwe_out_channels": 2,
            "bwe_upsample_kernel_sizes": [12, 11, 4, 4, 4],
            "bwe_upsample_factors": [6, 5, 2, 2, 2],  # 240: hop 80 at 16 kHz -> 48 kHz
            "bwe_resnet_kernel_sizes": [3, 7, 11],
            "bwe_resnet_dilations": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
            "bwe_act_fn": "snakebeta",
            "bwe_leaky_relu_negative_slope": 0.1,
            "bwe_antialias": True,
            "bwe_antialias_ratio": 2,
            "bwe_antialias_kernel_size": 12,
            "bwe_final_act_fn": None,
            "bwe_final_bias": False,
            "filter_length": 512,
            "hop_length": 80,
            "window_length": 512,
            "num_mel_channels": MEL_BINS,
            "input_sampling_rate": 16000,
            "output_sampling_rate": 48000,
        }
    return {
        "in_channels": 2 * MEL_BINS,  # audio VAE output channels x mel bins
        "hidden_channels": 64,  # real: 1024; halved by each of the five upsampling stages
        "out_channels": 2,
        "upsample_kernel_sizes": [16, 15, 8, 4, 4],
        "upsample_factors": [6, 5, 2, 2, 2],  # 240 output samples per mel frame: hop 160 at 16 kHz -> 24 kHz
        "resnet_kernel_sizes": [3, 7, 11],
        "resnet_dilations": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        "leaky_relu_negative_slope": 0.1,
        "output_sampling_rate": 24000,
    }


def transformer_config(version: str = DEFAULT_VERSION) -> dict[str, Any]:
    """The audio-video DiT config of `version` with heads, head dims and depth shrunk."""
    if version != "2.0":
        config = {
            **transformer_config("2.0"),
            "gated_attn": True,
            "cross_attn_mod": True,  # 9 modulation parameters per block instead of 6
            "audio_gated_attn": True,
            "audio_cross_attn_mod": True,
            # The caption is projected per modality in the connectors, not in the transformer.
            "use_prompt_embeddings": False,
            # The self-attention processor that skips a block for spatio-temporal guidance.
            "perturbed_attn": True,
            "use_prompt_adaln_single": True,
        }
        if version == "2.5":
            config.update(ff_bias=False, audio_ff_bias=True, use_keyframes_abs_pos_embedding=True)
        return config
    return {
        "in_channels": VIDEO_LATENT_CHANNELS,
        "out_channels": VIDEO_LATENT_CHANNELS,
        "patch_size": 1,
        "patch_size_t": 1,
        "num_attention_heads": 2,  # real: 32
        "attention_head_dim": 16,  # real: 128
        "cross_attention_dim": 32,  # real: 4096 (= heads x head dim)
        "vae_scale_factors": (8, 32, 32),
        "pos_embed_max_pos": 20,
        "base_height": 2048,
        "base_width": 2048,
        "audio_in_channels": AUDIO_PACKED_CHANNELS,
        "audio_out_channels": AUDIO_PACKED_CHANNELS,
        "audio_patch_size": 1,
        "audio_patch_size_t": 1,
        "audio_num_attention_heads": 2,  # real: 32
        "audio_attention_head_dim": 8,  # real: 64
        "audio_cross_attention_dim": 16,  # real: 2048 (= audio heads x audio head dim)
        "audio_scale_factor": 4,
        "audio_pos_embed_max_pos": 20,
        "audio_sampling_rate": 16000,
        "audio_hop_length": 160,
        "num_layers": 2,  # real: 48
        "activation_fn": "gelu-approximate",
        "qk_norm": "rms_norm_across_heads",
        "norm_elementwise_affine": False,
        "norm_eps": 1e-6,
        "caption_channels": TEXT_HIDDEN,
        "attention_bias": True,
        "attention_out_bias": True,
        "rope_theta": 10000.0,
        "rope_double_precision": True,
        "causal_offset": 1,
        "timestep_scale_multiplier": 1000,
        "cross_attn_timestep_scale_multiplier": 1000,
        "rope_type": "split",
    }


def connectors_config(version: str = DEFAULT_VERSION) -> dict[str, Any]:
    """The text connectors of `version`.

    LTX-2.0: one shared projection to the text hidden size (= heads x head dim = transformer
    `caption_channels`). LTX-2.3+: per-modality projections straight to the transformer's video and audio
    widths (`video_hidden_dim`, `audio_hidden_dim`), gated attention, 8 layers (shrunk to 2 here).
    """
    if version != "2.0":
        video_dim, audio_dim = _inner_dims()
        return {
            **connectors_config("2.0"),
            "video_connector_num_attention_heads": 2,  # real: 32 x 128 = 4096 (the transformer's width)
            "video_connector_attention_head_dim": video_dim // 2,
            "video_gated_attn": True,
            "audio_connector_num_attention_heads": 2,  # real: 32 x 64 = 2048
            "audio_connector_attention_head_dim": audio_dim // 2,
            "audio_gated_attn": True,
            "per_modality_projections": True,
            "video_hidden_dim": video_dim,
            "audio_hidden_dim": audio_dim,
            "proj_bias": True,
        }
    return {
        "caption_channels": TEXT_HIDDEN,
        "text_proj_in_factor": TEXT_LAYERS + 1,  # every layer's hidden state plus the embeddings
        "video_connector_num_attention_heads": 2,  # real: 30
        "video_connector_attention_head_dim": 16,  # real: 128
        "video_connector_num_layers": 2,
        "video_connector_num_learnable_registers": 16,  # real: 128
        "audio_connector_num_attention_heads": 2,
        "audio_connector_attention_head_dim": 16,
        "audio_connector_num_layers": 2,
        "audio_connector_num_learnable_registers": 16,
        "connector_rope_base_seq_len": 4096,
        "rope_theta": 10000.0,
        "rope_double_precision": True,
        "causal_temporal_positioning": False,
        "rope_type": "split",
    }


def _inner_dims() -> tuple[int, int]:
    config = transformer_config("2.0")
    return (
        config["num_attention_heads"] * config["attention_head_dim"],
        config["audio_num_attention_heads"] * config["audio_attention_head_dim"],
    )


def duration_head_config() -> dict[str, Any]:
    """LTX-2.5's duration head (predicts a clip length from the connector outputs), shrunk."""
    video_dim, audio_dim = _inner_dims()
    return {
        "video_cross_attention_dim": video_dim,  # real: 4096
        "audio_cross_attention_dim": audio_dim,  # real: 2048
        "pooler_hidden_dim": 16,  # real: 256
        "num_queries": 1,
        "num_pooler_heads": 2,  # real: 4
        "mlp_hidden_dim": 16,  # real: 256
    }


def scheduler_config() -> dict[str, Any]:
    """LTX-2.0's flow-matching schedule with resolution-dependent shift (diffusers' conversion script)."""
    return {
        "use_dynamic_shifting": True,
        "base_shift": 0.95,
        "max_shift": 2.05,
        "base_image_seq_len": 1024,
        "max_image_seq_len": 4096,
        "shift_terminal": 0.1,
    }


def _text_encoder(tokenizer: Any) -> Any:
    """A tiny `Gemma3ForConditionalGeneration` (text hidden 32, 2 layers) with a tiny SigLIP tower."""
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3TextConfig,
        SiglipVisionConfig,
    )

    text = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=TEXT_HIDDEN,
        intermediate_size=64,
        num_hidden_layers=TEXT_LAYERS,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        query_pre_attn_scalar=16,  # Gemma 3 scales by its head dim
        max_position_embeddings=MAX_SEQUENCE_LENGTH * 16,
        sliding_window=512,
        layer_types=["sliding_attention", "full_attention"],
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    vision = SiglipVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_channels=3,
        image_size=16,
        patch_size=4,
        vision_use_head=False,
    )
    config = Gemma3Config(
        text_config=text,
        vision_config=vision,
        mm_tokens_per_image=4,  # 4x4 patches pooled to 2x2
        boi_token_index=tokenizer.convert_tokens_to_ids(tokenizer.boi_token),
        eoi_token_index=tokenizer.convert_tokens_to_ids(tokenizer.eoi_token),
        image_token_index=tokenizer.convert_tokens_to_ids(tokenizer.image_token),
    )
    return Gemma3ForConditionalGeneration(config).eval()


def _gemma4_text_encoder(tokenizer: Any) -> Any:
    """A tiny text-only `Gemma4UnifiedForConditionalGeneration` (LTX-2.5's text encoder class in diffusers'
    `LTX2Pipeline`): hidden 32, 2 layers (one sliding, one full attention), no vision or audio tower."""
    from transformers import Gemma4UnifiedConfig, Gemma4UnifiedForConditionalGeneration, Gemma4UnifiedTextConfig

    text = Gemma4UnifiedTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=TEXT_HIDDEN,
        intermediate_size=64,
        num_hidden_layers=TEXT_LAYERS,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        global_head_dim=16,  # Gemma 4's full-attention layers have their own head dim (real: 512)
        max_position_embeddings=MAX_SEQUENCE_LENGTH * 16,
        sliding_window=512,
        layer_types=["sliding_attention", "full_attention"],
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    config = Gemma4UnifiedConfig(
        text_config=text,
        vision_config=None,
        audio_config=None,
        boi_token_id=tokenizer.convert_tokens_to_ids(tokenizer.boi_token),
        eoi_token_id=tokenizer.convert_tokens_to_ids(tokenizer.eoi_token),
        image_token_id=tokenizer.convert_tokens_to_ids(tokenizer.image_token),
        video_token_id=None,
        boa_token_id=None,
        eoa_token_index=None,
        audio_token_id=None,
    )
    return Gemma4UnifiedForConditionalGeneration(config).eval()


def _seeded(seed: int, offset: int) -> None:
    # Each component gets its own stream, so changing one component's config leaves the others' weights alone.
    import torch

    torch.manual_seed(seed * 1000 + offset)


def check_version(version: str) -> str:
    """`version` if it is one the tiny builder knows, else ValueError naming the choices."""
    if version not in VERSIONS:
        raise ValueError(f"version={version!r}: must be one of {', '.join(VERSIONS)}")
    return version


def build_pipeline(*, seed: int = 0, version: str = DEFAULT_VERSION) -> Any:
    """Build the tiny `LTX2Pipeline` of `version` in memory with random weights drawn from `seed` (float32, CPU)."""
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2Pipeline,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2DurationHead, LTX2TextConnectors, LTX2Vocoder, LTX2VocoderWithBWE

    from .tiny_tokenizer import train_tiny_tokenizer

    check_version(version)
    tokenizer = train_tiny_tokenizer()
    _seeded(seed, 1)
    text_encoder = _gemma4_text_encoder(tokenizer) if version == "2.5" else _text_encoder(tokenizer)
    _seeded(seed, 2)
    connectors = LTX2TextConnectors(**connectors_config(version))
    _seeded(seed, 3)
    transformer = LTX2VideoTransformer3DModel(**transformer_config(version))
    _seeded(seed, 4)
    vae = AutoencoderKLLTX2Video(**video_vae_config(version))
    _seeded(seed, 5)
    audio_vae = AutoencoderKLLTX2Audio(**audio_vae_config())
    _seeded(seed, 6)
    vocoder_cls = LTX2Vocoder if version == "2.0" else LTX2VocoderWithBWE
    vocoder = vocoder_cls(**vocoder_config(version))
    extra: dict[str, Any] = {}
    if version == "2.5":
        _seeded(seed, 7)
        extra[DURATION_HEAD] = LTX2DurationHead(**duration_head_config())
    return LTX2Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**scheduler_config()),
        vae=vae,
        audio_vae=audio_vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        connectors=connectors,
        transformer=transformer,
        vocoder=vocoder,
        **extra,
    )


def model_id(version: str = DEFAULT_VERSION) -> str:
    """The tiny checkpoint's name: `ltx2-tiny` for 2.0 (the embedded default), `ltx2-tiny-2.3` and so on."""
    return TINY_MODEL_ID if version == DEFAULT_VERSION else f"{TINY_MODEL_ID}-{version}"


def build_tiny_checkpoint(out_dir: Path, *, seed: int = 0, version: str = DEFAULT_VERSION) -> Path:
    """Write the tiny checkpoint of `version` to `out_dir` and return it.

    The files are written to a temporary sibling folder that is renamed into place at the end, so a crash
    never leaves half a checkpoint under the real name.

    Raises:
        FileExistsError: `out_dir` already exists (also when another process finished first).
    """
    out_dir = Path(out_dir).expanduser().absolute()
    if out_dir.exists():
        raise FileExistsError(f"out_dir={str(out_dir)!r}: already exists; remove it or choose another folder")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        pipe = build_pipeline(seed=seed, version=check_version(version))
        pipe.save_pretrained(tmp_dir, safe_serialization=True)
        defaults = {
            "model_id": model_id(version),
            "max_sequence_length": MAX_SEQUENCE_LENGTH,
            "format_version": FORMAT_VERSION,
        }
        (tmp_dir / ENGINE_DEFAULTS_FILE).write_text(json.dumps(defaults, indent=2) + "\n")
        try:
            # Renaming a folder onto an existing one fails, which is what makes concurrent builds safe.
            tmp_dir.rename(out_dir)
        except OSError as exc:
            if out_dir.exists():
                message = f"out_dir={str(out_dir)!r}: created by another process meanwhile"
                raise FileExistsError(message) from exc
            raise
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return out_dir


def lora_targets(version: str = DEFAULT_VERSION) -> list[str]:
    """The attention projections a tiny LoRA adapts: every attention's q, k, v and output, and for 2.3+
    also the gated-attention gate (`to_gate_logits`, which LTX-2.0 lacks)."""
    return ["to_q", "to_k", "to_v", "to_out.0", *(["to_gate_logits"] if version != "2.0" else [])]


def build_tiny_lora(out_file: Path, *, version: str = DEFAULT_VERSION, seed: int = 0, rank: int = 4) -> Path:
    """Write a random-weight LoRA for the tiny `version` transformer with peft, in diffusers' format
    (`transformer.<module>.lora_A/B.weight` in one safetensors file), and return its path.

    peft initialises `lora_B` to zeros (a new adapter changes nothing); here both halves are random so
    the adapter visibly changes the output. Written to a temporary name, then renamed.
    """
    import torch
    from diffusers import LTX2Pipeline, LTX2VideoTransformer3DModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    out_file = Path(out_file).expanduser().absolute()
    check_version(version)
    _seeded(seed, 3)
    transformer = LTX2VideoTransformer3DModel(**transformer_config(version))
    transformer.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=lora_targets(version)))
    generator = torch.Generator().manual_seed(seed * 1000 + 100)
    with torch.no_grad():
        for name, param in transformer.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    layers = get_peft_model_state_dict(transformer)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = out_file.with_name(f".{out_file.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        LTX2Pipeline.save_lora_weights(tmp_dir, transformer_lora_layers=layers, weight_name="lora.safetensors")
        (tmp_dir / "lora.safetensors").replace(out_file)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return out_file


def is_tiny_checkpoint(path: Path, version: str = DEFAULT_VERSION) -> bool:
    """Whether `path` holds a complete tiny checkpoint of `version` in the current format."""
    try:
        defaults = json.loads((Path(path) / ENGINE_DEFAULTS_FILE).read_text())
    except (OSError, ValueError):
        return False
    return (
        defaults.get("model_id") == model_id(version)
        and defaults.get("format_version") == FORMAT_VERSION
        and (Path(path) / "model_index.json").is_file()
        and all((Path(path) / name).is_dir() for name in COMPONENTS)
    )


def default_tiny_dir(version: str = DEFAULT_VERSION) -> Path:
    """`$LTX2D_HOME/tiny-v1` when LTX2D_HOME is set (read at call time), else `~/.cache/ltx2d/tiny-v1`;
    `tiny-2.3-v1` and `tiny-2.5-v1` beside it for the other versions."""
    home = os.environ.get("LTX2D_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".cache" / "ltx2d"
    name = TINY_DIR_NAME if version == DEFAULT_VERSION else TINY_DIR_NAME.replace("tiny-", f"tiny-{version}-")
    return base / name


def ensure_tiny_checkpoint(path: Path | None = None, *, version: str = DEFAULT_VERSION) -> Path:
    """Return a complete tiny checkpoint of `version` at `path` (default: `default_tiny_dir(version)`),
    building it if missing.

    Safe when several processes race: each builds in its own temporary folder and the losers of the final
    rename use the winner's folder.

    Raises:
        CheckpointError: `path` exists but is not a complete tiny checkpoint (nothing is overwritten).
    """
    from .errors import CheckpointError

    check_version(version)
    path = Path(path).expanduser().absolute() if path is not None else default_tiny_dir(version)
    if not path.exists():
        # FileExistsError: another process won the race; its folder is checked below.
        with contextlib.suppress(FileExistsError):
            build_tiny_checkpoint(path, version=version)
    if not is_tiny_checkpoint(path, version):
        raise CheckpointError(
            f"path={str(path)!r}: exists but is not a complete {model_id(version)} checkpoint of format "
            f"{FORMAT_VERSION}; remove it to rebuild"
        )
    return path


def main(argv: list[str] | None = None) -> int:
    """Command line: `python -m ltx2.tiny OUT_DIR [--seed N] [--version 2.0|2.3|2.5]`."""
    parser = argparse.ArgumentParser(
        prog="python -m ltx2.tiny",
        description="Build a tiny random-weight LTX-2 checkpoint (diffusers layout) offline, for tests "
        "and as the embedded default model. Same seed, same bytes.",
    )
    parser.add_argument("out_dir", type=Path, help="folder to create (must not exist yet); with --lora, the file")
    parser.add_argument("--seed", type=int, default=0, help="seed for the random weights (default: 0)")
    parser.add_argument(
        "--version",
        choices=VERSIONS,
        default=DEFAULT_VERSION,
        help="which LTX-2 structure to build (default: 2.0, the embedded default model)",
    )
    parser.add_argument(
        "--lora",
        action="store_true",
        help="write a random LoRA for the tiny transformer of --version to OUT_DIR (a .safetensors file; needs peft)",
    )
    args = parser.parse_args(argv)
    if args.lora:
        print(build_tiny_lora(args.out_dir, version=args.version, seed=args.seed))
        return 0
    try:
        out = build_tiny_checkpoint(args.out_dir, seed=args.seed, version=args.version)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
