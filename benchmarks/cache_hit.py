#!/usr/bin/env python3
"""Result cache: time to first chunk (and total) on a cache hit vs a miss, over gRPC and the bridge.

    python -m benchmarks.cache_hit                # tiny model, 128x128x49, 4 steps, 5 repeats
    python -m benchmarks.cache_hit --quick        # 64x64x25, 3 repeats
    python -m benchmarks.cache_hit --model /models/LTX-2 --device cuda --size 768x512x121 --steps 30

Each repeat and transport uses a new seed: the first request with it is a miss (generated and
stored), the same request again is a hit (replayed from the cache without touching the engine).
Times are client-side, from the call to the first audio or video chunk and to Completed. Ratios are
hit / miss medians; the hit must stream the same bytes as the miss (checked).
"""

from __future__ import annotations

import hashlib
import itertools
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from .bridge_client import BridgeConnection
from .options import parse_size, parser_for, prepare_environment, start_daemon
from .report import Report, median, ratio

PROMPT = "wind through pine trees, distant thunder"


def timed(events: Iterable[Any], chunk: Callable[[Any], bytes | None], hit: Callable[[Any], bool | None]) -> dict:
    started = time.perf_counter()
    first = None
    digest = hashlib.sha256()
    cache_hit = None
    for event in events:
        data = chunk(event)
        if data is not None:
            first = first if first is not None else time.perf_counter() - started
            digest.update(data)
        cache_hit = hit(event) if hit(event) is not None else cache_hit
    return {
        "total_s": time.perf_counter() - started,
        "first_chunk_s": first,
        "digest": digest.hexdigest()[:16],
        "cache_hit": cache_hit,
    }


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__, repeats=5)
    parser.add_argument("--size", type=parse_size, default=None, help="WIDTHxHEIGHTxFRAMES (default 128x128x49)")
    parser.add_argument("--steps", type=int, default=4, help="denoising steps (default 4)")
    args = parser.parse_args(argv)
    prepare_environment(args)
    if args.quick:
        args.repeats = min(args.repeats, 3)
    width, height, frames = args.size or ((64, 64, 25) if args.quick else (128, 128, 49))
    report = Report("cache_hit", sys.argv[1:] if argv is None else list(argv))

    from ltx2_client import Accepted, AudioChunk, Client, VideoChunk

    request = {"width": width, "height": height, "num_frames": frames, "steps": args.steps}
    seeds = itertools.count(1000)
    daemon = start_daemon(args)
    try:
        client = Client(daemon.grpc_address)
        bridge = BridgeConnection(daemon.bridge_address)
        transports: dict[str, Callable[[int], dict]] = {
            "gRPC": lambda seed: timed(
                client.generate(PROMPT, seed=seed, **request),
                lambda e: e.data if isinstance(e, AudioChunk | VideoChunk) else None,
                lambda e: e.cache_hit if isinstance(e, Accepted) else None,
            ),
            "bridge": lambda seed: timed(
                bridge.generate(prompt=PROMPT, seed=seed, **request),
                lambda m: m["data"] if m["type"] in ("audio_chunk", "video_chunk") else None,
                lambda m: m["cache_hit"] if m["type"] == "accepted" else None,
            ),
        }
        for run in transports.values():  # warm-up of kernels, prompt cache and connections
            run(next(seeds))
        runs: dict[str, dict[str, list[dict]]] = {name: {"miss": [], "hit": []} for name in transports}
        for _ in range(args.repeats):
            for name, run in transports.items():
                seed = next(seeds)
                miss, hit = run(seed), run(seed)
                if miss["cache_hit"] or not hit["cache_hit"] or miss["digest"] != hit["digest"]:
                    raise RuntimeError(f"{name} seed {seed}: expected a miss then an identical hit: {miss}, {hit}")
                runs[name]["miss"].append(miss)
                runs[name]["hit"].append(hit)
        client.close()
        bridge.close()
    finally:
        daemon.stop()

    rows = []
    for name, pair in runs.items():
        miss_first = median([r["first_chunk_s"] for r in pair["miss"]])
        hit_first = median([r["first_chunk_s"] for r in pair["hit"]])
        miss_total = median([r["total_s"] for r in pair["miss"]])
        hit_total = median([r["total_s"] for r in pair["hit"]])
        rows.append(
            [
                name,
                miss_first,
                hit_first,
                ratio(hit_first, miss_first),
                miss_total,
                hit_total,
                ratio(hit_total, miss_total),
            ]
        )
    report.data = {"request": request, "runs": runs}
    report.table(
        f"{width}x{height}x{frames}, {args.steps} steps; medians of {args.repeats} miss/hit pairs per transport",
        [
            "transport",
            "miss first chunk s",
            "hit first chunk s",
            "hit / miss (first chunk)",
            "miss total s",
            "hit total s",
            "hit / miss (total)",
        ],
        rows,
    )
    report.note("Every hit streamed exactly the bytes of its miss (checked). Lower ratios are better.")
    report.finish(args.out, record=not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
