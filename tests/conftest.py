"""Fixtures shared by every test folder: the tiny checkpoint, built once per machine."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_checkpoint() -> Path:
    """The embedded tiny LTX-2 checkpoint (built on first use into the user cache, then reused)."""
    from ltx2.tiny import ensure_tiny_checkpoint

    return ensure_tiny_checkpoint()
