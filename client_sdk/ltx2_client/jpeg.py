"""Decoding JPEG frames (FrameFormat.JPEG) with PyAV, imported only when a JPEG arrives."""

from __future__ import annotations

import numpy as np

from .errors import MissingDependency, ProtocolError


def require_av(purpose: str):
    """Import PyAV or raise MissingDependency saying how to install it."""
    try:
        import av
    except ImportError:
        raise MissingDependency(
            f"{purpose} needs PyAV, which is not installed: pip install 'ltx2-client[media]'"
        ) from None
    return av


def decode_jpeg(data: bytes, width: int, height: int) -> np.ndarray:
    """One JPEG as uint8 (height, width, 3)."""
    av = require_av("decoding JPEG frames")
    codec = av.CodecContext.create("mjpeg", "r")
    frames = list(codec.decode(av.Packet(data))) + list(codec.decode(None))
    if not frames:
        raise ProtocolError("a JPEG frame could not be decoded")
    rgb = frames[0].to_ndarray(format="rgb24")
    if rgb.shape != (height, width, 3):
        raise ProtocolError(f"a JPEG frame is {rgb.shape[1]}x{rgb.shape[0]}, expected {width}x{height}")
    return rgb
