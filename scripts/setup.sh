#!/usr/bin/env bash
# Create .venv and install the daemon, the client SDK and the dev tools into it.
# Idempotent: a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null
# torch first and pinned: on a CPU-only machine this takes the CPU wheel; on a CUDA machine
# PyPI's default build brings CUDA. Skip when a torch is already installed (keep the user's build).
python -c "import torch" 2>/dev/null || python -m pip install -q "torch==2.13.0"
# The lora extra (peft) too: the LoRA tests need it.
python -m pip install -q -e "./client_sdk[media]" -e ".[dev,lora]"
