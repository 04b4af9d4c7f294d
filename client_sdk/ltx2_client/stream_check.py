"""Checking a generation stream against the wire contract while it arrives."""

from __future__ import annotations

from .errors import ProtocolError
from .events import Accepted, AudioChunk, ClipFormat, Completed, Event, VideoChunk


class StreamChecker:
    """Raises ProtocolError when events come out of order or chunk indices are not contiguous.

    The contract: Accepted, Progress*, (AudioChunk, VideoChunk+, Progress*)*, Completed: a chunk's
    video (one VideoChunk, or several of whole frames when it is big) comes right after its audio
    (Progress only between whole chunks), first frame / first sample continue exactly where the
    previous chunk of the same kind ended, and Completed's totals match what was sent.
    """

    def __init__(self) -> None:
        self.format: ClipFormat | None = None
        self.next_frame = 0
        self.next_sample = 0
        self.completed: Completed | None = None
        self.video_due = False  # an AudioChunk came: its VideoChunk must be next

    def check(self, event: Event) -> None:
        if self.completed is not None:
            raise ProtocolError(f"{type(event).__name__} after Completed")
        if isinstance(event, Accepted):
            if self.format is not None:
                raise ProtocolError("a second Accepted")
            self.format = event.format
            # A continuation is numbered on from the clip it continues.
            self.next_frame, self.next_sample = event.format.first_frame, event.format.first_sample
            return
        if self.format is None:
            raise ProtocolError(f"{type(event).__name__} before Accepted")
        if self.video_due and not isinstance(event, VideoChunk):
            raise ProtocolError(f"{type(event).__name__} between an AudioChunk and the VideoChunk of its span")
        self.video_due = isinstance(event, AudioChunk) and not self.format.audio_only
        if isinstance(event, AudioChunk):
            if event.first_sample != self.next_sample:
                raise ProtocolError(f"audio chunk starts at sample {event.first_sample}, expected {self.next_sample}")
            self.next_sample += event.num_samples
        elif isinstance(event, VideoChunk):
            if event.first_frame != self.next_frame:
                raise ProtocolError(f"video chunk starts at frame {event.first_frame}, expected {self.next_frame}")
            if (event.width, event.height) != (self.format.width, self.format.height):
                raise ProtocolError(
                    f"video chunk is {event.width}x{event.height}, "
                    f"Accepted said {self.format.width}x{self.format.height}"
                )
            self.next_frame += event.num_frames
        elif isinstance(event, Completed):
            # An audio-only clip sends no frames; daemons differ on whether Completed then counts
            # the clip's frames or the frames sent, so only the samples are checked.
            frames = self.next_frame - self.format.first_frame
            samples = self.next_sample - self.format.first_sample
            frames_ok = self.format.audio_only or event.num_frames == frames
            if not frames_ok or event.num_samples != samples:
                raise ProtocolError(
                    f"Completed reports {event.num_frames} frames and {event.num_samples} samples, "
                    f"the stream sent {frames} and {samples}"
                )
            self.completed = event
