#!/usr/bin/env python3
"""Warm daemon vs a cold one-shot script: latency per request.

    python -m benchmarks.warm_vs_cold                 # tiny model, 128x128x49, 4 steps, 3 repeats
    python -m benchmarks.warm_vs_cold --quick         # 64x64x25, 2 repeats
    python -m benchmarks.warm_vs_cold --model /models/LTX-2 --device cuda --size 768x512x121 --steps 8

Cold: `python -m benchmarks.cold_oneshot` in a fresh subprocess (import diffusers, load
LTX2Pipeline from the checkpoint, generate once, exit), what a user without the daemon does for
every clip; timed from spawn to exit. Warm: the same request (same seed, result cache bypassed) to
a daemon that already holds the model, through the SDK, timed from the call to the whole clip
(`result()`). Cold and warm runs alternate. The ratio is cold / warm medians.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from .options import parse_size, parser_for, prepare_environment, start_daemon
from .report import Report, median, ratio

PROMPT = "rain on a tin roof, a cat jumps onto the windowsill"


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__, repeats=3)
    parser.add_argument("--size", type=parse_size, default=None, help="WIDTHxHEIGHTxFRAMES (default 128x128x49)")
    parser.add_argument("--steps", type=int, default=4, help="denoising steps (default 4)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    prepare_environment(args)
    if args.quick:
        args.repeats = min(args.repeats, 2)
    width, height, frames = args.size or ((64, 64, 25) if args.quick else (128, 128, 49))
    report = Report("warm_vs_cold", sys.argv[1:] if argv is None else list(argv))

    from ltx2.loader import read_defaults
    from ltx2.tiny import ensure_tiny_checkpoint
    from ltx2_client import Client

    model = args.model if args.model is not None else ensure_tiny_checkpoint()
    cold_argv = [
        sys.executable,
        "-m",
        "benchmarks.cold_oneshot",
        "--model",
        str(model),
        "--size",
        f"{width}x{height}x{frames}",
        "--steps",
        str(args.steps),
        "--seed",
        str(args.seed),
        "--prompt",
        PROMPT,
        "--device",
        args.device,
        "--dtype",
        args.dtype,
        "--max-sequence-length",
        str(read_defaults(model).max_sequence_length),
        *(["--offload"] if args.offload else []),
    ]

    def cold() -> dict:
        started = time.perf_counter()
        done = subprocess.run(cold_argv, capture_output=True, text=True, timeout=1800)
        wall = time.perf_counter() - started
        if done.returncode:
            raise RuntimeError(f"cold one-shot failed ({done.returncode}):\n{done.stderr}")
        return {"wall_s": wall, **json.loads(done.stdout.strip().splitlines()[-1])}

    request = {"width": width, "height": height, "num_frames": frames, "steps": args.steps, "seed": args.seed}
    daemon_started = time.perf_counter()
    daemon = start_daemon(args)
    daemon_start_s = time.perf_counter() - daemon_started
    try:
        client = Client(daemon.grpc_address)

        def warm() -> dict:
            started = time.perf_counter()
            clip = client.generate(PROMPT, cache_policy="bypass", **request).result()
            return {"wall_s": time.perf_counter() - started, "frames": int(clip.frames.shape[0])}

        warm()  # the daemon's first request warms kernels and the prompt cache; a warm daemon has served before
        colds, warms = [], []
        for _ in range(args.repeats):
            colds.append(cold())
            warms.append(warm())
        client.close()
    finally:
        daemon.stop()

    cold_s = median([r["wall_s"] for r in colds])
    warm_s = median([r["wall_s"] for r in warms])
    rows = [
        ["warm daemon (SDK, gRPC)", warm_s, "", "", "", 1.0],
        [
            "cold one-shot script",
            cold_s,
            median([r["import_s"] for r in colds]),
            median([r["load_s"] for r in colds]),
            median([r["generate_s"] for r in colds]),
            ratio(cold_s, warm_s),
        ],
    ]
    report.data = {
        "request": request,
        "model": str(model),
        "cold": colds,
        "warm": warms,
        "daemon_start_s": daemon_start_s,
    }
    report.table(
        f"{width}x{height}x{frames}, {args.steps} steps, seed {args.seed}; medians of {args.repeats} alternating runs",
        ["variant", "latency s", "import s", "load s", "generate s", "latency / warm"],
        rows,
    )
    report.note(
        f"Cold is spawn-to-exit of a fresh Python process (import torch and diffusers, load, generate); warm is"
        f" call-to-clip on a daemon that already holds the model. Starting that daemon (`--preload`, until"
        f" SERVING) took {daemon_start_s:.1f} s once; it pays off from the second request on. The cold script's"
        " own generate time against the warm latency shows what the daemon's transport adds on top of a bare"
        " pipeline call."
    )
    report.finish(args.out, record=not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
