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
    """Counts the bytes of the buffers (storages) created inside the mode that some tensor still
    references; `peak` is the most at any moment. A view or an in-place result shares its base's
    buffer and adds nothing; a view of a tensor from outside (a weight, an input) counts nothing.

    Views are recognised by their storage, not by `Tensor._is_view()`: inside a dispatch mode a
    view op's output is not marked as a view yet, and counting it would count its base again."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._refs: dict[int, int] = {}  # storage -> tracked tensors that hold it
        self._sizes: dict[int, int] = {}
        self._seen: dict[int, weakref.ref[torch.Tensor]] = {}  # by id: a WeakSet would compare tensors

    def _dropped(self, key: int, tensor_id: int) -> None:
        self._seen.pop(tensor_id, None)
        self._refs[key] -= 1
        if not self._refs[key]:
            del self._refs[key]
            self.live -= self._sizes.pop(key)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        inputs = {
            t.untyped_storage()._cdata for t in tree_flatten((args, kwargs or {}))[0] if isinstance(t, torch.Tensor)
        }
        for tensor in tree_flatten(out)[0]:
            if not isinstance(tensor, torch.Tensor):
                continue
            known = self._seen.get(id(tensor))
            if known is not None and known() is tensor:  # an in-place op's result: already counted
                continue
            key = tensor.untyped_storage()._cdata
            if key not in self._refs:
                if key in inputs:  # a view of something made outside the mode
                    continue
                self._refs[key] = 0
                self._sizes[key] = tensor.untyped_storage().nbytes()
                self.live += self._sizes[key]
                self.peak = max(self.peak, self.live)
            self._seen[id(tensor)] = weakref.ref(tensor)
            self._refs[key] += 1
            weakref.finalize(tensor, self._dropped, key, id(tensor))
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
