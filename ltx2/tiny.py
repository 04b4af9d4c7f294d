"""A tiny random-weight LTX-2 checkpoint in diffusers layout, built fully offline.

The checkpoint has LTX-2.0's structure with every width and depth shrunk: the video VAE keeps the real
block layout (4 down blocks, patch 4, 32x spatial and 8x temporal compression), the audio VAE the real
16 kHz / 64 mel bins / hop 160 front end with `ch_mult=(1, 2, 4)` (25 latent frames per second), and the
vocoder the real five upsampling stages (6*5*2*2*2 = 240) so it outputs 24 kHz stereo. Token counts and
output shapes therefore scale like the real model, and `LTX2Pipeline.from_pretrained` loads it with
exactly the same code as real weights. Outputs are noise, not pictures.

Use it as a command (`python -m ltx2.tiny OUT_DIR`) or through `ensure_tiny_checkpoint()`.
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

# Gemma 3 text encoder: hidden 32, 2 layers, 2 heads, 1 key/value head, head dim 16.
TEXT_HIDDEN = 32
TEXT_LAYERS = 2
# Video latent channels (real: 128) and audio VAE latent channels (real: 8).
VIDEO_LATENT_CHANNELS = 16
AUDIO_LATENT_CHANNELS = 1
MEL_BINS = 64
# The audio VAE halves the mel axis twice (ch_mult has three levels), as in the real model.
AUDIO_PACKED_CHANNELS = AUDIO_LATENT_CHANNELS * MEL_BINS // 4


def video_vae_config() -> dict[str, Any]:
    """The LTX-2.0 video VAE config from diffusers' conversion script, with widths and depths shrunk."""
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


def vocoder_config() -> dict[str, Any]:
    """The LTX-2.0 vocoder: the real upsampling stages and resblocks, with the width shrunk."""
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


def transformer_config() -> dict[str, Any]:
    """The LTX-2.0 audio-video DiT config with heads, head dims and depth shrunk."""
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


def connectors_config() -> dict[str, Any]:
    """The LTX-2.0 text connectors: heads x head dim = text hidden size, one input slice per hidden state."""
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


def _seeded(seed: int, offset: int) -> None:
    # Each component gets its own stream, so changing one component's config leaves the others' weights alone.
    import torch

    torch.manual_seed(seed * 1000 + offset)


def build_pipeline(*, seed: int = 0) -> Any:
    """Build the tiny `LTX2Pipeline` in memory with random weights drawn from `seed` (float32, CPU)."""
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2Pipeline,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2TextConnectors, LTX2Vocoder

    from .tiny_tokenizer import train_tiny_tokenizer

    tokenizer = train_tiny_tokenizer()
    _seeded(seed, 1)
    text_encoder = _text_encoder(tokenizer)
    _seeded(seed, 2)
    connectors = LTX2TextConnectors(**connectors_config())
    _seeded(seed, 3)
    transformer = LTX2VideoTransformer3DModel(**transformer_config())
    _seeded(seed, 4)
    vae = AutoencoderKLLTX2Video(**video_vae_config())
    _seeded(seed, 5)
    audio_vae = AutoencoderKLLTX2Audio(**audio_vae_config())
    _seeded(seed, 6)
    vocoder = LTX2Vocoder(**vocoder_config())
    return LTX2Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**scheduler_config()),
        vae=vae,
        audio_vae=audio_vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        connectors=connectors,
        transformer=transformer,
        vocoder=vocoder,
    )


def build_tiny_checkpoint(out_dir: Path, *, seed: int = 0) -> Path:
    """Write the tiny checkpoint to `out_dir` and return it.

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
        pipe = build_pipeline(seed=seed)
        pipe.save_pretrained(tmp_dir, safe_serialization=True)
        defaults = {
            "model_id": TINY_MODEL_ID,
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


def is_tiny_checkpoint(path: Path) -> bool:
    """Whether `path` holds a complete tiny checkpoint of the current format."""
    try:
        defaults = json.loads((Path(path) / ENGINE_DEFAULTS_FILE).read_text())
    except (OSError, ValueError):
        return False
    return (
        defaults.get("model_id") == TINY_MODEL_ID
        and defaults.get("format_version") == FORMAT_VERSION
        and (Path(path) / "model_index.json").is_file()
        and all((Path(path) / name).is_dir() for name in COMPONENTS)
    )


def default_tiny_dir() -> Path:
    """`$LTX2D_HOME/tiny-v1` when LTX2D_HOME is set (read at call time), else `~/.cache/ltx2d/tiny-v1`."""
    home = os.environ.get("LTX2D_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".cache" / "ltx2d"
    return base / TINY_DIR_NAME


def ensure_tiny_checkpoint(path: Path | None = None) -> Path:
    """Return a complete tiny checkpoint at `path` (default: `default_tiny_dir()`), building it if missing.

    Safe when several processes race: each builds in its own temporary folder and the losers of the final
    rename use the winner's folder.

    Raises:
        CheckpointError: `path` exists but is not a complete tiny checkpoint (nothing is overwritten).
    """
    from .errors import CheckpointError

    path = Path(path).expanduser().absolute() if path is not None else default_tiny_dir()
    if not path.exists():
        # FileExistsError: another process won the race; its folder is checked below.
        with contextlib.suppress(FileExistsError):
            build_tiny_checkpoint(path)
    if not is_tiny_checkpoint(path):
        raise CheckpointError(
            f"path={str(path)!r}: exists but is not a complete {TINY_MODEL_ID} checkpoint of format "
            f"{FORMAT_VERSION}; remove it to rebuild"
        )
    return path


def main(argv: list[str] | None = None) -> int:
    """Command line: `python -m ltx2.tiny OUT_DIR [--seed N]`."""
    parser = argparse.ArgumentParser(
        prog="python -m ltx2.tiny",
        description="Build a tiny random-weight LTX-2 checkpoint (diffusers layout) offline, for tests "
        "and as the embedded default model. Same seed, same bytes.",
    )
    parser.add_argument("out_dir", type=Path, help="folder to create (must not exist yet)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the random weights (default: 0)")
    args = parser.parse_args(argv)
    try:
        out = build_tiny_checkpoint(args.out_dir, seed=args.seed)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
