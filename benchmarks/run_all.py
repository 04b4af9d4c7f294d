#!/usr/bin/env python3
"""Run every benchmark in sequence, each in its own process, with modest defaults.

    python -m benchmarks.run_all                  # all of them (several minutes on a CPU)
    python -m benchmarks.run_all --quick          # smaller work and fewer repeats (a few minutes)
    python -m benchmarks.run_all --quick --dry-run
    python -m benchmarks.run_all --only daemon_overhead,cache_hit --model /models/LTX-2 --device cuda

Each benchmark prints its table and, unless --no-record, writes benchmarks/results/<name>-<time>.json
and appends its section to benchmarks/RESULTS.md. The run goes on after a failing benchmark and
exits non-zero at the end if any failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

# The daemon benchmarks, in the order they run; all take --quick, --model, --device, --no-record.
DAEMON_BENCHMARKS = (
    "daemon_overhead",
    "warm_vs_cold",
    "streaming_throughput",
    "cache_hit",
    "preemption",
    "load",
)


def commands(args: argparse.Namespace) -> list[list[str]]:
    """The command lines to run, in order (argv lists starting with the Python interpreter)."""
    selected = args.only.split(",") if args.only else ["engine", *DAEMON_BENCHMARKS]
    unknown = sorted(set(selected) - {"engine", *DAEMON_BENCHMARKS})
    if unknown:
        raise SystemExit(
            f"--only: unknown benchmark(s) {', '.join(unknown)}; known: engine, {', '.join(DAEMON_BENCHMARKS)}"
        )
    out = []
    for name in selected:
        argv = [sys.executable, "-m", f"benchmarks.{name}"]
        if name == "engine":  # the lead's engine benchmark: tiny section only, its own options
            argv += ["--repeats", "1" if args.quick else "3"]
            if args.device != "auto":
                argv += ["--device", args.device]
            if args.no_record:
                continue  # it always records; skipped when asked not to record
        else:
            argv += ["--quick"] if args.quick else []
            argv += ["--device", args.device] if args.device != "auto" else []
            argv += ["--model", args.model] if args.model else []
            argv += ["--no-record"] if args.no_record else []
        out.append(argv)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="pass --quick (fewer repeats, smaller work)")
    parser.add_argument("--dry-run", action="store_true", help="list the commands without running them")
    parser.add_argument("--only", default="", help="comma-separated subset, e.g. daemon_overhead,load")
    parser.add_argument("--model", default=None, help="checkpoint folder for the daemon benchmarks (default: tiny)")
    parser.add_argument("--device", default="auto", help="device: auto, cpu, cuda, cuda:N")
    parser.add_argument("--no-record", action="store_true", help="print only (the engine benchmark is then skipped)")
    args = parser.parse_args(argv)

    failed = []
    for cmd in commands(args):
        env = dict(os.environ)
        prefix = ""
        if cmd[2] == "benchmarks.engine" and "OMP_WAIT_POLICY" not in env:
            # The daemon benchmarks set this themselves (see benchmarks/README.md); the same footing here.
            env["OMP_WAIT_POLICY"] = "PASSIVE"
            prefix = "OMP_WAIT_POLICY=PASSIVE "
        shown = prefix + " ".join(["python", *cmd[1:]])
        print(shown, flush=True)
        if args.dry_run:
            continue
        started = time.perf_counter()
        code = subprocess.call(cmd, env=env)
        print(f"-> exit {code} in {time.perf_counter() - started:.0f} s\n", flush=True)
        if code:
            failed.append(shown)
    if failed:
        print("failed:\n  " + "\n  ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
