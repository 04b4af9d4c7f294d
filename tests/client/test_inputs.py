"""Media options of generate(): Frames, Sound, a file's bytes or its path become the request's
video_input / audio_input exactly; anything else is refused naming the field, before any call."""

from __future__ import annotations

import numpy as np
import pytest

from ltx2_client import Frames, InvalidArgument, Mode, Sound
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb
from ltx2_client.request import build_request


def test_frames_go_as_raw_rgb8_with_their_size_and_rate():
    rgb = np.arange(5 * 32 * 48 * 3, dtype=np.uint32).astype(np.uint8).reshape(5, 32, 48, 3)
    request = build_request("glass", mode="video_to_audio", video_input=Frames(rgb, 30.0))
    assert request.mode == pb.GENERATION_MODE_VIDEO_TO_AUDIO
    frames = request.video_input.frames
    assert (frames.width, frames.height, frames.frame_rate) == (48, 32, 30.0)
    assert frames.rgb == rgb.tobytes()


def test_a_file_goes_as_its_bytes_from_bytes_or_a_path(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\0\0\0\x18ftypmp42 rest")
    assert build_request("x", video_input=path).video_input.file == path.read_bytes()
    assert build_request("x", video_input=str(path)).video_input.file == path.read_bytes()
    assert build_request("x", audio_input=b"RIFF....").audio_input.file == b"RIFF...."
    with pytest.raises(InvalidArgument) as info:
        build_request("x", audio_input=tmp_path / "missing.wav")
    assert info.value.field == "audio_input" and "cannot be read" in info.value.message


def test_sound_goes_as_pcm_in_its_own_encoding():
    mono = np.linspace(-1, 1, 100, dtype=np.float32)
    pcm = build_request("x", mode=Mode.AUDIO_TO_VIDEO, audio_input=Sound(mono, 22050)).audio_input.pcm
    assert (pcm.sample_rate, pcm.channels, pcm.sample_format) == (22050, 1, pb.SAMPLE_FORMAT_F32LE)
    assert np.array_equal(np.frombuffer(pcm.data, "<f4"), mono)
    stereo = (np.arange(20, dtype=np.int16) * 100).reshape(10, 2)
    pcm = build_request("x", audio_input=Sound(stereo, 48000)).audio_input.pcm
    assert (pcm.channels, pcm.sample_format) == (2, pb.SAMPLE_FORMAT_S16LE)
    assert np.array_equal(np.frombuffer(pcm.data, "<i2").reshape(10, 2), stereo)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"video_input": Frames(np.zeros((4, 8, 8), np.uint8), 24.0)}, "video_input"),
        ({"video_input": Frames(np.zeros((4, 8, 8, 3), np.float32), 24.0)}, "video_input"),
        ({"video_input": 42}, "video_input"),
        ({"audio_input": Sound(np.zeros((2, 2, 2), np.float32), 16000)}, "audio_input"),
        ({"mode": "sideways"}, "mode"),
        ({"loras": [42]}, "loras"),
    ],
)
def test_bad_media_options_are_refused_naming_the_field(options, field):
    with pytest.raises(InvalidArgument) as info:
        build_request("x", **options)
    assert info.value.field == field


def test_keyframes_go_as_conditions_from_every_kind_of_source(tmp_path):
    from PIL import Image

    from ltx2_client import Keyframe

    picture = np.random.default_rng(0).integers(0, 256, (6, 10, 3), np.uint8)
    path = tmp_path / "door.png"
    Image.fromarray(picture).save(path)
    request = build_request(
        "x",
        image=Keyframe(path, strength=0.8, crf=0),
        conditions=[
            picture,  # a bare source: frame 0, unset strength
            Keyframe(Image.fromarray(picture), frame=24),
            Keyframe(np.zeros((9, 4, 6, 3), np.uint8), frame=8),
            Keyframe(path.read_bytes(), frame=16),
        ],
    )
    image = request.image
    assert image.file == path.read_bytes() and image.strength == pytest.approx(0.8) and image.HasField("crf")
    first, pil, frames, raw_file = request.conditions
    assert (first.pixels.width, first.pixels.height, first.pixels.rgb) == (10, 6, picture.tobytes())
    assert not first.HasField("strength") and not first.HasField("crf") and first.frame == 0
    assert pil.frame == 24 and pil.pixels.rgb == picture.tobytes()
    assert (frames.frame, frames.frames.width, frames.frames.height, len(frames.frames.rgb)) == (8, 6, 4, 9 * 4 * 6 * 3)
    assert raw_file.file == path.read_bytes() and raw_file.frame == 16


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"image": np.zeros((4, 4, 3), np.float32)}, "image"),
        ({"image": 7}, "image"),
        ({"image": "/no/such/picture.png"}, "image"),
        ({"conditions": [np.zeros((4, 4), np.uint8)]}, "conditions[0]"),
    ],
)
def test_bad_keyframes_are_refused_naming_the_field(options, field):
    with pytest.raises(InvalidArgument) as info:
        build_request("x", **options)
    assert info.value.field == field


def test_a_clip_goes_back_in_the_encoding_it_was_streamed_in():
    """A retake keeps the sound outside its window as sent: a clip streamed as f32 is sent as f32
    (an int16 round trip would change it), one streamed as s16 as its own int16 values."""
    from ltx2_client import Clip, Continue, Retake, SampleFormat

    audio = (np.arange(2400, dtype=np.float32).reshape(1200, 2) / 7000.0) - 0.1
    frames = np.zeros((9, 64, 64, 3), np.uint8)
    f32 = Clip(frames, audio, 24000, 24.0, sample_format=SampleFormat.F32LE)
    pcm = build_request("x", retake=Retake(f32, 0.1, 0.2)).retake.clip.audio.pcm
    assert pcm.sample_format == pb.SAMPLE_FORMAT_F32LE and pcm.data == audio.astype("<f4").tobytes()
    s16 = Clip(frames, np.round(audio * 32768) / 32768, 24000, 24.0)  # the default: as s16 streams it
    pcm = build_request("x", continue_from=Continue(s16)).continue_from.clip.audio.pcm
    assert pcm.sample_format == pb.SAMPLE_FORMAT_S16LE
    assert np.array_equal(np.frombuffer(pcm.data, "<i2"), np.round(audio * 32768).astype("<i2").ravel())
    # The request's own sample_format wins.
    pcm = build_request("x", retake=Retake(f32, 0.1, 0.2), sample_format="s16le").retake.clip.audio.pcm
    assert pcm.sample_format == pb.SAMPLE_FORMAT_S16LE
