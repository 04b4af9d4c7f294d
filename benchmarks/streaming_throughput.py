#!/usr/bin/env python3
"""Streaming throughput of raw RGB8 frames over loopback, gRPC vs the msgpack bridge, vs 24 fps real time.

    python -m benchmarks.streaming_throughput             # 768x512 and 1280x736, 49 frames, 5 repeats
    python -m benchmarks.streaming_throughput --quick     # 41 frames, 2 repeats
    python -m benchmarks.streaming_throughput --model /models/LTX-2 --device cuda --frames 121

For each size a clip is generated once (2 steps) into the daemon's result cache: that run is the
full path (denoise, decode, stream; its engine-side decode time is shown separately). Then the
same request is replayed from the cache, alternately over gRPC (the SDK) and over the bridge (a
minimal msgpack client): a cache hit streams stored frames without touching the engine, which is
the real path of a cached cutscene and isolates transport cost (reading and checking each cached
chunk included: an entry is read chunk by chunk, each against its own checksum, while the chunk
before it is sent). Throughput is video frames (and their bytes) over the time from the request to
Completed; "x real time" is frames per second / 24.

1280x720 is not a valid size (heights are multiples of 32): 1280x736 stands in for it; it carries
2% more bytes per frame, so its MB/s and real-time factor are slightly conservative for 720p.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable

from .bridge_client import BridgeConnection
from .options import parser_for, prepare_environment, start_daemon
from .report import Report, median, ratio

PROMPT = "a knight walks through a burning village at night"
REAL_TIME_FPS = 24.0


def after_first_mb_s(run: dict) -> float:
    """MB/s of the chunks after the first: the stream itself, once the cache entry has been read."""
    rest = run["bytes"] - run["first_chunk_bytes"]
    return ratio(rest / 1e6, run["total_s"] - run["first_video_s"]) if rest else math.nan


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__, repeats=5)
    parser.add_argument("--sizes", default="768x512,1280x736", help="comma-separated WIDTHxHEIGHT list")
    parser.add_argument("--frames", type=int, default=None, help="frames per clip, 8k+1 (default 49; --quick 41)")
    parser.add_argument("--steps", type=int, default=2, help="denoising steps of the generating run (default 2)")
    parser.add_argument("--chunk-frames", type=int, default=24, help="frames per streamed chunk (default 24)")
    args = parser.parse_args(argv)
    prepare_environment(args)
    if args.quick:
        args.repeats = min(args.repeats, 2)
    frames = args.frames or (41 if args.quick else 49)
    sizes = [tuple(int(x) for x in s.split("x")) for s in args.sizes.split(",")]
    report = Report("streaming_throughput", sys.argv[1:] if argv is None else list(argv))

    from ltx2_client import AudioChunk, Client, Completed, VideoChunk

    def grpc_stream(client: Client, request: dict) -> dict:
        started = time.perf_counter()
        first = first_any = None
        nbytes = nframes = 0
        completed = None
        first_bytes = 0
        for event in client.generate(PROMPT, **request):
            if first_any is None and isinstance(event, (AudioChunk, VideoChunk)):
                first_any = time.perf_counter() - started
            if isinstance(event, VideoChunk):
                if first is None:
                    first, first_bytes = time.perf_counter() - started, len(event.data)
                nbytes += len(event.data)
                nframes += event.num_frames
            elif isinstance(event, Completed):
                completed = event
        return {
            "total_s": time.perf_counter() - started,
            "first_chunk_s": first_any,
            "first_video_s": first,
            "first_chunk_bytes": first_bytes,
            "bytes": nbytes,
            "frames": nframes,
            "cache_hit": completed.cache_hit,
            "engine": vars(completed.timings),
        }

    def bridge_stream(bridge: BridgeConnection, request: dict) -> dict:
        started = time.perf_counter()
        first = first_any = None
        nbytes = nframes = 0
        hit = None
        first_bytes = 0
        for message in bridge.generate(prompt=PROMPT, **request):
            if first_any is None and message["type"] in ("audio_chunk", "video_chunk"):
                first_any = time.perf_counter() - started
            if message["type"] == "video_chunk":
                if first is None:
                    first, first_bytes = time.perf_counter() - started, len(message["data"])
                nbytes += len(message["data"])
                nframes += message["num_frames"]
            elif message["type"] == "completed":
                hit = message["cache_hit"]
        return {
            "total_s": time.perf_counter() - started,
            "first_chunk_s": first_any,
            "first_video_s": first,
            "first_chunk_bytes": first_bytes,
            "bytes": nbytes,
            "frames": nframes,
            "cache_hit": hit,
        }

    rows, generated, data = [], [], {}
    daemon = start_daemon(args, "--cache-max-bytes", "8G")
    try:
        client = Client(daemon.grpc_address)
        bridge = BridgeConnection(daemon.bridge_address)
        for width, height in sizes:
            request = {
                "width": width,
                "height": height,
                "num_frames": frames,
                "steps": args.steps,
                "seed": 11,
                "chunk_frames": args.chunk_frames,
            }
            miss = grpc_stream(client, {**request, "cache_policy": "refresh"})  # generate and store
            variants: dict[str, Callable[[], dict]] = {
                "gRPC": lambda r=request: grpc_stream(client, r),
                "bridge": lambda r=request: bridge_stream(bridge, r),
            }
            runs: dict[str, list[dict]] = {name: [] for name in variants}
            for i in range(args.repeats):
                order = list(variants) if i % 2 == 0 else list(reversed(variants))
                for name in order:
                    runs[name].append(variants[name]())
            frame_mb = width * height * 3 / 1e6
            need_mb_s = frame_mb * REAL_TIME_FPS
            generated.append(
                [
                    f"{width}x{height}x{frames}",
                    miss["total_s"],
                    miss["engine"]["denoise_s"],
                    miss["engine"]["decode_s"],
                    frames / miss["total_s"],
                    ratio(frames / miss["total_s"], REAL_TIME_FPS),
                ]
            )
            for name, rs in runs.items():
                if not all(r["cache_hit"] and r["frames"] == frames for r in rs):
                    raise RuntimeError(f"{name} {width}x{height}: expected cache hits of {frames} frames, got {rs}")
                total = median([r["total_s"] for r in rs])
                fps = frames / total
                rows.append(
                    [
                        f"{width}x{height}x{frames}",
                        name,
                        total,
                        median([r["first_chunk_s"] for r in rs]),
                        median([r["first_video_s"] for r in rs]),
                        fps,
                        median([r["bytes"] for r in rs]) / total / 1e6,
                        median([after_first_mb_s(r) for r in rs]),
                        need_mb_s,
                        ratio(fps, REAL_TIME_FPS),
                    ]
                )
            data[f"{width}x{height}"] = {"miss": miss, "hits": runs}
        client.close()
        bridge.close()
    finally:
        daemon.stop()

    report.data = data
    report.table(
        f"transport only: cache hits, medians of {args.repeats} alternating runs per transport",
        [
            "clip",
            "transport",
            "request to Completed s",
            "first chunk s",
            "first video chunk s",
            "frames/s",
            "MB/s",
            "MB/s after first chunk",
            "MB/s needed at 24 fps",
            "x real time",
        ],
        rows,
    )
    report.table(
        f"full path: one generating run per size ({args.steps} steps, gRPC), engine phases from Completed.timings",
        ["clip", "request to Completed s", "denoise s", "decode s", "frames/s", "x real time"],
        generated,
    )
    report.note(
        "1280x736 stands in for 1280x720 (heights must be multiples of 32). Frame bytes are raw RGB8 (3 bytes a"
        " pixel); 'MB/s needed' is width x height x 3 x 24 / 1e6. The transport rows include the daemon reading"
        " and checksumming each cached chunk as it streams, and the client receiving every byte (no decoding to"
        " arrays). 'first chunk s' is the time to the first chunk of a hit, its audio (goal: under 20 ms"
        " whatever the clip size); 'first video chunk s' includes sending that chunk's frames; 'MB/s after"
        " first chunk' (the later chunks' bytes over the time from the first video chunk to Completed) is the"
        " stream rate itself."
    )
    report.finish(args.out, record=not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
