"""Domain events a generation yields, in order: Progress*, (AudioChunk, VideoChunk)*, Completed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

from .params import SampleFormat


class Phase(IntEnum):
    """Generation phase (numbers match the wire contract)."""

    QUEUED = 1
    ENCODING = 2
    DENOISING = 3
    DECODING = 4
    PAUSED = 5


@dataclass(frozen=True)
class ClipFormat:
    """The shape of the clip a job will stream, known before it runs."""

    width: int
    height: int
    num_frames: int
    frame_rate: float
    sample_rate: int
    channels: int
    num_samples: int
    sample_format: SampleFormat
    seed: int
    steps: int
    audio_only: bool = False
    # A continuation's stream is numbered on from the clip it continues (0 otherwise).
    first_frame: int = 0
    first_sample: int = 0


@dataclass(frozen=True)
class Progress:
    """Phase and step updates; `preview_rgb` is set only when params.preview asked for it."""

    phase: Phase
    step: int = 0
    total_steps: int = 0
    frames_decoded: int = 0
    total_frames: int = 0
    elapsed_s: float = 0.0
    preview_rgb: bytes = b""
    preview_width: int = 0
    preview_height: int = 0
    # PHASE_QUEUED only: jobs that run before this one (0: next).
    queue_position: int = 0


@dataclass(frozen=True)
class AudioChunk:
    """Interleaved PCM covering samples [first_sample, first_sample + num_samples)."""

    first_sample: int
    num_samples: int
    sample_rate: int
    channels: int
    sample_format: SampleFormat
    data: bytes

    @property
    def pts_s(self) -> float:
        return self.first_sample / self.sample_rate


@dataclass(frozen=True)
class VideoChunk:
    """RGB8 frames [first_frame, first_frame + num_frames), back to back, row-major."""

    first_frame: int
    num_frames: int
    width: int
    height: int
    frame_rate: float
    data: bytes

    @property
    def pts_s(self) -> float:
        return self.first_frame / self.frame_rate

    def pieces(self, max_bytes: int) -> Iterator[VideoChunk]:
        """This chunk as consecutive runs of whole frames of at most `max_bytes` each (at least one
        frame a run, whatever its size), each copied out when it is asked for; the chunk itself
        when it fits."""
        if len(self.data) <= max_bytes or self.num_frames <= 1:
            yield self
            return
        frame_bytes = len(self.data) // self.num_frames
        per_piece = max(1, max_bytes // frame_bytes)
        view = memoryview(self.data)
        for start in range(0, self.num_frames, per_piece):
            yield VideoChunk(
                self.first_frame + start,
                min(per_piece, self.num_frames - start),
                self.width,
                self.height,
                self.frame_rate,
                bytes(view[start * frame_bytes : (start + per_piece) * frame_bytes]),
            )


@dataclass(frozen=True)
class Timings:
    """Wall-clock seconds spent in each phase of one run."""

    queue_s: float = 0.0
    encode_s: float = 0.0
    denoise_s: float = 0.0
    decode_s: float = 0.0
    first_chunk_s: float = 0.0
    total_s: float = 0.0
    # What guidance cost: transformer forward passes per denoising step (batch rows counted, so CFG's
    # batch of two is 2), and the denoising time divided by the passes run.
    transformer_passes_per_step: float = 0.0
    denoise_s_per_pass: float = 0.0


@dataclass(frozen=True)
class Completed:
    """The last event of a successful generation; `num_frames` counts the frames sent (0 for audio only).

    `num_samples` covers exactly the video's span; the last `audio_padded_samples` of them are not
    the model's (its audio ends 10-50 ms early) but its last sample faded to silence.
    """

    seed: int
    num_frames: int
    num_samples: int
    timings: Timings
    cache_hit: bool = False
    audio_padded_samples: int = 0


@dataclass(frozen=True)
class LengthChosen:
    """The model chose the clip's length (auto duration, `ltx2.duration`): the clip's format, sent
    before any other event of the job. A daemon says this format in Accepted."""

    format: ClipFormat


Event = LengthChosen | Progress | AudioChunk | VideoChunk | Completed
