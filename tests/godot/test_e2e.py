"""The addon in the real engine against a real `ltx2d` on the tiny model (GODOT_BIN needed).

    GODOT_BIN=../shared/bin/godot pytest tests/godot/test_e2e.py

One daemon (port 0) serves a headless game run of `res://test/e2e/e2e.tscn` (the port reaches
Godot as `-- --ltx2-port=N`): the LTX2 autoload connects, a 256x256x49 clip streams into an
LTX2CutscenePlayer and is baked into the project, a job is cancelled mid-stream, foley plays
from the daemon then from the cache, and the daemon is killed mid-stream and started again on the
same port. A second run with no daemon plays the foley cache and the baked clip and sees what a
game sees when the daemon is down. Each run prints one `E2E {json}` line per case; the checks are
here. Both runs must leave a clean engine log (tests/godot/engine.py).
"""

from __future__ import annotations

import itertools
import json
import signal
import threading
import time
from typing import Any

import pytest

from ltx2d.testing import DaemonProcess

from .engine import GodotProject, Run

# Steps kept low for the clips that play through; the cancel and kill cases ask for 40.
DAEMON_ARGS = ["--preload", "--default-steps", "8"]
SCENE = "res://test/e2e/e2e.tscn"
DAEMON_AWAY_S = 3.0
COMPLETED, FAILED, CANCELLED = 2, 3, 4  # LTX2Job.State


def _facts(run: Run) -> dict[str, dict[str, Any]]:
    facts = {}
    for line in run.lines("E2E {"):
        fact = json.loads("{" + line)
        facts[fact["case"]] = fact
    return facts


def _run_online(project: GodotProject) -> tuple[Run, dict[str, float]]:
    """The online run; kills the daemon when the game asks and starts another on its port."""
    daemon = DaemonProcess(DAEMON_ARGS).start()
    port = daemon.bridge_port
    assert port is not None
    timings: dict[str, float] = {}
    restarted: list[DaemonProcess] = []
    started = time.monotonic()
    proc = project.popen("--headless", SCENE, user_args=("--case=online", f"--ltx2-port={port}"))
    watchdog = threading.Timer(300, proc.kill)
    watchdog.start()

    def restart() -> None:
        daemon.wait(30)
        daemon.stop()
        # Away for a few seconds, so that the game's reconnect attempts show their backoff.
        time.sleep(DAEMON_AWAY_S)
        t0 = time.monotonic()
        restarted.append(DaemonProcess([*DAEMON_ARGS, "--bridge-port", str(port)]).start())
        timings["daemon_restart_s"] = time.monotonic() - t0

    lines = []
    restarter = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.strip() == "E2E kill" and restarter is None:
                daemon.send_signal(signal.SIGKILL)
                restarter = threading.Thread(target=restart)
                restarter.start()
        proc.wait(30)
        if restarter is not None:
            restarter.join(120)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
        daemon.stop()
        for later in restarted:
            later.stop()
    timings["engine_s"] = time.monotonic() - started
    return Run(["online"], proc.returncode, "".join(lines)), timings


@pytest.fixture(scope="module")
def e2e(godot_project: GodotProject) -> dict[str, Any]:
    online, timings = _run_online(godot_project)
    t0 = time.monotonic()
    # The same project and user folder, no daemon: the port is one nothing listens on now.
    offline = godot_project.run("--headless", SCENE, user_args=("--case=offline", "--ltx2-port=9"), timeout=120)
    timings["offline_engine_s"] = time.monotonic() - t0
    print(f"e2e timings: {timings}")
    return {"online": online, "offline": offline, "facts": _facts(online) | _facts(offline)}


def _case(e2e: dict[str, Any], name: str) -> dict[str, Any]:
    facts = e2e["facts"]
    run = e2e["online"] if name in ("stream", "cancel", "foley", "shots", "killed") else e2e["offline"]
    assert name in facts, f"no E2E line for {name}:\n{run.output}"
    return facts[name]


def _check_playback(fact: dict[str, Any], num_frames: int) -> None:
    # Frames shown in order, none twice, first to last; each shows the pixels of that frame.
    shown = fact["shown"]
    assert shown[0] == 0 and shown[-1] == num_frames - 1
    assert all(a < b for a, b in itertools.pairwise(shown)), shown
    # Headless, the dummy renderer keeps a texture's first image whatever update() gives it, so
    # the e2e scene reads pixels back only when rendered (test_av_sync.py checks them there).
    assert fact["hashes"] in ({}, fact["clip_hashes"])
    assert fact["ends"] == [False] and fact["failures"] == []
    # The frame on screen is the one of the audio clock when it was chosen (once a game frame;
    # a later one only where the clock estimate stepped back a little at a mix).
    clock = fact["clock"]
    for index, at_s, _wall in clock:
        assert index >= min(int(at_s * 24.0), num_frames - 1), (index, at_s)
    # A frame is left out only when the clock passed it between two game frames (the mixer
    # takes 93 ms blocks with the Dummy driver, and the game loop is late on a busy machine; a
    # player shows the frame of the clock, it never slows the sound down).
    for (i0, c0, _), (i1, c1, _) in itertools.pairwise(clock):
        if i1 > i0 + 1:
            assert c1 - c0 > (i1 - i0 - 1) / 24.0, ("skipped while the clock did not pass it", i0, i1, c0, c1)
    skipped = num_frames - len(shown)
    print(f"frames shown {len(shown)} of {num_frames} ({skipped} passed by the clock)")


def test_engine_logs_are_clean(e2e: dict[str, Any]) -> None:
    e2e["online"].assert_clean()
    e2e["offline"].assert_clean()


def test_autoload_streams_a_clip_into_the_cutscene_player(e2e: dict[str, Any]) -> None:
    fact = _case(e2e, "stream")
    assert fact["hellos"] == 1 and fact["state"] == COMPLETED
    fmt = fact["format"]
    assert (fmt["width"], fmt["height"], fmt["num_frames"]) == (256, 256, 49)
    assert fact["frames_received"] == 49
    # Every audio sample the daemon sent was pushed into the generator.
    assert fact["samples_received"] == fmt["num_samples"] == fact["samples_pushed"]
    _check_playback(fact, 49)
    # The headless Dummy audio driver mixes on its own thread in real time: the clock advances
    # with the wall clock (a stalled stream would stop it).
    clock = fact["clock"]
    (_, p0, w0), (_, p1, w1) = clock[0], clock[-1]
    assert 0.8 < (p1 - p0) / (w1 - w0) < 1.2, clock


def test_the_baker_writes_res_wav_json_into_the_project(e2e: dict[str, Any], godot_project: GodotProject) -> None:
    fact = _case(e2e, "stream")
    assert fact["bake"] == 0  # OK
    # The three files, no temporary left behind (Godot may add its own .wav.import beside).
    baked = sorted(f for f in fact["baked_files"] if f.startswith("e2e_gate") and not f.endswith(".import"))
    assert baked == ["e2e_gate.json", "e2e_gate.res", "e2e_gate.wav"]
    sidecar = json.loads((godot_project.path / "cutscenes/e2e_gate.json").read_text())
    assert sidecar["prompt"].startswith("a castle gate")
    assert sidecar["seed"] == 5 and sidecar["request"]["seed"] == 5
    assert (sidecar["request"]["width"], sidecar["request"]["num_frames"]) == (256, 49)
    assert sidecar["format"]["num_frames"] == 49


def test_a_dialogue_line_drives_a_cutscene_through_audio_to_video(e2e: dict[str, Any]) -> None:
    fact = _case(e2e, "dialogue")
    assert fact["state"] == COMPLETED and fact["failures"] == [], fact
    fmt = fact["format"]
    # 0.5 s at 24 fps needs 12 frames: 17 (8k+1) cover it; the sound spans the 17 frames.
    assert (fmt["width"], fmt["height"], fmt["num_frames"], fmt["audio_only"]) == (64, 64, 17, False)
    assert fact["frames_received"] == 17 and fact["clip_samples"] == fmt["num_samples"] == round(17 / 24 * 24000)
    # The stream's sound is the line itself (float PCM back to 16-bit: at most one step apart).
    assert fact["line_max_diff"] <= 1
    _check_playback(fact, 17)


def test_a_multi_shot_cutscene_plays_as_one_stream_across_the_joins(e2e: dict[str, Any]) -> None:
    fact = _case(e2e, "shots")
    # Shot 0 sends its 25 frames; shots 1 and 2 continue with 9 frames of overlap: 16 new each.
    firsts = [(index, fmt["first_frame"], fmt["num_frames"]) for index, fmt in fact["accepted"]]
    assert firsts == [(0, 0, 25), (1, 25, 16), (2, 41, 16)], firsts
    fmts = [fmt for _, fmt in fact["accepted"]]
    for before, after in itertools.pairwise(fmts):
        assert after["first_sample"] == before["first_sample"] + before["num_samples"]
    assert fact["samples_pushed"] == fmts[-1]["first_sample"] + fmts[-1]["num_samples"]
    assert fact["hashes"] == {}  # headless: no pixels read back (the frames shown are checked)
    _check_playback({**fact, "clip_hashes": {}}, 57)
    # The next shot was asked for while the one before played: playback never waited at a join.
    assert fact["stalls"] == [], fact["stalls"]


def test_cancel_mid_stream_ends_cancelled_and_the_next_request_runs(e2e: dict[str, Any]) -> None:
    fact = _case(e2e, "cancel")
    assert fact["state"] == CANCELLED and fact["code"] == "CANCELLED"
    assert fact["cancelled_at_step"] >= 0 and fact["frames_received"] < 49
    assert fact["next_state"] == COMPLETED and fact["next_frames"] == 9


def test_killed_daemon_fails_the_job_and_the_autoload_reconnects(e2e: dict[str, Any]) -> None:
    fact = _case(e2e, "killed")
    assert fact["state"] == FAILED and fact["code"] == "UNAVAILABLE"
    assert "connection to the daemon lost" in fact["message"], fact["message"]
    assert fact["reconnected"], fact
    # Backoff: attempts while the daemon was away, each gap about twice the one before
    # (0.5 s doubling, +-20 % jitter), never hammering the port.
    attempts = fact["failed_attempts_s"]
    assert len(attempts) >= 2, fact
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    for before, after in itertools.pairwise(gaps):
        assert after > before * 1.2 or after >= 8.0, gaps
    assert fact["next_state"] == COMPLETED and fact["next_frames"] == 9


def test_foley_plays_from_the_daemon_then_from_the_memory_cache(e2e: dict[str, Any]) -> None:
    fact = _case(e2e, "foley")
    assert fact["failed"] == []
    assert fact["played_inside_the_call"] == 0
    # Played twice while generating (one request, both voices), then from memory, no request.
    assert fact["requests_first"] == 1
    assert fact["played"][:2] == [["impact", False], ["impact", False]]
    assert fact["third"] == ["impact", True] and fact["requests_cached"] == 0
    assert fact["cached"] == ["impact", "impact", "door_slam"]
    assert len(fact["cache_files"]) == 2 and all(f.endswith(".wav") for f in fact["cache_files"])
    assert fact["pending"] == 0


def test_prefetched_foley_plays_in_a_fresh_run_without_the_daemon(e2e: dict[str, Any]) -> None:
    fact = _case(e2e, "foley_offline")
    assert fact["played"] == [["impact", True], ["door_slam", True]]
    assert fact["requests"] == 0 and fact["status"] == 0  # never tried to connect


def test_baked_clip_plays_without_the_daemon(e2e: dict[str, Any]) -> None:
    fact = _case(e2e, "baked")
    assert fact["requests"] == 0
    assert fact["num_frames"] == 49
    _check_playback(fact, 49)
    assert fact["samples_pushed"] == fact["audio_frames"] > 0
    assert fact["sidecar"]["seed"] == 5


def test_daemon_down_the_docs_examples_end(e2e: dict[str, Any]) -> None:
    fact = _case(e2e, "down")
    # `await $Cutscene.finished` resumes, `failed` said why first; foley reports failed.
    assert fact["cutscene_failures"] == ["UNAVAILABLE"] and fact["skipped"] is False
    assert fact["job_code"] == "UNAVAILABLE" and ":9" in fact["job_message"]
    assert fact["foley_failure"] == ["door_slam", "UNAVAILABLE"]
