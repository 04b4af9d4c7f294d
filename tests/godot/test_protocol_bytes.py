"""The Godot addon and the daemon's bridge stay in step, byte for byte.

The frames below are what the GDScript client (`godot_addon/addons/ltx2/`) sends: the maps its
builders make (`LTX2Connection.build_hello/build_generate/build_cancel`, `LTX2Requests.foley`,
`LTX2Requests.cutscene`), encoded by hand with the rules of `LTX2Msgpack` (shortest form,
big-endian, float64 for floats, keys in insertion order). The GDScript suite
(`godot_addon/test/test_protocol_vectors.gd`) asserts that its encoder produces the same hex,
and these tests send the bytes to a real daemon and check its replies.
"""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest

ADDON = Path(__file__).resolve().parents[2] / "godot_addon"
GD_VECTORS = ADDON / "test" / "test_protocol_vectors.gd"


def _hex(*parts: str) -> bytes:
    return bytes.fromhex("".join(parts))


# LTX2Connection.build_hello(1, "") — loopback without a token.
HELLO = _hex(
    "84",  # fixmap, 4 entries
    "a4 74797065",  # "type"
    "a5 68656c6c6f",  # "hello"
    "a2 6964",  # "id"
    "01",  # 1 (positive fixint)
    "a6 636c69656e74",  # "client"
    "ae 6c7478322d676f646f742f302e31",  # "ltx2-godot/0.1" (fixstr, 14 bytes)
    "b0 70726f746f636f6c5f76657273696f6e",  # "protocol_version" (fixstr, 16 bytes)
    "01",  # 1
)
HELLO_MAP = {"type": "hello", "id": 1, "client": "ltx2-godot/0.1", "protocol_version": 1}

# LTX2Connection.build_hello(1, "secret") — the token goes between id and client.
HELLO_TOKEN = _hex(
    "85",  # fixmap, 5 entries
    "a4 74797065",  # "type"
    "a5 68656c6c6f",  # "hello"
    "a2 6964",  # "id"
    "01",  # 1
    "a5 746f6b656e",  # "token"
    "a6 736563726574",  # "secret"
    "a6 636c69656e74",  # "client"
    "ae 6c7478322d676f646f742f302e31",  # "ltx2-godot/0.1"
    "b0 70726f746f636f6c5f76657273696f6e",  # "protocol_version"
    "01",  # 1
)
HELLO_TOKEN_MAP = {
    "type": "hello",
    "id": 1,
    "token": "secret",
    "client": "ltx2-godot/0.1",
    "protocol_version": 1,
}

# build_generate(2, LTX2Requests.foley("a heavy oak door slams shut", 1.0, 1, "door_slam")):
# what LTX2FoleyPlayer.play_event("door_slam", {"material": "oak"}) sends.
GENERATE_FOLEY = _hex(
    "89",  # fixmap, 9 entries
    "a4 74797065",  # "type"
    "a8 67656e6572617465",  # "generate"
    "a2 6964",  # "id"
    "02",  # 2
    "a6 70726f6d7074",  # "prompt"
    "bb 61206865617679206f616b20646f6f7220736c616d732073687574",  # 27-byte fixstr
    "a4 6d6f6465",  # "mode"
    "02",  # GENERATION_MODE_AUDIO_ONLY
    "aa 6475726174696f6e5f73",  # "duration_s"
    "cb 3ff0000000000000",  # 1.0 as float64
    "a4 73656564",  # "seed"
    "01",  # 1
    "a8 7072696f72697479",  # "priority"
    "01",  # PRIORITY_REALTIME
    "ad 73616d706c655f666f726d6174",  # "sample_format"
    "01",  # SAMPLE_FORMAT_S16LE
    "a4 74616773",  # "tags"
    "81",  # fixmap, 1 entry
    "a5 6576656e74",  # "event"
    "a9 646f6f725f736c616d",  # "door_slam"
)
GENERATE_FOLEY_MAP = {
    "type": "generate",
    "id": 2,
    "prompt": "a heavy oak door slams shut",
    "mode": 2,
    "duration_s": 1.0,
    "seed": 1,
    "priority": 1,
    "sample_format": 1,
    "tags": {"event": "door_slam"},
}

# build_generate(3, LTX2Requests.cutscene("a knight opens the castle gate", 64, 64, 17, 7)) with
# chunk_frames = 8 added: two chunks (9 + 8 frames).
GENERATE_CUTSCENE = _hex(
    "8a",  # fixmap, 10 entries
    "a4 74797065",  # "type"
    "a8 67656e6572617465",  # "generate"
    "a2 6964",  # "id"
    "03",  # 3
    "a6 70726f6d7074",  # "prompt"
    "be 61206b6e69676874206f70656e732074686520636173746c652067617465",  # 30-byte fixstr
    "a5 7769647468",  # "width"
    "40",  # 64
    "a6 686569676874",  # "height"
    "40",  # 64
    "aa 6e756d5f6672616d6573",  # "num_frames"
    "11",  # 17
    "a4 73656564",  # "seed"
    "07",  # 7
    "a8 7072696f72697479",  # "priority"
    "02",  # PRIORITY_INTERACTIVE
    "ad 73616d706c655f666f726d6174",  # "sample_format"
    "02",  # SAMPLE_FORMAT_F32LE
    "ac 6368756e6b5f6672616d6573",  # "chunk_frames"
    "08",  # 8
)
GENERATE_CUTSCENE_MAP = {
    "type": "generate",
    "id": 3,
    "prompt": "a knight opens the castle gate",
    "width": 64,
    "height": 64,
    "num_frames": 17,
    "seed": 7,
    "priority": 2,
    "sample_format": 2,
    "chunk_frames": 8,
}

# build_generate(5, LTX2Requests.cutscene("a long tracking shot through a misty pine forest", 768,
# 512, 121, 4000000000)): str8, uint16 and uint32 forms (not sent: too big for a CPU test).
GENERATE_EDITOR = _hex(
    "89",  # fixmap, 9 entries
    "a4 74797065",  # "type"
    "a8 67656e6572617465",  # "generate"
    "a2 6964",  # "id"
    "05",  # 5
    "a6 70726f6d7074",  # "prompt"
    "d9 30",  # str8, 48 bytes
    "61206c6f6e6720747261636b696e672073686f74207468726f7567682061206d697374792070696e6520666f72657374",
    "a5 7769647468",  # "width"
    "cd 0300",  # uint16 768
    "a6 686569676874",  # "height"
    "cd 0200",  # uint16 512
    "aa 6e756d5f6672616d6573",  # "num_frames"
    "79",  # 121 (positive fixint)
    "a4 73656564",  # "seed"
    "ce ee6b2800",  # uint32 4000000000
    "a8 7072696f72697479",  # "priority"
    "02",  # PRIORITY_INTERACTIVE
    "ad 73616d706c655f666f726d6174",  # "sample_format"
    "02",  # SAMPLE_FORMAT_F32LE
)
GENERATE_EDITOR_MAP = {
    "type": "generate",
    "id": 5,
    "prompt": "a long tracking shot through a misty pine forest",
    "width": 768,
    "height": 512,
    "num_frames": 121,
    "seed": 4000000000,
    "priority": 2,
    "sample_format": 2,
}

# build_cancel(3, ""): cancel the job started by generate id 3 (before its job_id is known).
CANCEL = _hex(
    "82",  # fixmap, 2 entries
    "a4 74797065",  # "type"
    "a6 63616e63656c",  # "cancel"
    "a2 6964",  # "id"
    "03",  # 3
)
CANCEL_MAP = {"type": "cancel", "id": 3}

# build_cancel(5, ""): cancel the editor's generate id 5.
CANCEL_EDITOR = _hex(
    "82",  # fixmap, 2 entries
    "a4 74797065",  # "type"
    "a6 63616e63656c",  # "cancel"
    "a2 6964",  # "id"
    "05",  # 5
)
CANCEL_EDITOR_MAP = {"type": "cancel", "id": 5}

# LTX2Connection.info() as the fourth request.
INFO = _hex(
    "82",  # fixmap, 2 entries
    "a4 74797065",  # "type"
    "a4 696e666f",  # "info"
    "a2 6964",  # "id"
    "04",  # 4
)
INFO_MAP = {"type": "info", "id": 4}

VECTORS = {
    "hello": (HELLO, HELLO_MAP),
    "hello_token": (HELLO_TOKEN, HELLO_TOKEN_MAP),
    "generate_foley": (GENERATE_FOLEY, GENERATE_FOLEY_MAP),
    "generate_cutscene": (GENERATE_CUTSCENE, GENERATE_CUTSCENE_MAP),
    "generate_editor": (GENERATE_EDITOR, GENERATE_EDITOR_MAP),
    "cancel": (CANCEL, CANCEL_MAP),
    "cancel_editor": (CANCEL_EDITOR, CANCEL_EDITOR_MAP),
    "info": (INFO, INFO_MAP),
}


def frame(body: bytes) -> bytes:
    """LTX2Msgpack.encode_frame: 4-byte big-endian length, then the body."""
    return struct.pack(">I", len(body)) + body


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector_decodes_to_the_intended_map(name: str) -> None:
    data, expected = VECTORS[name]
    decoded = msgpack.unpackb(data, raw=False)
    assert decoded == expected
    assert list(decoded) == list(expected), "key order is part of the pinned bytes"
    for key, value in expected.items():
        assert type(decoded[key]) is type(value), f"{key}: {type(decoded[key])} vs {type(value)}"


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_hand_encoding_follows_the_same_rules_as_python_msgpack(name: str) -> None:
    data, expected = VECTORS[name]
    assert msgpack.packb(expected, use_bin_type=True) == data


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_gdscript_suite_pins_the_same_bytes(name: str) -> None:
    source = GD_VECTORS.read_text()
    assert f'"{VECTORS[name][0].hex()}"' in source, f"{name} is not pinned in {GD_VECTORS.name}"


def test_frame_prefix_is_big_endian_length() -> None:
    assert frame(HELLO)[:4] == bytes([0, 0, 0, len(HELLO)])
    assert frame(GENERATE_FOLEY)[:4] == b"\x00\x00\x00\x85"  # 133 bytes
    assert f'"{frame(CANCEL).hex()}"' in GD_VECTORS.read_text()


# --- against a real daemon ---


class BridgeClient:
    """A raw socket speaking the bridge: bytes out exactly as given, frames in."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buffer = b""

    def send(self, *bodies: bytes) -> None:
        self.sock.sendall(b"".join(frame(b) for b in bodies))

    def receive(self) -> dict[str, Any]:
        while True:
            if len(self.buffer) >= 4:
                (length,) = struct.unpack(">I", self.buffer[:4])
                if len(self.buffer) >= 4 + length:
                    body, self.buffer = self.buffer[4 : 4 + length], self.buffer[4 + length :]
                    message = msgpack.unpackb(body, raw=False)
                    assert isinstance(message, dict)
                    return message
            # Small reads on purpose: frames arrive split, as in the GDScript reader.
            data = self.sock.recv(4096)
            if not data:
                raise ConnectionError("the daemon closed the connection")
            self.buffer += data

    def until_end(self, request_id: int, deadline_s: float = 120.0) -> list[dict[str, Any]]:
        """Every map of one request id up to its completed or error (others are dropped)."""
        out: list[dict[str, Any]] = []
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            message = self.receive()
            if message.get("id") != request_id:
                continue
            out.append(message)
            if message["type"] in ("completed", "error"):
                return out
        raise TimeoutError(f"no completed or error for id {request_id}")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def daemon():
    testing = pytest.importorskip("ltx2d.testing", reason="ltx2d.testing (DaemonProcess) is not available")
    with testing.DaemonProcess(["--default-steps", "2"]) as process:
        yield process


@pytest.fixture
def client(daemon):
    c = BridgeClient(daemon.bridge_port)
    c.send(HELLO)
    reply = c.receive()
    assert reply["type"] == "hello", reply
    assert reply["id"] == 1
    assert reply["protocol_version"] == 1
    yield c
    c.close()


def check_stream(events: list[dict[str, Any]], request_id: int, *, audio_only: bool) -> dict[str, Any]:
    """Accepted first, indices contiguous, audio before the frames it covers, totals in completed."""
    assert events[0]["type"] == "accepted", events[0]
    assert events[-1]["type"] == "completed", events[-1]
    accepted = events[0]
    job_id = accepted["job_id"]
    assert isinstance(job_id, str) and job_id
    fmt = accepted["format"]
    assert all(e["id"] == request_id and e["job_id"] == job_id for e in events)
    samples = frames = 0
    audio_since_video = False
    for e in events[1:-1]:
        if e["type"] == "audio_chunk":
            assert e["first_sample"] == samples
            assert e["sample_rate"] == fmt["sample_rate"]
            assert isinstance(e["data"], bytes)
            bytes_per_sample = 2 if e["sample_format"] == 1 else 4
            assert len(e["data"]) == e["num_samples"] * e["channels"] * bytes_per_sample
            samples += e["num_samples"]
            audio_since_video = True
        elif e["type"] == "video_chunk":
            assert not audio_only, "audio_only job sent a video chunk"
            assert e["first_frame"] == frames
            assert audio_since_video, f"frames {frames}.. arrived before the audio covering them"
            # The audio of [t0, t1) came first: up to the clip's audio length, which is a little
            # shorter than the video (whole mel frames), and within one frame of rounding.
            frame_end_s = (e["first_frame"] + e["num_frames"]) / fmt["frame_rate"]
            audio_total_s = fmt["num_samples"] / fmt["sample_rate"]
            covered_s = samples / fmt["sample_rate"]
            assert covered_s >= min(frame_end_s, audio_total_s) - 1.0 / fmt["frame_rate"]
            assert len(e["data"]) == e["num_frames"] * e["height"] * e["width"] * 3
            frames += e["num_frames"]
            audio_since_video = False
        else:
            assert e["type"] == "progress", e["type"]
    completed = events[-1]
    assert completed["num_samples"] == samples == fmt["num_samples"]
    if audio_only:
        # The proto says "frames sent"; the engine reports the clip's frames for audio-only jobs.
        # Clients (this addon, the Python SDK) accept both.
        assert completed["num_frames"] in (0, fmt["num_frames"])
    else:
        assert completed["num_frames"] == frames == fmt["num_frames"]
    return fmt


def test_foley_generate_bytes_stream_audio_only(client: BridgeClient) -> None:
    client.send(GENERATE_FOLEY)
    events = client.until_end(2)
    fmt = check_stream(events, 2, audio_only=True)
    assert fmt["audio_only"] is True
    assert fmt["seed"] == 1
    assert fmt["sample_format"] == 1


def test_cutscene_generate_bytes_stream_audio_before_video(client: BridgeClient) -> None:
    client.send(GENERATE_CUTSCENE)
    events = client.until_end(3)
    fmt = check_stream(events, 3, audio_only=False)
    assert (fmt["width"], fmt["height"], fmt["num_frames"], fmt["seed"]) == (64, 64, 17, 7)
    assert len([e for e in events if e["type"] == "video_chunk"]) == 2  # 9 + 8 frames


def test_cancel_bytes_end_the_job(client: BridgeClient) -> None:
    # A request no other test sends, so that the daemon's result cache cannot answer it, and the
    # cancel in the same write, so that it lands before the (large) job runs.
    client.send(GENERATE_EDITOR, CANCEL_EDITOR)
    events = client.until_end(5)
    # The cancel reply shares the generate's id; until_end keeps it.
    replies = [e for e in events if e["type"] == "cancel"]
    found = replies[0]["found"] if replies else None
    if found is None:  # The cancel reply may come after the stream ended.
        reply = client.receive()
        assert reply["type"] == "cancel" and reply["id"] == 5, reply
        found = reply["found"]
    if found:
        assert events[-1]["type"] == "error", events[-1]
        assert events[-1]["code"] == "CANCELLED"
        assert events[-1]["message"]
    else:
        assert events[-1]["type"] == "completed"


def test_info_bytes_get_info(client: BridgeClient) -> None:
    client.send(INFO)
    reply = client.receive()
    assert reply["type"] == "info" and reply["id"] == 4, reply
    assert reply["protocol_version"] == 1
    assert reply["limits"]["min_size"] <= 64


def test_error_reply_names_field(client: BridgeClient) -> None:
    bad = dict(GENERATE_CUTSCENE_MAP, id=6, width=65)
    client.send(msgpack.packb(bad))
    events = client.until_end(6)
    assert events[-1]["type"] == "error"
    assert events[-1]["code"] == "INVALID_ARGUMENT"
    assert events[-1]["field"] == "width"
    assert "65" in events[-1]["message"]


def test_dock_request_with_guidance_and_preview(client: BridgeClient) -> None:
    # What the editor dock sends (LTX2Dock.build_request): float guidance, steps, a latent preview.
    request = {
        "type": "generate",
        "id": 8,
        "prompt": "a lighthouse in a storm",
        "width": 64,
        "height": 64,
        "num_frames": 9,
        "seed": 3,
        "priority": 2,
        "sample_format": 2,
        "negative_prompt": "blurry",
        "steps": 2,
        "video_guidance_scale": 3.0,
        "audio_guidance_scale": 7.0,
        "preview": True,
    }
    client.send(msgpack.packb(request))
    events = client.until_end(8)
    check_stream(events, 8, audio_only=False)
    previews = [e for e in events if e["type"] == "progress" and e.get("preview_rgb")]
    assert previews, "no latent preview in any progress event"
    p = previews[0]
    assert len(p["preview_rgb"]) == p["preview_width"] * p["preview_height"] * 3
