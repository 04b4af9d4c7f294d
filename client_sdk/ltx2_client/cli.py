"""The `ltx2` command line: generate clips, inspect and steer the daemon, or run it."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from . import cli_foley, cli_generate
from .client import Client
from .connection import ADDRESS_ENV, DEFAULT_ADDRESS, TOKEN_ENV
from .errors import InvalidArgument, Ltx2Error
from .info import Info

EXIT_ERROR = 1
EXIT_INVALID = 2


def _connection_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # Accepted before and after the subcommand; the subcommand's copy must not reset the global one.
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--address",
        default=default,
        help=f"daemon address host:port (default: ${ADDRESS_ENV}, else {DEFAULT_ADDRESS})",
    )
    parser.add_argument("--token", default=default, help=f"bearer token (default: ${TOKEN_ENV})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ltx2",
        description="Generate synchronized video and audio with the ltx2d daemon, and manage it.",
        epilog="Run `ltx2 COMMAND --help` for the options of a command.",
    )
    _connection_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _connection_options(common, suppress=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = sub.add_parser(
        "generate",
        parents=[common],
        help="generate a clip into .mp4 / .wav / PNG files",
        description="Generate a clip and write it while it streams in. The output type comes from the "
        "extension of -o: .mp4 (H.264 video + AAC audio) or .wav (audio only). Progress goes to stderr.",
        epilog='example: ltx2 generate "waves on a pebble beach" -o beach.mp4 --frames 49 --seed 7',
    )
    cli_generate.add_arguments(gen)

    foley = sub.add_parser(
        "foley",
        parents=[common],
        help="generate sound for a video file (video-to-audio) and mux it in",
        description="Send a video's frames to the daemon, which generates sound of exactly their duration in "
        "sync with them. -o .mp4 writes the input video (copied, not re-encoded) with the new sound as AAC; "
        "-o .wav the sound alone.",
        epilog='example: ltx2 foley capture.mp4 -o capture_foley.mp4 --prompt "a crate smashes on concrete"',
    )
    cli_foley.add_arguments(foley)

    info = sub.add_parser("info", parents=[common], help="show the model, device, limits, defaults and queue")
    info.add_argument("--json", action="store_true", help="print the info as JSON")
    for name, text in (
        ("load", "load the model onto its device"),
        ("unload", "free the device (unload the model)"),
    ):
        p = sub.add_parser(name, parents=[common], help=text, description=text[0].upper() + text[1:] + ".")
        p.add_argument("--json", action="store_true", help="print the daemon's info afterwards as JSON")
        if name == "load":
            p.add_argument("--model", default="", help="a configured model by name (unloads the resident one)")

    pre = sub.add_parser(
        "prefetch",
        parents=[common],
        help="generate a list of requests into the daemon's cache (BATCH priority)",
        description="Queue requests at BATCH priority into the daemon's result cache, without streaming. "
        "FILE holds one JSON object per line with generate options, "
        'e.g. {"prompt": "rain", "num_frames": 49}; '
        "'-' reads stdin; blank lines and lines starting with # are skipped.",
    )
    pre.add_argument("file", help="JSON-lines file of requests, or - for stdin")

    serve = sub.add_parser(
        "serve",
        help="run the daemon in this process (needs the ltx2d package)",
        description="Run the ltx2d daemon (`python -m ltx2d`); every argument after `serve` goes to it "
        "(try `ltx2 serve --help`). Needs the ltx2d package installed.",
        add_help=False,
    )
    serve.add_argument("daemon_args", nargs="*", help="arguments for the daemon")
    return parser


def _serve_index(argv: list[str]) -> int | None:
    """Index of the `serve` command in argv, skipping the global options before it."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--address", "--token"):
            i += 2
        elif arg.startswith("-"):
            i += 1
        else:
            return i if arg == "serve" else None
    return None


def _fail(message: str, code: int) -> int:
    print(f"ltx2: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ltx2` console script; returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    split = _serve_index(argv)
    if split is not None:
        # Everything after `serve` belongs to the daemon, --help included (argparse's REMAINDER
        # would refuse a first argument that looks like an option).
        parser.parse_args(argv[: split + 1])
        return _serve(argv[split + 1 :])
    args = parser.parse_args(argv)
    client = Client(args.address, token=args.token)
    try:
        if args.command == "generate":
            return cli_generate.run(client, args, parser)
        if args.command == "foley":
            return cli_foley.run(client, args, parser)
        if args.command == "info":
            return _print_info(client.info(), as_json=args.json)
        if args.command in ("load", "unload"):
            info = client.load(args.model) if args.command == "load" else client.unload()
            if args.json:
                return _print_info(info, as_json=True)
            state = f"loaded on {info.device}" if info.loaded else "unloaded"
            name = f" ({info.resident_model})" if len(info.models) > 1 and info.resident_model else ""
            print(f"{info.model_id}{name}: {state}")
            return 0
        if args.command == "prefetch":
            return _prefetch(client, args.file)
        parser.error(f"unknown command {args.command!r}")
    except InvalidArgument as error:
        return _fail(error.message, EXIT_INVALID)
    except Ltx2Error as error:
        return _fail(f"{error.message} ({error.code})" if error.code else error.message, EXIT_ERROR)
    except KeyboardInterrupt:
        return _fail("interrupted; the job was cancelled", 130)
    finally:
        client.close()
    return 0


def _print_info(info: Info, *, as_json: bool) -> int:
    if as_json:
        print(json.dumps(info.to_dict(), indent=2, sort_keys=True))
        return 0
    lim, d = info.limits, info.defaults
    params = ", ".join(f"{k} {_count(v)}" for k, v in sorted(info.parameter_counts.items())) or "-"
    memory = f", {info.memory_bytes / 2**20:.1f} MiB on device" if info.memory_bytes else ""
    size = f"{d.get('width', '?')}x{d.get('height', '?')}"
    rows = [
        ("daemon", f"ltx2d {info.version} (protocol {info.protocol_version})"),
        ("model", f"{info.model_id}  {info.model_path}".rstrip()),
        ("fingerprint", info.model_fingerprint or "-"),
        ("loaded", f"{'yes' if info.loaded else 'no'}, {info.device or '?'}, {info.dtype or '?'}{memory}"),
        ("parameters", params),
        ("audio", f"{info.native_sample_rate} Hz native"),
        (
            "limits",
            f"{lim.min_size}..{lim.max_width}x{lim.max_height} px (multiples of {lim.size_multiple}), "
            f"{lim.min_frames}..{lim.max_frames} frames ({lim.frames_multiple}k+1), "
            f"{lim.min_steps}..{lim.max_steps} steps, {lim.min_frame_rate:g}-{lim.max_frame_rate:g} fps, "
            f"at most {lim.max_video_tokens} video tokens, guidance {lim.min_guidance_scale:g}-"
            f"{lim.max_guidance_scale:g}, prompt <= {lim.max_prompt_chars} chars (`ltx2 info --json`: every limit)",
        ),
        (
            "defaults",
            f"{size}, {d.get('num_frames', '?')} frames @ {d.get('frame_rate', '?')} fps, "
            f"{d.get('steps', '?')} steps, chunks of {d.get('chunk_frames', '?')} frames",
        ),
        ("queue", f"{info.queue_depth}/{info.queue_capacity} waiting, running: {info.running_job_id or '-'}"),
        ("keep-alive", f"{info.keep_alive_s:g} s" if info.keep_alive_s else "forever"),
    ]
    if len(info.models) > 1:
        rows.insert(1, ("models", ", ".join(_model_label(m) for m in info.models)))
    for key, value in rows:
        print(f"{key:<12} {value}")
    return 0


def _model_label(model: dict[str, object]) -> str:
    marks = [mark for mark, on in (("default", model["is_default"]), ("resident", model["loaded"])) if on]
    version = f" {model['model_version']}" if model["model_version"] else ""
    return f"{model['name']}{version}" + (f" ({', '.join(marks)})" if marks else "")


def _count(n: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def _prefetch(client: Client, file: str) -> int:
    text = sys.stdin.read() if file == "-" else Path(file).read_text()
    requests = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            request = json.loads(line)
        except json.JSONDecodeError as exc:
            return _fail(f"{file}:{number}: not JSON ({exc.msg})", EXIT_INVALID)
        if not isinstance(request, dict):
            return _fail(f"{file}:{number}: must be a JSON object with a prompt", EXIT_INVALID)
        requests.append(request)
    try:
        result = client.prefetch(requests)
    except TypeError as exc:  # an unknown option name in a line
        return _fail(str(exc), EXIT_INVALID)
    queued = [job for job in result.job_ids if job]
    print(f"queued {len(queued)}, already cached {result.already_cached}")
    for job in queued:
        print(job)
    return 0


def _serve(daemon_args: list[str]) -> int:
    """Run the daemon's own entry point, `python -m ltx2d`, in place of this process.

    The SDK never imports the daemon (no package cycle, no torch in the SDK's process): on POSIX
    the daemon replaces this process, so signals (SIGTERM, Ctrl-C) reach it directly.
    """
    if importlib.util.find_spec("ltx2d") is None:
        return _fail(
            "`ltx2 serve` needs the daemon, which is not installed: install the `ltx2d` package "
            "(it brings torch and diffusers), then run `ltx2 serve` or `ltx2d`",
            EXIT_ERROR,
        )
    argv = [sys.executable, "-m", "ltx2d", *daemon_args]
    if os.name == "posix":
        os.execv(sys.executable, argv)
    return subprocess.call(argv)  # pragma: no cover - Windows has no exec that keeps the console


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
