"""Real-size costs without computing anything: run a model on the meta device and count.

On the meta device tensors have shapes and no data, so a full-size decoder "runs" at 1280x704x257
in a fraction of a second on a laptop CPU. What that tells truthfully: the FLOPs of every op
(torch's FlopCounterMode) and how many bytes of tensors are alive at once (`LiveBytes`), which is
what a GPU's caching allocator must hold for activations, the weights aside.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode


class LiveBytes(TorchDispatchMode):
    """Counts the bytes of tensors created inside the mode that are still referenced; `peak` is the
    most at any moment. A view counts nothing of its own: it keeps its base (and so its bytes)
    alive, as on a real device."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._seen: weakref.WeakSet[torch.Tensor] = weakref.WeakSet()

    def _freed(self, nbytes: int) -> None:
        self.live -= nbytes

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor) and not tensor._is_view() and tensor not in self._seen:
                self._seen.add(tensor)
                nbytes = tensor.untyped_storage().nbytes()
                self.live += nbytes
                self.peak = max(self.peak, self.live)
                weakref.finalize(tensor, self._freed, nbytes)
        return out


def flops(run: Callable[[], object]) -> int:
    """FLOPs of `run()` (a multiply-add counts two)."""
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


def peak_bytes(run: Callable[[], object]) -> int:
    """Most bytes of tensors alive at once while `run()` runs (what it returns is dropped)."""
    with LiveBytes() as live:
        run()
    return live.peak
