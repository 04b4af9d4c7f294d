"""Media export: mp4 muxing checked by decoding it back, wav and PNG round trips, atomic writes."""

from __future__ import annotations

import subprocess
import sys
import wave

import numpy as np
import pytest

from ltx2_client import Clip
from ltx2_client.media import Mp4Writer, write_frames, write_mp4, write_wav

av = pytest.importorskip("av")


def make_clip(num_frames=25, size=64, frame_rate=24.0, sample_rate=24000, channels=2) -> Clip:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size]
    frames = np.stack(
        [np.stack([(x * 4 + i * 3) % 256, (y * 4) % 256, np.full_like(x, 128)], -1) for i in range(num_frames)]
    ).astype(np.uint8)
    seconds = num_frames / frame_rate
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    audio = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.25 * rng.standard_normal(t.size).clip(-1, 1)], 1)
    return Clip(frames, audio[:, :channels].astype(np.float32), sample_rate, frame_rate, seed=1)


def probe(path):
    """(video streams, audio streams, decoded frames, audio rate, audio duration s, video duration s)."""
    with av.open(str(path)) as container:
        video = [s for s in container.streams if s.type == "video"]
        audio = [s for s in container.streams if s.type == "audio"]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)] if video else []
        v_dur = float(video[0].duration * video[0].time_base) if video else 0.0
        a_dur = float(audio[0].duration * audio[0].time_base) if audio else 0.0
        rate = audio[0].rate if audio else 0
    return len(video), len(audio), frames, rate, a_dur, v_dur


def test_write_mp4_muxes_h264_and_aac_with_the_right_rate_and_durations(tmp_path):
    clip = make_clip()
    path = write_mp4(clip, tmp_path / "clip.mp4")
    n_video, n_audio, frames, rate, a_dur, v_dur = probe(path)
    assert (n_video, n_audio) == (1, 1)
    assert len(frames) == clip.num_frames
    assert rate == clip.sample_rate
    assert v_dur == pytest.approx(clip.duration_s, abs=1e-3)
    assert abs(a_dur - clip.audio_duration_s) <= 1 / clip.frame_rate
    assert abs(a_dur - v_dur) <= 1 / clip.frame_rate
    # Lossy, but the picture is the one given.
    assert np.abs(np.stack(frames).astype(int) - clip.frames.astype(int)).mean() < 8
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"


def test_mp4_writer_streams_chunks_under_a_temporary_name(tmp_path):
    clip = make_clip(num_frames=49, size=256)
    # Noise does not compress, so encoded packets reach the file long before close().
    clip.frames = np.random.default_rng(1).integers(0, 256, clip.frames.shape, dtype=np.uint8)
    path = tmp_path / "stream.mp4"
    writer = Mp4Writer(path, width=256, height=256, frame_rate=24.0, sample_rate=24000)
    samples_per_frame = clip.sample_rate / clip.frame_rate
    for f0 in range(0, 49, 8):
        f1 = min(49, f0 + 8)
        writer.write_audio(clip.audio[round(f0 * samples_per_frame) : round(f1 * samples_per_frame)])
        writer.write_frames(clip.frames[f0:f1])
    partial = list(tmp_path.iterdir())
    assert not path.exists()
    assert len(partial) == 1 and partial[0].stat().st_size > 64 * 1024  # written while streaming
    writer.close()
    assert list(tmp_path.iterdir()) == [path]
    n_video, n_audio, frames, rate, a_dur, v_dur = probe(path)
    assert (n_video, n_audio, len(frames), rate) == (1, 1, 49, 24000)
    assert abs(a_dur - v_dur) <= 1 / 24


def test_mp4_writer_removes_its_file_when_the_block_fails(tmp_path):
    path = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError), Mp4Writer(path, width=64, height=64, frame_rate=24, sample_rate=24000) as mp4:
        mp4.write_frames(make_clip(num_frames=9).frames)
        raise RuntimeError("stream broke")
    assert list(tmp_path.iterdir()) == []


def test_audio_only_mp4_has_one_audio_stream(tmp_path):
    clip = make_clip()
    clip.frames = clip.frames[:0]
    n_video, n_audio, _, rate, a_dur, _ = probe(write_mp4(clip, tmp_path / "foley.mp4"))
    assert (n_video, n_audio, rate) == (0, 1, 24000)
    assert abs(a_dur - clip.audio_duration_s) <= 1 / 24


def test_wav_round_trip(tmp_path):
    clip = make_clip(sample_rate=16000)
    path = write_wav(clip, tmp_path / "a.wav")
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 16000)
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    np.testing.assert_allclose(data / 32767.0, clip.audio, atol=1 / 32767)
    mono = write_wav(np.zeros(100, np.int16), tmp_path / "m.wav", sample_rate=8000)
    with wave.open(str(mono)) as w:
        assert (w.getnchannels(), w.getnframes()) == (1, 100)


def test_png_sequence_round_trip(tmp_path):
    clip = make_clip(num_frames=9)
    paths = write_frames(clip, tmp_path / "frames")
    assert [p.name for p in paths] == [f"frame_{i:05d}.png" for i in range(9)]
    for path, expected in zip(paths, clip.frames, strict=True):
        with av.open(str(path)) as container:
            np.testing.assert_array_equal(next(container.decode(video=0)).to_ndarray(format="rgb24"), expected)
    more = write_frames(clip.frames[:2], tmp_path / "frames", start=9)
    assert [p.name for p in more] == ["frame_00009.png", "frame_00010.png"]


def test_missing_pyav_is_a_clear_error(tmp_path):
    code = (
        "import sys; sys.modules['av'] = None\n"
        "import numpy as np\n"
        "from ltx2_client import Clip, MissingDependency\n"
        "from ltx2_client.media import write_mp4, write_wav\n"
        "clip = Clip(np.zeros((9, 64, 64, 3), np.uint8), np.zeros((100, 2), np.float32), 24000, 24.0)\n"
        f"write_wav(clip, {str(tmp_path / 'ok.wav')!r})\n"
        "try:\n"
        f"    write_mp4(clip, {str(tmp_path / 'x.mp4')!r})\n"
        "except MissingDependency as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "pip install 'ltx2-client[media]'" in out.stdout
    assert (tmp_path / "ok.wav").exists() and not (tmp_path / "x.mp4").exists()


def test_mux_sound_copies_a_webm_video_into_mkv_with_the_sound_from_its_first_frame(tmp_path):
    import av

    from ltx2_client.media import mux_problem, mux_sound

    source = tmp_path / "capture.webm"
    with av.open(str(source), mode="w") as container:
        stream = container.add_stream("libvpx", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(10):
            image = np.full((48, 64, 3), i * 20, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    out = tmp_path / "capture.mkv"
    assert mux_problem(source, out) is None and "write .mkv" in mux_problem(source, tmp_path / "x.mp4")
    sound = (0.25 * np.sin(np.arange(24000) / 5.0)).astype(np.float32)[:, None].repeat(2, axis=1)
    assert mux_sound(source, sound, 24000, out) == out
    with av.open(str(source)) as original, av.open(str(out)) as result:
        packets = [bytes(p) for p in original.demux(original.streams.video[0]) if p.size]
        assert [bytes(p) for p in result.demux(result.streams.video[0]) if p.size] == packets
    with av.open(str(out)) as result:
        audio = np.concatenate([f.to_ndarray() for f in result.decode(audio=0)], axis=1)
    assert abs(audio.shape[1] - 24000) <= 2048 and np.abs(audio).max() > 0.1
    assert not list(tmp_path.glob(".*partial"))
