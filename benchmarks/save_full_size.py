#!/usr/bin/env python3
"""Save the random-weight full-size LTX-2.0 pipeline (benchmarks/full_size.py) as a checkpoint folder.

    python -m benchmarks.save_full_size /data/ltx2-full-random                 # 48 blocks, bf16: about 43 GB
    python -m benchmarks.save_full_size /tmp/ltx2-full-1block --layers 1       # about 6.5 GB, a dry run
    python -m benchmarks.daemon_overhead --model /data/ltx2-full-random --device cuda --size 768x512x121 --steps 4

The daemon loads models by path, so the full-size architecture goes through the daemon benchmarks
(`--model`) only as a folder in diffusers layout. The folder gets an `ltx2d.json` naming the model
and its text length, like the tiny checkpoint's. It is written under a temporary name next to the
target and renamed into place when complete. Building on `--device cuda` is faster and needs the
weights' size in GPU memory; on `cpu` it needs it in RAM.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

MODEL_ID = "ltx2.0-random-full"
MAX_SEQUENCE_LENGTH = 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path, help="checkpoint folder to create (must not exist)")
    parser.add_argument("--layers", type=int, default=48, help="transformer blocks (48 is real)")
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "fp32"], help="weight dtype on disk")
    parser.add_argument("--device", default="cpu", help="where to build the weights: cpu or cuda")
    args = parser.parse_args(argv)
    if args.out.exists():
        parser.error(f"out={str(args.out)!r}: must not exist")

    import torch

    from .full_size import build_full_size_pipeline

    started = time.perf_counter()
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[args.dtype]
    pipe = build_full_size_pipeline(args.device, dtype, args.layers)
    built = time.perf_counter()
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    pipe.save_pretrained(tmp, safe_serialization=True)
    (tmp / "ltx2d.json").write_text(
        json.dumps({"model_id": MODEL_ID, "max_sequence_length": MAX_SEQUENCE_LENGTH, "layers": args.layers})
    )
    os.replace(tmp, args.out)
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(
        f"saved {MODEL_ID} ({args.layers} blocks, {args.dtype}) to {args.out}: {size / 1e9:.1f} GB;"
        f" built in {built - started:.0f} s, written in {time.perf_counter() - built:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
