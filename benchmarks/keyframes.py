"""Cost of image-to-video, keyframes, a continuation and a retake against text-to-audio+video at the
same size, side by side in one process, and what they add at the real sizes.

Timed on the tiny checkpoint (CPU), medians of --repeats runs, interleaved:
- text_to_audio_video: the clip from the prompt (the reference, 1.00);
- image: the same clip starting from a picture (frame 0 held, per-token timesteps);
- last keyframe: a picture at the last frame as well (its tokens appended to the sequence);
- continuation: the clip continuing the reference clip, 17 frames of overlap held (it sends
  num_frames - 17 frames);
- retake 1 s: the reference clip with [1 s, 2 s) of video and audio regenerated.

The full-size figures are counted for the full-size LTX-2.0 transformer (diffusers' conversion
config) on the meta device: one batch-1 pass with the clip's tokens, and with one appended keyframe
(a picture: one latent frame of tokens), plus the bytes of the per-token timestep modulation that
any held token brings (diffusers' transformer takes a (B, N) timestep as N embeddings).

    python -m benchmarks.keyframes                      # tiny: 256x256x121, 8 steps; full-size counts
    python -m benchmarks.keyframes --size 64x64x25 --steps 2 --repeats 1 --no-full --no-record   # smoke
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ltx2 import AudioChunk, Completed, GenerationParams, Limits, VideoChunk, prepare_params
from ltx2.earlier_clip import Continuation, EarlierClip, Retake
from ltx2.keyframes import Keyframe
from ltx2.media_input import RawAudio, RawFrames, RawImage

from .guidance_cost import TEXT_TOKENS, config, inputs
from .report import Report, median, ratio

CASES = ("text_to_audio_video", "image", "image + last keyframe", "continuation (17 held)", "retake 1 s")


def _run(engine: Any, params: GenerationParams) -> tuple[np.ndarray, bytes, float]:
    frames, pcm, total = [], [], 0.0
    for event in engine.generate(params):
        if isinstance(event, VideoChunk):
            frames.append(np.frombuffer(event.data, np.uint8).reshape(event.num_frames, event.height, event.width, 3))
        elif isinstance(event, AudioChunk):
            pcm.append(event.data)
        elif isinstance(event, Completed):
            total = event.timings.total_s
    return np.concatenate(frames), b"".join(pcm), total


def cases(engine: Any, base: GenerationParams) -> dict[str, GenerationParams]:
    frames, pcm, _ = _run(engine, base)  # also the warm-up
    rate, channels = engine.info().native_sample_rate, engine.info().channels
    clip = EarlierClip(
        video=RawFrames(base.width, base.height, base.frame_rate, frames.tobytes()),
        audio=RawAudio(rate, channels, int(base.sample_format), pcm),
    )
    picture = Keyframe(RawImage(base.width, base.height, frames[0].tobytes()))
    last = Keyframe(RawImage(base.width, base.height, frames[-1].tobytes()), frame=base.num_frames - 1)
    limits = Limits(max_input_bytes=1 << 30, max_input_frame_bytes=1 << 31)  # in process: any size
    duration = base.num_frames / base.frame_rate
    return {
        "text_to_audio_video": base,
        "image": prepare_params(base, {"image": picture}, limits),
        "image + last keyframe": prepare_params(base, {"image": picture, "conditions": [last]}, limits),
        "continuation (17 held)": prepare_params(base, {"continue_from": Continuation(clip, 17)}, limits),
        "retake 1 s": prepare_params(base, {"retake": Retake(clip, 1.0, min(2.0, duration))}, limits),
    }


def full_size_counts(width: int, height: int, frames: int) -> dict[str, float]:
    """TFLOP of a batch-1 pass without and with one appended picture keyframe, and the bytes of the
    per-token timestep modulation of one pass row (bf16), on the full-size LTX-2.0 transformer."""
    from diffusers import LTX2VideoTransformer3DModel
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = LTX2VideoTransformer3DModel(**config("2.0")).to(torch.bfloat16)
    out = {}
    grid = (height // 32) * (width // 32)
    for name, extra in (("plain", 0), ("keyframe", grid)):
        kwargs = inputs(model, 1, width, height, frames, "meta", torch.bfloat16)
        tokens = kwargs["hidden_states"].shape[1] + extra
        kwargs["hidden_states"] = torch.empty(1, tokens, model.config.in_channels, device="meta", dtype=torch.bfloat16)
        kwargs["video_coords"] = torch.empty(1, 3, tokens, 2, device="meta")
        if extra:
            kwargs["timestep"] = torch.empty(1, tokens, device="meta")
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(**kwargs)
        out[name] = counter.get_total_flops() / 1e12
        out[f"{name}_tokens"] = tokens
    modulation = model.time_embed.linear.out_features
    out["per_token_temb_bytes"] = out["plain_tokens"] * modulation * 2
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.keyframes", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="256x256x121", help="WIDTHxHEIGHTxFRAMES (default 256x256x121)")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkpoint", type=Path, help="checkpoint folder (default: the embedded tiny one)")
    parser.add_argument("--no-full", action="store_true", help="skip the full-size counts")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    width, height, frames = (int(v) for v in args.size.split("x"))
    report = Report("keyframes", sys.argv[1:] if argv is None else list(argv))

    from ltx2.engine import Ltx2Engine

    engine = Ltx2Engine.load(args.checkpoint)
    base = prepare_params(
        GenerationParams(prompt="a castle gate opens at dawn", width=width, height=height, num_frames=frames,
                         steps=args.steps, seed=5, chunk_frames=24),
        {},
        Limits(),
    )  # fmt: skip
    by_case = cases(engine, base)
    times: dict[str, list[float]] = {case: [] for case in CASES}
    for _ in range(args.repeats):
        for case in CASES:
            times[case].append(_run(engine, by_case[case])[2])
    reference = median(times["text_to_audio_video"])
    rows = [[case, f"{median(times[case]):.3f}", f"{ratio(median(times[case]), reference):.2f}"] for case in CASES]
    report.data["tiny"] = {"size": args.size, "steps": args.steps, "times": times}
    report.table(
        f"tiny checkpoint, {args.size} at 24 fps, {args.steps} steps, dev preset (s, median of {args.repeats})",
        ["case", "total s", "/ text_to_audio_video"],
        rows,
    )
    if not args.no_full:
        rows = []
        for size in ((768, 512, 121), (1280, 704, 257)):
            counts = full_size_counts(*size)
            report.data[f"full/{size}"] = counts
            rows.append(
                [
                    "x".join(map(str, size)),
                    f"{counts['plain']:.1f}",
                    f"{counts['keyframe']:.1f}",
                    f"{counts['keyframe'] / counts['plain']:.4f}",
                    f"{counts['per_token_temb_bytes'] / 2**20:.0f}",
                ]
            )
        report.table(
            f"full-size LTX-2.0 transformer, batch-1 pass (meta device, {TEXT_TOKENS} text tokens)",
            ["clip", "TFLOP plain", "TFLOP + 1 keyframe", "ratio", "per-token timestep MiB / row"],
            rows,
        )
        report.note(
            "An image at frame 0 replaces tokens (no extra pass work); a later keyframe appends one latent frame "
            "of tokens. Holding any token makes the timestep per token: diffusers' transformer then builds the "
            "AdaLN modulation per token, a (B, N, 6 x 4096) bf16 tensor per pass row (the last column), where a "
            "(B,) timestep needs one row. A continuation and a retake also run the VAE encoder over the frames "
            "they hold (the overlap; the whole clip for a retake) and the audio VAE over the sound."
        )
    report.finish(args.out, record=not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
