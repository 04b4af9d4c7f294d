"""`ltx2 generate`: stream one generation into mp4 / wav / PNG files while it arrives."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .client import Client
from .events import AudioChunk, VideoChunk
from .inputs import Keyframe
from .media import Mp4Writer, write_frames, write_wav
from .progress import ProgressDisplay
from .request import FIELDS

OUTPUT_TYPES = (".mp4", ".wav")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", help="text prompt")
    out = p.add_argument_group("outputs (at least one)")
    out.add_argument(
        "-o",
        "--output",
        type=Path,
        help="output file; the type comes from the extension: .mp4 (video + audio) or .wav",
    )
    out.add_argument("--wav", type=Path, help="also write the audio as 16-bit PCM wav")
    out.add_argument("--frames-dir", type=Path, help="also write every frame as PNG into this folder")
    g = p.add_argument_group("clip (unset options take the daemon's defaults; see `ltx2 info`)")
    g.add_argument("--width", type=int, help="frame width in pixels (multiple of 32)")
    g.add_argument("--height", type=int, help="frame height in pixels (multiple of 32)")
    length = g.add_mutually_exclusive_group()
    length.add_argument("--frames", type=int, dest="num_frames", help="number of frames, 8k+1 (9, 17, ..., 121)")
    length.add_argument("--duration", type=float, dest="duration_s", help="clip length in seconds instead of --frames")
    g.add_argument(
        "--min-seconds",
        type=float,
        metavar="S",
        help="let the model choose the length, at least S seconds (LTX-2.5; instead of --frames)",
    )
    g.add_argument(
        "--max-seconds", type=float, metavar="S", help="let the model choose the length, at most S seconds (LTX-2.5)"
    )
    g.add_argument("--fps", type=float, dest="frame_rate", help="frames per second")
    g.add_argument("--steps", type=int, help="denoising steps")
    g.add_argument("--seed", type=int, help="random seed (default: the daemon picks one and reports it)")
    g.add_argument("--negative", dest="negative_prompt", help="negative prompt")
    g.add_argument("--video-guidance", type=float, dest="video_guidance_scale", help="video CFG scale (1 = off)")
    g.add_argument("--audio-guidance", type=float, dest="audio_guidance_scale", help="audio CFG scale (1 = off)")
    g.add_argument("--stg", type=float, dest="stg_scale", help="spatio-temporal guidance scale (0 = off)")
    g.add_argument("--modality-guidance", type=float, dest="modality_scale", help="modality guidance (1 = off)")
    g.add_argument("--guidance-rescale", type=float, help="guidance rescale factor in [0, 1]")
    g.add_argument(
        "--audio-only", action="store_true", help="skip decoding the clip's video; implied when only a wav is asked"
    )
    g.add_argument(
        "--mode",
        choices=["text_to_audio_video", "audio_only", "video_to_audio", "audio_to_video"],
        help="audio_only: sound alone, with far less video work than --audio-only (a different sound); "
        "video_to_audio needs --video-input, audio_to_video --audio-input (see also `ltx2 foley`)",
    )
    g.add_argument("--video-input", type=Path, help="video file whose frames video_to_audio makes sound for")
    g.add_argument("--audio-input", type=Path, help="audio file (wav, ogg, mp3, flac) audio_to_video makes frames for")
    g.add_argument("--model", help="a configured model by name (`ltx2 info`: models); default: the daemon's first")
    k = p.add_argument_group("keyframes (see docs/keyframes.md)")
    k.add_argument("--image", type=Path, metavar="PATH", help="picture (png, jpeg) the clip starts from")
    k.add_argument("--image-strength", type=float, metavar="S", help="how firmly --image is held, 0 to 1 (default 1)")
    k.add_argument("--image-crf", type=int, metavar="N", help="H.264 CRF --image is round-tripped at (0: none)")
    k.add_argument(
        "--keyframe",
        action="append",
        default=[],
        metavar="PATH@FRAME[:STRENGTH]",
        help="a picture or video file held from pixel frame FRAME on (the last frame is frames - 1); repeatable",
    )
    d = p.add_argument_group("delivery")
    d.add_argument("--priority", choices=["realtime", "interactive", "batch"], help="scheduling class")
    d.add_argument("--chunk-frames", type=int, help="frames per streamed chunk (multiple of 8)")
    d.add_argument("--sample-rate", type=int, dest="audio_sample_rate", help="audio rate in Hz (default: native)")
    d.add_argument("--cache", choices=["default", "bypass", "refresh"], dest="cache_policy", help="result-cache use")
    d.add_argument(
        "--tag", action="append", default=[], metavar="KEY=VALUE", help="label copied into the daemon's logs"
    )
    d.add_argument("--timeout", type=float, help="give up after this many seconds (DEADLINE_EXCEEDED)")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress display")


def field_options(args: argparse.Namespace, *skip: str) -> dict[str, object]:
    """Every flag given whose destination is a GenerateRequest field of that name (read from the
    proto), but `skip` and the prompt."""
    names = sorted(FIELDS & set(vars(args)) - {"prompt", *skip})
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def parse_keyframe(text: str) -> Keyframe:
    """`PATH@FRAME[:STRENGTH]` as a Keyframe; ValueError saying what is wrong."""
    path, sep, where = text.rpartition("@")
    if not sep or not path:
        raise ValueError("must be PATH@FRAME[:STRENGTH], for example door.png@120 or pose.jpg@48:0.8")
    frame, _, strength = where.partition(":")
    try:
        return Keyframe(Path(path), int(frame), float(strength) if strength else None)
    except ValueError:
        raise ValueError(f"FRAME must be an integer and STRENGTH a number, not {where!r}") from None


def _options(args: argparse.Namespace, audio_only: bool, parser: argparse.ArgumentParser) -> dict[str, object]:
    options = field_options(args, "tags", "audio_only", "image")
    if args.image is not None:
        options["image"] = Keyframe(args.image, 0, args.image_strength, args.image_crf)
    elif args.image_strength is not None or args.image_crf is not None:
        parser.error("--image-strength and --image-crf need --image")
    keyframes = []
    for text in args.keyframe:
        try:
            keyframes.append(parse_keyframe(text))
        except ValueError as exc:
            parser.error(f"--keyframe {text!r}: {exc}")
    if keyframes:
        options["conditions"] = keyframes
    tags = {}
    for tag in args.tag:
        key, sep, value = tag.partition("=")
        if not sep:
            parser.error(f"--tag {tag!r}: must be KEY=VALUE")
        tags[key] = value
    return {**options, "tags": tags or None, "audio_only": audio_only or None}


def run(client: Client, args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    mp4_path = wav_path = None
    if args.output is not None:
        suffix = args.output.suffix.lower()
        if suffix not in OUTPUT_TYPES:
            parser.error(f"--output {str(args.output)!r}: the extension must be one of {', '.join(OUTPUT_TYPES)}")
        mp4_path, wav_path = (args.output, None) if suffix == ".mp4" else (None, args.output)
    if args.wav is not None:
        wav_path = args.wav
    if mp4_path is None and wav_path is None and args.frames_dir is None:
        parser.error("nothing to write: give -o/--output, --wav or --frames-dir")
    # Only audio wanted: let the daemon skip video decoding (the modes other than the default say it themselves).
    audio_only = (args.audio_only or (mp4_path is None and args.frames_dir is None)) and args.mode in (
        None,
        "text_to_audio_video",
    )

    progress = ProgressDisplay(enabled=not args.quiet)
    stream = client.generate(args.prompt, timeout=args.timeout, **_options(args, audio_only, parser))
    mp4: Mp4Writer | None = None
    audio: list[np.ndarray] = []
    frames_received = 0
    try:
        for event in stream:
            progress.update(event)
            if stream.format is not None and mp4 is None and mp4_path is not None:
                mp4 = Mp4Writer.for_format(mp4_path, stream.format)
            if mp4 is not None:
                mp4.write_event(event)
            if isinstance(event, AudioChunk) and wav_path is not None:
                audio.append(event.float_samples())
            elif isinstance(event, VideoChunk):
                frames_received += event.num_frames
                if args.frames_dir is not None:
                    write_frames(event.frames(), args.frames_dir, start=event.first_frame)
        fmt = stream.format
        written = []
        if mp4 is not None:
            written.append(str(mp4.close()))
        if wav_path is not None and fmt is not None:
            channels = fmt.channels or 2
            samples = np.concatenate(audio) if audio else np.zeros((0, channels), np.float32)
            written.append(str(write_wav(samples, wav_path, fmt.sample_rate)))
        if args.frames_dir is not None:
            written.append(f"{args.frames_dir}/ (PNG)")
    except BaseException:
        progress.finish()
        stream.cancel()
        if mp4 is not None:
            mp4.abort()
        raise
    done, fmt = stream.completed, stream.format
    if done is not None and fmt is not None and not args.quiet:
        seconds = done.num_samples / fmt.sample_rate if fmt.sample_rate else 0.0
        print(
            f"wrote {', '.join(written)} (seed {done.seed}, {frames_received} frames, "
            f"{seconds:.2f} s of audio at {fmt.sample_rate} Hz)",
            file=progress.out,
        )
    return 0
