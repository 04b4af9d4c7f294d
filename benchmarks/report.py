"""Shared reporting for the daemon benchmarks: statistics, a markdown table, JSON and RESULTS.md.

Every benchmark prints one markdown section (header with the exact command and the machine, a
table, notes), writes `benchmarks/results/<name>-<time>.json` and appends the section to
`benchmarks/RESULTS.md`, like `benchmarks/engine.py`.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS_MD = HERE / "RESULTS.md"
# Load average (1 min) above which the header says other processes were running when the run began.
BUSY_LOAD = 0.5


def median(values: Sequence[float]) -> float:
    """Median, NaN for no values (a figure that could not be measured shows as nan)."""
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def fmt(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    if math.isnan(value):
        return "nan"
    return f"{value:.4g}"


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return math.nan


@dataclass
class Report:
    """One benchmark run: started when made, `finish()` prints and records it."""

    name: str
    argv: list[str]
    started: float = field(default_factory=time.time)
    load_at_start: float = field(default_factory=_load_average)
    sections: list[str] = field(default_factory=list)
    data: dict[str, object] = field(default_factory=dict)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        self.sections.append(f"### {title}\n\n{markdown_table(columns, rows)}\n")

    def note(self, text: str) -> None:
        self.sections.append(text.strip() + "\n")

    def header(self) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.started))
        command = " ".join([f"python -m benchmarks.{self.name}", *self.argv])
        load_end = _load_average()
        busy = "; other processes were running" if self.load_at_start > BUSY_LOAD or load_end > 2 * BUSY_LOAD else ""
        return (
            f"## {self.name} benchmark, {stamp}\n\n`{command}`\n\n"
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"load average {self.load_at_start:.2f} at start, {load_end:.2f} at end{busy}; "
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}. "
            f"Run took {time.time() - self.started:.0f} s.\n"
        )

    def finish(self, out_dir: Path, record: bool = True) -> str:
        """Print the section; unless `record` is False, write the JSON and append to RESULTS.md."""
        text = self.header() + "\n" + "\n".join(self.sections)
        print(text, flush=True)
        if record:
            out_dir.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y-%m-%dT%H%M%S", time.localtime(self.started))
            target = out_dir / f"{self.name}-{stamp}.json"
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_text(json.dumps({"command": [sys.executable, *sys.argv], "data": self.data}, indent=2))
            os.replace(tmp, target)
            with RESULTS_MD.open("a") as fh:
                fh.write("\n" + text + "\n")
        return text
