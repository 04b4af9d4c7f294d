#!/usr/bin/env python3
"""Preemption: how long a REALTIME foley request waits while a long INTERACTIVE cutscene runs.

    python -m benchmarks.preemption               # cutscene 256x256x49, 24 steps; 5 repeats
    python -m benchmarks.preemption --quick       # cutscene 128x128x49, 16 steps; 3 repeats
    python -m benchmarks.preemption --model /models/LTX-2 --device cuda --cutscene 768x512x121 --steps 30

A cutscene (INTERACTIVE, video) is started from one client; once it has finished two denoising
steps, a second client asks for foley (audio only, 64x64x25, 4 steps). Two modes alternate:

- with preemption: the foley is REALTIME, so the daemon parks the cutscene at its next step
  boundary, runs the foley, then resumes the cutscene where it stopped;
- without preemption: the same foley is sent at INTERACTIVE priority, so it queues FIFO behind
  the cutscene, which is what a daemon without preemption (or priorities) would do.

The foley's wait is `Completed.timings.queue_s` (arrival to start of its run, from the daemon);
its latency is client-side, from the call to its first audio chunk and to Completed. The ratio is
without / with. The cutscene must stream the same bytes in both modes (checked): a preempted job
resumes exactly where it stopped.
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time

from .options import parse_size, parser_for, prepare_environment, start_daemon
from .report import Report, median, ratio

CUTSCENE = "a knight walks through a burning village at night, embers in the wind"
FOLEY = "a heavy oak door slams"
START_AFTER_STEP = 2


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__, repeats=5)
    parser.add_argument("--cutscene", type=parse_size, default=None, help="WIDTHxHEIGHTxFRAMES (default 256x256x49)")
    parser.add_argument("--steps", type=int, default=None, help="cutscene denoising steps (default 24; --quick 16)")
    parser.add_argument("--foley-steps", type=int, default=4, help="foley denoising steps (default 4)")
    args = parser.parse_args(argv)
    prepare_environment(args)
    if args.quick:
        args.repeats = min(args.repeats, 3)
    width, height, frames = args.cutscene or ((128, 128, 49) if args.quick else (256, 256, 49))
    steps = args.steps or (16 if args.quick else 24)
    report = Report("preemption", sys.argv[1:] if argv is None else list(argv))

    from ltx2_client import Accepted, AudioChunk, Client, Completed, Phase, Progress, VideoChunk

    cutscene_request = {
        "width": width,
        "height": height,
        "num_frames": frames,
        "steps": steps,
        "seed": 5,
        "priority": "interactive",
        "cache_policy": "bypass",
    }
    foley_request = {
        "width": 64,
        "height": 64,
        "num_frames": 25,
        "steps": args.foley_steps,
        "seed": 9,
        "audio_only": True,
        "cache_policy": "bypass",
    }

    def run_pair(editor: Client, game: Client, preempt: bool) -> dict:
        out: dict = {}
        reached = threading.Event()

        def cutscene() -> None:
            started = time.perf_counter()
            digest = hashlib.sha256()
            paused = False
            try:
                for event in editor.generate(CUTSCENE, **cutscene_request):
                    if isinstance(event, Progress):
                        paused |= event.phase == Phase.PAUSED
                        if event.phase == Phase.DENOISING and event.step >= START_AFTER_STEP:
                            reached.set()
                    elif isinstance(event, AudioChunk | VideoChunk):
                        digest.update(event.data)
            finally:
                reached.set()
            out["cutscene"] = {
                "total_s": time.perf_counter() - started,
                "paused": paused,
                "digest": digest.hexdigest()[:16],
            }

        thread = threading.Thread(target=cutscene)
        thread.start()
        reached.wait()
        started = time.perf_counter()
        first = None
        queue_position = None
        for event in game.generate(FOLEY, priority="realtime" if preempt else "interactive", **foley_request):
            if isinstance(event, Accepted):
                queue_position = event.queue_position
            elif isinstance(event, AudioChunk) and first is None:
                first = time.perf_counter() - started
            elif isinstance(event, Completed):
                out["foley"] = {
                    "queue_s": event.timings.queue_s,
                    "first_chunk_s": first,
                    "total_s": time.perf_counter() - started,
                    "queue_position": queue_position,
                    "cutscene_running": thread.is_alive(),
                }
        thread.join()
        return out

    daemon = start_daemon(args)
    try:
        editor, game = Client(daemon.grpc_address), Client(daemon.grpc_address)
        for preempt in (True, False):  # warm-up of both request shapes
            run_pair(editor, game, preempt)
        runs: dict[str, list[dict]] = {"with preemption": [], "without preemption": []}
        for _ in range(args.repeats):
            runs["with preemption"].append(run_pair(editor, game, True))
            runs["without preemption"].append(run_pair(editor, game, False))
        editor.close()
        game.close()
    finally:
        daemon.stop()

    digests = {r["cutscene"]["digest"] for rs in runs.values() for r in rs}
    med = {
        mode: {
            key: median([r[part][key] for r in rs])
            for part, key in (("foley", "queue_s"), ("foley", "first_chunk_s"), ("foley", "total_s"))
        }
        | {"cutscene_s": median([r["cutscene"]["total_s"] for r in rs])}
        for mode, rs in runs.items()
    }
    with_p, without = med["with preemption"], med["without preemption"]
    rows = [
        [
            mode,
            "REALTIME" if mode == "with preemption" else "INTERACTIVE (FIFO)",
            m["queue_s"],
            m["first_chunk_s"],
            m["total_s"],
            m["cutscene_s"],
            sum(r["cutscene"]["paused"] for r in runs[mode]),
        ]
        for mode, m in med.items()
    ]
    report.data = {"cutscene": cutscene_request, "foley": foley_request, "runs": runs}
    report.table(
        f"cutscene {width}x{height}x{frames}, {steps} steps; foley audio-only 64x64x25, {args.foley_steps} steps;"
        f" medians of {args.repeats} alternating runs",
        [
            "mode",
            "foley priority",
            "foley wait s (queue_s)",
            "foley first chunk s",
            "foley total s",
            "cutscene total s",
            f"cutscenes paused (of {args.repeats})",
        ],
        rows,
    )
    report.table(
        "ratios (without / with preemption)",
        ["figure", "ratio"],
        [
            ["foley wait", ratio(without["queue_s"], with_p["queue_s"])],
            ["foley first chunk", ratio(without["first_chunk_s"], with_p["first_chunk_s"])],
            ["foley total", ratio(without["total_s"], with_p["total_s"])],
            ["cutscene total (its cost of being preempted)", ratio(without["cutscene_s"], with_p["cutscene_s"])],
        ],
    )
    report.note(
        f"The foley is sent once the cutscene has finished {START_AFTER_STEP} denoising steps. 'Without"
        " preemption' sends the same foley at INTERACTIVE priority, so it queues FIFO behind the running cutscene:"
        " what a daemon without preemption does. With preemption the foley waits only for the cutscene to reach"
        " its next step boundary. The cutscene streamed identical bytes in every run of both modes: "
        + ("yes." if len(digests) == 1 else f"NO ({len(digests)} different outputs).")
    )
    report.finish(args.out, record=not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
