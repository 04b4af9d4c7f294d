"""The typed events of a generation stream, converted from the wire messages."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .enums import FrameFormat, Phase, SampleFormat
from .errors import ProtocolError
from .jpeg import decode_jpeg
from .proto.ltx2d.v1 import ltx2d_pb2 as pb


def _sample_format(value: int) -> SampleFormat:
    return SampleFormat(value) if value else SampleFormat.S16LE


def _frame_format(value: int) -> FrameFormat:
    return FrameFormat(value) if value else FrameFormat.RGB8


@dataclass(frozen=True)
class ClipFormat:
    """The shape of the clip that will be streamed, known from Accepted before any chunk."""

    width: int
    height: int
    num_frames: int
    frame_rate: float
    sample_rate: int
    channels: int
    num_samples: int
    sample_format: SampleFormat
    frame_format: FrameFormat
    seed: int
    steps: int
    audio_only: bool
    # A continuation (continue_from) is numbered on from the clip it continues; 0 otherwise.
    first_frame: int = 0
    first_sample: int = 0

    @property
    def duration_s(self) -> float:
        """Video duration in seconds (num_frames / frame_rate)."""
        return self.num_frames / self.frame_rate if self.frame_rate else 0.0

    @classmethod
    def from_pb(cls, m: pb.ClipFormat) -> ClipFormat:
        return cls(
            width=m.width,
            height=m.height,
            num_frames=m.num_frames,
            frame_rate=m.frame_rate,
            sample_rate=m.sample_rate,
            channels=m.channels,
            num_samples=m.num_samples,
            sample_format=_sample_format(m.sample_format),
            frame_format=_frame_format(m.frame_format),
            seed=m.seed,
            steps=m.steps,
            audio_only=m.audio_only,
            first_frame=m.first_frame,
            first_sample=m.first_sample,
        )


@dataclass(frozen=True)
class Accepted:
    """The job was validated and queued (or found in the daemon's cache). Always first."""

    job_id: str
    queue_position: int
    cache_hit: bool
    format: ClipFormat


@dataclass(frozen=True)
class Progress:
    """Phase and step updates: `step`/`total_steps` while denoising, `frames_decoded` after."""

    job_id: str
    phase: Phase
    step: int
    total_steps: int
    frames_decoded: int
    total_frames: int
    elapsed_s: float
    preview_rgb: bytes = b""
    preview_width: int = 0
    preview_height: int = 0
    # PHASE_QUEUED only: jobs that run before this one (0: next).
    queue_position: int = 0

    def preview(self) -> np.ndarray | None:
        """The latent preview as uint8 (height, width, 3), or None when none was sent."""
        if not self.preview_rgb:
            return None
        return np.frombuffer(self.preview_rgb, np.uint8).reshape(self.preview_height, self.preview_width, 3)


@dataclass(frozen=True)
class AudioChunk:
    """Interleaved PCM covering samples [first_sample, first_sample + num_samples) per channel."""

    first_sample: int
    num_samples: int
    sample_rate: int
    channels: int
    sample_format: SampleFormat
    pts_s: float
    data: bytes = field(repr=False)

    def samples(self) -> np.ndarray:
        """The samples as sent: int16 (S16LE) or float32 (F32LE), shaped (num_samples, channels)."""
        dtype = np.dtype("<i2") if self.sample_format == SampleFormat.S16LE else np.dtype("<f4")
        expected = self.num_samples * self.channels * dtype.itemsize
        if len(self.data) != expected:
            raise ProtocolError(
                f"audio chunk at sample {self.first_sample}: {len(self.data)} bytes, expected {expected}"
            )
        return np.frombuffer(self.data, dtype).reshape(self.num_samples, self.channels)

    def float_samples(self) -> np.ndarray:
        """The samples as float32 in [-1, 1], shaped (num_samples, channels)."""
        raw = self.samples()
        if raw.dtype.kind == "i":
            return raw.astype(np.float32) / 32768.0
        return raw.astype(np.float32, copy=False)


@dataclass(frozen=True)
class VideoChunk:
    """Frames [first_frame, first_frame + num_frames), as raw RGB8 or one JPEG per frame."""

    first_frame: int
    num_frames: int
    width: int
    height: int
    frame_format: FrameFormat
    pts_s: float
    data: bytes = field(repr=False)
    jpeg_frames: tuple[bytes, ...] = field(default=(), repr=False)

    def frames(self) -> np.ndarray:
        """The frames as uint8 (num_frames, height, width, 3); JPEG frames are decoded (PyAV)."""
        shape = (self.num_frames, self.height, self.width, 3)
        if self.frame_format == FrameFormat.JPEG:
            if len(self.jpeg_frames) != self.num_frames:
                raise ProtocolError(
                    f"video chunk at frame {self.first_frame}: {len(self.jpeg_frames)} JPEGs, "
                    f"expected {self.num_frames}"
                )
            if not self.num_frames:
                return np.zeros(shape, np.uint8)
            return np.stack([decode_jpeg(j, self.width, self.height) for j in self.jpeg_frames])
        expected = self.num_frames * self.height * self.width * 3
        if len(self.data) != expected:
            raise ProtocolError(f"video chunk at frame {self.first_frame}: {len(self.data)} bytes, expected {expected}")
        return np.frombuffer(self.data, np.uint8).reshape(shape)


@dataclass(frozen=True)
class Timings:
    """Wall-clock seconds a job spent in each phase."""

    queue_s: float = 0.0
    encode_s: float = 0.0
    denoise_s: float = 0.0
    decode_s: float = 0.0
    first_chunk_s: float = 0.0
    total_s: float = 0.0
    # What guidance cost: transformer passes per denoising step, and denoising seconds per pass.
    transformer_passes_per_step: float = 0.0
    denoise_s_per_pass: float = 0.0

    @classmethod
    def from_pb(cls, m: pb.Timings) -> Timings:
        return cls(
            m.queue_s,
            m.encode_s,
            m.denoise_s,
            m.decode_s,
            m.first_chunk_s,
            m.total_s,
            m.transformer_passes_per_step,
            m.denoise_s_per_pass,
        )


@dataclass(frozen=True)
class Completed:
    """The job finished and every chunk was sent. Always last on success."""

    seed: int
    num_frames: int
    num_samples: int
    cache_hit: bool
    timings: Timings
    # The last this many of num_samples pad the model's audio to the video's span (a fade to silence).
    audio_padded_samples: int = 0


Event = Accepted | Progress | AudioChunk | VideoChunk | Completed


def event_from_pb(m: pb.GenerateEvent) -> Event:
    """Convert one wire event into the SDK's dataclass."""
    kind = m.WhichOneof("event")
    if kind == "accepted":
        a = m.accepted
        return Accepted(a.job_id or m.job_id, a.queue_position, a.cache_hit, ClipFormat.from_pb(a.format))
    if kind == "progress":
        p = m.progress
        return Progress(
            job_id=m.job_id,
            phase=Phase(p.phase) if p.phase in Phase._value2member_map_ else Phase.UNSPECIFIED,
            step=p.step,
            total_steps=p.total_steps,
            frames_decoded=p.frames_decoded,
            total_frames=p.total_frames,
            elapsed_s=p.elapsed_s,
            preview_rgb=p.preview_rgb,
            preview_width=p.preview_width,
            preview_height=p.preview_height,
            queue_position=p.queue_position,
        )
    if kind == "audio_chunk":
        c = m.audio_chunk
        return AudioChunk(
            c.first_sample,
            c.num_samples,
            c.sample_rate,
            c.channels,
            _sample_format(c.sample_format),
            c.pts_s,
            c.data,
        )
    if kind == "video_chunk":
        c = m.video_chunk
        return VideoChunk(
            c.first_frame,
            c.num_frames,
            c.width,
            c.height,
            _frame_format(c.frame_format),
            c.pts_s,
            c.data,
            tuple(c.jpeg_frames),
        )
    if kind == "completed":
        c = m.completed
        return Completed(
            c.seed, c.num_frames, c.num_samples, c.cache_hit, Timings.from_pb(c.timings), c.audio_padded_samples
        )
    raise ProtocolError(f"event without a payload (job {m.job_id!r}); is the daemon newer than this SDK?")
