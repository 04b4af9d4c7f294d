"""The benchmark scripts start: `--help` works for each, and `run_all --quick --dry-run` lists them all.

Benchmarks are never run here (they measure time; tests do not); this only guards their command lines.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.run_all import DAEMON_BENCHMARKS

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "name", [*DAEMON_BENCHMARKS, "cold_oneshot", "save_full_size", "guidance_cost", "modes", "run_all"]
)
def test_help_exits_zero_and_names_the_options(name: str) -> None:
    done = run("-m", f"benchmarks.{name}", "--help")
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
    if name in DAEMON_BENCHMARKS:
        for option in ("--repeats", "--quick", "--model", "--device", "--no-record"):
            assert option in done.stdout, f"{name} --help lacks {option}"


def test_run_all_dry_run_lists_every_benchmark_without_running_it() -> None:
    done = run("-m", "benchmarks.run_all", "--quick", "--dry-run")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    listed = [line.split("-m benchmarks.")[1].split()[0] for line in lines]
    assert listed == ["engine", *DAEMON_BENCHMARKS]
    assert all("--quick" in line for line in lines if "benchmarks.engine" not in line)


def test_run_all_refuses_an_unknown_benchmark_by_name() -> None:
    done = run("-m", "benchmarks.run_all", "--dry-run", "--only", "load,nosuch")
    assert done.returncode != 0
    assert "nosuch" in done.stderr
