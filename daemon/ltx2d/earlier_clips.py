"""Earlier clips named by job id (`continue_from`, `retake`): which job's clip is which result-cache
entry, and reading out of the entry the frames and sound a request needs.

A request naming a job id is rewritten, before it is validated, into one that carries the clip's
frames and sound (as a client could have sent them), with the clip's size and rate (and for a
retake its audio encoding) as defaults for the fields it left unset; validation and the engine then
treat both alike.
"""

from __future__ import annotations

import logging
import math
import os
import re
import uuid
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

import numpy as np

import ltx2
from ltx2.earlier_clip import Continuation, EarlierClip, Retake
from ltx2.media_input import RawAudio, RawFrames, decode_audio_input, frames_input
from ltx2.params import sample_at

from .domain import ClipRequest
from .errors import invalid
from .result_cache import DamagedEntry, ResultCache

NAMES = ("continue_from", "retake")
log = logging.getLogger(__name__)
JOB_INDEX = "jobs.idx"  # the ClipIndex file in the cache folder
# What a job id and a cache key look like (ids are hex; keys are a hash's hex digest).
_JOB = re.compile(r"[0-9A-Za-z_-]{1,64}")
_KEY = re.compile(r"[0-9a-f]{16,128}")
_MAX_LINE = 320  # longer than any record: 64 + 1 + 128 + 1 + 64 + newline
MAX_CHAIN = 16  # jobs a continuation's overlap may reach back through


class ClipIndex:
    """Job id -> result-cache key of its clip, for the `capacity` most recent jobs.

    With a `path` (a file beside the cache entries) it outlives a restart, as the entries do: each
    record is one appended line, read back at start (the last `capacity` win); the file is
    rewritten through a temporary name and a rename when it holds twice as many lines as it
    keeps, so it stays bounded. A torn or foreign line is skipped. Without one, it is memory only.
    """

    def __init__(self, capacity: int = 4096, path: Path | None = None) -> None:
        self._keys: OrderedDict[str, str] = OrderedDict()
        self._parents: dict[str, str] = {}  # a continuation's job -> the job it continued
        self._capacity = capacity
        self._path = path
        self._lines = 0
        self._compact_at = 2 * capacity
        self._torn = False  # the file does not end in a newline (a crash mid-append)
        if path is not None:
            self._load(path)

    def record(self, job_id: str, key: str, parent: str = "") -> None:
        """`job_id` made (or will make) the entry `key`; `parent`: the job it continues, if named."""
        parent = parent if _JOB.fullmatch(parent) else ""
        self._remember(job_id, key, parent)
        if self._path is None or not _JOB.fullmatch(job_id) or not _KEY.fullmatch(key):
            return
        try:
            with self._path.open("a", encoding="ascii") as fh:
                # After a torn last line, a newline first: else this record joins it and is lost.
                fh.write(("\n" if self._torn else "") + _line(job_id, key, parent))
            self._torn = False
            self._lines += 1
        except OSError:
            log.warning("could not record job %s in %s", job_id, self._path, exc_info=True)
            return
        if self._lines > self._compact_at:
            self._compact()

    def key(self, job_id: str) -> str | None:
        return self._keys.get(job_id)

    def parent(self, job_id: str) -> str:
        """The job that `job_id` continued (named by its id), "" for none or unknown."""
        return self._parents.get(job_id, "")

    def _remember(self, job_id: str, key: str, parent: str = "") -> None:
        self._keys[job_id] = key
        self._keys.move_to_end(job_id)
        if parent:
            self._parents[job_id] = parent
        while len(self._keys) > self._capacity:
            dropped, _ = self._keys.popitem(last=False)
            self._parents.pop(dropped, None)

    def _load(self, path: Path) -> None:
        try:
            with path.open("r", encoding="ascii", errors="replace") as fh:
                # Bounded reads: a line longer than any record (a damaged file) is read in pieces
                # that match nothing, never held whole.
                while line := fh.readline(_MAX_LINE):
                    self._lines += 1
                    self._torn = not line.endswith("\n")
                    parts = line.split()
                    if len(parts) in (2, 3) and _JOB.fullmatch(parts[0]) and _KEY.fullmatch(parts[1]):
                        self._remember(parts[0], parts[1], parts[2] if len(parts) == 3 else "")
        except FileNotFoundError:
            return
        except OSError:
            log.warning("could not read the job index %s", path, exc_info=True)

    def _compact(self) -> None:
        assert self._path is not None
        tmp = self._path.with_name(f".{self._path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with tmp.open("w", encoding="ascii") as fh:
                fh.writelines(_line(job, key, self.parent(job)) for job, key in self._keys.items())
            os.replace(tmp, self._path)
        except OSError:
            log.warning("could not rewrite the job index %s", self._path, exc_info=True)
            tmp.unlink(missing_ok=True)
            self._compact_at = self._lines + self._capacity  # try again later, not on every record
            return
        self._lines, self._torn = len(self._keys), False
        self._compact_at = 2 * self._capacity


def _line(job_id: str, key: str, parent: str) -> str:
    return f"{job_id} {key} {parent}\n" if parent else f"{job_id} {key}\n"


def continued_job(request: ClipRequest) -> str:
    """The job id a request's continue_from names, "" when it names none (or sends the clip)."""
    return _job_id(request.values.get("continue_from"))


def names_a_job(request: ClipRequest) -> bool:
    """Whether the request's continue_from or retake names its clip by job id."""
    return any(_job_id(request.values.get(name)) for name in NAMES)


def _job_id(value: object) -> str:
    if isinstance(value, Continuation | Retake) and isinstance(value.clip, EarlierClip):
        return value.clip.job_id
    return ""


def resolve_earlier(
    request: ClipRequest, cache: ResultCache | None, index: ClipIndex, limits: ltx2.Limits
) -> ClipRequest:
    """`request` with the clip a job id names replaced by its frames and sound (blocking: disk)."""
    values = dict(request.values)
    for name in NAMES:
        value = values.get(name)
        job_id = _job_id(value)
        if not job_id:
            continue
        field = f"{name}.clip.job_id"
        if cache is None:
            raise invalid(
                field, job_id, "needs the daemon's result cache, which is off: send the clip's frames and sound"
            )
        key = index.key(job_id)
        reader = cache.open(key) if key is not None else None
        if reader is None:
            rule = (
                "names no clip in the result cache (an unknown job, one that ran with cache_policy=bypass, "
                "or was evicted): send the clip's frames and sound"
            )
            raise invalid(field, job_id, rule)
        tail = value.overlap_frames if isinstance(value, Continuation) else None
        with reader:
            fmt = reader.format
            if fmt.audio_only:
                raise invalid(field, job_id, "names a clip without video")
            clip = _read(reader, fmt, tail, limits.max_input_frame_bytes, field, job_id)
        if isinstance(tail, int) and tail > fmt.num_frames:
            # A continuation's stream holds only its new frames: the rest of the overlap is in the
            # clip it continued (and so on back).
            clip = _reach_back(clip, fmt, tail - fmt.num_frames, job_id, cache, index, limits, field)
        if values.get("width", fmt.width) == fmt.width and values.get("height", fmt.height) == fmt.height:
            # At the size it is encoded at: held as the frames they are (not bounded as sent, as
            # they were not sent), where another size goes through the decoder's scaling.
            frames = clip.video
            array = np.frombuffer(frames.rgb, np.uint8).reshape(-1, fmt.height, fmt.width, 3)
            clip = replace(clip, video=frames_input(array, fmt.frame_rate))
        raw = clip.audio
        # The sound as samples (and, for a retake, as the bytes it keeps outside the window).
        sound = decode_audio_input(raw, max_seconds=math.inf, max_bytes=len(raw.pcm), rate_range=(1, 1 << 30))
        clip = replace(clip, audio=sound, pcm=raw if name == "retake" else None)
        values[name] = replace(value, clip=clip)
        for default, given in (("width", fmt.width), ("height", fmt.height), ("frame_rate", fmt.frame_rate)):
            values.setdefault(default, given)
        if name == "retake":
            values.setdefault("sample_format", fmt.sample_format)
            values.setdefault("audio_sample_rate", fmt.sample_rate)
    return replace(request, values=values)


def _reach_back(
    clip: EarlierClip,
    fmt: ltx2.ClipFormat,
    missing: int,
    job_id: str,
    cache: ResultCache,
    index: ClipIndex,
    limits: ltx2.Limits,
    field: str,
) -> EarlierClip:
    """`clip` (all of `job_id`'s frames) with up to `missing` frames before it, and their sound,
    from the jobs it continued; as many as those hold (validation refuses an overlap still
    longer than the frames). Only clips of the same size, rate and audio encoding join."""
    frames, pcm = [clip.video.rgb], [clip.audio.pcm]  # type: ignore[union-attr]
    frame_bytes = fmt.width * fmt.height * 3
    if (missing + fmt.num_frames) * frame_bytes > limits.max_input_frame_bytes:
        rule = f"needs {missing + fmt.num_frames} frames of {fmt.width}x{fmt.height}: more than "
        raise invalid(field, job_id, rule + f"{limits.max_input_frame_bytes} bytes to hold")
    start, current = fmt.first_frame, job_id
    for _ in range(MAX_CHAIN):
        current = index.parent(current)
        key = index.key(current) if current and missing > 0 else None
        reader = cache.open(key) if key is not None else None
        if reader is None:
            break
        with reader:
            earlier = reader.format
            if (
                _shape(earlier) != _shape(fmt)
                or earlier.audio_only
                or earlier.first_frame + earlier.num_frames != start
            ):
                break
            piece = _read(
                reader, earlier, min(missing, earlier.num_frames), limits.max_input_frame_bytes, field, job_id
            )
        frames.insert(0, piece.video.rgb)  # type: ignore[union-attr]
        pcm.insert(0, piece.audio.pcm)  # type: ignore[union-attr]
        missing -= min(missing, earlier.num_frames)
        start = earlier.first_frame
    if missing > 0:
        held = sum(len(piece) for piece in frames) // frame_bytes
        rule = (
            f"names a clip whose frames, with those of the shots it continued that are still cached at its "
            f"size and rate, are {held}: fewer than the overlap asked for (send the frames, or overlap less)"
        )
        raise invalid(field, job_id, rule)
    video = RawFrames(fmt.width, fmt.height, fmt.frame_rate, b"".join(frames))
    audio = RawAudio(fmt.sample_rate, fmt.channels, int(fmt.sample_format), b"".join(pcm))
    return replace(clip, video=video, audio=audio)


def _shape(fmt: ltx2.ClipFormat) -> tuple[object, ...]:
    """What two clips must share for one's frames and sound to go on from the other's."""
    return (fmt.width, fmt.height, fmt.frame_rate, fmt.sample_rate, fmt.channels, fmt.sample_format)


def _read(reader: object, fmt: ltx2.ClipFormat, tail: object, max_bytes: int, field: str, job_id: str) -> EarlierClip:
    """The clip's frames (all, or its last `tail`) and the sound from the first of them on."""
    frame_bytes = fmt.width * fmt.height * 3
    keep = tail if isinstance(tail, int) and 0 < tail <= fmt.num_frames else fmt.num_frames
    if keep * frame_bytes > max_bytes:
        rule = f"names a clip of {keep} frames of {fmt.width}x{fmt.height}: more than {max_bytes} bytes to hold"
        raise invalid(field, job_id, rule)
    first_kept = fmt.first_frame + fmt.num_frames - keep
    first_sample = sample_at(first_kept, fmt.frame_rate, fmt.sample_rate)
    sample_bytes = fmt.channels * fmt.sample_format.bytes_per_sample
    frames, pcm = bytearray(), bytearray()
    try:
        for chunk in reader.chunks():  # type: ignore[attr-defined]
            if isinstance(chunk, ltx2.VideoChunk):
                skip = max(0, first_kept - chunk.first_frame)
                frames += memoryview(chunk.data)[skip * frame_bytes :]
            elif isinstance(chunk, ltx2.AudioChunk):
                skip = max(0, first_sample - chunk.first_sample)
                pcm += memoryview(chunk.data)[skip * sample_bytes :]
    except DamagedEntry:
        raise invalid(
            field, job_id, "names a clip whose cache entry is damaged (removed): send its frames and sound"
        ) from None
    if tail is None:
        # A retake's sound spans its own frames from 0 (a continuation's stream may not: its
        # samples are numbered from where its earlier clip ended, which can differ by one).
        wanted = sample_at(keep, fmt.frame_rate, fmt.sample_rate) * sample_bytes
        pcm = pcm[:wanted] + bytes(max(0, wanted - len(pcm)))
    video = RawFrames(fmt.width, fmt.height, fmt.frame_rate, bytes(frames))
    audio = RawAudio(fmt.sample_rate, fmt.channels, int(fmt.sample_format), bytes(pcm))
    return EarlierClip(video=video, audio=audio, end_frame=fmt.first_frame + fmt.num_frames)
