"""A full-size LTX-2.0 pipeline with random weights, built in memory, for GPU benchmarks.

The transformer (48 blocks, 32x128 video and 32x64 audio attention, 128 latent channels), the video
VAE, the audio VAE, the vocoder and the text connectors use LTX-2.0's real configs (diffusers'
conversion script). The Gemma 3 text encoder keeps the real width (3840) but only two layers: it
runs once per request, and 12B random parameters would only cost load time and memory.
"""

from __future__ import annotations

from typing import Any

import torch

from ltx2 import tiny

TEXT_HIDDEN = 3840
TEXT_LAYERS = 2

TRANSFORMER = {
    "in_channels": 128,
    "out_channels": 128,
    "num_attention_heads": 32,
    "attention_head_dim": 128,
    "cross_attention_dim": 4096,
    "audio_in_channels": 128,
    "audio_out_channels": 128,
    "audio_num_attention_heads": 32,
    "audio_attention_head_dim": 64,
    "audio_cross_attention_dim": 2048,
    "num_layers": 48,
    "caption_channels": TEXT_HIDDEN,
}
VIDEO_VAE = {
    "latent_channels": 128,
    "block_out_channels": (256, 512, 1024, 2048),
    "decoder_block_out_channels": (256, 512, 1024),
    "layers_per_block": (4, 6, 6, 2, 2),
    "decoder_layers_per_block": (5, 5, 5, 5),
}
AUDIO_VAE = {"base_channels": 128, "latent_channels": 8, "num_res_blocks": 2}
VOCODER = {"hidden_channels": 1024}
CONNECTORS = {
    "caption_channels": TEXT_HIDDEN,
    "text_proj_in_factor": TEXT_LAYERS + 1,
    "video_connector_num_attention_heads": 30,
    "video_connector_attention_head_dim": 128,
    "video_connector_num_learnable_registers": 128,
    "audio_connector_num_attention_heads": 30,
    "audio_connector_attention_head_dim": 128,
    "audio_connector_num_learnable_registers": 128,
}


def _text_encoder(tokenizer: Any) -> Any:
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3TextConfig, SiglipVisionConfig

    text = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=TEXT_HIDDEN,
        intermediate_size=15360,
        num_hidden_layers=TEXT_LAYERS,
        num_attention_heads=16,
        num_key_value_heads=8,
        head_dim=256,
        query_pre_attn_scalar=256,
        sliding_window=1024,
        layer_types=["sliding_attention", "full_attention"],
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    vision = SiglipVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=16, patch_size=4
    )
    config = Gemma3Config(
        text_config=text,
        vision_config=vision,
        mm_tokens_per_image=4,
        boi_token_index=tokenizer.convert_tokens_to_ids(tokenizer.boi_token),
        eoi_token_index=tokenizer.convert_tokens_to_ids(tokenizer.eoi_token),
        image_token_index=tokenizer.convert_tokens_to_ids(tokenizer.image_token),
    )
    return Gemma3ForConditionalGeneration(config).eval()


def build_full_size_pipeline(device: str, dtype: torch.dtype, num_layers: int = 48) -> Any:
    """Random-weight LTX-2.0 pipeline created directly on `device` in `dtype` (no CPU copy)."""
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2Pipeline,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2TextConnectors, LTX2Vocoder

    from ltx2.tiny_tokenizer import train_tiny_tokenizer

    tokenizer = train_tiny_tokenizer()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            torch.manual_seed(0)
            parts = {
                "text_encoder": _text_encoder(tokenizer),
                "connectors": LTX2TextConnectors(**{**tiny.connectors_config(), **CONNECTORS}),
                "transformer": LTX2VideoTransformer3DModel(
                    **{**tiny.transformer_config(), **TRANSFORMER, "num_layers": num_layers}
                ),
                "vae": AutoencoderKLLTX2Video(**{**tiny.video_vae_config(), **VIDEO_VAE}),
                "audio_vae": AutoencoderKLLTX2Audio(**{**tiny.audio_vae_config(), **AUDIO_VAE}),
                "vocoder": LTX2Vocoder(**{**tiny.vocoder_config(), **VOCODER}),
            }
    finally:
        torch.set_default_dtype(previous)
    for module in parts.values():
        module.eval()
    return LTX2Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**tiny.scheduler_config()), tokenizer=tokenizer, **parts
    )


def build_full_size_engine(device: str, dtype: torch.dtype, num_layers: int = 48, offload: bool = False) -> Any:
    """An `Ltx2Engine` on `build_full_size_pipeline` (random weights), as a loaded checkpoint would be;
    `offload`: built on the CPU, with diffusers' model CPU offload onto `device`."""
    from ltx2.engine import Ltx2Engine
    from ltx2.engine_api import ModelInfo
    from ltx2.loader import LoadedPipeline
    from ltx2.versions import detect_version

    # The full-size LTX-2.0 structure is the tiny 2.0 checkpoint's, read the same way.
    version = detect_version(tiny.ensure_tiny_checkpoint(version="2.0"))

    pipe = build_full_size_pipeline("cpu" if offload else device, dtype, num_layers)
    if offload:
        pipe.enable_model_cpu_offload(device=device)
    pipe.set_progress_bar_config(disable=True)
    model = ModelInfo(
        model_id="ltx2.0-random-full",
        model_path="<memory>",
        fingerprint="random",
        device=device,
        dtype=str(dtype),
        native_sample_rate=24000,
        channels=2,
        version=version.version,
    )
    loaded = LoadedPipeline(pipe, model, torch.device(device), dtype, 1024, version)
    return Ltx2Engine(loaded, prompt_cache_size=4)


def build_full_size_video_vae(device: str = "cpu", dtype: torch.dtype = torch.float32, seed: int = 0) -> Any:
    """The full-size LTX-2.0 video VAE with random weights, decoder only (the encoder is dropped).

    Built on the meta device and filled in place with seeded fan-in-scaled normal weights: diffusers'
    default initialisation of the 0.5B-parameter decoder (plus a 0.6B encoder nobody uses here)
    takes about 25 s on a 2-core CPU, this a few seconds. `device="meta"` leaves it unfilled.
    """
    from diffusers import AutoencoderKLLTX2Video

    with torch.device("meta"):
        vae = AutoencoderKLLTX2Video(**{**tiny.video_vae_config(), **VIDEO_VAE})
    vae.encoder = torch.nn.Module()  # never used for decoding; keeps no meta tensors behind
    if device == "meta":  # shapes only: for counting FLOPs and live bytes (meta_count.py)
        return torch.nn.Module.to(vae, dtype).eval()
    vae.to_empty(device=device)
    generator = torch.Generator(device).manual_seed(seed)
    with torch.no_grad():
        for name, tensor in [*vae.named_parameters(), *vae.named_buffers()]:
            if name.endswith("latents_std"):
                tensor.fill_(1.0)
            elif tensor.ndim <= 1:
                tensor.zero_() if name.endswith("bias") or "latents_mean" in name else tensor.fill_(1.0)
            else:
                fan_in = tensor[0].numel()
                tensor.normal_(0.0, fan_in**-0.5, generator=generator)
        # A trained decoder's output spans [-1, 1]; unit-gain random layers overshoot about 3x, which
        # would inflate every absolute difference measured against a whole decode as much.
        vae.decoder.conv_out.conv.weight.mul_(1 / 3)
    torch.nn.Module.to(vae, dtype)  # diffusers' own `to` warns about fp32 modules on every cast
    return vae.eval()


def count_parameters(num_layers: int = 48) -> dict[str, int]:
    """Parameter counts of the full-size components, built on the meta device (no memory)."""
    pipe = build_full_size_pipeline("meta", torch.float32, num_layers)
    names = ("transformer", "vae", "audio_vae", "vocoder", "connectors", "text_encoder")
    return {name: sum(p.numel() for p in getattr(pipe, name).parameters()) for name in names}
