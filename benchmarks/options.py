"""Command-line options and daemon start-up shared by the daemon benchmarks."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .report import HERE


def parse_size(text: str) -> tuple[int, int, int]:
    """'WIDTHxHEIGHTxFRAMES' -> (width, height, frames)."""
    try:
        width, height, frames = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size={text!r}: must be WIDTHxHEIGHTxFRAMES, as in 128x128x49") from None
    return width, height, frames


def parser_for(doc: str, *, repeats: int) -> argparse.ArgumentParser:
    """An argument parser with the options every daemon benchmark takes."""
    parser = argparse.ArgumentParser(
        description=doc.splitlines()[0], epilog=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=repeats, help=f"runs per figure; medians (default {repeats})")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller work (about a minute)")
    parser.add_argument(
        "--model", type=Path, default=None, help="checkpoint folder in diffusers layout (default: the tiny model)"
    )
    parser.add_argument("--device", default="auto", help="device for the model: auto, cpu, cuda, cuda:N")
    parser.add_argument("--dtype", default="auto", help="weight dtype: auto, bf16, fp16, fp32")
    parser.add_argument("--offload", action="store_true", help="model CPU offload (CUDA only), in-process and daemon")
    parser.add_argument(
        "--daemon-arg",
        action="append",
        default=[],
        metavar="FLAG",
        help="extra ltx2d flag, repeatable (e.g. --daemon-arg=--vae-tiling)",
    )
    parser.add_argument(
        "--omp-wait-policy",
        default="passive",
        choices=["passive", "active", "inherit"],
        help="OMP_WAIT_POLICY for this process and the daemon (default passive; see benchmarks/README.md)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results", help="folder for the JSON results")
    parser.add_argument("--no-record", action="store_true", help="print only; do not write JSON or RESULTS.md")
    return parser


def prepare_environment(args: argparse.Namespace) -> None:
    """Set OMP_WAIT_POLICY before torch is imported; the daemon and any subprocess inherit it.

    On a busy CPU, OpenMP's default spin-waiting made the engine 3-5x slower in the benchmark's own
    process than the same engine in the daemon (measured on the shared 2-core box), which would make
    every in-process baseline meaningless. Passive waiting gives both sides the same, stable footing.
    """
    if args.omp_wait_policy != "inherit":
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()


def daemon_flags(args: argparse.Namespace, *extra: str) -> list[str]:
    """`ltx2d` flags for the model options in `args`, the model preloaded, quiet logs."""
    flags = ["--preload", "--device", args.device, "--dtype", args.dtype, "--log-level", "warning"]
    if args.model is not None:
        flags += ["--model", str(args.model)]
    if args.offload:
        flags.append("--offload")
    return [*flags, *args.daemon_arg, *extra]


def start_daemon(args: argparse.Namespace, *extra: str):  # -> ltx2d.testing.DaemonProcess
    """Start `python -m ltx2d` on port 0 with a temporary cache, the model loaded, and wait for SERVING."""
    from ltx2d.testing import DaemonProcess

    return DaemonProcess(daemon_flags(args, *extra), start_timeout_s=600.0).start()
