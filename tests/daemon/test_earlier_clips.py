"""Earlier clips by job id: the frames and sound read out of the result cache are what the job
streamed, held as frames (not bounded as sent), with the clip's format as defaults; a job the
index or the cache does not know is refused naming continue_from.clip.job_id."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ltx2
from ltx2.earlier_clip import Continuation, EarlierClip, Retake
from ltx2.media_input import VideoInput
from ltx2.params import sample_at
from ltx2d.domain import ClipRequest
from ltx2d.earlier_clips import ClipIndex, resolve_earlier
from ltx2d.errors import ServiceError
from ltx2d.result_cache import ResultCache
from tests.daemon.test_result_cache import clip_for
from tests.fake_engine import small_params


@pytest.fixture
def cached(tmp_path: Path) -> tuple[ResultCache, ClipIndex, object]:
    clip = clip_for(small_params(num_frames=25, sample_format=ltx2.SampleFormat.S16LE))
    cache = ResultCache(tmp_path, 1 << 30)
    assert cache.put("a" * 64, clip)
    index = ClipIndex()
    index.record("job-a", "a" * 64)
    return cache, index, clip


def _frames_of(clip) -> np.ndarray:
    video = [c for c in clip.chunks if isinstance(c, ltx2.VideoChunk)]
    return np.concatenate([np.frombuffer(c.data, np.uint8).reshape(c.num_frames, c.height, c.width, 3) for c in video])


def _pcm_of(clip) -> bytes:
    return b"".join(c.data for c in clip.chunks if isinstance(c, ltx2.AudioChunk))


def test_a_continuation_by_job_holds_the_tail_as_frames_whatever_the_as_sent_limit(cached) -> None:
    cache, index, clip = cached
    request = ClipRequest(values={"prompt": "on", "continue_from": Continuation(EarlierClip(job_id="job-a"), 9)})
    # 9 frames of 64x64 are 110 KB: over a 1000-byte as-sent bound, which frames never sent do not meet.
    limits = ltx2.Limits(max_input_bytes=1000)
    resolved = resolve_earlier(request, cache, index, limits)
    earlier = resolved.values["continue_from"].clip
    assert isinstance(earlier.video, VideoInput)
    assert np.array_equal(earlier.video.frames, _frames_of(clip)[-9:])
    assert earlier.end_frame == 25
    fmt = clip.format
    assert (resolved.values["width"], resolved.values["height"], resolved.values["frame_rate"]) == (64, 64, 24.0)
    first = sample_at(16, fmt.frame_rate, fmt.sample_rate) * fmt.channels * 2
    tail = np.frombuffer(_pcm_of(clip)[first:], "<i2").reshape(-1, fmt.channels) / 32768.0
    assert np.array_equal(earlier.audio.samples, tail.astype(np.float32))
    params = ltx2.prepare_params(small_params(num_frames=25), resolved.values, limits)
    assert params.first_frame == 25 and params.delivered_frames == 16


def test_a_retake_by_job_takes_the_whole_clip_and_its_audio_encoding(cached) -> None:
    cache, index, clip = cached
    request = ClipRequest(values={"prompt": "again", "retake": Retake(EarlierClip(job_id="job-a"), 0.2, 0.5)})
    resolved = resolve_earlier(request, cache, index, ltx2.Limits())
    earlier = resolved.values["retake"].clip
    assert np.array_equal(earlier.video.frames, _frames_of(clip))
    assert earlier.pcm.pcm == _pcm_of(clip) and len(earlier.audio.samples) * 4 == len(earlier.pcm.pcm)
    assert resolved.values["sample_format"] == ltx2.SampleFormat.S16LE
    assert resolved.values["audio_sample_rate"] == clip.format.sample_rate


@pytest.mark.parametrize("job_id", ["job-b", "job-gone"])
def test_an_unknown_or_evicted_job_is_refused_naming_the_field(cached, job_id: str) -> None:
    cache, index, _ = cached
    index.record("job-gone", "0" * 64)  # recorded, but its entry is not in the cache
    request = ClipRequest(values={"prompt": "x", "continue_from": Continuation(EarlierClip(job_id=job_id), 9)})
    with pytest.raises(ServiceError) as info:
        resolve_earlier(request, cache, index, ltx2.Limits())
    assert info.value.field == "continue_from.clip.job_id" and "result cache" in info.value.message
    with pytest.raises(ServiceError) as info:
        resolve_earlier(request, None, index, ltx2.Limits())
    assert "cache, which is off" in info.value.message


def test_the_index_keeps_the_most_recent_jobs() -> None:
    index = ClipIndex(capacity=2)
    for job in ("a", "b", "c"):
        index.record(job, job * 64)
    assert (index.key("a"), index.key("b"), index.key("c")) == (None, "b" * 64, "c" * 64)


def test_the_index_outlives_a_restart_and_stays_bounded(tmp_path) -> None:
    path = tmp_path / "jobs.idx"
    keys = {f"{i:016x}": f"{i:064x}" for i in range(10)}
    index = ClipIndex(capacity=4, path=path)
    for job, key in keys.items():
        index.record(job, key)
    # 10 records at capacity 4: rewritten once past 8 lines, so the file holds 4 + the 2 after.
    assert len(path.read_text().splitlines()) <= 2 * 4
    with path.open("a") as fh:
        fh.write("torn-line-without-key\n../../etc/passwd zz\n")
    again = ClipIndex(capacity=4, path=path)
    assert [again.key(job) for job in keys] == [None] * 6 + [keys[job] for job in list(keys)[6:]]
    assert not list(tmp_path.glob("*.tmp"))  # the rewrite went through a rename
    assert ClipIndex(capacity=4, path=tmp_path / "absent.idx").key("0" * 16) is None


def test_a_torn_index_line_or_a_damaged_file_costs_nothing_more(tmp_path, monkeypatch) -> None:
    path = tmp_path / "jobs.idx"
    path.write_text(f"{'a' * 16} {'0' * 64}\n{'b' * 16} {'1' * 30}")  # the last line torn mid-append
    index = ClipIndex(capacity=4, path=path)
    index.record("c" * 16, "2" * 64)
    assert ClipIndex(capacity=4, path=path).key("c" * 16) == "2" * 64  # not glued onto the torn line
    # A file of one endless line is read in bounded pieces (nothing of it matches).
    path.write_bytes(b"0" * 3_000_000)
    assert ClipIndex(capacity=4, path=path).key("a" * 16) is None
    # A rewrite that fails (a full disk) leaves no temporary behind and is not retried every record.
    path.unlink()
    index = ClipIndex(capacity=2, path=path)
    calls = []

    def full_disk(src, dst):
        calls.append(src)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", full_disk)
    for i in range(12):
        index.record(f"{i:016x}", f"{i:064x}")
    assert len(calls) == 3 and not list(tmp_path.glob("*.tmp"))  # at 5, 8 and 11 lines: a capacity apart
    assert index.key(f"{11:016x}") == f"{11:064x}"


def test_the_index_keeps_which_job_a_continuation_continued(tmp_path) -> None:
    path = tmp_path / "jobs.idx"
    index = ClipIndex(capacity=3, path=path)
    index.record("a" * 16, "0" * 64)
    index.record("b" * 16, "1" * 64, parent="a" * 16)
    index.record("c" * 16, "2" * 64, parent="../x")  # not a job id: not kept
    again = ClipIndex(capacity=3, path=path)
    assert (again.parent("b" * 16), again.parent("a" * 16), again.parent("c" * 16)) == ("a" * 16, "", "")
    for i in range(8):  # compaction keeps the parents of the jobs it keeps
        again.record(f"{i:016x}", f"{i:064x}", parent=f"{i - 1:016x}" if i else "")
    assert ClipIndex(capacity=3, path=path).parent(f"{7:016x}") == f"{6:016x}"
