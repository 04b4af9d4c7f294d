#!/usr/bin/env python3
"""Video decode benchmark: the streaming decode against a whole decode, side by side.

    python -m benchmarks.decode                      # tiny VAE at 128x128, full-size VAE at 64x64 (CPU)
    python -m benchmarks.decode --no-full            # tiny VAE only
    python -m benchmarks.decode --gpu                # the GPU check: full-size VAE, bf16, 768x512x121
                                                     # and 1280x704x121 (about 2 minutes on one H100)

For 121- and 257-frame clips in 24- and 48-frame chunks: the decode work (latent frames pushed
through the decoder, and wall time) of the streamed clip over one whole decode, next to today's
windowed decode by arithmetic; the time to the first chunk over a whole decode, next to the
windowed decode's first window (measured); and the peak memory of the decode (RSS growth on the
CPU, each in a fresh process; `torch.cuda.max_memory_allocated` on a GPU). The full-size VAE is
LTX-2.0's decoder with random weights (benchmarks.full_size), small in space so it fits a CPU;
at real clip sizes it runs on the meta device, where FLOPs and live activation bytes are counted
and nothing is computed (benchmarks.meta_count).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.report import HERE, Report, median, ratio
from ltx2.decode import VideoDecoder, decode_whole, frame_spans

# Latent frames of context each side that today's windowed decode calibrated (README, issue 11).
WINDOW_CONTEXT = {"tiny": 6, "full": 9}


def build_vae(kind: str, device: str, dtype: torch.dtype) -> Any:
    if kind == "full":
        from benchmarks.full_size import build_full_size_video_vae

        return build_full_size_video_vae(device, dtype)
    from diffusers import AutoencoderKLLTX2Video

    from ltx2.tiny import ensure_tiny_checkpoint

    vae = AutoencoderKLLTX2Video.from_pretrained(ensure_tiny_checkpoint() / "vae")
    return torch.nn.Module.to(vae, device=device, dtype=dtype).eval()


def latents_for(vae: Any, frames: int, width: int, height: int, device: str) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    shape = (1, vae.config.latent_channels, (frames - 1) // 8 + 1, height // 32, width // 32)
    return torch.randn(*shape, generator=gen).to(device=device, dtype=vae.dtype)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def windowed_work(latent_frames: int, chunk_frames: int, context: int) -> tuple[int, int]:
    """Today's windowed decode, by arithmetic: latent frames decoded in all, and in the first window."""
    per = max(1, chunk_frames // 8)
    start, end, total, first = 0, min(latent_frames, 1 + per), 0, 0
    while start < latent_frames:
        window = min(latent_frames, end + context) - max(0, start - max(context, 1))
        total += window
        first = first or window
        start, end = end, min(latent_frames, end + per)
    return total, first


def whole_s(vae: Any, z: torch.Tensor) -> float:
    sync()
    started = time.perf_counter()
    decode_whole(vae, z)
    sync()
    return time.perf_counter() - started


def streamed_s(vae: Any, z: torch.Tensor, frames: int, chunk: int) -> tuple[float, float, int]:
    """(first chunk s, total s, latent frames pushed) of a streamed decode: the decoder's float
    output, as `whole_s` times it (the engine converts each chunk to RGB8 either way)."""
    sync()
    started = time.perf_counter()
    decoder = VideoDecoder(vae, z, push_latents=chunk // 8)
    first = 0.0
    for f0, f1 in frame_spans(frames, chunk):
        decoder.decoded(f0, f1)
        first = first or time.perf_counter() - started
    sync()
    return first, time.perf_counter() - started, decoder.latent_frames_decoded


def per_frame_rows(vae: Any, width: int, height: int, repeats: int) -> list[list[object]]:
    """Whole and streamed decode time per frame by clip length. torch's CPU convolution picks its
    kernel by shape (oneDNN only once N*C*D*H passes 20480, so the tiny VAE's 4-channel layers
    switch at about 150 frames): the whole decode's cost per frame is not constant, the streamed
    pushes' is."""
    rows = []
    for frames in (25, 49, 121, 161, 257):
        z = latents_for(vae, frames, width, height, "cpu")
        whole_s(vae, z)
        streamed_s(vae, z, frames, 24)
        whole = median([whole_s(vae, z) for _ in range(repeats)])
        streamed = median([streamed_s(vae, z, frames, 24)[1] for _ in range(repeats)])
        rows.append([frames, 1000 * whole / frames, 1000 * streamed / frames, streamed / whole])
    return rows


def speed_rows(vae: Any, kind: str, width: int, height: int, repeats: int, device: str) -> list[list[object]]:
    rows = []
    for frames in (121, 257):
        z = latents_for(vae, frames, width, height, device)
        latent = z.shape[2]
        context = WINDOW_CONTEXT[kind]
        whole_times, firsts, totals, window_firsts = [], {24: [], 48: []}, {24: [], 48: []}, {24: [], 48: []}
        pushed = {}
        # Untimed first: oneDNN picks and caches kernels per input shape, and a clip's first whole
        # decode at a new length paid that (a 257-frame whole decode measured faster than 121).
        whole_s(vae, z)
        streamed_s(vae, z, frames, 24)
        for _ in range(repeats):  # interleaved: whole, then each chunk size, then the windowed first window
            whole_times.append(whole_s(vae, z))
            for chunk in (24, 48):
                first, total, pushed[chunk] = streamed_s(vae, z, frames, chunk)
                firsts[chunk].append(first)
                totals[chunk].append(total)
                window = windowed_work(latent, chunk, context)[1]
                window_firsts[chunk].append(whole_s(vae, z[:, :, :window]))
        whole = median(whole_times)
        for chunk in (24, 48):
            windowed_total, windowed_first = windowed_work(latent, chunk, context)
            rows.append(
                [
                    f"{kind} {width}x{height}",
                    frames,
                    chunk,
                    f"{pushed[chunk]} / {latent}",
                    ratio(pushed[chunk], latent),
                    ratio(windowed_total, latent),
                    whole,
                    ratio(median(totals[chunk]), whole),
                    ratio(median(firsts[chunk]), whole),
                    f"{windowed_first} / {latent}",
                    ratio(median(window_firsts[chunk]), whole),
                ]
            )
    return rows


def streamed_spans(vae: Any, z: torch.Tensor, frames: int, chunk: int, each: Any = None) -> list[Any]:
    """Decode `z` span by span as the engine does, dropping each span; with `each`, the list of
    `each(call)` for every span's call (as `flops`)."""
    decoder = VideoDecoder(vae, z, push_latents=chunk // 8)
    results = []
    for f0, f1 in frame_spans(frames, chunk):
        call = functools.partial(decoder.decoded, f0, f1)
        results.append(each(call) if each else call().shape[2])
    return results


def real_size_rows(sizes: list[tuple[int, int, int]]) -> list[list[object]]:
    """The full-size decoder at real clip sizes on the meta device (bf16, nothing computed):
    FLOPs of a whole decode, of the streamed decode and of its first chunk, the windowed decode's
    first window for comparison, and the most activation bytes alive at once (weights aside)."""
    from benchmarks.meta_count import flops, peak_bytes

    vae = build_vae("full", "meta", torch.bfloat16)
    rows = []
    for width, height, frames in sizes:
        z = latents_for(vae, frames, width, height, "meta")
        whole = flops(functools.partial(decode_whole, vae, z))
        whole_peak = peak_bytes(functools.partial(decode_whole, vae, z))
        for chunk in (24, 48):
            per_chunk = streamed_spans(vae, z, frames, chunk, flops)
            peak = peak_bytes(functools.partial(streamed_spans, vae, z, frames, chunk))
            window = windowed_work(z.shape[2], chunk, WINDOW_CONTEXT["full"])[1]
            window_flops = flops(functools.partial(decode_whole, vae, z[:, :, :window]))
            rows.append(
                [
                    f"{width}x{height}x{frames}",
                    chunk,
                    whole / 1e12,
                    ratio(sum(per_chunk), whole),
                    ratio(per_chunk[0], whole),
                    ratio(window_flops, whole),
                    whole_peak / 2**30,
                    peak / 2**30,
                    ratio(peak, whole_peak),
                ]
            )
    return rows


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_probe(kind: str, mode: str, frames: int, chunk: int, width: int, height: int) -> dict[str, float]:
    """Peak RSS growth of one decode in this (fresh) process, sampled every millisecond."""
    vae = build_vae(kind, "cpu", torch.float32)
    z = latents_for(vae, frames, width, height, "cpu")
    baseline = _rss_bytes()
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss_bytes())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    if mode == "whole":
        decode_whole(vae, z)
    else:
        streamed_s(vae, z, frames, chunk)
    done.set()
    sampler.join()
    return {"peak_growth_mib": (peak - baseline) / 2**20}


def memory_rows(kind: str, width: int, height: int) -> list[list[object]]:
    cases = [("whole", 257, 0), ("streamed", 257, 24), ("streamed", 121, 24), ("streamed", 257, 48)]
    results = {}
    for mode, frames, chunk in cases:
        probe = [sys.executable, "-m", "benchmarks.decode", "--memory-probe", kind, mode, str(frames), str(chunk)]
        probe += ["--tiny-size" if kind == "tiny" else "--full-size", f"{width}x{height}"]
        # A fixed mmap threshold: glibc otherwise raises it as tensors are freed and serves later
        # ones from a heap it never shrinks, so RSS would count freed memory of earlier pushes.
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
        out = subprocess.run(probe, capture_output=True, text=True, check=True, cwd=HERE.parent, env=env)
        results[(mode, frames, chunk)] = json.loads(out.stdout.strip().splitlines()[-1])["peak_growth_mib"]
    whole = results[("whole", 257, 0)]
    rows = []
    for (mode, frames, chunk), mib in results.items():
        label = "whole decode" if mode == "whole" else f"streamed, {chunk}-frame chunks"
        rows.append([f"{kind} {width}x{height}", frames, label, mib, ratio(mib, whole)])
    return rows


def gpu_check(report: Report, sizes: list[tuple[int, int]], frames: int, device: str = "cuda") -> None:
    """Full-size VAE in bf16 on the GPU: whole vs streamed seconds, peak memory, max difference.

    `device="cpu"` runs the same code as a dry run (peak memory then reads 0)."""
    cuda = device.startswith("cuda")
    vae = build_vae("full", device, torch.bfloat16)
    rows = []
    for width, height in sizes:
        z = latents_for(vae, frames, width, height, device)
        whole_s(vae, z[:, :, :3])  # warm-up: kernels, allocator
        figures: dict[str, Any] = {}
        for mode in ("whole", "streamed"):
            if cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated() if cuda else 0
            sync()
            started = time.perf_counter()
            if mode == "whole":
                out = decode_whole(vae, z)
                first = time.perf_counter() - started
            else:
                decoder = VideoDecoder(vae, z, push_latents=3)
                pieces, first = [], 0.0
                for f0, f1 in frame_spans(frames, 24):
                    pieces.append(decoder.decoded(f0, f1))
                    first = first or time.perf_counter() - started
                out = torch.cat(pieces, dim=2)
            sync()
            figures[mode] = {
                "s": time.perf_counter() - started,
                "first_chunk_s": first,
                "peak_gib": (torch.cuda.max_memory_allocated() - base) / 2**30 if cuda else 0.0,
                "out": out.float().cpu(),
            }
            del out
        diff = float((figures["whole"]["out"] - figures["streamed"]["out"]).abs().max())
        w, s = figures["whole"], figures["streamed"]
        rows.append(
            [f"{width}x{height}x{frames}", w["s"], s["s"], s["first_chunk_s"], w["peak_gib"], s["peak_gib"], diff]
        )
        report.data[f"{width}x{height}x{frames}"] = {
            k: {x: y for x, y in v.items() if x != "out"} for k, v in figures.items()
        }
    report.table(
        f"full-size LTX-2.0 VAE, random weights, bf16, on {torch.cuda.get_device_name() if cuda else device}; "
        "24-frame chunks",
        ["clip", "whole s", "streamed s", "streamed first chunk s", "whole peak GiB", "streamed peak GiB", "max diff"],
        rows,
    )


def parse_size(text: str) -> tuple[int, int]:
    width, height = (int(x) for x in text.split("x"))
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="tiny VAE: runs per figure (median)")
    parser.add_argument("--full-repeats", type=int, default=1, help="full-size VAE: runs per figure")
    parser.add_argument("--tiny-size", type=parse_size, default=(128, 128), help="tiny VAE frame size WxH")
    parser.add_argument("--full-size", type=parse_size, default=(64, 64), help="full-size VAE frame size WxH")
    parser.add_argument("--no-full", action="store_true", help="skip the full-size VAE")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    parser.add_argument(
        "--real-sizes",
        default="768x512x121,1280x704x257",
        help="full-size decoder counted on the meta device at these WxHxF (empty: skip)",
    )
    parser.add_argument(
        "--per-frame-only", action="store_true", help="only the tiny VAE's decode time per frame by clip length"
    )
    parser.add_argument("--gpu", action="store_true", help="the GPU check only (needs CUDA)")
    parser.add_argument("--gpu-sizes", default="768x512,1280x704", help="GPU check: frame sizes")
    parser.add_argument("--gpu-frames", type=int, default=121, help="GPU check: frames")
    parser.add_argument("--gpu-device", default="cuda", help="GPU check: device (cpu: a dry run of the code)")
    parser.add_argument("--memory-probe", nargs=4, metavar=("KIND", "MODE", "FRAMES", "CHUNK"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=HERE / "results", help="folder for the JSON results")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args(argv)

    if args.memory_probe:
        kind, mode, frames, chunk = args.memory_probe
        width, height = args.tiny_size if kind == "tiny" else args.full_size
        print(json.dumps(memory_probe(kind, mode, int(frames), int(chunk), width, height)))
        return 0

    report = Report("decode", sys.argv[1:] if argv is None else argv)
    if args.gpu:
        if args.gpu_device.startswith("cuda") and not torch.cuda.is_available():
            print("--gpu: no CUDA device on this machine", file=sys.stderr)
            return 2
        gpu_check(report, [parse_size(s) for s in args.gpu_sizes.split(",")], args.gpu_frames, args.gpu_device)
        report.finish(args.out, record=not args.no_record)
        return 0

    tiny = build_vae("tiny", "cpu", torch.float32)
    report.data["per_frame"] = per_frame = per_frame_rows(tiny, *args.tiny_size, args.repeats)
    report.table(
        "tiny VAE on this CPU: decode ms per frame by clip length (whole, and streamed in 24-frame chunks)",
        ["frames", "whole ms / frame", "streamed ms / frame", "streamed / whole"],
        per_frame,
    )
    if args.per_frame_only:
        report.finish(args.out, record=not args.no_record)
        return 0
    device = "cpu"
    rows = speed_rows(tiny, "tiny", *args.tiny_size, args.repeats, device)
    if not args.no_full:
        rows += speed_rows(build_vae("full", device, torch.float32), "full", *args.full_size, args.full_repeats, device)
    report.data["speed"] = rows
    report.table(
        "decode work and time, streamed / one whole decode (windowed: today's decode, for comparison)",
        [
            "VAE",
            "frames",
            "chunk",
            "latent frames pushed",
            "work streamed / whole",
            "work windowed / whole",
            "whole s",
            "wall streamed / whole",
            "first chunk streamed / whole",
            "windowed first window",
            "first chunk windowed / whole",
        ],
        rows,
    )
    if args.real_sizes:
        sizes = [tuple(int(x) for x in text.split("x")) for text in args.real_sizes.split(",")]
        report.data["real_size"] = real = real_size_rows(sizes)  # type: ignore[arg-type]
        report.table(
            "full-size LTX-2.0 decoder at real sizes, counted on the meta device (bf16; FLOPs and the most "
            "activation bytes alive at once, weights aside; nothing computed)",
            [
                "clip",
                "chunk",
                "whole TFLOP",
                "FLOPs streamed / whole",
                "first chunk streamed / whole",
                "first chunk windowed / whole",
                "whole peak GiB",
                "streamed peak GiB",
                "peak streamed / whole",
            ],
            real,
        )
    if not args.no_memory:
        mem = memory_rows("tiny", *args.tiny_size)
        if not args.no_full:
            mem += memory_rows("full", *args.full_size)
        report.data["memory"] = mem
        report.table(
            "peak memory of the decode (RSS growth in a fresh process, float32 on the CPU)",
            ["VAE", "frames", "decode", "peak MiB", "/ whole decode of 257"],
            mem,
        )
    report.finish(args.out, record=not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
