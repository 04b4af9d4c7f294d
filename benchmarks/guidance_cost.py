"""What guidance costs on the full-size LTX-2.0 and LTX-2.3 transformers: seconds per denoising step
with default guidance and with distilled settings, the fraction of bf16 peak, and the effect of
fp8 layerwise casting and `compile_repeated_blocks`, with peak memory.

The transformers have their real configs (diffusers' conversion script) and random bf16 weights. One
denoising step is the transformer calls `LTX2Pipeline` makes for it:

- default guidance: one call with CFG's batch of 2, one STG call (batch 1, perturbed block), one
  modality-isolation call (batch 1): 4 passes; on LTX-2.0 the engine skips the STG call (diffusers'
  2.0 transformer has no perturbed-attention processor, so that pass changes nothing): 3 passes;
- distilled (all six knobs neutral): one call, batch 1: 1 pass.

FLOPs are counted by `torch.utils.flop_counter.FlopCounterMode` on one batch-1 pass. `--count-only`
counts them on the meta device (no weights, no GPU: runs on any CPU in seconds) and prints the
arithmetic; on a CUDA machine the script times everything.

    python -m benchmarks.guidance_cost --count-only            # CPU: FLOPs and passes per step
    python -m benchmarks.guidance_cost --no-record             # GPU: about 6-8 minutes on one H100/H200
    python -m benchmarks.guidance_cost --variants bf16 --repeats 2   # GPU, the quick subset
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ltx2 import tiny

from . import full_size
from .report import Report, median

# LTX-2.0's transformer (diffusers' conversion script); 2.3 adds the flags below.
FULL_2_0 = full_size.TRANSFORMER
FULL_2_3 = {
    **FULL_2_0,
    "gated_attn": True,
    "cross_attn_mod": True,
    "audio_gated_attn": True,
    "audio_cross_attn_mod": True,
    "use_prompt_embeddings": False,
    "perturbed_attn": True,
}
# Peak dense bf16 tensor throughput, FLOP/s (vendor figures, without sparsity).
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "B200": 2250e12}
TEXT_TOKENS = 1024
STG_BLOCK = 28


def config(version: str) -> dict[str, Any]:
    return {**tiny.transformer_config(version), **(FULL_2_0 if version == "2.0" else FULL_2_3)}


def inputs(model: Any, batch: int, width: int, height: int, frames: int, device: Any, dtype: Any) -> dict[str, Any]:
    """Transformer inputs of one pass for a width x height x frames clip at 24 fps."""
    c = model.config
    f, h, w = (frames - 1) // 8 + 1, height // 32, width // 32
    audio = round(frames / 24.0 * 25)
    text = c.caption_channels if c.use_prompt_embeddings else c.cross_attention_dim
    audio_text = c.caption_channels if c.use_prompt_embeddings else c.audio_cross_attention_dim

    def t(*shape: int) -> torch.Tensor:
        return (
            torch.randn(*shape, device=device, dtype=dtype)
            if device != "meta"
            else torch.empty(*shape, device=device, dtype=dtype)
        )

    sigma = torch.full((batch,), 0.5, device=device)
    return {
        "hidden_states": t(batch, f * h * w, c.in_channels),
        "audio_hidden_states": t(batch, audio, c.audio_in_channels),
        "encoder_hidden_states": t(batch, TEXT_TOKENS, text),
        "audio_encoder_hidden_states": t(batch, TEXT_TOKENS, audio_text),
        "encoder_attention_mask": torch.ones(batch, TEXT_TOKENS, device=device),
        "audio_encoder_attention_mask": torch.ones(batch, TEXT_TOKENS, device=device),
        "timestep": sigma * 1000,
        "audio_timestep": sigma * 1000,
        "sigma": sigma,
        "audio_sigma": sigma,
        "num_frames": f,
        "height": h,
        "width": w,
        "audio_num_frames": audio,
        "return_dict": False,
    }


def step_calls(version: str, distilled: bool) -> list[tuple[int, dict[str, Any]]]:
    """(batch, extra kwargs) of each transformer call of one step."""
    if distilled:
        return [(1, {})]
    calls = [(2, {})]
    if version != "2.0":  # the engine skips the no-op STG pass on 2.0
        calls.append((1, {"spatio_temporal_guidance_blocks": [STG_BLOCK]}))
    calls.append((1, {"isolate_modalities": True}))
    return calls


def count_flops(version: str, width: int, height: int, frames: int) -> int:
    """FLOPs of one batch-1 pass, counted on the meta device."""
    from diffusers import LTX2VideoTransformer3DModel
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = LTX2VideoTransformer3DModel(**config(version)).to(torch.bfloat16)
    kwargs = inputs(model, 1, width, height, frames, "meta", torch.bfloat16)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(**kwargs)
    return counter.get_total_flops()


def time_variant(model: Any, version: str, size: tuple[int, int, int], repeats: int) -> dict[str, float]:
    device, dtype = "cuda", torch.bfloat16
    batches = {b: inputs(model, b, *size, device, dtype) for b in (1, 2)}
    out: dict[str, float] = {}
    for distilled in (False, True):
        calls = step_calls(version, distilled)
        times = []
        for i in range(repeats + 1):  # the first is warm-up (and compile)
            torch.cuda.synchronize()
            started = time.perf_counter()
            with torch.no_grad():
                for batch, extra in calls:
                    model(**batches[batch], **extra)
            torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - started)
        out["distilled" if distilled else "default"] = median(times)
    out["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return out


def run_gpu(args: argparse.Namespace, report: Report) -> None:
    from diffusers import LTX2VideoTransformer3DModel

    name = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_BF16.items() if k in name), float("nan"))
    size = (args.width, args.height, args.frames)
    rows = []
    for version in args.versions:
        flops = count_flops(version, *size)
        for variant in args.variants:
            gc.collect()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            # Built straight in bf16 on the GPU: an fp32 copy of 19-22B parameters would need 88 GB more.
            default_dtype = torch.get_default_dtype()
            torch.set_default_dtype(torch.bfloat16)
            try:
                with torch.device("cuda"):
                    model = LTX2VideoTransformer3DModel(**config(version)).eval()
            finally:
                torch.set_default_dtype(default_dtype)
            if variant in ("fp8", "fp8+compile"):
                model.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.bfloat16)
            if variant in ("compile", "fp8+compile"):
                model.compile_repeated_blocks(fullgraph=True)
            started = time.perf_counter()
            got = time_variant(model, version, size, args.repeats)
            passes = sum(b for b, _ in step_calls(version, False))
            rows.append(
                [
                    f"LTX-{version}",
                    variant,
                    f"{got['default']:.3f}",
                    passes,
                    f"{got['distilled']:.3f}",
                    f"{got['default'] / got['distilled']:.2f}",
                    f"{flops * passes / got['default'] / peak:.2f}",
                    f"{flops / got['distilled'] / peak:.2f}",
                    f"{got['peak_gib']:.1f}",
                    f"{time.perf_counter() - started:.0f}",
                ]
            )
            report.data[f"{version}/{variant}"] = {**got, "flops_per_pass": flops}
            del model
    report.table(
        f"s/step on {name}, {args.width}x{args.height}x{args.frames}, bf16 random weights",
        [
            "model",
            "variant",
            "default s/step",
            "passes",
            "distilled s/step",
            "default / distilled",
            "peak frac (default)",
            "peak frac (distilled)",
            "peak GiB",
            "variant s",
        ],
        rows,
    )


def run_count(args: argparse.Namespace, report: Report) -> None:
    rows = []
    for version in args.versions:
        flops = count_flops(version, args.width, args.height, args.frames)
        dev_steps = 40 if version == "2.0" else 30
        passes = sum(b for b, _ in step_calls(version, False))
        diffusers_passes = 4  # LTX2Pipeline's defaults, STG pass included
        rows.append(
            [
                f"LTX-{version}",
                f"{flops / 1e12:.0f}",
                f"{passes} ({diffusers_passes} in LTX2Pipeline)",
                f"{dev_steps} x {passes} = {dev_steps * passes}",
                "8 x 1 = 8",
                f"{dev_steps * passes / 8:.1f}",
                f"{flops * dev_steps * passes / 989e12:.1f}",
                f"{flops * 8 / 989e12:.2f}",
            ]
        )
        report.data[version] = {"flops_per_pass": flops, "passes_default": passes}
    report.table(
        f"FLOPs per transformer pass at {args.width}x{args.height}x{args.frames} (meta device, counted by torch)",
        [
            "model",
            "TFLOP/pass",
            "passes/step (default)",
            "dev passes/clip",
            "distilled passes/clip",
            "ratio",
            "dev s/clip at 100% of 989 TFLOP/s",
            "distilled s/clip at 100%",
        ],
        rows,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.guidance_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--frames", type=int, default=121)
    parser.add_argument("--versions", nargs="+", default=["2.0", "2.3"], choices=["2.0", "2.3"])
    parser.add_argument(
        "--variants", nargs="+", default=["bf16", "fp8", "compile"], choices=["bf16", "fp8", "compile", "fp8+compile"]
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--count-only", action="store_true", help="count FLOPs on the meta device (CPU), time nothing")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    report = Report("guidance_cost", sys.argv[1:] if argv is None else list(argv))
    if args.count_only:
        run_count(args, report)
    elif not torch.cuda.is_available():
        print("error: timing needs a CUDA device; use --count-only on a CPU", file=sys.stderr)
        return 1
    else:
        run_gpu(args, report)
    report.finish(args.out, record=not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
