"""The `ltx2` command line against the real daemon with the tiny model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import wave

import numpy as np
import pytest

from ltx2_client import Client
from ltx2_client.cli import main

av = pytest.importorskip("av")

CLI = [sys.executable, "-m", "ltx2_client.cli"]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def test_generate_writes_an_mp4_with_muxed_audio_a_wav_and_frames(address, tmp_path):
    mp4, wav, frames_dir = tmp_path / "out.mp4", tmp_path / "out.wav", tmp_path / "frames"
    done = run_cli(
        "--address", address, "generate", "waves on a pebble beach", "-o", str(mp4), "--wav", str(wav),
        "--frames-dir", str(frames_dir), "--width", "64", "--height", "64", "--frames", "25", "--steps", "2",
        "--seed", "17", "--chunk-frames", "8", "--cache", "bypass",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # Not a terminal: plain progress lines, steps first, then decoded seconds.
    assert "denoising step 2/2" in done.stderr and "decoding" in done.stderr
    assert done.stderr.index("denoising step 2/2") < done.stderr.index("decoding")
    with Client(address) as client:
        clip = client.generate(
            "waves on a pebble beach", width=64, height=64, num_frames=25, steps=2, seed=17, cache_policy="bypass"
        ).result()

    with av.open(str(mp4)) as container:
        assert [s.type for s in container.streams] == ["video", "audio"] or sorted(
            s.type for s in container.streams
        ) == ["audio", "video"]
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert audio.rate == clip.sample_rate
        v_dur = float(video.duration * video.time_base)
        a_dur = float(audio.duration * audio.time_base)
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 25
    assert decoded[0].shape == (64, 64, 3)
    assert v_dur == pytest.approx(25 / clip.frame_rate, abs=1e-3)
    assert abs(a_dur - v_dur) <= 1 / clip.frame_rate
    assert abs(a_dur - clip.audio_duration_s) <= 1 / clip.frame_rate

    with wave.open(str(wav)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (clip.sample_rate, clip.channels, 2)
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, clip.channels)
    np.testing.assert_allclose(pcm / 32767.0, clip.audio, atol=2 / 32767)

    pngs = sorted(frames_dir.glob("frame_*.png"))
    assert len(pngs) == 25
    with av.open(str(pngs[-1])) as container:
        np.testing.assert_array_equal(next(container.decode(video=0)).to_ndarray(format="rgb24"), clip.frames[-1])


def test_generate_to_wav_only_asks_for_audio_only(address, tmp_path, capsys):
    path = tmp_path / "foley.wav"
    code = main(["generate", "door slam", "-o", str(path), "--frames", "17", "--seed", "4", "--address", address])
    assert code == 0
    assert "0 frames" in capsys.readouterr().err  # the daemon skipped video decoding
    with wave.open(str(path)) as w:
        duration = w.getnframes() / w.getframerate()
    assert abs(duration - 17 / 24) <= 1 / 24


def test_generate_from_an_image_and_a_last_keyframe(address, tmp_path):
    from PIL import Image

    first, last = tmp_path / "first.png", tmp_path / "last.jpg"
    Image.fromarray(np.full((48, 80, 3), 200, np.uint8)).save(first)
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(last)
    common = ["--address", address, "generate", "a door", "--width", "64", "--height", "64", "--frames", "17",
              "--steps", "2", "--seed", "3", "--cache", "bypass", "-q"]  # fmt: skip
    plain, keyed = tmp_path / "plain.mp4", tmp_path / "keyed.mp4"
    assert main([*common[2:], "-o", str(plain), "--address", address]) == 0
    code = main([*common[2:], "-o", str(keyed), "--address", address, "--image", str(first), "--image-crf", "0",
                 "--keyframe", f"{last}@16:0.9"])  # fmt: skip
    assert code == 0

    def frames(path):
        with av.open(str(path)) as container:
            return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])

    assert frames(keyed).shape == frames(plain).shape == (17, 64, 64, 3)
    assert not np.array_equal(frames(keyed), frames(plain))
    done = run_cli(*common, "-o", str(tmp_path / "x.mp4"), "--keyframe", f"{last}@99")
    assert done.returncode == 2 and "conditions[0].frame=99: must be between 0 and 16" in done.stderr
    done = run_cli(*common, "-o", str(tmp_path / "x.mp4"), "--keyframe", "nowhere")
    assert done.returncode == 2 and "--keyframe 'nowhere': must be PATH@FRAME" in done.stderr


def test_bad_arguments_exit_2_with_the_daemons_message(address, tmp_path):
    done = run_cli("--address", address, "generate", "x", "-o", str(tmp_path / "a.mp4"), "--width", "70")
    assert done.returncode == 2
    assert "width=70" in done.stderr and "multiple of 32" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "a.mp4").exists() and not list(tmp_path.iterdir())


def test_bad_arguments_in_process(address, tmp_path, capsys):
    out = str(tmp_path / "a.mp4")
    assert main(["generate", "x", "-o", out, "--frames", "20", "--address", address]) == 2
    assert "num_frames=20" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "x", "-o", str(tmp_path / "a.avi"), "--address", address])
    assert exit_info.value.code == 2
    assert ".mp4, .wav" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "x", "--address", address])
    assert exit_info.value.code == 2 and "nothing to write" in capsys.readouterr().err


def test_info_json_and_human(address, capsys):
    assert main(["info", "--json", "--address", address]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["protocol_version"] == 1 and info["model_id"] == "ltx2-tiny"
    assert info["defaults"]["width"] == 64 and info["limits"]["min_size"] == 64
    assert main(["--address", address, "info"]) == 0
    text = capsys.readouterr().out
    assert "ltx2-tiny" in text and f"{info['native_sample_rate']} Hz" in text


def test_load_unload(address, capsys):
    assert main(["unload", "--address", address]) == 0
    assert "unloaded" in capsys.readouterr().out
    assert main(["load", "--json", "--address", address]) == 0
    assert json.loads(capsys.readouterr().out)["loaded"] is True


def test_prefetch_reads_json_lines(address, tmp_path, capsys):
    requests = tmp_path / "requests.jsonl"
    requests.write_text(
        '# warm the cache\n{"prompt": "cli rain", "seed": 1, "num_frames": 9}\n\n'
        '{"prompt": "cli wind", "seed": 2, "num_frames": 9, "priority": "batch"}\n'
    )
    assert main(["prefetch", str(requests), "--address", address]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    queued, cached = int(first.split()[1].rstrip(",")), int(first.split()[-1])
    assert queued + cached == 2
    requests.write_text('{"prompt": "broken"\n')
    assert main(["prefetch", str(requests), "--address", address]) == 2
    assert "requests.jsonl:1: not JSON" in capsys.readouterr().err


def test_unreachable_daemon_exits_1_without_traceback(tmp_path):
    done = run_cli("--address", "127.0.0.1:9", "info")
    assert done.returncode == 1
    assert "ltx2: error:" in done.stderr and "Traceback" not in done.stderr


def test_serve_runs_the_daemon(tmp_path):
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen(
        [*CLI, "serve", "--grpc-port", "0", "--no-bridge", "--ready-file", str(ready), "--cache-dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        port = json.loads(ready.read_text())["grpc_port"]
        with Client(f"127.0.0.1:{port}") as client:
            for _ in range(100):
                if client.health():
                    break
                time.sleep(0.05)
            assert client.info().protocol_version == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_serve_without_the_daemon_package_says_what_to_install():
    code = "import sys; sys.modules['ltx2d'] = None; from ltx2_client.cli import main; sys.exit(main(['serve']))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "install the `ltx2d` package" in done.stderr and "Traceback" not in done.stderr


def test_help_for_every_command():
    for command in ("generate", "info", "load", "unload", "prefetch"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
    env = {**os.environ, "COLUMNS": "100"}
    done = subprocess.run([*CLI, "--help"], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0 and "generate" in done.stdout and "serve" in done.stdout


def test_foley_refuses_a_video_an_mp4_cannot_carry_before_generating(tmp_path, capsys):
    import av
    import numpy as np

    from ltx2_client.cli import main

    source = tmp_path / "capture.webm"
    with av.open(str(source), mode="w") as container:
        stream = container.add_stream("libvpx", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")))
        container.mux(stream.encode(None))
    # Port 9 (discard): no daemon is asked anything, the refusal comes first.
    with pytest.raises(SystemExit) as exit_info:
        main(["--address", "127.0.0.1:9", "foley", str(source), "-o", str(tmp_path / "out.mp4"), "--prompt", "x"])
    assert exit_info.value.code == 2
    assert "its vp8 video cannot go into an mp4 as it is; write .mkv instead" in capsys.readouterr().err
