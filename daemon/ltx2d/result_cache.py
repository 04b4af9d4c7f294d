"""Finished clips on disk, keyed by everything that changes the stream, so a repeat costs no GPU.

One file per clip, `<key>.clip`: an 80-byte header (magic, format version, key, payload length,
payload sha256) then a msgpack payload holding the clip format and every audio and video chunk in
stream order, so a hit replays exactly the chunks the miss streamed. Files are written to a
temporary name in the same folder, fsynced and renamed, so a crash never leaves a partial file
under a real name; a file whose header, length or checksum does not match is deleted, never
served. The cache is a byte-capped LRU; recency is kept in file mtimes, so it survives restarts.

All methods block (disk I/O): call them from a thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import struct
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import msgpack

import ltx2

log = logging.getLogger("ltx2d.result_cache")

FORMAT_VERSION = 1
_MAGIC = b"LTX2DC"
_HEADER = struct.Struct(">6sH32sQ32s")  # magic, version, key, payload length, payload sha256
_SUFFIX = ".clip"
_NAME = re.compile(r"^[0-9a-f]{64}\.clip$")

Chunk = ltx2.AudioChunk | ltx2.VideoChunk


@dataclass(frozen=True)
class CachedClip:
    """What a cache entry holds: enough to replay a finished stream without the engine."""

    format: ltx2.ClipFormat
    chunks: tuple[Chunk, ...]
    seed: int
    num_frames: int
    num_samples: int


def cache_key(fingerprint: str, params: ltx2.GenerationParams) -> str:
    """Hex sha256 of the model fingerprint and every field that changes the streamed chunks.

    `output_key()` covers the clip and its audio encoding; `chunk_frames` is added because
    entries replay the chunks as they were cut. The seed must be resolved.
    """
    if params.seed is None:
        raise ValueError("params.seed must be resolved before computing a cache key")
    material = {
        "version": FORMAT_VERSION,
        "model": fingerprint,
        "params": params.output_key(),
        "chunk_frames": params.chunk_frames,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def _encode(clip: CachedClip) -> bytes:
    fmt = clip.format
    chunks: list[list[object]] = []
    for c in clip.chunks:
        if isinstance(c, ltx2.AudioChunk):
            chunks.append(["a", c.first_sample, c.num_samples, c.sample_rate, c.channels, int(c.sample_format), c.data])
        else:
            chunks.append(["v", c.first_frame, c.num_frames, c.width, c.height, c.frame_rate, c.data])
    payload = {
        "format": [
            fmt.width,
            fmt.height,
            fmt.num_frames,
            fmt.frame_rate,
            fmt.sample_rate,
            fmt.channels,
            fmt.num_samples,
            int(fmt.sample_format),
            fmt.seed,
            fmt.steps,
            fmt.audio_only,
        ],
        "completed": [clip.seed, clip.num_frames, clip.num_samples],
        "chunks": chunks,
    }
    return msgpack.packb(payload, use_bin_type=True)


def _decode(payload: bytes) -> CachedClip:
    data = msgpack.unpackb(payload, raw=False)
    f = data["format"]
    fmt = ltx2.ClipFormat(f[0], f[1], f[2], f[3], f[4], f[5], f[6], ltx2.SampleFormat(f[7]), f[8], f[9], f[10])
    chunks: list[Chunk] = []
    for c in data["chunks"]:
        if c[0] == "a":
            chunks.append(ltx2.AudioChunk(c[1], c[2], c[3], c[4], ltx2.SampleFormat(c[5]), c[6]))
        elif c[0] == "v":
            chunks.append(ltx2.VideoChunk(c[1], c[2], c[3], c[4], c[5], c[6]))
        else:
            raise ValueError(f"unknown chunk kind {c[0]!r}")
    seed, num_frames, num_samples = data["completed"]
    return CachedClip(fmt, tuple(chunks), seed, num_frames, num_samples)


class ResultCache:
    """A byte-capped LRU of finished clips in one folder (created if missing)."""

    def __init__(self, folder: str | os.PathLike[str], max_bytes: int) -> None:
        if not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes={max_bytes!r}: must be an integer >= 0")
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._index: OrderedDict[str, int] = OrderedDict()  # key -> file size, least recent first
        self._bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.folder.mkdir(parents=True, exist_ok=True)
        self._scan()

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}{_SUFFIX}"

    def _scan(self) -> None:
        """Rebuild the index from the folder: drop leftovers and files whose header is wrong."""
        found: list[tuple[float, str, int]] = []
        for path in self.folder.iterdir():
            if path.name.endswith(".tmp"):
                _unlink(path)  # a write that never finished
                continue
            if not _NAME.match(path.name):
                continue
            try:
                st = path.stat()
                with path.open("rb") as fh:
                    header = fh.read(_HEADER.size)
            except OSError:
                continue
            key = path.name[: -len(_SUFFIX)]
            if _check_header(header, key)[0] != st.st_size - _HEADER.size:
                log.warning("dropping damaged cache entry %s", path.name, extra={"event": "cache_corrupt"})
                _unlink(path)
                continue
            found.append((st.st_mtime, key, st.st_size))
        for _, key, size in sorted(found):
            self._index[key] = size
            self._bytes += size
        with self._lock:
            self._evict_for(0)

    def get(self, key: str) -> CachedClip | None:
        """The entry for `key`, verified end to end, or None (a damaged entry is deleted)."""
        with self._lock:
            if key not in self._index:
                self.misses += 1
                return None
        path = self._path(key)
        try:
            blob = path.read_bytes()
        except OSError:
            blob = b""
        clip = None
        payload_len, digest = _check_header(blob[: _HEADER.size], key)
        payload = blob[_HEADER.size :]
        if payload_len == len(payload) and hashlib.sha256(payload).digest() == digest:
            try:
                clip = _decode(payload)
            except Exception:
                clip = None
        with self._lock:
            if clip is None:
                log.warning("dropping damaged cache entry %s", path.name, extra={"event": "cache_corrupt"})
                self._drop(key)
                self.misses += 1
                return None
            if key in self._index:
                self._index.move_to_end(key)
            self.hits += 1
        with contextlib.suppress(OSError):
            os.utime(path)  # recency survives a restart
        return clip

    def put(self, key: str, clip: CachedClip) -> bool:
        """Store `clip` under `key` atomically, evicting least recently used entries to fit.

        False when the clip alone is larger than the cache or the write failed (logged).
        """
        payload = _encode(clip)
        header = _HEADER.pack(
            _MAGIC, FORMAT_VERSION, bytes.fromhex(key), len(payload), hashlib.sha256(payload).digest()
        )
        size = len(header) + len(payload)
        if size > self.max_bytes:
            return False
        with self._lock:
            self._drop(key)
            self._evict_for(size)
        tmp = self.folder / f".{key}.{uuid.uuid4().hex}.tmp"
        try:
            with tmp.open("wb") as fh:
                fh.write(header)
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self._path(key))
            _fsync_dir(self.folder)
        except OSError:
            log.exception("cache write failed for %s", key, extra={"event": "cache_write_failed"})
            _unlink(tmp)
            return False
        with self._lock:
            self._drop(key, unlink=False)
            self._evict_for(size)
            self._index[key] = size
            self._bytes += size
        return True

    def remove(self, key: str) -> bool:
        with self._lock:
            present = key in self._index
            self._drop(key)
            return present

    def _drop(self, key: str, unlink: bool = True) -> None:
        size = self._index.pop(key, None)
        if size is not None:
            self._bytes -= size
        if unlink:
            _unlink(self._path(key))

    def _evict_for(self, size: int) -> None:
        while self._index and self._bytes + size > self.max_bytes:
            key = next(iter(self._index))
            self._drop(key)
            self.evictions += 1
            log.info("cache evicted %s", key, extra={"event": "cache_evicted", "key": key})


def _check_header(header: bytes, key: str) -> tuple[int, bytes]:
    """The payload length and sha256 a header announces; length -1 if it is not valid for `key`."""
    if len(header) != _HEADER.size:
        return -1, b""
    magic, version, raw_key, length, digest = _HEADER.unpack(header)
    if magic != _MAGIC or version != FORMAT_VERSION or raw_key.hex() != key:
        return -1, b""
    return length, digest


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        log.warning("could not delete %s", path)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
