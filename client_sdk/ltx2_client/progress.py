"""The command line's progress display on stderr: a bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .enums import Phase
from .events import Accepted, AudioChunk, Completed, Event, Progress, VideoChunk


class ProgressDisplay:
    """Shows denoising steps, then decoded seconds, from the events of one stream."""

    WIDTH = 30

    def __init__(self, out: TextIO | None = None, *, enabled: bool = True) -> None:
        self.out = out or sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.out.isatty()
        self._duration_s = 0.0
        self._frame_rate = 0.0
        self._sample_rate = 0
        self._audio_only = False
        self._first = (0, 0)  # a continuation's first frame and sample
        self._decoded_s = 0.0
        self._line_open = False  # a bar is drawn without its newline yet
        self._started = time.monotonic()

    def update(self, event: Event) -> None:
        if not self.enabled:
            return
        if isinstance(event, Accepted):
            fmt = event.format
            self._first = (fmt.first_frame, fmt.first_sample)
            self._duration_s = (
                fmt.num_samples / fmt.sample_rate if fmt.audio_only and fmt.sample_rate else fmt.duration_s
            )
            self._frame_rate, self._sample_rate, self._audio_only = (
                fmt.frame_rate,
                fmt.sample_rate,
                fmt.audio_only,
            )
            where = "from cache" if event.cache_hit else f"queue position {event.queue_position}"
            self._line(f"job {event.job_id} accepted ({where}), seed {fmt.seed}", final=True)
        elif isinstance(event, Progress):
            if event.phase == Phase.DENOISING and event.total_steps:
                self._bar("denoising", event.step, event.total_steps, f"step {event.step}/{event.total_steps}")
            elif event.phase in (Phase.QUEUED, Phase.PAUSED, Phase.ENCODING):
                self._line(event.phase.name.lower())
        elif isinstance(event, VideoChunk) and self._frame_rate:
            self._decoded((event.first_frame - self._first[0] + event.num_frames) / self._frame_rate)
        elif isinstance(event, AudioChunk) and self._audio_only and event.sample_rate:
            self._decoded((event.first_sample - self._first[1] + event.num_samples) / event.sample_rate)
        elif isinstance(event, Completed):
            elapsed = time.monotonic() - self._started
            self._line(f"done in {elapsed:.1f} s", final=True)

    def _decoded(self, seconds: float) -> None:
        total = self._duration_s or seconds
        self._bar("decoding", seconds, total, f"{seconds:.2f}/{total:.2f} s")

    def _bar(self, label: str, done: float, total: float, text: str) -> None:
        if self.tty:
            filled = round(self.WIDTH * min(1.0, done / total)) if total else 0
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self.out.write(f"\r{label:<10} [{bar}] {text}\x1b[K")
            self.out.flush()
            self._line_open = True
        else:
            self.out.write(f"{label} {text}\n")

    def _line(self, text: str, *, final: bool = False) -> None:
        if self.tty:
            end = "\n" if final else ""
            self.out.write(f"\r{text}\x1b[K{end}")
            self.out.flush()
            self._line_open = not final
        else:
            self.out.write(text + "\n")

    def finish(self) -> None:
        """End the bar's line (before printing anything else)."""
        if self.enabled and self.tty and self._line_open:
            self._line_open = False
            self.out.write("\n")
            self.out.flush()
