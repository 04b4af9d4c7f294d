"""Latency of each mode against text-to-audio+video at the same size, side by side in one process, and
the transformer work per pass of each mode at the real sizes, counted on the meta device.

Modes timed on the tiny checkpoint (CPU), medians of --repeats runs, interleaved:
- text_to_audio_video: the whole clip (the reference, 1.00);
- audio_only flag: the same clip with its video left undecoded (what a foley request cost before);
- mode audio_only: sound alone, the video stream one held token (isolated, one text token);
- video_to_audio: the clip's frames given (encoded by the VAE, held clean), sound generated;
- audio_to_video: the clip's sound given (mel + audio VAE, held clean), frames generated.

The full-size figures are FLOPs of one batch-1 transformer pass of the full-size LTX-2.0 architecture
(diffusers' conversion config) for each mode, from `torch.utils.flop_counter` on the meta device (no
weights, runs on any CPU), times the passes per step of the dev preset:

    python -m benchmarks.modes                         # tiny: 256x256x121, 8 steps; full-size FLOPs
    python -m benchmarks.modes --size 64x64x25 --steps 2 --repeats 1 --no-full --no-record   # smoke
    python -m benchmarks.modes --gpu                   # the GPU check: the modes timed on the full-size
                                                       # LTX-2.0 architecture (random bf16), 768x512x121
    python -m benchmarks.modes --gpu --device cpu --layers 1 --size 64x64x9 --steps 2 --no-full   # dry run
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ltx2 import AudioChunk, Completed, GenerationParams, Limits, Mode, RawAudio, RawFrames, VideoChunk, prepare_params

from .guidance_cost import TEXT_TOKENS, config, inputs
from .report import Report, median, ratio

MODES = ("text_to_audio_video", "audio_only flag", "audio_only", "video_to_audio", "audio_to_video")


def _clip(engine: Any, params: GenerationParams) -> tuple[np.ndarray, np.ndarray, float]:
    frames, audio = [], []
    for event in engine.generate(params):
        if isinstance(event, VideoChunk):
            frames.append(np.frombuffer(event.data, np.uint8).reshape(event.num_frames, event.height, event.width, 3))
        elif isinstance(event, AudioChunk):
            audio.append(np.frombuffer(event.data, "<f4").reshape(event.num_samples, event.channels))
        elif isinstance(event, Completed):
            total = event.timings.total_s
    return np.concatenate(frames) if frames else np.zeros(0), np.concatenate(audio), total


def time_modes(engine: Any, base: GenerationParams, repeats: int) -> dict[str, list[float]]:
    frames, audio, _ = _clip(engine, base)  # also the warm-up
    rate = engine.info().native_sample_rate
    # In process, raw frames of any size (the wire's 12 MiB bound is for what a client sends).
    limits = Limits(max_input_bytes=1 << 30)
    inputs_by_mode = {
        "text_to_audio_video": base,
        "audio_only flag": replace(base, audio_only=True),
        "audio_only": replace(base, mode=Mode.AUDIO_ONLY),
        "video_to_audio": prepare_params(
            base,
            {
                "mode": Mode.VIDEO_TO_AUDIO,
                "video_input": RawFrames(base.width, base.height, base.frame_rate, frames.tobytes()),
            },
            limits,
        ),
        "audio_to_video": prepare_params(
            base,
            {"mode": Mode.AUDIO_TO_VIDEO, "audio_input": RawAudio(rate, audio.shape[1], 2, audio.tobytes())},
            limits,
        ),
    }
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(repeats):
        for mode in MODES:
            times[mode].append(_clip(engine, inputs_by_mode[mode])[2])
    return times


def pass_flops(width: int, height: int, frames: int, audio_only: bool) -> int:
    """FLOPs of one batch-1 pass of the full-size LTX-2.0 transformer (meta device)."""
    from diffusers import LTX2VideoTransformer3DModel
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = LTX2VideoTransformer3DModel(**config("2.0")).to(torch.bfloat16)
    kwargs = inputs(model, 1, width, height, frames, "meta", torch.bfloat16)
    if audio_only:
        # One video token and one video text token; the audio of the clip's duration; isolated.
        one = inputs(model, 1, 32, 32, 1, "meta", torch.bfloat16)
        kwargs.update(
            hidden_states=one["hidden_states"],
            num_frames=1,
            height=1,
            width=1,
            encoder_hidden_states=kwargs["encoder_hidden_states"][:, :1],
            encoder_attention_mask=kwargs["encoder_attention_mask"][:, :1],
            isolate_modalities=True,
        )
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(**kwargs)
    return counter.get_total_flops()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.modes", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", help="WIDTHxHEIGHTxFRAMES of the clips (default 256x256x121; with --gpu 768x512x121)")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkpoint", type=Path, help="checkpoint folder (default: the embedded tiny one)")
    parser.add_argument("--no-full", action="store_true", help="skip the full-size FLOP count")
    parser.add_argument(
        "--gpu", action="store_true", help="time the modes on the full-size architecture (random weights) instead"
    )
    parser.add_argument("--device", default="cuda", help="with --gpu: the device")
    parser.add_argument("--layers", type=int, default=48, help="with --gpu: transformer blocks (48 is real)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    args.size = args.size or ("768x512x121" if args.gpu else "256x256x121")
    width, height, frames = (int(v) for v in args.size.split("x"))
    report = Report("modes", sys.argv[1:] if argv is None else list(argv))

    from ltx2 import SampleFormat
    from ltx2.engine import Ltx2Engine

    if args.gpu:
        from .full_size import build_full_size_engine

        if args.device.startswith("cuda") and not torch.cuda.is_available():
            print("error: --gpu needs a CUDA device (or --device cpu for a dry run)", file=sys.stderr)
            return 1
        dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
        engine = build_full_size_engine(args.device, dtype, args.layers)
        label = f"full-size LTX-2.0 architecture, {args.layers} blocks, random {dtype}, {args.device}"
        if args.device.startswith("cuda"):
            label += f" ({torch.cuda.get_device_name()})"
    else:
        engine = Ltx2Engine.load(args.checkpoint)
        label = "tiny checkpoint"
    base = GenerationParams(
        prompt="a crate smashes on a concrete floor", width=width, height=height, num_frames=frames,
        steps=args.steps, seed=5, sample_format=SampleFormat.F32LE, chunk_frames=24,
    )  # fmt: skip
    times = time_modes(engine, base, args.repeats)
    reference = median(times["text_to_audio_video"])
    rows = [[mode, f"{median(times[mode]):.3f}", f"{ratio(median(times[mode]), reference):.2f}"] for mode in MODES]
    report.data["gpu" if args.gpu else "tiny"] = {"size": args.size, "steps": args.steps, "times": times}
    report.table(
        f"{label}, {args.size} at 24 fps, {args.steps} steps, dev preset (s, median of {args.repeats})",
        ["mode", "total s", "/ text_to_audio_video"],
        rows,
    )
    if not args.no_full:
        rows = []
        for size in ((768, 512, 121), (1280, 704, 257)):
            joint = pass_flops(*size, audio_only=False)
            alone = pass_flops(*size, audio_only=True)
            report.data[f"full/{size}"] = {"joint_flops": joint, "audio_only_flops": alone}
            # Dev preset on LTX-2.0: CFG pair + modality pass (3); audio only: the CFG pair (2).
            rows.append(
                [
                    "x".join(map(str, size)),
                    f"{joint / 1e12:.1f}",
                    f"{alone / 1e12:.2f}",
                    f"{alone / joint:.4f}",
                    f"{(2 * alone) / (3 * joint):.4f}",
                ]
            )
        report.table(
            f"full-size LTX-2.0 transformer, TFLOP per batch-1 pass (meta device, {TEXT_TOKENS} text tokens)",
            ["clip", "joint pass", "audio_only pass", "pass ratio", "per step (2 vs 3 passes)"],
            rows,
        )
        report.note(
            "video_to_audio and audio_to_video run every video token through the transformer (the held stream "
            "still attends and is attended to), so their passes cost what a joint pass costs; they save the "
            "guidance passes of the held stream's knobs and its decode, and add one VAE encode."
        )
    report.finish(args.out, record=not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
