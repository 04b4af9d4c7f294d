"""Finished clips on disk, keyed by everything that changes the stream, so a repeat costs no GPU.

One file per clip, `<key>.clip`, written as the miss streams and read back as the hit streams:

    header   magic "LTX2DC", format version, key (32 bytes)
    records  one per item, in stream order: the clip format first, then every audio and video
             message; each is kind, meta length, data length, xxh3_64 of meta + data, meta (a
             small msgpack list), data (the message's bytes as streamed)
    trailer  seed, num_frames, num_samples, audio padded samples, total record bytes, xxh3_64 of
             those, magic "LTX2DE"

Opening an entry reads the header, the fixed-size trailer and the format record (three small
reads, whatever the clip size); each chunk is checked against its own checksum as it is read, so a
hit streams its first chunk after milliseconds. A file whose header, trailer or length is wrong
(a torn write, an entry of an older format version) is removed and counts as a miss; a chunk that
fails its checksum mid-replay raises `DamagedEntry` and removes the entry. Files are written to a
temporary name in the same folder, fsynced and renamed over the old entry, so a crash never
leaves a partial file under a real name and a refresh whose write fails keeps the old entry.
Deleting a damaged entry checks that the file is still the one that was read, so a reader never
deletes an entry that a writer has just installed. The cache is a byte-capped LRU; recency is
kept in file mtimes, so it survives restarts.

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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import msgpack
import xxhash

import ltx2

log = logging.getLogger("ltx2d.result_cache")

FORMAT_VERSION = 4  # 4: the clip format records first_frame and first_sample (continuations).
# 1: one msgpack payload with one checksum, read whole before the first chunk;
# 2: one crc32-checked record per decoded chunk (video records of up to 68 MB at 1280x736, sent as
# one message). 3: one record per stream message, checked with xxh3_64, which runs at about 50 GB/s
# where zlib's crc32 runs at 3 (1.0 ms of CPU per 1280x736 frame, a quarter of the daemon's cost of replaying it).
_MAGIC = b"LTX2DC"
_END_MAGIC = b"LTX2DE"
_HEADER = struct.Struct(">6sH32s")  # magic, version, key
_RECORD = struct.Struct(">cHIQ")  # kind, meta length, data length, xxh3_64(meta + data)
_TRAILER = struct.Struct(">qQQQQQ6s")  # seed, frames, samples, padded samples, record bytes, xxh3_64, magic
_TRAILER_FIELDS = ">qQQQQ"
_FORMAT, _AUDIO, _VIDEO = b"F", b"A", b"V"
_SUFFIX = ".clip"
_NAME = re.compile(r"^[0-9a-f]{64}\.clip$")

Chunk = ltx2.AudioChunk | ltx2.VideoChunk


class DamagedEntry(Exception):
    """A cache entry failed its checks while being read; it has been removed."""


@dataclass(frozen=True)
class CachedClip:
    """A whole cache entry in memory (tests and tools; the daemon streams with `open`/`writer`)."""

    format: ltx2.ClipFormat
    chunks: tuple[Chunk, ...]
    seed: int
    num_frames: int
    num_samples: int
    audio_padded_samples: int = 0


def cache_key(fingerprint: str, params: ltx2.GenerationParams) -> str:
    """Hex sha256 of the model fingerprint and every field that changes the streamed chunks.

    `output_key()` covers the clip and its audio encoding; `chunk_frames` is added because
    entries replay the chunks as they were cut. Tags are not part of the key. The seed must be
    resolved.
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


def _format_meta(fmt: ltx2.ClipFormat) -> list[object]:
    return [
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
        fmt.first_frame,
        fmt.first_sample,
    ]


def _format_from(f: list[object]) -> ltx2.ClipFormat:
    return ltx2.ClipFormat(
        f[0], f[1], f[2], f[3], f[4], f[5], f[6], ltx2.SampleFormat(f[7]), f[8], f[9], f[10], f[11], f[12]
    )  # type: ignore[arg-type]


def checksum(*parts: bytes) -> int:
    """The xxh3_64 of `parts` back to back: every record's and the trailer's check."""
    digest = xxhash.xxh3_64()
    for part in parts:
        digest.update(part)
    return digest.intdigest()


def _record(kind: bytes, meta: list[object], data: bytes = b"") -> tuple[bytes, bytes]:
    """The record header plus meta, and the data (written separately: no copy of a chunk)."""
    packed = msgpack.packb(meta, use_bin_type=True)
    return _RECORD.pack(kind, len(packed), len(data), checksum(packed, data)) + packed, data


def _chunk_record(chunk: Chunk) -> tuple[bytes, bytes]:
    if isinstance(chunk, ltx2.AudioChunk):
        meta = [chunk.first_sample, chunk.num_samples, chunk.sample_rate, chunk.channels, int(chunk.sample_format)]
        return _record(_AUDIO, meta, chunk.data)
    meta = [chunk.first_frame, chunk.num_frames, chunk.width, chunk.height, chunk.frame_rate]
    return _record(_VIDEO, meta, chunk.data)


def _trailer(seed: int, num_frames: int, num_samples: int, padded: int, record_bytes: int) -> bytes:
    fields = (seed, num_frames, num_samples, padded, record_bytes)
    return _TRAILER.pack(*fields, checksum(struct.pack(_TRAILER_FIELDS, *fields)), _END_MAGIC)


class CacheReader:
    """One open entry: its format and Completed fields at once, its chunks one at a time."""

    def __init__(self, cache: ResultCache, key: str, fh: BinaryIO, identity: tuple[int, int, int]) -> None:
        self._cache = cache
        self._key = key
        self._fh = fh
        self._identity = identity
        ends = _read_ends(fh, key, identity[2])
        self.seed, self.num_frames, self.num_samples, self.audio_padded_samples, self._left = ends
        fh.seek(_HEADER.size)
        kind, meta, _ = self._read_record()
        if kind != _FORMAT:
            raise DamagedEntry("the first record is not the clip format")
        self.format = _format_from(meta)

    def _read_record(self) -> tuple[bytes, list[object], bytes]:
        head = self._fh.read(_RECORD.size)
        if len(head) != _RECORD.size:
            raise DamagedEntry("truncated record header")
        kind, meta_len, data_len, digest = _RECORD.unpack(head)
        body_len = meta_len + data_len
        if _RECORD.size + body_len > self._left:
            raise DamagedEntry("a record runs past the trailer")
        packed = self._fh.read(meta_len)
        data = self._fh.read(data_len)
        if len(packed) != meta_len or len(data) != data_len or checksum(packed, data) != digest:
            raise DamagedEntry("a record failed its checksum")
        self._left -= _RECORD.size + body_len
        return kind, msgpack.unpackb(packed, raw=False), data

    def next_chunk(self) -> Chunk | None:
        """The next chunk, checked; None after the last. Raises DamagedEntry (entry removed)."""
        if self._left == 0:
            return None
        try:
            kind, m, data = self._read_record()
            if kind == _AUDIO:
                return ltx2.AudioChunk(m[0], m[1], m[2], m[3], ltx2.SampleFormat(m[4]), data)  # type: ignore[arg-type]
            if kind == _VIDEO:
                return ltx2.VideoChunk(m[0], m[1], m[2], m[3], m[4], data)  # type: ignore[arg-type]
            raise DamagedEntry(f"unknown record kind {kind!r}")
        except (DamagedEntry, ValueError, TypeError, IndexError, OSError) as exc:
            self.close()
            self._cache._drop_damaged(self._key, self._identity, str(exc))
            raise DamagedEntry(f"cache entry {self._key[:12]}: {exc}") from None

    def chunks(self) -> Iterator[Chunk]:
        while (chunk := self.next_chunk()) is not None:
            yield chunk

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> CacheReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CacheWriter:
    """A new entry being written as its clip streams; nothing is visible until `commit`."""

    def __init__(self, cache: ResultCache, key: str, fmt: ltx2.ClipFormat) -> None:
        self._cache = cache
        self._key = key
        self._tmp = cache.folder / f".{key}.{uuid.uuid4().hex}.tmp"
        self._fh: BinaryIO | None = self._tmp.open("wb")
        self._size = 0
        self._records = 0
        self._write(_HEADER.pack(_MAGIC, FORMAT_VERSION, bytes.fromhex(key)))
        self._write(*_record(_FORMAT, _format_meta(fmt)))
        self._records = self._size - _HEADER.size

    @property
    def open(self) -> bool:
        """False once committed, aborted, or given up (too large for the cache, a write failed)."""
        return self._fh is not None

    def _write(self, *parts: bytes) -> None:
        assert self._fh is not None
        for part in parts:
            self._fh.write(part)
            self._size += len(part)

    def add(self, chunk: Chunk) -> bool:
        """Append a chunk; False (and the entry dropped) when it no longer fits or a write failed."""
        if self._fh is None:
            return False
        before = self._size
        try:
            self._write(*_chunk_record(chunk))
        except OSError:
            log.exception("cache write failed for %s", self._key, extra={"event": "cache_write_failed"})
            self.abort()
            return False
        self._records += self._size - before
        if self._size + _TRAILER.size > self._cache.max_bytes:
            self.abort()  # larger than the whole cache: keep nothing
            return False
        return True

    def commit(self, seed: int, num_frames: int, num_samples: int, audio_padded_samples: int = 0) -> bool:
        """Finish the entry and install it under its key (replacing an older one); False when it
        was given up or the write failed (logged; an older entry stays as it was)."""
        if self._fh is None:
            return False
        try:
            self._write(_trailer(seed, num_frames, num_samples, audio_padded_samples, self._records))
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
        except OSError:
            log.exception("cache write failed for %s", self._key, extra={"event": "cache_write_failed"})
            self.abort()
            return False
        if not self._cache._install(self._key, self._tmp, self._size):
            _unlink(self._tmp)
            return False
        return True

    def abort(self) -> None:
        """Drop the entry being written (the old entry under the key, if any, stays)."""
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None
        _unlink(self._tmp)


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
        """Rebuild the index from the folder: drop leftovers, torn files and older formats."""
        found: list[tuple[float, str, int]] = []
        for path in self.folder.iterdir():
            if path.name.endswith(".tmp"):
                _unlink(path)  # a write that never finished
                continue
            if not _NAME.match(path.name):
                continue
            key = path.name[: -len(_SUFFIX)]
            try:
                with path.open("rb") as fh:
                    st = os.fstat(fh.fileno())
                    try:
                        _read_ends(fh, key, st.st_size)
                        problem = ""
                    except DamagedEntry as exc:
                        problem = str(exc)
            except OSError:
                continue
            if problem:
                log.warning(
                    "dropping cache entry %s: %s", path.name, problem, extra={"event": "cache_corrupt", "key": key}
                )
                _unlink(path)
                continue
            found.append((st.st_mtime, key, st.st_size))
        for _, key, size in sorted(found):
            self._index[key] = size
            self._bytes += size
        with self._lock:
            self._evict_for(0)

    # -- reading -------------------------------------------------------------------------------

    def open(self, key: str) -> CacheReader | None:
        """The entry for `key`, open for streaming, or None (a miss; a torn entry is removed)."""
        with self._lock:
            if key not in self._index:
                self.misses += 1
                return None
        try:
            fh = self._path(key).open("rb")
        except OSError:  # removed meanwhile (evicted, replaced): a miss, nothing to clean up
            with self._lock:
                self.misses += 1
            return None
        st = os.fstat(fh.fileno())
        identity = (st.st_dev, st.st_ino, st.st_size)  # not mtime: reads touch it
        reader = None
        try:
            reader = CacheReader(self, key, fh, identity)
        except (DamagedEntry, ValueError, TypeError, IndexError, OSError) as exc:
            problem = str(exc) or type(exc).__name__
        if reader is None:
            fh.close()
            self._drop_damaged(key, identity, problem)
            with self._lock:
                self.misses += 1
            return None
        with self._lock:
            if key in self._index:
                self._index.move_to_end(key)
            self.hits += 1
        with contextlib.suppress(OSError):
            os.utime(self._path(key))  # recency survives a restart
        return reader

    def get(self, key: str) -> CachedClip | None:
        """The whole entry for `key`, every chunk checked, or None (a damaged entry is removed)."""
        reader = self.open(key)
        if reader is None:
            return None
        with reader:
            try:
                chunks = tuple(reader.chunks())
            except DamagedEntry:
                with self._lock:
                    self.hits -= 1
                    self.misses += 1
                return None
            return CachedClip(
                reader.format, chunks, reader.seed, reader.num_frames, reader.num_samples, reader.audio_padded_samples
            )

    def _drop_damaged(self, key: str, identity: tuple[int, int, int], problem: str) -> None:
        """Remove the entry read as `identity` if the file under `key` is still that one."""
        path = self._path(key)
        with self._lock:
            try:
                st = os.stat(path)
            except OSError:
                return
            if (st.st_dev, st.st_ino, st.st_size) != identity:
                return  # a writer installed a new entry since: it is not ours to judge
            log.warning(
                "dropping damaged cache entry %s: %s", path.name, problem, extra={"event": "cache_corrupt", "key": key}
            )
            self._drop(key)

    # -- writing -------------------------------------------------------------------------------

    def writer(self, key: str, fmt: ltx2.ClipFormat) -> CacheWriter:
        """Start a new entry for `key`; the current one (if any) is served until it is committed."""
        return CacheWriter(self, key, fmt)

    def put(self, key: str, clip: CachedClip) -> bool:
        """Store a whole clip under `key` atomically, evicting least recently used entries to fit.

        False when the clip alone is larger than the cache or the write failed (logged).
        """
        try:
            writer = self.writer(key, clip.format)
        except OSError:
            log.exception("cache write failed for %s", key, extra={"event": "cache_write_failed"})
            return False
        for chunk in clip.chunks:
            if not writer.add(chunk):
                return False
        return writer.commit(clip.seed, clip.num_frames, clip.num_samples, clip.audio_padded_samples)

    def _install(self, key: str, tmp: Path, size: int) -> bool:
        if size > self.max_bytes:
            return False
        with self._lock:
            try:
                os.replace(tmp, self._path(key))
            except OSError:
                log.exception("cache write failed for %s", key, extra={"event": "cache_write_failed"})
                return False
            _fsync_dir(self.folder)
            self._drop(key, unlink=False)  # replaced by the rename
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


def _read_ends(fh: BinaryIO, key: str, size: int) -> tuple[int, int, int, int, int]:
    """Seed, num_frames, num_samples, audio padded samples and record bytes from a valid header and trailer for `key`;
    raises DamagedEntry saying what is wrong."""
    fh.seek(0)
    header = fh.read(_HEADER.size)
    if len(header) != _HEADER.size:
        raise DamagedEntry("shorter than its header")
    magic, version, raw_key = _HEADER.unpack(header)
    if magic != _MAGIC:
        raise DamagedEntry("not a cache entry")
    if version != FORMAT_VERSION:
        raise DamagedEntry(f"format version {version}, this daemon reads {FORMAT_VERSION}")
    if raw_key.hex() != key:
        raise DamagedEntry("its header names another key")
    if size < _HEADER.size + _TRAILER.size:
        raise DamagedEntry("no trailer (the write did not finish)")
    fh.seek(size - _TRAILER.size)
    *fields, digest, end = _TRAILER.unpack(fh.read(_TRAILER.size))
    seed, frames, samples, padded, record_bytes = fields
    if end != _END_MAGIC or digest != checksum(struct.pack(_TRAILER_FIELDS, *fields)):
        raise DamagedEntry("no valid trailer (the write did not finish)")
    if record_bytes != size - _HEADER.size - _TRAILER.size:
        raise DamagedEntry("its length does not match its trailer")
    return seed, frames, samples, padded, record_bytes


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
