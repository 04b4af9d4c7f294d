#!/usr/bin/env python3
"""What a user without the daemon runs: import diffusers, load LTX2Pipeline, generate once, exit.

    python -m benchmarks.cold_oneshot --model ~/.cache/ltx2d/tiny-v1 --size 128x128x49 --steps 4

Deliberately plain diffusers (no ltx2, no daemon). Prints one JSON line with the seconds spent
importing, loading and generating; `benchmarks.warm_vs_cold` runs it as a subprocess and also
times the whole process from the outside.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

STARTED = time.perf_counter()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="checkpoint folder in diffusers layout")
    parser.add_argument("--size", default="128x128x49", help="WIDTHxHEIGHTxFRAMES")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--prompt", default="rain on a tin roof, a cat jumps onto the windowsill")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--dtype", default="auto", help="auto (bf16 on CUDA, fp32 on CPU), bf16, fp16, fp32")
    parser.add_argument("--offload", action="store_true", help="diffusers model CPU offload (CUDA only)")
    parser.add_argument("--max-sequence-length", type=int, default=1024, help="text tokens (the tiny model: 64)")
    args = parser.parse_args(argv)
    width, height, frames = (int(x) for x in args.size.split("x"))

    import torch
    from diffusers import LTX2Pipeline

    imported = time.perf_counter()
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    dtype = dtypes.get(args.dtype, torch.bfloat16 if device.startswith("cuda") else torch.float32)
    pipe = LTX2Pipeline.from_pretrained(args.model, dtype=dtype, local_files_only=True)
    if args.offload:
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    loaded = time.perf_counter()
    layers = pipe.transformer.config.num_layers
    video, audio = pipe(
        prompt=args.prompt,
        width=width,
        height=height,
        num_frames=frames,
        num_inference_steps=args.steps,
        generator=torch.Generator("cpu").manual_seed(args.seed),
        spatio_temporal_guidance_blocks=[min(28, layers - 1)],  # LTX-2 uses block 28; small models their last
        max_sequence_length=args.max_sequence_length,
        output_type="np",
        return_dict=False,
    )
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "import_s": imported - STARTED,
                "load_s": loaded - imported,
                "generate_s": done - loaded,
                "frames": int(video.shape[1]),
                "audio_samples": int(audio.shape[-1]),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
