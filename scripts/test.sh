#!/usr/bin/env bash
# Set up (scripts/setup.sh), then lint and run the whole test suite on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
. .venv/bin/activate
ruff check .
ruff format --check .
python -m pytest -q "$@"
