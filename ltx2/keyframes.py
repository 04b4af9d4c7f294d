"""Keyframes: pictures a clip starts from or passes through (image-to-video, `conditions`).

A request's `image` is the keyframe at frame 0; `conditions` are more, each an image or frames
placed from a pixel frame index (Lightricks' convention: any frame, the last one included; diffusers'
`LTX2VideoCondition.index` is a latent index instead). This module holds the request side: the type,
decoding what a transport sent (`prepare_keyframes`), and the rules (`check_keyframes`). The engine
side, fitting and encoding the pictures into latents, is `ltx2.mode_inputs.encode_keyframes`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from .errors import InvalidParams
from .media_input import (
    VIDEO_CONTAINERS,
    ImageInput,
    MediaFile,
    RawFrames,
    RawImage,
    VideoInput,
    decode_image,
    decode_video,
    is_image_file,
    sniff_container,
)

# H.264's CRF scale (0 lossless, 51 worst); 0 here skips the round trip.
MAX_CRF = 51


@dataclass(frozen=True)
class Keyframe:
    """A picture the clip holds from pixel frame `frame` on.

    `media`: as a transport sends it (RawImage, RawFrames, or a png / jpeg / mp4 / webm MediaFile),
    decoded by `prepare_keyframes` into an ImageInput (one frame) or a VideoInput (8k+1 frames).
    `strength`: 1 holds the picture as given, 0 not at all (a keyframe of strength 0 is skipped).
    `crf`: the H.264 round trip a single picture goes through first, as the model was trained on
    compressed frames (None: the model's, 33 before LTX-2.5 and 18 from it; 0: none).
    """

    media: object
    frame: int = 0
    strength: float = 1.0
    crf: int | None = None

    @property
    def num_frames(self) -> int:
        return self.media.num_frames if isinstance(self.media, VideoInput) else 1

    @property
    def held_bytes(self) -> int:
        """Bytes of decoded pixels a queued job holds for it."""
        if isinstance(self.media, ImageInput):
            return self.media.nbytes
        if isinstance(self.media, VideoInput):
            return int(self.media.frames.nbytes)
        return 0

    def key(self) -> list[object]:
        """Its part of a result-cache key."""
        digest = getattr(self.media, "digest", None)
        return [digest, self.frame, self.strength, self.crf]


def keyframe_names(image: Keyframe | None, conditions: Sequence[Keyframe]) -> list[tuple[str, Keyframe]]:
    """Every keyframe of a request with the field that names it: `image`, `conditions[i]`."""
    named = [("image", image)] if image is not None else []
    return named + [(f"conditions[{i}]", kf) for i, kf in enumerate(conditions)]


def prepare_keyframes(
    image: object,
    conditions: object,
    *,
    width: int,
    height: int,
    max_image_bytes: int,
    max_bytes: int,
    max_frames: int,
    max_frame_bytes: int,
    max_conditions: int,
) -> tuple[Keyframe | None, tuple[Keyframe, ...]]:
    """`image` and `conditions` with their media decoded: pictures at their own size, frames
    scaled to cover `width`x`height` and centre-cropped as they decode. InvalidParams names the
    keyframe's field and part."""
    if image is not None and not isinstance(image, Keyframe):
        raise InvalidParams("image", image, "must be a keyframe (an image with strength and crf)")
    if not isinstance(conditions, tuple | list) or not all(isinstance(kf, Keyframe) for kf in conditions):
        raise InvalidParams("conditions", conditions, "must be a list of keyframes")
    if len(conditions) > max_conditions:
        raise InvalidParams("conditions", f"<{len(conditions)} keyframes>", f"must be at most {max_conditions}")

    def decode(name: str, kf: Keyframe) -> Keyframe:
        media = kf.media
        if isinstance(media, ImageInput | VideoInput):
            return kf
        picture = isinstance(media, MediaFile) and (name == "image" or is_image_file(media.data))
        if isinstance(media, RawImage) or picture:
            return replace(kf, media=decode_image(media, max_bytes=max_image_bytes, name=name))
        if name == "image":
            raise InvalidParams(
                "image", "<frames>", "must be one picture (png, jpeg or raw RGB8); use conditions for frames"
            )
        if isinstance(media, MediaFile) and sniff_container(media.data) not in VIDEO_CONTAINERS:
            raise InvalidParams(f"{name}.file", f"<{len(media.data)} bytes>", "must be a png, jpeg, mp4 or webm file")
        if isinstance(media, RawFrames | MediaFile):
            decoded = decode_video(
                media,
                size=(width, height),
                box=(width, height),
                multiple=1,
                min_size=1,
                max_frames=max_frames,
                max_bytes=max_bytes,
                max_frame_bytes=max_frame_bytes,
                # Keyframe frames take the clip's rate: theirs is not read (0 from the SDK).
                frame_rate_range=(0.0, math.inf),
                name=name,
                cover=True,
            )
            return replace(kf, media=decoded)
        raise InvalidParams(name, media, "must be a picture (png, jpeg, raw RGB8) or frames (raw RGB8, mp4, webm)")

    named = keyframe_names(image, conditions)
    decoded = [decode(name, kf) for name, kf in named]
    first = decoded.pop(0) if image is not None else None
    return first, tuple(decoded)


def check_keyframes(
    image: Keyframe | None,
    conditions: Sequence[Keyframe],
    *,
    num_frames: int,
    width: int,
    height: int,
    frames_multiple: int,
    max_conditions: int,
    held_budget: int,
    finite: Callable[[str, object], None],
) -> None:
    """The rules of a request's keyframes, against the clip (`num_frames` frames of `width`x`height`).

    `held_budget`: bytes of decoded pixels the keyframes may hold together (what is left of
    `Limits.max_input_frame_bytes`)."""
    if image is not None and not isinstance(image, Keyframe):
        raise InvalidParams("image", image, "must be a keyframe (an image with strength and crf)")
    if not isinstance(conditions, tuple | list) or not all(isinstance(kf, Keyframe) for kf in conditions):
        raise InvalidParams("conditions", conditions, "must be a list of keyframes")
    if len(conditions) > max_conditions:
        raise InvalidParams("conditions", f"<{len(conditions)} keyframes>", f"must be at most {max_conditions}")
    named = keyframe_names(image, conditions)
    at_start: str | None = None
    held = 0
    for name, kf in named:
        if not isinstance(kf.media, ImageInput | VideoInput):
            raise InvalidParams(name, kf.media, "must be decoded first (ltx2.prepare_params decodes what is sent)")
        finite(f"{name}.strength", kf.strength)
        if not 0.0 <= kf.strength <= 1.0:
            raise InvalidParams(f"{name}.strength", kf.strength, "must be between 0 and 1")
        if kf.crf is not None and (
            not isinstance(kf.crf, int) or isinstance(kf.crf, bool) or not 0 <= kf.crf <= MAX_CRF
        ):
            raise InvalidParams(
                f"{name}.crf", kf.crf, f"must be an integer between 0 and {MAX_CRF} (0: no H.264 round trip)"
            )
        if not isinstance(kf.frame, int) or isinstance(kf.frame, bool):
            raise InvalidParams(f"{name}.frame", kf.frame, "must be an integer")
        if name == "image" and kf.frame != 0:
            raise InvalidParams(
                "image.frame", kf.frame, "must be 0 (the image starts the clip; use conditions for other frames)"
            )
        if not 0 <= kf.frame < num_frames:
            raise InvalidParams(
                f"{name}.frame", kf.frame, f"must be between 0 and {num_frames - 1} (num_frames={num_frames})"
            )
        count = kf.num_frames
        if isinstance(kf.media, VideoInput):
            frames = kf.media.frames
            if frames.shape[1:3] != (height, width):
                raise InvalidParams(
                    name, f"<frames of {frames.shape[2]}x{frames.shape[1]}>", f"must be frames of {width}x{height}"
                )
            if (count - 1) % frames_multiple:
                below = (count - 1) // frames_multiple * frames_multiple + 1
                rule = f"must be {frames_multiple}k+1 frames (for example {below} or {below + frames_multiple})"
                raise InvalidParams(f"{name}.frames", f"<{count} frames>", rule)
            if kf.frame + count > num_frames:
                rule = f"must end by the clip's last frame: frame {kf.frame} + {count} frames > num_frames={num_frames}"
                raise InvalidParams(f"{name}.frames", f"<{count} frames>", rule)
        if kf.frame == 0 and kf.strength > 0:
            if at_start is not None:
                raise InvalidParams(f"{name}.frame", 0, f"must differ from {at_start}'s: frame 0 holds one keyframe")
            at_start = name
        held += kf.held_bytes
        if held > held_budget:
            rule = f"must hold at most {held_budget} bytes of decoded pixels together (smaller pictures, fewer frames)"
            raise InvalidParams(name, f"<{held} bytes decoded so far>", rule)
