"""JPEG encoding of video chunks, for clients that asked for FRAME_FORMAT_JPEG."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

import ltx2


def encode_jpeg_frames(chunk: ltx2.VideoChunk, quality: int) -> list[bytes]:
    """One baseline JPEG per frame of `chunk` (PyAV's mjpeg encoder; quality 1-100)."""
    frames = np.frombuffer(chunk.data, dtype=np.uint8).reshape(chunk.num_frames, chunk.height, chunk.width, 3)
    # mjpeg's quantiser scale: 2 (best) .. 31 (worst).
    qscale = round(2 + (100 - quality) * 29 / 99)
    out = []
    for rgb in frames:
        ctx = av.CodecContext.create("mjpeg", "w")
        ctx.width, ctx.height, ctx.pix_fmt = chunk.width, chunk.height, "yuvj420p"
        ctx.time_base = Fraction(1, 1)
        ctx.options = {"qmin": str(qscale), "qmax": str(qscale)}
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuvj420p")
        out.append(b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)]))
    return out
