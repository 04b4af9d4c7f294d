"""When and how long to wait before retrying a call that never reached the daemon."""

from __future__ import annotations

import random


def backoff_delays(retries: int, *, base_s: float = 0.2, cap_s: float = 2.0) -> list[float]:
    """Exponential backoff with jitter: about base, 2*base, 4*base, ... capped at `cap_s`."""
    return [min(cap_s, base_s * 2**i) * random.uniform(0.5, 1.0) for i in range(max(0, retries))]
