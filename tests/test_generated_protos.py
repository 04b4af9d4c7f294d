"""The checked-in protobuf modules (ltx2_client.proto) are what protos/ generates, and their public
home is importable by both packages without a cycle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_generated_code_is_up_to_date() -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools (the dev extra) regenerates the protos")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_sdk_never_imports_the_daemon() -> None:
    """The daemon imports the SDK's public `ltx2_client.proto`; the SDK (its CLI included) never
    imports `ltx2d`: `ltx2 serve` runs `python -m ltx2d` instead."""
    code = "import sys, ltx2_client, ltx2_client.cli; print(any(m.split('.')[0] == 'ltx2d' for m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
    for path in (ROOT / "daemon" / "ltx2d").glob("*.py"):
        assert "ltx2_client._proto" not in path.read_text(), path
