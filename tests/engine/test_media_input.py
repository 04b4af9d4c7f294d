"""Media files a request carries: decoded with PyAV, scaled as decoded, bounded, and refused clearly
when truncated or not media at all."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from ltx2 import GenerationParams, InvalidParams, Limits, prepare_params
from ltx2.media_input import MediaFile, decode_audio_input, fit_size
from ltx2.params import Mode

DEFAULTS = GenerationParams(prompt="x", width=64, height=64, num_frames=25, steps=2, seed=1)


def mp4(
    frames: int, width: int = 160, height: int = 96, rate: int = 24, codec: str = "mpeg4", fmt: str = "mp4"
) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            image = np.zeros((height, width, 3), np.uint8)
            image[:, : (i * 7) % width] = 200  # a bar that grows: frames differ
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def audio_file(seconds: float, rate: int = 22050, layout: str = "mono", fmt: str = "wav", codec: str = "pcm_s16le"):
    buffer = io.BytesIO()
    channels = 1 if layout == "mono" else 2
    t = np.arange(round(seconds * rate)) / rate
    wave = (0.25 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    with av.open(buffer, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(np.tile(wave, (channels, 1)), format="fltp", layout=layout)
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue(), wave


def test_an_mp4_becomes_the_frames_of_a_video_to_audio_job_scaled_to_fit():
    params = prepare_params(DEFAULTS, {"mode": Mode.VIDEO_TO_AUDIO, "video_input": MediaFile(mp4(30))}, Limits())
    # 160x96 scaled down into the 64x64 default box, aspect kept, sides to multiples of 32 (at least 64).
    assert (params.width, params.height) == (64, 64)
    assert params.video_input.num_frames == 30 and params.num_frames == 33 and params.frame_rate == 24.0
    assert params.video_input.frames.dtype == np.uint8
    assert params.video_input.frames[20].mean() > params.video_input.frames[2].mean()  # the bar grew
    explicit = prepare_params(
        DEFAULTS, {"mode": Mode.VIDEO_TO_AUDIO, "video_input": MediaFile(mp4(9)), "width": 128, "height": 96}, Limits()
    )
    assert explicit.video_input.frames.shape == (9, 96, 128, 3)


def test_a_webm_is_read_as_well():
    data = mp4(12, 128, 64, rate=12, codec="libvpx", fmt="webm")
    params = prepare_params(DEFAULTS, {"mode": Mode.VIDEO_TO_AUDIO, "video_input": MediaFile(data)}, Limits())
    assert params.video_input.num_frames == 12 and params.frame_rate == 12.0
    assert (params.width, params.height) == (64, 64)


def test_fit_size_keeps_the_aspect_and_never_scales_up():
    assert fit_size(1920, 1080, 768, 512, 32, 64) == (768, 448)
    assert fit_size(320, 240, 768, 512, 32, 64) == (320, 256)
    assert fit_size(40, 30, 768, 512, 32, 64) == (64, 64)


def test_a_truncated_mp4_is_refused_naming_the_field():
    whole = mp4(40)
    # The index (moov) of a plain mp4 is written last: a cut file has no readable frame.
    for cut in (whole[: len(whole) * 2 // 3], whole[:200]):
        with pytest.raises(InvalidParams) as info:
            prepare_params(DEFAULTS, {"mode": Mode.VIDEO_TO_AUDIO, "video_input": MediaFile(cut)}, Limits())
        assert info.value.field == "video_input.file" and f"<{len(cut)} bytes>" == info.value.value
    with pytest.raises(InvalidParams) as info:
        prepare_params(DEFAULTS, {"mode": Mode.VIDEO_TO_AUDIO, "video_input": MediaFile(b"not a video")}, Limits())
    assert info.value.field == "video_input.file" and "must be a mp4 / mov, webm / mkv file" in info.value.rule


def test_only_named_containers_are_opened_never_a_probed_playlist():
    # An HLS playlist or concat list would make a probing FFmpeg open the files and URLs it names.
    for data in (b"#EXTM3U\n#EXT-X-VERSION:3\nfile:///etc/passwd\n", b"ffconcat version 1.0\nfile /etc/passwd\n"):
        with pytest.raises(InvalidParams) as info:
            prepare_params(DEFAULTS, {"mode": Mode.VIDEO_TO_AUDIO, "video_input": MediaFile(data)}, Limits())
        assert info.value.field == "video_input.file" and "must be a" in info.value.rule
    with pytest.raises(InvalidParams) as info:
        prepare_params(DEFAULTS, {"mode": Mode.AUDIO_TO_VIDEO, "audio_input": MediaFile(mp4(3))}, Limits())
    assert info.value.field == "audio_input.file" and "wav, ogg, mp3, flac" in info.value.rule


def test_frames_are_bounded_at_the_size_they_are_scaled_to_before_they_are_held():
    from ltx2 import RawFrames

    # 200 small frames asked at 1920x1088 would be 1.25 GB once scaled: refused before scaling.
    small = RawFrames(32, 32, 24.0, bytes(200 * 32 * 32 * 3))
    values = {"mode": Mode.VIDEO_TO_AUDIO, "video_input": small, "width": 1920, "height": 1088}
    with pytest.raises(InvalidParams) as info:
        prepare_params(DEFAULTS, values, Limits())
    assert info.value.field == "video_input.frames.rgb" and "a smaller width and height" in info.value.rule
    # A file stops decoding at the bound.
    values = {"mode": Mode.VIDEO_TO_AUDIO, "video_input": MediaFile(mp4(30)), "width": 256, "height": 256}
    with pytest.raises(InvalidParams) as info:
        prepare_params(DEFAULTS, values, Limits(max_input_frame_bytes=256 * 256 * 3 * 10))
    assert info.value.field == "video_input.file" and info.value.value == "<11 frames of 256x256>"


def test_a_file_of_huge_frames_is_refused_before_its_frames_are_decoded():
    data = mp4(1, 4096, 2176)
    with pytest.raises(InvalidParams) as info:
        prepare_params(DEFAULTS, {"mode": Mode.VIDEO_TO_AUDIO, "video_input": MediaFile(data)}, Limits())
    assert info.value.field == "video_input.file" and info.value.value == "<4096x2176 frames>"


def test_media_over_the_byte_and_frame_limits_is_refused_before_it_is_held():
    data = mp4(20)
    with pytest.raises(InvalidParams) as info:
        limits = Limits(max_input_bytes=len(data) - 1)
        prepare_params(DEFAULTS, {"mode": Mode.VIDEO_TO_AUDIO, "video_input": MediaFile(data)}, limits)
    assert info.value.field == "video_input.file" and "at most" in info.value.rule
    with pytest.raises(InvalidParams) as info:
        prepare_params(DEFAULTS, {"mode": Mode.VIDEO_TO_AUDIO, "video_input": MediaFile(data)}, Limits(max_frames=17))
    assert info.value.field == "video_input.file" and "at most 17 frames" in info.value.rule


@pytest.mark.parametrize(
    ("fmt", "codec", "layout"),
    [("wav", "pcm_s16le", "mono"), ("ogg", "libopus", "stereo"), ("mp3", "libmp3lame", "mono")],
)
def test_an_audio_file_becomes_the_sound_of_an_audio_to_video_job(fmt, codec, layout):
    rate = 48000 if codec == "libopus" else 22050
    data, wave = audio_file(1.5, rate, layout, fmt, codec)
    params = prepare_params(DEFAULTS, {"mode": Mode.AUDIO_TO_VIDEO, "audio_input": MediaFile(data)}, Limits())
    sound = params.audio_input
    assert sound.sample_rate == rate and sound.samples.shape[1] == (1 if layout == "mono" else 2)
    assert abs(sound.duration_s - 1.5) < 0.1  # lossy codecs add priming samples
    # 1.5 s at 24 fps: 36 frames, so 41 (8k+1) cover it, a little more with a codec's padding.
    assert params.num_frames >= 41 and params.num_frames / 24 >= sound.duration_s
    if fmt == "wav":
        assert np.abs(sound.samples[:, 0] - wave).max() < 1 / 16000


def test_a_high_rate_file_is_kept_at_48_khz():
    data, _ = audio_file(0.5, 96000)
    sound = prepare_params(
        DEFAULTS, {"mode": Mode.AUDIO_TO_VIDEO, "audio_input": MediaFile(data)}, Limits()
    ).audio_input
    assert sound.sample_rate == 48000 and abs(len(sound.samples) - 24000) <= 64


def test_a_truncated_or_overlong_audio_file_is_refused_naming_the_field():
    data, _ = audio_file(1.0)
    with pytest.raises(InvalidParams) as info:
        prepare_params(DEFAULTS, {"mode": Mode.AUDIO_TO_VIDEO, "audio_input": MediaFile(data[:30])}, Limits())
    assert info.value.field == "audio_input.file"
    long, _ = audio_file(12.0, 8000)
    with pytest.raises(InvalidParams) as info:
        decode_audio_input(MediaFile(long), max_seconds=10.0, max_bytes=1 << 20, rate_range=(8000, 192000))
    assert info.value.field == "audio_input.file" and "at most 10 s long (max_frames - 1 frames" in info.value.rule
