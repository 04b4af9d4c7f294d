#!/usr/bin/env python3
"""Engine benchmark: time to first chunk vs total, phase split, memory; full size on a GPU.

    python -m benchmarks.engine                 # tiny checkpoint, 128x128x121, 8 steps, on the CPU
    python -m benchmarks.engine --full          # also the full-size LTX-2.0 architecture (needs CUDA)
    python -m benchmarks.engine --full --device cpu --layers 1 --size 64x64x9 --steps 1   # dry run

Prints a table, writes benchmarks/results/engine-<time>.json and appends the table to
benchmarks/RESULTS.md. Figures are medians of --repeats runs, compared side by side in one process.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

from ltx2 import Completed, GenerationParams, Phase, Progress, VideoChunk
from ltx2.engine import Ltx2Engine
from ltx2.loader import LoadOptions

HERE = Path(__file__).resolve().parent
# Dense bf16 tensor-core peak (TFLOP/s) by device name; the H200 has the H100's compute.
BF16_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "RTX 4090": 165.0}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_once(engine: Ltx2Engine, params: GenerationParams) -> dict[str, float]:
    started = time.perf_counter()
    first_video = None
    step_times: list[float] = []
    for event in engine.generate(params):
        now = time.perf_counter() - started
        if isinstance(event, Progress) and event.phase == Phase.DENOISING:
            step_times.append(now)
        elif isinstance(event, VideoChunk) and first_video is None:
            first_video = now
        elif isinstance(event, Completed):
            t = event.timings
    per_step = (
        statistics.median(b - a for a, b in itertools.pairwise(step_times)) if len(step_times) > 1 else t.denoise_s
    )
    return {
        "total_s": t.total_s,
        "first_chunk_s": t.first_chunk_s,
        "encode_s": t.encode_s,
        "denoise_s": t.denoise_s,
        "decode_s": t.decode_s,
        "s_per_step": per_step,
    }


def plain_pipeline_s(engine: Ltx2Engine, params: GenerationParams) -> float:
    """The same request as one non-streaming diffusers call (what a script without ltx2d does)."""
    started = time.perf_counter()
    engine.pipeline(prompt=params.prompt, output_type="np", **engine.pipeline_kwargs(params))
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started


def tiny_section(args: argparse.Namespace) -> dict[str, object]:
    engine = Ltx2Engine.load(None, options=LoadOptions(device=args.device))
    params = GenerationParams(prompt="rain on a tin roof", width=128, height=128, num_frames=121, steps=8, seed=1)
    run_once(engine, params)  # warm-up: allocator, kernels, prompt cache
    bigger = GenerationParams(**{**params.__dict__, "chunk_frames": 48})
    longer = GenerationParams(**{**params.__dict__, "num_frames": 257})
    run_once(engine, longer)
    # Interleaved (A B C A B C ...) so machine noise hits every variant alike.
    runs: dict[str, list] = {"24": [], "48": [], "plain": [], "257": [], "plain257": []}
    for _ in range(args.repeats):
        runs["24"].append(run_once(engine, params))
        runs["48"].append(run_once(engine, bigger))
        runs["plain"].append(plain_pipeline_s(engine, params))
        runs["257"].append(run_once(engine, longer))
        runs["plain257"].append(plain_pipeline_s(engine, longer))
    streamed = {key: statistics.median(r[key] for r in runs["24"]) for key in runs["24"][0]}
    chunk48 = {key: statistics.median(r[key] for r in runs["48"]) for key in runs["48"][0]}
    plain = statistics.median(runs["plain"])
    long_run = {key: statistics.median(r[key] for r in runs["257"]) for key in runs["257"][0]}
    plain_long = statistics.median(runs["plain257"])
    return {
        "name": "tiny 128x128x121, 8 steps, chunks of 24 frames (48 frames, and 257-frame clips, for comparison)",
        "device": engine.info().device,
        **streamed,
        "plain_pipeline_s": plain,
        "first_chunk_over_total": streamed["first_chunk_s"] / streamed["total_s"],
        "first_chunk_over_plain": streamed["first_chunk_s"] / plain,
        "streamed_total_over_plain": streamed["total_s"] / plain,
        "chunk48_first_chunk_over_total": chunk48["first_chunk_s"] / chunk48["total_s"],
        "chunk48_total_over_plain": chunk48["total_s"] / plain,
        "frames257_first_chunk_over_plain": long_run["first_chunk_s"] / plain_long,
        "frames257_total_over_plain": long_run["total_s"] / plain_long,
        "peak_rss_mib": peak_rss_mib(),
    }


def step_flops(engine: Ltx2Engine, params: GenerationParams) -> float:
    """FLOPs of one denoising step (all guidance passes), counted by torch on a 1-step run."""
    from torch.utils.flop_counter import FlopCounterMode

    one = GenerationParams(**{**params.__dict__, "steps": 1, "audio_only": True})
    with FlopCounterMode(display=False) as counter:
        engine.pipeline(output_type="latent", prompt=one.prompt, **engine.pipeline_kwargs(one))
    with FlopCounterMode(display=False) as encode_only:
        engine.pipeline.encode_prompt(
            prompt=one.prompt, do_classifier_free_guidance=True, max_sequence_length=engine.max_sequence_length
        )
    return float(counter.get_total_flops() - encode_only.get_total_flops())


def full_section(args: argparse.Namespace) -> dict[str, object]:
    from benchmarks.full_size import build_full_size_engine

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        return {"name": "full size", "skipped": "no CUDA device on this machine"}
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[args.dtype]
    width, height, frames = (int(x) for x in args.size.split("x"))
    results: dict[str, object] = {"name": f"full-size LTX-2.0 {width}x{height}x{frames}, {args.layers} blocks"}
    for offload in (False, True) if args.device.startswith("cuda") else (False,):
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        engine = build_full_size_engine(args.device, dtype, args.layers, offload=offload)
        build_s = time.perf_counter() - started
        params = GenerationParams(
            prompt="a knight walks through a burning village at night, embers in the wind",
            width=width,
            height=height,
            num_frames=frames,
            steps=args.steps,
            seed=0,
            chunk_frames=24,
        )
        timed = run_once(engine, params)
        key = "offload" if offload else "resident"
        results[key] = {**timed, "build_s": build_s}
        if torch.cuda.is_available():
            results[key]["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
        if not offload:
            flops = step_flops(engine, params)
            results["step_tflop"] = flops / 1e12
            results["achieved_tflops"] = flops / timed["s_per_step"] / 1e12
            if torch.cuda.is_available():
                name = torch.cuda.get_device_name()
                peak = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None)
                results["gpu"] = name
                if peak:
                    results["fraction_of_bf16_peak"] = results["achieved_tflops"] / peak
        del engine
    return results


def table(rows: list[dict[str, object]]) -> str:
    lines = []
    for row in rows:
        lines.append(f"### {row['name']}")
        lines.append("")
        lines.append("| figure | value |")
        lines.append("| --- | --- |")
        for key, value in row.items():
            if key == "name":
                continue
            if isinstance(value, dict):
                for sub, v in value.items():
                    lines.append(f"| {key}.{sub} | {v:.4g} |" if isinstance(v, float) else f"| {key}.{sub} | {v} |")
            else:
                lines.append(f"| {key} | {value:.4g} |" if isinstance(value, float) else f"| {key} | {value} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--full", action="store_true", help="also benchmark the full-size architecture")
    parser.add_argument("--size", default="768x512x121", help="full size: WIDTHxHEIGHTxFRAMES")
    parser.add_argument("--steps", type=int, default=4, help="full size: denoising steps")
    parser.add_argument("--layers", type=int, default=48, help="full size: transformer blocks (48 is real)")
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "fp32"], help="full size: weight dtype")
    parser.add_argument("--no-tiny", action="store_true", help="skip the tiny checkpoint section")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="folder for the JSON results")
    args = parser.parse_args(argv)

    rows = []
    if not args.no_tiny:
        rows.append(tiny_section(args))
    if args.full:
        rows.append(full_section(args))
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    command = " ".join(["python -m benchmarks.engine", *(sys.argv[1:] if argv is None else argv)])
    header = (
        f"## engine benchmark, {stamp}\n\n`{command}`"
        f" on {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}\n"
    )
    text = header + "\n" + table(rows)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"engine-{stamp.replace(':', '')}.json"
    out.write_text(json.dumps({"command": sys.argv, "rows": rows}, indent=2, default=str))
    with (HERE / "RESULTS.md").open("a") as fh:
        fh.write("\n" + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
