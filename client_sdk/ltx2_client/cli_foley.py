"""`ltx2 foley`: sound for a video file (video-to-audio), written as that video with its new sound."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .cli_generate import field_options
from .client import Client
from .errors import ProtocolError
from .events import AudioChunk
from .media import mux_problem, mux_sound, write_wav
from .progress import ProgressDisplay

OUTPUT_TYPES = (".mp4", ".mkv", ".wav")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", type=Path, help="the video to make sound for (mp4, webm, mkv)")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help=".mp4 or .mkv: the input video (copied, not re-encoded) with the generated sound; .wav: the sound alone",
    )
    p.add_argument("--prompt", required=True, help="what the sound is, e.g. 'glass shatters on a stone floor'")
    g = p.add_argument_group("generation (unset options take the daemon's defaults)")
    g.add_argument("--seed", type=int, help="random seed (default: the daemon picks one and reports it)")
    g.add_argument("--steps", type=int, help="denoising steps")
    g.add_argument("--negative", dest="negative_prompt", help="negative prompt")
    g.add_argument("--audio-guidance", type=float, dest="audio_guidance_scale", help="audio CFG scale (1 = off)")
    g.add_argument("--width", type=int, help="width the frames are encoded at (default: theirs, scaled to fit)")
    g.add_argument("--height", type=int, help="height the frames are encoded at")
    g.add_argument("--sample-rate", type=int, dest="audio_sample_rate", help="audio rate in Hz (default: native)")
    g.add_argument("--model", help="a configured model by name (`ltx2 info`: models)")
    g.add_argument("--cache", choices=["default", "bypass", "refresh"], dest="cache_policy", help="result-cache use")
    g.add_argument("--timeout", type=float, help="give up after this many seconds (DEADLINE_EXCEEDED)")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress display")


def run(client: Client, args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    suffix = args.output.suffix.lower()
    if suffix not in OUTPUT_TYPES:
        parser.error(f"--output {str(args.output)!r}: the extension must be one of {', '.join(OUTPUT_TYPES)}")
    if not args.input.is_file():
        parser.error(f"input {str(args.input)!r}: no such file")
    if suffix != ".wav":
        # Before generating: a video that cannot be copied into the output would waste the job.
        problem = mux_problem(args.input, args.output)
        if problem is not None:
            parser.error(f"input {str(args.input)!r}: {problem}")
    options = field_options(args)
    progress = ProgressDisplay(enabled=not args.quiet)
    stream = client.foley(args.input, args.prompt, timeout=args.timeout, **options)
    audio: list[np.ndarray] = []
    try:
        for event in stream:
            progress.update(event)
            if isinstance(event, AudioChunk):
                audio.append(event.float_samples())
    except BaseException:
        progress.finish()
        stream.cancel()
        raise
    fmt, done = stream.format, stream.completed
    if fmt is None or done is None:
        raise ProtocolError("the stream ended without Completed")
    samples = np.concatenate(audio) if audio else np.zeros((0, fmt.channels or 2), np.float32)
    if suffix == ".wav":
        written = write_wav(samples, args.output, fmt.sample_rate)
    else:
        written = mux_sound(args.input, samples, fmt.sample_rate, args.output)
    if not args.quiet:
        print(
            f"wrote {written} (seed {done.seed}, {fmt.num_frames} frames at {fmt.frame_rate:g} fps, "
            f"{len(samples) / fmt.sample_rate:.2f} s of sound at {fmt.sample_rate} Hz)",
            file=progress.out,
        )
    return 0
