"""Result cache on disk: round trip, restart, damaged files, LRU by bytes, atomic writes, keys."""

from __future__ import annotations

import os
import struct
import threading
from pathlib import Path

import pytest

import ltx2
from ltx2d import result_cache
from ltx2d.result_cache import CachedClip, ResultCache, cache_key
from tests.fake_engine import FakeEngine, small_params


def clip_for(params: ltx2.GenerationParams) -> CachedClip:
    engine = FakeEngine()
    events = list(engine.generate(params))
    done = events[-1]
    assert isinstance(done, ltx2.Completed)
    chunks = tuple(e for e in events if isinstance(e, (ltx2.AudioChunk, ltx2.VideoChunk)))
    return CachedClip(engine.clip_format(params), chunks, done.seed, done.num_frames, done.num_samples)


def entry_size(clip: CachedClip, tmp_path: Path) -> int:
    probe = ResultCache(tmp_path / "probe", 1 << 30)
    probe.put("0" * 64, clip)
    return probe.size_bytes


def test_round_trip_and_survives_a_new_instance(tmp_path: Path) -> None:
    params = small_params(seed=3)
    clip = clip_for(params)
    key = cache_key("fp", params)
    cache = ResultCache(tmp_path, 1 << 30)
    assert cache.get(key) is None
    assert cache.put(key, clip) is True
    assert cache.get(key) == clip
    reopened = ResultCache(tmp_path, 1 << 30)
    assert key in reopened and len(reopened) == 1
    assert reopened.size_bytes == cache.size_bytes
    assert reopened.get(key) == clip
    assert reopened.hits == 1
    size = reopened.size_bytes
    assert reopened.put(key, clip) is True  # a refresh replaces the entry
    assert len(reopened) == 1 and reopened.size_bytes == size


@pytest.mark.parametrize("where", ["at start", "at get"])
def test_truncated_file_is_ignored_and_removed(tmp_path: Path, where: str) -> None:
    params = small_params(seed=4)
    key = cache_key("fp", params)
    cache = ResultCache(tmp_path, 1 << 30)
    cache.put(key, clip_for(params))
    path = tmp_path / f"{key}.clip"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    if where == "at start":
        cache = ResultCache(tmp_path, 1 << 30)
        assert key not in cache
    assert cache.get(key) is None
    assert not path.exists()
    assert cache.size_bytes == 0


def test_corrupt_payload_is_detected_by_checksum_and_removed(tmp_path: Path) -> None:
    params = small_params(seed=5)
    key = cache_key("fp", params)
    cache = ResultCache(tmp_path, 1 << 30)
    cache.put(key, clip_for(params))
    path = tmp_path / f"{key}.clip"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same length, one byte of frame data flipped
    path.write_bytes(bytes(data))
    reopened = ResultCache(tmp_path, 1 << 30)
    assert key in reopened  # header and trailer are fine; only the chunk's checksum can tell
    assert reopened.get(key) is None
    assert not path.exists()
    assert key not in reopened


def test_file_with_another_key_in_its_header_is_dropped(tmp_path: Path) -> None:
    params = small_params(seed=6)
    key = cache_key("fp", params)
    ResultCache(tmp_path, 1 << 30).put(key, clip_for(params))
    other = "f" * 64
    os.replace(tmp_path / f"{key}.clip", tmp_path / f"{other}.clip")
    cache = ResultCache(tmp_path, 1 << 30)
    assert len(cache) == 0
    assert not (tmp_path / f"{other}.clip").exists()


def test_lru_eviction_by_bytes_follows_access_order(tmp_path: Path) -> None:
    clips = {seed: clip_for(small_params(seed=seed)) for seed in (1, 2, 3)}
    size = entry_size(clips[1], tmp_path)
    cache = ResultCache(tmp_path / "cache", 2 * size + size // 2)  # room for two entries
    keys = {seed: cache_key("fp", small_params(seed=seed)) for seed in clips}
    cache.put(keys[1], clips[1])
    cache.put(keys[2], clips[2])
    assert cache.get(keys[1]) is not None  # 1 is now more recent than 2
    cache.put(keys[3], clips[3])
    assert keys[2] not in cache and not (tmp_path / "cache" / f"{keys[2]}.clip").exists()
    assert keys[1] in cache and keys[3] in cache
    assert cache.size_bytes <= cache.max_bytes
    assert cache.evictions == 1
    # Recency is read back from file mtimes at start: make 1 the oldest on disk.
    os.utime(tmp_path / "cache" / f"{keys[1]}.clip", (1, 1))
    reopened = ResultCache(tmp_path / "cache", 2 * size + size // 2)
    reopened.put(keys[2], clips[2])
    assert keys[1] not in reopened and keys[3] in reopened and keys[2] in reopened


def test_smaller_cap_at_start_evicts_down_to_it(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path, 1 << 30)
    for seed in (1, 2, 3):
        cache.put(cache_key("fp", small_params(seed=seed)), clip_for(small_params(seed=seed)))
    one = cache.size_bytes // 3
    smaller = ResultCache(tmp_path, one + 1)
    assert len(smaller) == 1
    assert len(list(tmp_path.glob("*.clip"))) == 1


def test_clip_larger_than_the_cache_is_not_stored(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path, 1000)
    assert cache.put(cache_key("fp", small_params()), clip_for(small_params())) is False
    assert len(cache) == 0 and not list(tmp_path.iterdir())


def test_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = small_params(seed=8)
    key = cache_key("fp", params)
    cache = ResultCache(tmp_path, 1 << 30)

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(result_cache.os, "fsync", broken_fsync)
    assert cache.put(key, clip_for(params)) is False
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []
    assert key not in cache and cache.get(key) is None


def test_leftover_temporary_file_is_removed_at_start(tmp_path: Path) -> None:
    key = cache_key("fp", small_params())
    leftover = tmp_path / f".{key}.0123.tmp"
    leftover.write_bytes(b"half a clip")
    cache = ResultCache(tmp_path, 1 << 30)
    assert not leftover.exists()
    assert len(cache) == 0


def test_key_covers_what_changes_the_stream_and_nothing_else() -> None:
    base = small_params(seed=1)
    key = cache_key("fp", base)
    changed = [
        cache_key("other-model", base),
        cache_key("fp", small_params(seed=2)),
        cache_key("fp", small_params(seed=1, prompt="another prompt")),
        cache_key("fp", small_params(seed=1, chunk_frames=16)),
        cache_key("fp", small_params(seed=1, audio_sample_rate=48_000)),
        cache_key("fp", small_params(seed=1, sample_format=ltx2.SampleFormat.F32LE)),
        cache_key("fp", small_params(seed=1, audio_only=True)),
        cache_key("fp", small_params(seed=1, steps=5)),
    ]
    assert key not in changed and len(set(changed)) == len(changed)
    assert cache_key("fp", small_params(seed=1, tags={"scene": "intro"})) == key
    assert cache_key("fp", small_params(seed=1, preview=True)) == key
    with pytest.raises(ValueError, match="seed"):
        cache_key("fp", small_params(seed=None))


def test_a_hit_streams_chunk_by_chunk_and_checks_each_as_it_is_read(tmp_path: Path) -> None:
    params = small_params(seed=9, num_frames=41)
    clip = clip_for(params)
    key = cache_key("fp", params)
    cache = ResultCache(tmp_path, 1 << 30)
    cache.put(key, clip)
    path = tmp_path / f"{key}.clip"
    data = bytearray(path.read_bytes())
    data[-result_cache._TRAILER.size - 5] ^= 0xFF  # inside the last chunk's bytes
    path.write_bytes(bytes(data))
    reader = cache.open(key)
    assert reader is not None
    assert (reader.format, reader.seed, reader.num_samples) == (clip.format, clip.seed, clip.num_samples)
    # The first chunks come out although the last is damaged: nothing waits for a whole-entry check.
    good = [reader.next_chunk() for _ in range(len(clip.chunks) - 1)]
    assert good == list(clip.chunks[:-1])
    with pytest.raises(result_cache.DamagedEntry):
        reader.next_chunk()
    assert key not in cache and not path.exists()


def test_an_entry_of_the_old_format_is_a_miss_and_removed(tmp_path: Path) -> None:
    key = cache_key("fp", small_params())
    path = tmp_path / f"{key}.clip"
    # Version 1: magic, version, key, payload length, payload sha256, then one msgpack payload.
    payload = b"\x80"
    header = struct.pack(">6sH32sQ32s", b"LTX2DC", 1, bytes.fromhex(key), len(payload), bytes(32))
    path.write_bytes(header + payload)
    cache = ResultCache(tmp_path, 1 << 30)
    assert key not in cache and not path.exists()
    path.write_bytes(header + payload)  # appearing after the start (an old daemon still writing)
    cache._index[key] = path.stat().st_size
    assert cache.get(key) is None
    assert not path.exists() and key not in cache


def test_get_during_put_of_the_same_key_never_misses_nor_deletes_the_new_entry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    params = small_params(seed=10, num_frames=33)
    clip = clip_for(params)
    key = cache_key("fp", params)
    cache = ResultCache(tmp_path, 1 << 30)
    cache.put(key, clip)
    stop = threading.Event()
    misses: list[int] = []

    def refresh() -> None:
        for _ in range(150):
            cache.put(key, clip)
        stop.set()

    writer = threading.Thread(target=refresh)
    writer.start()
    gets = 0
    while not stop.is_set():
        gets += 1
        if cache.get(key) != clip:
            misses.append(gets)
    writer.join()
    assert misses == []  # the old entry is served until the new one is renamed over it
    assert "damaged" not in caplog.text
    assert cache.get(key) == clip and (tmp_path / f"{key}.clip").exists()


def test_a_refresh_whose_write_fails_keeps_the_old_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = small_params(seed=11)
    clip = clip_for(params)
    key = cache_key("fp", params)
    cache = ResultCache(tmp_path, 1 << 30)
    cache.put(key, clip)
    size = cache.size_bytes

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(result_cache.os, "fsync", broken_fsync)
    assert cache.put(key, clip) is False
    monkeypatch.undo()
    assert cache.get(key) == clip
    assert cache.size_bytes == size and len(list(tmp_path.iterdir())) == 1


def test_a_writer_gives_up_once_the_clip_outgrows_the_cache(tmp_path: Path) -> None:
    params = small_params(seed=12)
    clip = clip_for(params)
    cache = ResultCache(tmp_path, entry_size(clip, tmp_path / "probe") // 2)
    writer = cache.writer(cache_key("fp", params), clip.format)
    results = [writer.add(chunk) for chunk in clip.chunks]
    assert False in results and not writer.open
    assert writer.commit(clip.seed, clip.num_frames, clip.num_samples) is False
    assert list(tmp_path.glob("*")) == [tmp_path / "probe"]
