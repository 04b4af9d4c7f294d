"""Fixtures of the client tests: one real daemon with the tiny model, shared by the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

# Small clips keep each generation well under a second on a CPU.
DAEMON_ARGS = [
    "--default-width", "64",
    "--default-height", "64",
    "--default-num-frames", "17",
    "--default-steps", "2",
    "--default-chunk-frames", "8",
    "--no-bridge",
    "--preload",
]  # fmt: skip


@pytest.fixture(scope="session")
def daemon() -> Iterator[object]:
    """A real `python -m ltx2d` on port 0 serving the tiny checkpoint (model preloaded)."""
    testing = pytest.importorskip("ltx2d.testing", reason="the ltx2d daemon package is not installed")
    with testing.DaemonProcess(DAEMON_ARGS, bridge=False) as process:
        yield process


@pytest.fixture
def address(daemon) -> str:
    return daemon.grpc_address
