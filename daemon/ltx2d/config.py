"""The daemon's configuration: one frozen dataclass built once at start-up.

Every option has one entry in `OPTIONS` (flag, `LTX2D_*` variable, default, description, parser);
`--help`, the table in docs/daemon.md and `DaemonConfig.from_args` are all built from it. A value
comes from its flag if given, else from its environment variable if set, else from the default.
Nothing here reads the environment by itself: `from_args` is handed the environment.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ltx2 import GenerationParams, InvalidParams, Limits
from ltx2.lora import LoraSpec

from . import __version__

ENV_PREFIX = "LTX2D_"
DEFAULT_GRPC_PORT = 50151
DEFAULT_BRIDGE_PORT = 50152
MIB = 1024 * 1024


class ConfigError(ValueError):
    """A configuration value broke a rule; the message names the option, the value and the rule."""

    def __init__(self, option: str, value: object, rule: str) -> None:
        self.option = option
        self.value = value
        self.rule = rule
        super().__init__(f"{option}={value!r}: {rule}")


# --- value parsers: text (from a flag or the environment) -> typed value, or ValueError(rule) ---


def _int(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise ValueError("must be an integer") from None
        if (low is not None and value < low) or (high is not None and value > high):
            if high is None:
                raise ValueError(f"must be an integer >= {low}")
            raise ValueError(f"must be an integer between {low} and {high}")
        return value

    return parse


def _float(low: float | None = None) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise ValueError("must be a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("must be a finite number")
        if low is not None and value < low:
            raise ValueError(f"must be a number >= {low:g}")
        return value

    return parse


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("must be one of 1/true/yes/on or 0/false/no/off")


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return parse


_DTYPE_ALIASES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32", "float": "fp32"}


def _dtype(text: str) -> str:
    value = text.strip().lower()
    return _choice("auto", "bf16", "fp16", "fp32")(_DTYPE_ALIASES.get(value, value))


def _steps(text: str) -> int | None:
    """Denoising steps: an integer, or `model` (also `none`, `auto`) for the preset's."""
    if text.strip().lower() in ("model", "none", "auto"):
        return None
    return _int(1)(text)


def _loras(text: str) -> tuple[LoraSpec, ...]:
    """LoRA adapters, `NAME=PATH[:STRENGTH]`, separated by `;` or new lines (one per --lora flag)."""
    return tuple(LoraSpec.parse(item.strip()) for item in text.replace("\n", ";").split(";") if item.strip())


DEFAULT_MODEL_NAME = "default"
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class ModelSpec:
    """One configured model: the name requests use and its checkpoint folder."""

    name: str
    path: Path | None  # None: the embedded tiny checkpoint


def _model(text: str) -> ModelSpec:
    """`NAME=PATH`, or a bare `PATH` (named `default`)."""
    text = text.strip()
    name, sep, path = text.partition("=")
    if not sep or "/" in name or "\\" in name:  # no name: the = (if any) is part of the path
        name, path = DEFAULT_MODEL_NAME, text
    if not _MODEL_NAME.match(name):
        raise ValueError(f"model name {name!r}: must be 1-64 letters, digits, '_', '.' or '-', starting with one")
    if not path.strip():
        raise ValueError(f"model {name}: the checkpoint folder is missing (NAME=PATH)")
    return ModelSpec(name, Path(path.strip()))


def _models(text: str) -> tuple[ModelSpec, ...]:
    """Models, `NAME=PATH` or `PATH`, separated by `;` or new lines (one per --model flag)."""
    specs = tuple(_model(item) for item in text.replace("\n", ";").split(";") if item.strip())
    names = [spec.name for spec in specs]
    if len(names) != len(set(names)):
        raise ValueError(f"model names must differ (got {', '.join(names)}); name them NAME=PATH")
    return specs


def _port_or_off(text: str) -> int | None:
    """A TCP port, 0 to pick a free one; negative or `off` disables."""
    if text.strip().lower() in ("off", "none", "disabled", ""):
        return None
    value = _int(None, 65535)(text)
    return None if value < 0 else value


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.I)


def _size(text: str) -> int:
    """Bytes: a plain integer or a number with a unit (K, M, G, T; KiB/MiB/... are the same)."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError("must be a size in bytes such as 1048576, 512M or 10GiB")
    number, unit = float(match.group(1)), match.group(2).lower()
    return int(number * 1024 ** " kmgt".index(unit or " "))


def _path(text: str) -> Path | None:
    text = text.strip()
    return Path(text).expanduser() if text else None


def _text(text: str) -> str | None:
    return text or None


# --- the options ---


@dataclass(frozen=True)
class Option:
    """One configuration option: where it comes from and what it means."""

    name: str  # DaemonConfig field
    help: str
    parse: Callable[[str], Any]
    default: Any
    metavar: str | None = None
    flag_kind: str = "value"  # "value" or "bool" (--x / --no-x)
    group: str = "daemon"
    repeatable: bool = False  # a flag given once per value (--lora A --lora B)
    env_name: str = ""  # the variable's name when it is not the field's (LTX2D_MODEL for models)

    @property
    def flag(self) -> str:
        name = self.name.removesuffix("s") if self.repeatable else self.name
        return "--" + name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + (self.env_name or self.name).upper()


_DEFAULTS = GenerationParams(prompt="")
_LIMITS = Limits()

OPTIONS: tuple[Option, ...] = (
    # model
    Option(
        "models",
        "Checkpoint folder in diffusers layout, PATH or NAME=PATH; unset uses the embedded tiny checkpoint "
        "(built on first use). Repeat the flag for more models (the variable separates them with ;): one is "
        "resident at a time, requests choose one by name (GenerateRequest.model), the first is the default. "
        "--lora and --distilled apply to the first; device, dtype, offload and quantization to all.",
        _models,
        (),
        "NAME=PATH",
        group="model",
        repeatable=True,
        env_name="model",
    ),
    Option(
        "device",
        "Device to run on: auto (CUDA if available, else CPU), cpu, cuda or cuda:N.",
        str.strip,
        "auto",
        "DEVICE",
        group="model",
    ),
    Option(
        "dtype",
        "Weight dtype: auto (bf16 on CUDA, fp32 on CPU), bf16, fp16 or fp32.",
        _dtype,
        "auto",
        "DTYPE",
        group="model",
    ),
    Option(
        "offload",
        "Offload idle model components to CPU memory (less GPU memory, slower).",
        _bool,
        False,
        flag_kind="bool",
        group="model",
    ),
    Option(
        "vae_tiling",
        "Decode video in spatial tiles (less GPU memory for large frames).",
        _bool,
        False,
        flag_kind="bool",
        group="model",
    ),
    Option(
        "quantization",
        "Weight quantization: none, int8 or nf4 (bitsandbytes) or fp8 (torchao); needs the quant extra.",
        _choice("none", "int8", "nf4", "fp8"),
        "none",
        "KIND",
        group="model",
    ),
    Option(
        "loras",
        "LoRA adapter loaded at start, NAME=PATH[:STRENGTH] (strength 0-2, default 1); repeat the flag for "
        "more (the variable separates them with ;). Requests choose adapters by name, per job.",
        _loras,
        (),
        "NAME=PATH",
        group="model",
        repeatable=True,
    ),
    Option(
        "distilled",
        "Declare the weights distilled (its default preset becomes distilled: 8 steps, no guidance); unset: "
        'the checkpoint\'s ltx2d.json "distilled", else dev. Structure cannot tell.',
        _bool,
        None,
        flag_kind="bool",
        group="model",
    ),
    Option(
        "preload",
        "Load the model at start-up instead of on the first request.",
        _bool,
        False,
        flag_kind="bool",
        group="model",
    ),
    Option(
        "keep_alive",
        "Idle seconds before the model is unloaded from its device; 0 keeps it loaded.",
        _float(0),
        0.0,
        "SECONDS",
        group="model",
    ),
    # network
    Option(
        "host",
        "Address to listen on. Anything other than loopback requires --token.",
        str.strip,
        "127.0.0.1",
        "ADDR",
        group="network",
    ),
    Option(
        "grpc_port",
        "gRPC port; 0 picks a free one (see --ready-file).",
        _int(0, 65535),
        DEFAULT_GRPC_PORT,
        "PORT",
        group="network",
    ),
    Option(
        "bridge_port",
        "msgpack bridge (Godot) port; 0 picks a free one; off or negative disables it (same as --no-bridge).",
        _port_or_off,
        DEFAULT_BRIDGE_PORT,
        "PORT",
        group="network",
    ),
    Option(
        "metrics_port",
        "Prometheus metrics HTTP port (/metrics); 0 picks a free one; unset or off disables it.",
        _port_or_off,
        None,
        "PORT",
        group="network",
    ),
    Option(
        "token",
        "Shared secret every client must send (gRPC `authorization: Bearer <token>` metadata, "
        "bridge `hello`). Required when --host is not loopback. Prefer the environment variable.",
        _text,
        None,
        "TOKEN",
        group="network",
    ),
    Option(
        "bridge_max_frame",
        "Largest msgpack frame a bridge client may send, in bytes (units K, M, G accepted).",
        _size,
        16 * MIB,
        "BYTES",
        group="network",
    ),
    Option(
        "ready_file",
        "After binding, write {pid, host, grpc_port, bridge_port, metrics_port} as JSON to "
        "this file (atomically), for scripts and tests that use port 0.",
        _path,
        None,
        "PATH",
        group="network",
    ),
    # jobs
    Option(
        "queue_capacity",
        "Most jobs waiting in the queue; more are refused with RESOURCE_EXHAUSTED.",
        _int(1),
        16,
        "N",
        group="jobs",
    ),
    Option(
        "stall_limit",
        "Seconds a client may read nothing from a running stream before its job is cancelled "
        "(the daemon buffers at most a chunk or two per job, never the clip); 0 never cancels.",
        _float(0),
        30.0,
        "SECONDS",
        group="jobs",
    ),
    Option(
        "cache_dir",
        "Folder of the result cache.",
        _path,
        Path("~/.cache/ltx2d/results"),
        "PATH",
        group="jobs",
    ),
    Option(
        "cache_max_bytes",
        "Size cap of the result cache in bytes (units K, M, G accepted); 0 disables the cache.",
        _size,
        4 * 1024 * MIB,
        "BYTES",
        group="jobs",
    ),
    Option(
        "shutdown_grace",
        "Seconds a shutdown (SIGTERM, SIGINT) lets running jobs finish before cancelling them.",
        _float(0),
        10.0,
        "SECONDS",
        group="jobs",
    ),
    # limits (validation lives in ltx2.GenerationParams.validate; these only set its bounds)
    Option("max_width", "Largest frame width in pixels.", _int(64), _LIMITS.max_width, "PX", group="limits"),
    Option("max_height", "Largest frame height in pixels.", _int(64), _LIMITS.max_height, "PX", group="limits"),
    Option("max_frames", "Largest number of frames per clip.", _int(9), _LIMITS.max_frames, "N", group="limits"),
    Option("max_steps", "Most denoising steps per job.", _int(1), _LIMITS.max_steps, "N", group="limits"),
    # defaults for unset request fields
    Option(
        "default_width",
        "Width used when a request leaves it unset.",
        _int(1),
        _DEFAULTS.width,
        "PX",
        group="defaults",
    ),
    Option(
        "default_height",
        "Height used when a request leaves it unset.",
        _int(1),
        _DEFAULTS.height,
        "PX",
        group="defaults",
    ),
    Option(
        "default_num_frames",
        "Frame count used when a request sets neither num_frames nor duration_s.",
        _int(1),
        _DEFAULTS.num_frames,
        "N",
        group="defaults",
    ),
    Option(
        "default_frame_rate",
        "Frames per second used when a request leaves it unset.",
        _float(),
        _DEFAULTS.frame_rate,
        "FPS",
        group="defaults",
    ),
    Option(
        "default_steps",
        "Denoising steps used when a request leaves them unset; unset or `model`: the preset's "
        "(LTX-2.0 dev 40, LTX-2.3+ dev 30, distilled 8).",
        _steps,
        None,
        "N",
        group="defaults",
    ),
    Option(
        "default_chunk_frames",
        "Frames per streamed chunk when a request leaves it unset.",
        _int(1),
        _DEFAULTS.chunk_frames,
        "N",
        group="defaults",
    ),
    # logging
    Option(
        "log_level",
        "Log level: debug, info, warning or error.",
        _choice("debug", "info", "warning", "error"),
        "info",
        "LEVEL",
        group="logging",
    ),
    Option(
        "log_format",
        "Log format: text (one readable line per record) or json (one JSON object per line).",
        _choice("text", "json"),
        "text",
        "FORMAT",
        group="logging",
    ),
)


@dataclass(frozen=True)
class DaemonConfig:
    """Every setting of one daemon process (see `OPTIONS` for what each means)."""

    models: tuple[ModelSpec, ...] = ()
    device: str = "auto"
    dtype: str = "auto"
    offload: bool = False
    vae_tiling: bool = False
    quantization: str = "none"
    loras: tuple[LoraSpec, ...] = ()
    distilled: bool | None = None
    preload: bool = False
    keep_alive: float = 0.0
    host: str = "127.0.0.1"
    grpc_port: int = DEFAULT_GRPC_PORT
    bridge_port: int | None = DEFAULT_BRIDGE_PORT
    metrics_port: int | None = None
    token: str | None = field(default=None, repr=False)  # a secret: kept out of logs
    # Room for a request's media (Limits.max_input_bytes, 12 MiB) and the rest of it, as over gRPC.
    bridge_max_frame: int = 16 * MIB
    ready_file: Path | None = None
    queue_capacity: int = 16
    stall_limit: float = 30.0
    cache_dir: Path = Path("~/.cache/ltx2d/results")
    cache_max_bytes: int = 4 * 1024 * MIB
    shutdown_grace: float = 10.0
    max_width: int = _LIMITS.max_width
    max_height: int = _LIMITS.max_height
    max_frames: int = _LIMITS.max_frames
    max_steps: int = _LIMITS.max_steps
    default_width: int = _DEFAULTS.width
    default_height: int = _DEFAULTS.height
    default_num_frames: int = _DEFAULTS.num_frames
    default_frame_rate: float = _DEFAULTS.frame_rate
    default_steps: int | None = None
    default_chunk_frames: int = _DEFAULTS.chunk_frames
    log_level: str = "info"
    log_format: str = "text"

    @property
    def limits(self) -> Limits:
        """The engine limits of this deployment."""
        return replace(
            Limits(),
            max_width=self.max_width,
            max_height=self.max_height,
            max_frames=self.max_frames,
            max_steps=self.max_steps,
        )

    @property
    def defaults(self) -> GenerationParams:
        """Parameters used for request fields left unset (the prompt is left empty)."""
        return replace(
            GenerationParams(prompt=""),
            width=self.default_width,
            height=self.default_height,
            num_frames=self.default_num_frames,
            frame_rate=self.default_frame_rate,
            steps=self.default_steps,
            chunk_frames=self.default_chunk_frames,
        )

    @property
    def model(self) -> Path | None:
        """The default model's checkpoint folder; None for the embedded tiny checkpoint."""
        return self.models[0].path if self.models else None

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @classmethod
    def from_args(cls, argv: Sequence[str] | None, environ: Mapping[str, str]) -> DaemonConfig:
        """Build the config from command-line flags, then `LTX2D_*` variables, then defaults.

        Raises `ConfigError` naming the option, the value and the rule (argparse exits on unknown
        flags and on `--help`).
        """
        args = build_parser().parse_args(list(argv) if argv is not None else [])
        values: dict[str, Any] = {}
        for option in OPTIONS:
            given = getattr(args, option.name)
            if given is not None:
                source, text = option.flag, given
            elif option.env in environ:
                source, text = option.env, environ[option.env]
            else:
                values[option.name] = option.default
                continue
            if option.flag_kind == "bool" and isinstance(text, bool):
                values[option.name] = text
                continue
            if isinstance(text, list):  # a repeatable flag (--lora)
                text = "\n".join(text)
            try:
                values[option.name] = option.parse(str(text))
            except ValueError as exc:
                raise ConfigError(source, text, str(exc)) from None
        if args.no_bridge:
            values["bridge_port"] = None
        home = environ.get("HOME")

        def expand(path: Path) -> Path:  # with the HOME given, not the process's
            if path.parts and path.parts[0] == "~" and home:
                return Path(home, *path.parts[1:])
            return path.expanduser()

        for name in ("cache_dir", "ready_file"):
            if isinstance(values[name], Path):
                values[name] = expand(values[name])
        values["models"] = tuple(
            replace(spec, path=expand(spec.path)) if spec.path is not None else spec for spec in values["models"]
        )
        config = cls(**values)
        config.check()
        return config

    def check(self) -> None:
        """Rules that involve several options."""
        if not self.loopback and not self.token:
            raise ConfigError(
                "--host",
                self.host,
                "listening on a non-loopback address requires a token (--token or LTX2D_TOKEN)",
            )
        ports = [p for p in (self.grpc_port, self.bridge_port, self.metrics_port) if p]
        if len(ports) != len(set(ports)):
            raise ConfigError("--grpc-port/--bridge-port/--metrics-port", ports, "ports must differ")
        try:
            # The defaults must make a valid request on their own (with any prompt).
            replace(self.defaults, prompt="defaults").validate(self.limits)
        except InvalidParams as exc:
            raise ConfigError("--default-" + exc.field.replace("_", "-"), exc.value, exc.rule) from None


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser; every flag defaults to None so the environment can fill it in."""
    parser = argparse.ArgumentParser(
        prog="ltx2d",
        description="Serve a warm LTX-2 model over gRPC and a msgpack bridge. Every option can also be set "
        f"with an environment variable ({ENV_PREFIX}<OPTION>); a flag wins over the environment.",
    )
    parser.add_argument("--version", action="version", version=f"ltx2d {__version__}")
    groups: dict[str, argparse._ArgumentGroup] = {}
    for option in OPTIONS:
        group = groups.setdefault(option.group, parser.add_argument_group(option.group))
        shown = "unset" if option.default in (None, ()) else option.default
        help_text = f"{option.help} [env {option.env}; default {shown}]".replace("%", "%%")
        if option.flag_kind == "bool":
            group.add_argument(
                option.flag,
                dest=option.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        elif option.repeatable:
            group.add_argument(
                option.flag, dest=option.name, action="append", default=None, metavar=option.metavar, help=help_text
            )
        else:
            group.add_argument(option.flag, dest=option.name, default=None, metavar=option.metavar, help=help_text)
        if option.name == "bridge_port":
            group.add_argument("--no-bridge", action="store_true", help="Do not start the msgpack bridge.")
    return parser


def options_markdown() -> str:
    """The options as a Markdown table (docs/daemon.md embeds it)."""
    rows = ["| flag | environment | default | description |", "| --- | --- | --- | --- |"]
    for option in OPTIONS:
        flag = f"`{option.flag}`" if option.flag_kind == "value" else f"`{option.flag}` / `--no-{option.flag[2:]}`"
        default = "unset" if option.default in (None, ()) else f"`{option.default}`"
        rows.append(f"| {flag} | `{option.env}` | {default} | {option.help.replace('|', '/')} |")
    rows.append("| `--no-bridge` | | | Do not start the msgpack bridge (same as `--bridge-port off`). |")
    return "\n".join(rows) + "\n"
