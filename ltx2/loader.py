"""Load a diffusers-format LTX-2 checkpoint from a local folder, once, onto a device.

The version (2.0, 2.3, 2.5) and what it supports are read from the checkpoint's configs
(`ltx2.versions.detect_version`) before loading, and reported in `ModelInfo` with the native audio
format, the text encoder, whether it is distilled, and the LoRA adapters loaded at start.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch

from .decode import STREAMING, video_decode_mode
from .engine_api import AdapterInfo, ModelInfo
from .errors import CheckpointError
from .lora import LoraSpec, file_fingerprint, load_adapters
from .versions import ModelVersion, detect_version

log = logging.getLogger(__name__)

COMPONENTS = ("transformer", "vae", "audio_vae", "vocoder", "connectors", "text_encoder", "tokenizer", "scheduler")
# Optional per-checkpoint defaults written by ltx2.tiny (real checkpoints have none).
SIDECAR = "ltx2d.json"

Quantization = Literal["none", "int8", "nf4", "fp8"]
# Which maintained library does each scheme, and the diffusers backend name for it.
COMPONENT_NAMES = ("transformer", "vae", "audio_vae", "vocoder", "connectors", "text_encoder")
_QUANT_BACKENDS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "int8": ("bitsandbytes", "bitsandbytes_8bit", {"load_in_8bit": True}),
    "nf4": ("bitsandbytes", "bitsandbytes_4bit", {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}),
    "fp8": ("torchao", "torchao", {"quant_type": "float8wo_e4m3"}),
}
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


@dataclass(frozen=True)
class LoadOptions:
    """How to place a checkpoint: device, weight dtype, offload, tiling, quantization."""

    device: str = "auto"  # "auto" | "cuda" | "cuda:N" | "cpu"
    dtype: str = "auto"  # "auto" (bf16 on CUDA, fp32 on CPU) | "bf16" | "fp16" | "fp32"
    offload: bool = False  # diffusers model CPU offload: components visit the GPU in turn
    vae_tiling: bool = False  # spatial VAE tiling for large frames on small GPUs
    quantization: Quantization = "none"
    max_sequence_length: int | None = None  # prompt tokens; None: the checkpoint's default or 1024
    # Distilled weights have their dev sibling's structure: None takes ltx2d.json's "distilled" (else False).
    distilled: bool | None = None
    loras: tuple[LoraSpec, ...] = ()  # adapters loaded at start, switched per job
    overrides: dict[str, Any] = field(default_factory=dict)

    def resolve_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise CheckpointError(f"device={self.device!r}: CUDA is not available on this machine")
        return device

    def resolve_dtype(self, device: torch.device) -> torch.dtype:
        if self.dtype == "auto":
            return torch.bfloat16 if device.type == "cuda" else torch.float32
        if self.dtype not in _DTYPES:
            raise CheckpointError(f"dtype={self.dtype!r}: must be one of auto, {', '.join(_DTYPES)}")
        return _DTYPES[self.dtype]


@dataclass(frozen=True)
class CheckpointDefaults:
    """Per-checkpoint settings read from the optional sidecar file."""

    model_id: str
    max_sequence_length: int = 1024


def check_checkpoint(path: Path) -> None:
    """Raise CheckpointError unless `path` looks like a diffusers LTX-2 folder."""
    if not path.is_dir():
        raise CheckpointError(f"model path {str(path)!r}: not a folder")
    if not (path / "model_index.json").is_file():
        raise CheckpointError(f"model path {str(path)!r}: no model_index.json (expected a diffusers-format folder)")
    missing = [c for c in COMPONENTS if not (path / c).is_dir()]
    if missing:
        raise CheckpointError(f"model path {str(path)!r}: missing component folders {', '.join(missing)}")


def read_defaults(path: Path) -> CheckpointDefaults:
    sidecar = path / SIDECAR
    data = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
    return CheckpointDefaults(
        model_id=str(data.get("model_id", path.name)),
        max_sequence_length=int(data.get("max_sequence_length", 1024)),
    )


def fingerprint(path: Path, distilled: bool | None = None) -> str:
    """A stable hash of a checkpoint: every config in full, and each weight file's name, size and ends.

    Hashing whole multi-GB weight files at every start would cost minutes; configs plus sizes and the
    first and last MiB of every weight file change whenever the weights are replaced. `distilled`,
    when declared outside the folder (`LoadOptions.distilled`, `ltx2d --distilled`), is hashed too:
    it changes the default preset, so the same request makes another clip.
    """
    digest = hashlib.sha256()
    if distilled is not None:
        digest.update(f"distilled={distilled}\0".encode())
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path).as_posix()
        digest.update(rel.encode() + b"\0")
        size = file.stat().st_size
        if file.suffix in (".json", ".txt", ".model") or size <= 2 << 20:
            digest.update(file.read_bytes())
        else:
            digest.update(str(size).encode())
            with file.open("rb") as fh:
                digest.update(fh.read(1 << 20))
                fh.seek(-(1 << 20), 2)
                digest.update(fh.read(1 << 20))
    return digest.hexdigest()[:16]


def describe_checkpoint(
    path: Path, options: LoadOptions = LoadOptions(), *, adapters: tuple[AdapterInfo, ...] | None = None
) -> ModelInfo:
    """What loading `path` with `options` would report, read from its configs and file sizes,
    without loading a weight: version, native audio format, fingerprint, adapters.

    A daemon answers a request for a model that is not resident with this (its Accepted carries
    the clip's format, and its cache key the fingerprint), so that serving several models never
    loads one just to describe it. Device placement, parameter counts and the video decode mode
    are known only once loaded (`load_pipeline` fills them in). `adapters`: those loaded, else
    the adapters of `options.loras` as fingerprinted from their files.
    """
    path = Path(path).expanduser().resolve()
    check_checkpoint(path)
    defaults = read_defaults(path)
    version = detect_version(path, distilled=options.distilled)
    try:
        vocoder = json.loads((path / "vocoder" / "config.json").read_text())
        rate, channels = int(vocoder["output_sampling_rate"]), int(vocoder["out_channels"])
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"model path {str(path)!r}: vocoder/config.json gives no audio format: {exc}") from exc
    if adapters is None:
        adapters = tuple(
            AdapterInfo(spec.name, str(spec.path), file_fingerprint(spec.path), spec.strength) for spec in options.loras
        )
    return ModelInfo(
        model_id=defaults.model_id,
        model_path=str(path),
        fingerprint=fingerprint(path, options.distilled),
        device=options.device,
        dtype=str(_DTYPES[options.dtype]).removeprefix("torch.") if options.dtype in _DTYPES else options.dtype,
        native_sample_rate=rate,
        channels=channels,
        video_decode="known once loaded",
        version=version.version,
        text_encoder=version.text_encoder,
        distilled=version.distilled,
        default_preset=version.default_preset,
        features=version.features,
        adapters=adapters,
    )


def _quantization_config(scheme: str) -> Any:
    if scheme == "none":
        return None
    if scheme not in _QUANT_BACKENDS:
        raise CheckpointError(f"quantization={scheme!r}: must be one of none, {', '.join(_QUANT_BACKENDS)}")
    library, backend, kwargs = _QUANT_BACKENDS[scheme]
    if importlib.util.find_spec(library) is None:
        raise CheckpointError(f"quantization={scheme!r}: needs the {library} package (pip install {library})")
    from diffusers.quantizers import PipelineQuantizationConfig

    return PipelineQuantizationConfig(
        quant_backend=backend, quant_kwargs=kwargs, components_to_quantize=["transformer", "text_encoder"]
    )


def _module_bytes(module: torch.nn.Module) -> int:
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


@dataclass
class LoadedPipeline:
    pipe: Any  # diffusers.LTX2Pipeline
    info: ModelInfo
    device: torch.device
    dtype: torch.dtype
    max_sequence_length: int
    version: ModelVersion


def load_pipeline(path: Path, options: LoadOptions = LoadOptions()) -> LoadedPipeline:
    """Load the LTX2Pipeline at `path` (never touching a hub) and place it as `options` say."""
    from diffusers import LTX2Pipeline

    path = Path(path).expanduser().resolve()
    check_checkpoint(path)
    defaults = read_defaults(path)
    device = options.resolve_device()
    dtype = options.resolve_dtype(device)
    if options.offload and device.type != "cuda":
        raise CheckpointError(f"offload=True: model CPU offload needs a CUDA device, got {device}")
    version = detect_version(path, distilled=options.distilled)
    started = time.perf_counter()
    try:
        pipe = LTX2Pipeline.from_pretrained(
            path,
            dtype=dtype,
            local_files_only=True,
            quantization_config=_quantization_config(options.quantization),
            **options.overrides,
        )
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"model path {str(path)!r}: cannot load: {exc}") from exc
    if options.offload:
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    if options.vae_tiling:
        pipe.vae.enable_tiling()
    pipe.set_progress_bar_config(disable=True)
    decode_mode = video_decode_mode(pipe.vae)
    names = [*COMPONENT_NAMES, *(["duration_head"] if getattr(pipe, "duration_head", None) is not None else [])]
    counts = {name: sum(p.numel() for p in getattr(pipe, name).parameters()) for name in names}
    memory = sum(_module_bytes(getattr(pipe, name)) for name in names)
    adapters = load_adapters(pipe, options.loras, version.version)
    info = replace(
        describe_checkpoint(path, options, adapters=adapters),
        device=str(device) if device.type != "cuda" else f"cuda:{device.index or 0}",
        dtype=str(dtype).removeprefix("torch."),
        parameter_counts=counts,
        memory_bytes=memory,
        load_s=time.perf_counter() - started,
        video_decode=decode_mode.kind if decode_mode.kind == STREAMING else f"{decode_mode.kind}: {decode_mode.reason}",
    )
    log.info(
        "loaded %s from %s on %s (%s, %.1f M parameters) in %.2f s: %s; video decode: %s",
        info.model_id,
        path,
        info.device,
        info.dtype,
        sum(counts.values()) / 1e6,
        info.load_s,
        version.summary(),
        decode_mode,
    )
    return LoadedPipeline(
        pipe=pipe,
        info=info,
        device=device,
        dtype=dtype,
        max_sequence_length=options.max_sequence_length or defaults.max_sequence_length,
        version=version,
    )
