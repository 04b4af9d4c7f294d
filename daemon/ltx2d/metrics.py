"""Prometheus metrics on an optional HTTP endpoint (`--metrics-port`, path /metrics).

Job metrics come from the service's job records (one per accepted job, when its stream ends);
queue, model and GPU gauges are read from the service when Prometheus scrapes.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .domain import ServiceInfo, StreamRecord

log = logging.getLogger("ltx2d.metrics")

_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


def gpu_memory_bytes() -> tuple[int, int] | None:
    """(allocated, reserved) bytes on the current CUDA device, None without CUDA or torch."""
    torch = sys.modules.get("torch")  # never import torch just for metrics
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return torch.cuda.memory_allocated(), torch.cuda.memory_reserved()


class _ServiceCollector(Collector):
    """Gauges read from the service on the event loop at scrape time (scrapes run in a thread)."""

    def __init__(self, info: Callable[[], Awaitable[ServiceInfo]], loop: asyncio.AbstractEventLoop) -> None:
        self._info = info
        self._loop = loop

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        try:
            info = asyncio.run_coroutine_threadsafe(self._info(), self._loop).result(timeout=5)
        except Exception as exc:  # a scrape must never break the daemon
            log.warning("metrics: could not read the service info: %s", exc)
            return
        yield GaugeMetricFamily("ltx2d_queue_depth", "Jobs waiting in the queue.", value=info.queue_depth)
        yield GaugeMetricFamily("ltx2d_queue_capacity", "Capacity of the queue.", value=info.queue_capacity)
        yield GaugeMetricFamily(
            "ltx2d_job_running", "1 while a job runs on the model.", value=1 if info.running_job_id else 0
        )
        yield GaugeMetricFamily("ltx2d_model_loaded", "1 while the model is loaded.", value=1 if info.loaded else 0)
        yield GaugeMetricFamily(
            "ltx2d_model_memory_bytes", "Device memory held by the model's weights.", value=info.device_memory_bytes
        )
        if info.models:
            resident = GaugeMetricFamily(
                "ltx2d_model_resident", "1 for the configured model on the device now.", labels=["model"]
            )
            loads = CounterMetricFamily(
                "ltx2d_model_loads", "Times each configured model was loaded (a switch is one).", labels=["model"]
            )
            for entry in info.models:
                resident.add_metric([entry.name], 1 if entry.loaded else 0)
                loads.add_metric([entry.name], entry.loads)
            yield resident
            yield loads
        yield CounterMetricFamily("ltx2d_preemptions", "Jobs paused so that another could run.", value=info.preemptions)
        yield CounterMetricFamily(
            "ltx2d_stalls", "Jobs and replays cancelled because their consumer stopped reading.", value=info.stalls
        )
        gpu = gpu_memory_bytes()
        if gpu is not None:
            family = GaugeMetricFamily("ltx2d_gpu_memory_bytes", "CUDA memory of this process.", labels=["kind"])
            family.add_metric(["allocated"], gpu[0])
            family.add_metric(["reserved"], gpu[1])
            yield family


class Metrics:
    """The daemon's metrics in their own registry (so several daemons can live in one test process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.jobs = Counter(
            "ltx2d_jobs",
            "Jobs ended, by outcome.",
            ["outcome", "priority", "cache_hit"],
            registry=self.registry,
        )
        self.job_duration = Histogram(
            "ltx2d_job_duration_seconds",
            "Seconds from acceptance to the end of the stream, by outcome.",
            ["outcome"],
            buckets=_SECONDS,
            registry=self.registry,
        )
        self.first_chunk = Histogram(
            "ltx2d_time_to_first_chunk_seconds",
            "Seconds from acceptance to the first audio or video chunk.",
            ["cache_hit"],
            buckets=_SECONDS,
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "ltx2d_queue_wait_seconds",
            "Seconds from acceptance to the start of the run.",
            ["priority"],
            buckets=_SECONDS,
            registry=self.registry,
        )
        self._server: Any = None

    def observe(self, record: StreamRecord) -> None:
        """Count one ended job (a service job listener)."""
        priority = record.priority.name.lower()
        cache_hit = "true" if record.cache_hit else "false"
        self.jobs.labels(record.outcome, priority, cache_hit).inc()
        self.job_duration.labels(record.outcome).observe(record.total_s)
        self.queue_wait.labels(priority).observe(record.queue_s)
        if record.first_chunk_s is not None:
            self.first_chunk.labels(cache_hit).observe(record.first_chunk_s)

    def watch_service(self, info: Callable[[], Awaitable[ServiceInfo]], loop: asyncio.AbstractEventLoop) -> None:
        """Report queue, model and GPU gauges read through `info` on `loop`."""
        self.registry.register(_ServiceCollector(info, loop))

    def serve(self, host: str, port: int) -> int:
        """Start the HTTP endpoint in a thread; returns the port bound."""
        self._server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return int(self._server.server_address[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
