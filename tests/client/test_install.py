"""The SDK installs and works without torch (or the daemon, diffusers, transformers)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CLIENT_SDK = Path(__file__).resolve().parents[2] / "client_sdk"
HEAVY = ("torch", "diffusers", "transformers", "ltx2", "ltx2d", "accelerate")

# Refuse the heavy packages at import time, import every public module, and report what was loaded.
IMPORT_CHECK = f"""
import importlib.abc, json, sys
HEAVY = {HEAVY!r}
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            raise ImportError(f"{{name}} must not be imported by the SDK")
sys.meta_path.insert(0, Refuse())
import ltx2_client, ltx2_client.cli, ltx2_client.media, ltx2_client.async_client
from ltx2_client.cli import build_parser
build_parser().parse_args(["generate", "x", "-o", "a.mp4"])
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})))
"""


def test_sdk_imports_without_torch_or_the_daemon():
    done = subprocess.run([sys.executable, "-c", IMPORT_CHECK], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    assert "ltx2_client" in loaded and "grpc" in loaded
    assert not loaded & set(HEAVY)


@pytest.mark.slow
def test_sdk_installs_into_a_fresh_venv_and_talks_to_the_daemon(tmp_path, address):
    """A plain venv (no system site-packages, so no torch) + `pip install ./client_sdk`."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    # Build from a copy so the source tree gets no build/ folder.
    source = shutil.copytree(CLIENT_SDK, tmp_path / "client_sdk", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(source)], capture_output=True, text=True, timeout=600
    )
    if pip.returncode != 0 and "No matching distribution" in pip.stderr:
        pytest.skip(f"no package index reachable for grpcio/protobuf/numpy: {pip.stderr[-300:]}")
    assert pip.returncode == 0, pip.stderr
    check = subprocess.run([str(python), "-c", "import torch"], capture_output=True, timeout=60)
    assert check.returncode != 0  # the venv really has no torch
    done = subprocess.run(
        [str(venv / "bin" / "ltx2"), "--address", address, "info", "--json"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["protocol_version"] == 1
    done = subprocess.run([str(python), "-c", IMPORT_CHECK], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
