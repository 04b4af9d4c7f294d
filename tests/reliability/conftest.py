"""Fixtures of the reliability suite (a real daemon with the tiny model), and the count of cases run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2_grpc as pb_grpc
from ltx2d.config import DaemonConfig
from ltx2d.testing import DaemonProcess
from tests.reliability.harness import CASES, CHANNEL_OPTIONS, LIMIT_ARGS, TINY_ARGS, unhandled_errors


@pytest.fixture(scope="package")
def config() -> DaemonConfig:
    """The configuration the module's daemon runs with (limits and defaults for the oracle)."""
    return DaemonConfig.from_args([*TINY_ARGS, *LIMIT_ARGS], {})


@pytest.fixture(scope="package")
def daemon(tiny_checkpoint: Any) -> Iterator[DaemonProcess]:
    """A real `python -m ltx2d` on port 0 with the tiny model, small limits and a 64 KiB bridge frame,
    shared by the modules of this folder (one start saved); test_faults.py has its own.

    At the end its log must hold no exception that nobody handled.
    """
    with DaemonProcess([*TINY_ARGS, *LIMIT_ARGS]) as process:
        yield process
        stderr = process.stderr
    assert not unhandled_errors(stderr), "\n".join(unhandled_errors(stderr))


@pytest.fixture(scope="package")
def stub(daemon: DaemonProcess) -> Iterator[pb_grpc.Ltx2dStub]:
    with grpc.insecure_channel(daemon.grpc_address, options=CHANNEL_OPTIONS) as channel:
        yield pb_grpc.Ltx2dStub(channel)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not CASES:
        return
    terminalreporter.section("reliability cases run")
    for kind, n in sorted(CASES.items()):
        terminalreporter.write_line(f"{kind}: {n}")
    total = sum(n for kind, n in CASES.items() if "(of which" not in kind)
    terminalreporter.write_line(f"total: {total}")
