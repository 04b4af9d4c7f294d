"""LoRA adapters: loaded once at start, switched per job without reloading the model.

diffusers' `LTX2LoraLoaderMixin` reads diffusers, ComfyUI and Lightricks key formats (it converts the
last two) and loads each file as a named peft adapter on the transformer (and the connectors when the
file adapts them). Switching is `set_adapters(names, weights)`: it only changes each LoRA layer's
scaling, so it costs microseconds and the weights stay where they are. A job with no adapter disables
the LoRA layers, which then return exactly their base layer's output.

Before loading, every key of a file is checked against the loaded model: a LoRA trained for another
LTX-2 version targets modules that do not exist here or have other shapes, and diffusers would load it
with only a warning about "unexpected keys". Needs the optional `peft` package
(`pip install -e '.[lora]'`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .engine_api import AdapterInfo
from .errors import CheckpointError
from .params import Limits, LoraWeight

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_COMPONENTS = ("transformer", "connectors")


@dataclass(frozen=True)
class LoraSpec:
    """An adapter to load at start: `NAME=PATH[:STRENGTH]` on the daemon's command line."""

    name: str
    path: Path
    strength: float = 1.0

    @classmethod
    def parse(cls, text: str) -> LoraSpec:
        """`NAME=PATH[:STRENGTH]`; ValueError naming the rule broken."""
        name, sep, rest = text.partition("=")
        if not sep or not name or not rest:
            raise ValueError(f"lora={text!r}: must be NAME=PATH[:STRENGTH]")
        path, strength = rest, 1.0
        head, colon, tail = rest.rpartition(":")
        if colon and head:
            try:
                strength = float(tail)
                path = head
            except ValueError:
                pass  # a colon that is part of the path
        spec = cls(name, Path(path).expanduser(), strength)
        spec.check()
        return spec

    def check(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"lora name {self.name!r}: must be 1-64 letters, digits, '_', '.' or '-'")
        top = Limits.max_lora_strength  # the rule requests are held to, read from its one place
        if not 0.0 <= self.strength <= top:
            rule = f"must be between 0 and {top:g}"
            raise ValueError(f"lora {self.name} strength={self.strength!r}: {rule}")


def file_fingerprint(path: Path) -> str:
    """sha256 of the adapter file (LoRAs are megabytes to a few hundred MB: hashing them whole is fine)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _check_fits(pipe: Any, spec: LoraSpec, state_dict: dict[str, Any], version: str) -> tuple[str, ...]:
    """The components the file adapts; CheckpointError naming the file and the version when a key
    targets a module this model lacks or has another shape."""
    components: set[str] = set()
    problems: list[str] = []
    modules = {name: dict(getattr(pipe, name).named_modules()) for name in _COMPONENTS}
    for key, tensor in state_dict.items():
        component, _, rest = key.partition(".")
        match = re.match(r"^(.*)\.lora_([AB])(?:\.[^.]+)?\.weight$", rest)
        if component not in modules or match is None:
            problems.append(f"{key} (not a transformer or connectors LoRA key)")
            continue
        target, side = match.group(1), match.group(2)
        module = modules[component].get(target)
        if module is None:
            problems.append(f"{key} (no module {component}.{target})")
            continue
        base = getattr(module, "base_layer", module)
        expected = getattr(base, "in_features", None) if side == "A" else getattr(base, "out_features", None)
        got = tensor.shape[1] if side == "A" else tensor.shape[0]
        if expected is not None and expected != got:
            problems.append(f"{key} (size {got}, the model's {component}.{target} has {expected})")
            continue
        components.add(component)
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise CheckpointError(
            f"lora {spec.name}={str(spec.path)!r}: does not fit the loaded LTX-{version} model "
            f"({len(problems)} of {len(state_dict)} keys): {shown}"
        )
    return tuple(c for c in _COMPONENTS if c in components)


def load_adapters(pipe: Any, specs: Sequence[LoraSpec], version: str) -> tuple[AdapterInfo, ...]:
    """Load every adapter of `specs` onto `pipe` (once, at start) and leave them all disabled."""
    if not specs:
        return ()
    if importlib.util.find_spec("peft") is None:
        raise CheckpointError("lora: loading adapters needs the peft package (pip install -e '.[lora]')")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise CheckpointError(f"lora: adapter names must be unique, got {', '.join(names)}")
    adapters = []
    for spec in specs:
        spec.check()
        if not spec.path.is_file():
            raise CheckpointError(f"lora {spec.name}={str(spec.path)!r}: not a file")
        try:
            state_dict = pipe.lora_state_dict(str(spec.path))
        except (OSError, ValueError, KeyError) as exc:
            raise CheckpointError(f"lora {spec.name}={str(spec.path)!r}: cannot read: {exc}") from exc
        if not state_dict:
            raise CheckpointError(f"lora {spec.name}={str(spec.path)!r}: holds no LoRA weights")
        components = _check_fits(pipe, spec, state_dict, version)
        pipe.load_lora_weights(str(spec.path), adapter_name=spec.name)
        adapters.append(
            AdapterInfo(
                name=spec.name,
                path=str(spec.path),
                fingerprint=file_fingerprint(spec.path),
                default_strength=spec.strength,
                components=components,
            )
        )
        log.info("loaded LoRA %s from %s (%s)", spec.name, spec.path, ", ".join(components))
    activate(pipe, adapters, ())
    return tuple(adapters)


def activate(pipe: Any, adapters: Sequence[AdapterInfo], loras: Sequence[LoraWeight]) -> None:
    """Make exactly `loras` (with their strengths) active on `pipe`; none: LoRA layers disabled."""
    if not adapters:
        return
    for component in _COMPONENTS:
        model = getattr(pipe, component)
        held = {a.name for a in adapters if component in a.components}
        if not held:
            continue
        used = [lora for lora in loras if lora.name in held]
        if not used:
            model.disable_lora()
            continue
        model.enable_lora()
        model.set_adapters([lora.name for lora in used], [float(lora.strength) for lora in used])
