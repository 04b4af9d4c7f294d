#!/usr/bin/env python3
"""Load: N concurrent clients with mixed priorities against a daemon with a bounded queue.

    python -m benchmarks.load                       # 10, 50, 100 clients, 3 requests each, queue of 16
    python -m benchmarks.load --quick               # the same levels, 2 requests each
    python -m benchmarks.load --clients 10,200 --requests 5 --queue-capacity 32 --max-seconds 300

Each level starts N asyncio clients at once, each with its own channel (`ltx2_client.AsyncClient`),
cycling priorities REALTIME, INTERACTIVE, BATCH by client index. Each client sends its requests
one after another (tiny and fast: 64x64x9, 2 steps; REALTIME ones audio only; cache bypassed) and
does not retry. Every request must end in exactly one of: completed, rejected with
RESOURCE_EXHAUSTED (queue full), another error, lost (the stream ended with neither Completed
nor an error), or unfinished when the level's time bound (--max-seconds) ran out. Lost must be 0,
and the counts must add up to the requests sent; both are printed. Queue wait is
`Completed.timings.queue_s` (arrival to start of the run), p50 and p99 per priority.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter, defaultdict

from .options import parser_for, prepare_environment, start_daemon
from .report import Report, median, percentile

PRIORITIES = ("realtime", "interactive", "batch")


async def one_level(address: str, clients: int, requests: int, timeout: float, max_seconds: float) -> dict:
    from ltx2_client import AsyncClient, Busy, Completed, Ltx2Error, ProtocolError

    outcomes: Counter[str] = Counter()
    by_priority: dict[str, Counter[str]] = defaultdict(Counter)
    waits: dict[str, list[float]] = defaultdict(list)
    reject_s: list[float] = []
    sent = 0

    async def client(index: int) -> None:
        nonlocal sent
        priority = PRIORITIES[index % 3]
        options = {
            "width": 64,
            "height": 64,
            "num_frames": 9,
            "steps": 2,
            "priority": priority,
            "audio_only": priority == "realtime",
            "cache_policy": "bypass",
            "tags": {"bench": "load", "client": str(index)},
        }
        async with AsyncClient(address, retries=0) as sdk:
            for _ in range(requests):
                sent += 1
                started = time.perf_counter()
                outcome = "lost"
                try:
                    async for event in sdk.generate("footsteps on gravel", timeout=timeout, **options):
                        if isinstance(event, Completed):
                            outcome = "completed"
                            waits[priority].append(event.timings.queue_s)
                except Busy:
                    outcome = "rejected (RESOURCE_EXHAUSTED)"
                    reject_s.append(time.perf_counter() - started)
                except ProtocolError:
                    outcome = "lost"  # e.g. the stream ended without Completed
                except Ltx2Error as exc:
                    outcome = f"other error ({exc.code})"
                except Exception as exc:  # counted, never hidden
                    outcome = f"other error ({type(exc).__name__})"
                outcomes[outcome] += 1
                by_priority[priority][outcome] += 1

    started = time.perf_counter()
    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    _, pending = await asyncio.wait(tasks, timeout=max_seconds)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    elapsed = time.perf_counter() - started
    ended = sum(outcomes.values())
    outcomes["unfinished at the time bound"] += sent - ended
    return {
        "clients": clients,
        "sent": sent,
        "outcomes": dict(outcomes),
        "by_priority": {p: dict(c) for p, c in by_priority.items()},
        "waits": dict(waits),
        "reject_s": reject_s,
        "elapsed_s": elapsed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__, repeats=1)
    parser.add_argument("--clients", default="10,50,100", help="comma-separated concurrency levels")
    parser.add_argument("--requests", type=int, default=None, help="requests per client (default 3; --quick 2)")
    parser.add_argument("--queue-capacity", type=int, default=16, help="the daemon's queue bound (default 16)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time bound of each level (default 60)")
    parser.add_argument("--request-timeout", type=float, default=55.0, help="deadline of each request")
    args = parser.parse_args(argv)
    prepare_environment(args)
    requests = args.requests or (2 if args.quick else 3)
    levels = [int(n) for n in args.clients.split(",")]
    report = Report("load", sys.argv[1:] if argv is None else list(argv))

    results = []
    daemon = start_daemon(args, "--queue-capacity", str(args.queue_capacity))
    try:
        for n in levels:
            results.append(
                asyncio.run(one_level(daemon.grpc_address, n, requests, args.request_timeout, args.max_seconds))
            )
        stderr = daemon.stderr
    finally:
        daemon.stop()

    kinds = ["completed", "rejected (RESOURCE_EXHAUSTED)", "lost", "unfinished at the time bound"]
    others = sorted({k for r in results for k in r["outcomes"] if k not in kinds})
    summary, waits_rows = [], []
    for r in results:
        o = r["outcomes"]
        accounted = sum(o.values())
        summary.append(
            [
                r["clients"],
                r["sent"],
                o.get("completed", 0),
                o.get("rejected (RESOURCE_EXHAUSTED)", 0),
                sum(o.get(k, 0) for k in others),
                o.get("lost", 0),
                o.get("unfinished at the time bound", 0),
                "yes" if accounted == r["sent"] else f"NO ({accounted})",
                median(r["reject_s"]) * 1000,
                r["elapsed_s"],
            ]
        )
        for priority in PRIORITIES:
            w = r["waits"].get(priority, [])
            c = r["by_priority"].get(priority, {})
            waits_rows.append(
                [
                    r["clients"],
                    priority.upper(),
                    c.get("completed", 0),
                    c.get("rejected (RESOURCE_EXHAUSTED)", 0),
                    percentile(w, 50),
                    percentile(w, 99),
                ]
            )
    report.data = {"levels": results, "queue_capacity": args.queue_capacity, "requests_per_client": requests}
    report.table(
        f"outcomes: queue capacity {args.queue_capacity}, {requests} requests per client, 64x64x9, 2 steps",
        [
            "clients",
            "sent",
            "completed",
            "rejected RESOURCE_EXHAUSTED",
            "other errors",
            "lost",
            "unfinished (time bound)",
            "all accounted for",
            "median rejection ms",
            "level s",
        ],
        summary,
    )
    report.table(
        "queue wait per priority (Completed.timings.queue_s, seconds)",
        ["clients", "priority", "completed", "rejected", "p50 wait s", "p99 wait s"],
        waits_rows,
    )
    lost = sum(row[5] for row in summary)
    report.note(
        f"Lost requests: {lost} (must be 0). "
        + (f"Other errors: {', '.join(others)}. " if others else "No other errors. ")
        + "Clients do not retry; a rejected client sends its next request at once. REALTIME requests are audio only"
        " and may preempt a running INTERACTIVE or BATCH job; REALTIME jobs queue FIFO behind each other. Waits"
        " cover completed requests only: under overload those are the ones that found a free slot, so compare"
        " p99 more than p50 across priorities. Daemon errors logged: "
        + str(sum(1 for line in stderr.splitlines() if " ERROR " in line or '"level": "ERROR"' in line))
        + "."
    )
    report.finish(args.out, record=not args.no_record)
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
