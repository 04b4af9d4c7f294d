"""Hypothesis strategies for GenerateRequest fields: boundary values around the daemon's rules and
limits (harness.LIMIT_ARGS), random values of the field's wire type, and (for the bridge) values
of the wrong type."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

from tests.reliability.oracle import DESCRIPTOR, ENUMS

U32 = 2**32 - 1
U64 = 2**64 - 1

BOUNDARY_INTS: dict[str, list[int]] = {
    "width": [0, 1, 31, 32, 63, 64, 65, 96, 100, 224, 256, 257, 288, 1920, 2**31, U32 - 31, U32],
    "height": [0, 1, 32, 64, 65, 128, 255, 256, 288, 1088, U32],
    "num_frames": [0, 1, 2, 8, 9, 10, 16, 17, 25, 32, 33, 34, 41, 121, 257, 8 * 2**28 + 1, U32],
    "steps": [0, 1, 2, 3, 7, 8, 9, 30, 100, U32],
    "chunk_frames": [0, 1, 7, 8, 9, 16, 24, 255, 256, 257, 264, U32],
    "audio_sample_rate": [0, 1, 7999, 8000, 22050, 24000, 44100, 48000, 192000, 192001, U32],
    "jpeg_quality": [0, 1, 50, 100, 101, U32],
    "seed": [0, 1, 2**63 - 1, 2**63, U64],
}
BOUNDARY_FLOATS = [
    math.nan,
    math.inf,
    -math.inf,
    0.0,
    -0.0,
    -1.0,
    1e-45,
    0.5,
    0.7,
    0.999,
    1.0,
    1.0000001,
    3.0,
    24.0,
    29.97,
    30.0,
    30.000002,
    59.99,
    60.0,
    60.01,
    1e6,
    3.4028235e38,
    -3.4028235e38,
]
FLOAT_FIELDS = [f.name for f in DESCRIPTOR.fields if f.type == f.TYPE_FLOAT]
SPECIAL_PROMPTS = ["", " ", "\t\n", "\u3000", "a", "\x00", "a" * 4000, "a" * 4001, "é" * 4000, "🔥" * 4001]

# Text without surrogates (they cannot be UTF-8 encoded, so no client can send them).
text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)


def uint_values(name: str) -> st.SearchStrategy[int]:
    top = U64 if name == "seed" else U32
    return st.one_of(st.sampled_from(BOUNDARY_INTS[name]), st.integers(0, top))


float_values = st.one_of(st.sampled_from(BOUNDARY_FLOATS), st.floats(width=32))
enum_values = st.one_of(st.sampled_from([0, 1, 2, 3, 4, -1, 42, 2**31 - 1, -(2**31)]), st.integers(-(2**31), 2**31 - 1))
prompts = st.one_of(st.sampled_from(SPECIAL_PROMPTS), text)
tags = st.dictionaries(text, text, max_size=3)
presets = st.one_of(st.sampled_from(["", "dev", "distilled", "Dev", "turbo"]), text)
# The test daemon serves one model, "default": any other name is refused.
models = st.one_of(st.sampled_from(["", "default", "Default", "v23", "a" * 65]), text)
# The test daemon loads no adapter, so every named one is refused; the names probe the rules first.
loras = st.lists(
    st.fixed_dictionaries(
        {"name": st.one_of(st.sampled_from(["", "style", "style", "a" * 65]), text)},
        optional={"strength": float_values},
    ),
    max_size=3,
)


# Media the test never makes decodable (the oracle can then name the refusal): empty, junk, bad sizes.
video_inputs = st.sampled_from(
    [
        {},
        {"file": b""},
        {"file": b"\0\0\0\x18ftypmp42"},
        {"frames": {"width": 0, "height": 8, "frame_rate": 24.0, "rgb": b""}},
        {"frames": {"width": 8, "height": 8, "frame_rate": 24.0, "rgb": b"\0" * 5}},
        {"frames": {"width": 8, "height": 8, "frame_rate": 0.0, "rgb": b"\0" * 192}},
    ]
)
audio_inputs = st.sampled_from(
    [
        {},
        {"file": b"RIFF"},
        {"pcm": {"sample_rate": 16000, "channels": 3, "data": b"\0" * 12}},
        {"pcm": {"sample_rate": 16000, "channels": 1, "sample_format": 2, "data": b"\0" * 5}},
        {"pcm": {"sample_rate": 100, "channels": 1, "data": b"\0" * 4}},
    ]
)

# Keyframes the test never makes decodable, as Condition maps (strength, crf, frame come after the
# decoding that refuses them).
bad_conditions = st.builds(
    lambda source, extra: {**source, **extra},
    st.sampled_from(
        [
            {},
            {"file": b""},
            {"file": b"\x89PNG\r\n\x1a\n"},
            {"file": b"GIF89a"},
            {"pixels": {"width": 0, "height": 8, "rgb": b""}},
            {"pixels": {"width": 2, "height": 2, "rgb": b"\0" * 5}},
            {"frames": {"width": 8, "height": 8, "frame_rate": 24.0, "rgb": b"\0" * 5}},
        ]
    ),
    st.fixed_dictionaries(
        {}, optional={"frame": st.integers(0, 300), "strength": float_values, "crf": st.integers(0, 99)}
    ),
)

# Earlier clips (continue_from, retake) the test never makes usable: missing or bad frames, unknown jobs.
bad_earlier_clips = st.sampled_from(
    [
        {},
        {"job_id": "no-such-job"},
        {"video": {}},
        {"video": {"file": b""}},
        {"video": {"frames": {"width": 8, "height": 8, "frame_rate": 24.0, "rgb": b"\0" * 5}}},
        {"audio": {"pcm": {"sample_rate": 16000, "channels": 1, "data": b"\0" * 4}}},
    ]
)
bad_continuations = st.fixed_dictionaries(
    {"clip": bad_earlier_clips}, optional={"overlap_frames": st.sampled_from([0, 8, 9, 17, 2**32 - 1])}
)
bad_retakes = st.fixed_dictionaries(
    {"clip": bad_earlier_clips},
    optional={"start_s": float_values, "end_s": float_values, "video": st.booleans(), "audio": st.booleans()},
)


def grpc_values(name: str) -> st.SearchStrategy[Any]:
    """Values a gRPC client can put in field `name` (any value of its proto type)."""
    if name in BOUNDARY_INTS:
        return uint_values(name)
    if name in FLOAT_FIELDS:
        return float_values
    if name in ENUMS:
        return enum_values
    if name in ("prompt", "negative_prompt"):
        return prompts
    if name == "tags":
        return tags
    if name in ("audio_only", "preview"):
        return st.booleans()
    if name == "preset":
        return presets
    if name == "loras":
        return loras
    if name == "model":
        return models
    if name == "video_input":
        return video_inputs
    if name == "audio_input":
        return audio_inputs
    if name == "image":
        return bad_conditions
    if name == "conditions":
        return st.lists(bad_conditions, max_size=2)
    if name == "continue_from":
        return bad_continuations
    if name == "retake":
        return bad_retakes
    raise AssertionError(f"no strategy for {name}")


GRPC_FIELDS = [f.name for f in DESCRIPTOR.fields]
assert sorted(GRPC_FIELDS) == sorted(
    [
        *BOUNDARY_INTS,
        *FLOAT_FIELDS,
        *ENUMS,
        "prompt",
        "negative_prompt",
        "tags",
        "audio_only",
        "preview",
        "model",
        "preset",
        "loras",
        "video_input",
        "audio_input",
        "image",
        "conditions",
        "continue_from",
        "retake",
    ]
), "a GenerateRequest field has no strategy"

# Values of the wrong type for some field or other, as msgpack can carry them.
wrong_types = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), U64),
    st.floats(),
    text,
    st.binary(max_size=8),
    st.lists(st.integers(0, 9), max_size=3),
    st.dictionaries(text, st.integers(0, 9), max_size=2),
)


def bridge_values(name: str) -> st.SearchStrategy[Any]:
    """Values a bridge client can put under key `name`: proto-typed ones, names, or anything."""
    if name in ("video_input", "audio_input", "image", "continue_from", "retake"):
        # Maps of the wrong keys are the nested message's concern (tested in test_msgpack_codec).
        return st.one_of(grpc_values(name), wrong_types.filter(lambda v: not isinstance(v, dict)))
    if name == "conditions":
        return st.one_of(grpc_values(name), wrong_types.filter(lambda v: not isinstance(v, list | dict)))
    options = [grpc_values(name), wrong_types]
    if name in ENUMS:
        names = list(ENUMS[name].values_by_name)
        options.append(st.sampled_from([*names, names[0].lower(), "PRIORITY_NOW", ""]))
    if name == "tags":
        options.append(st.dictionaries(text, st.one_of(st.integers(), st.none(), text), max_size=2))
    if name == "loras":
        keys = st.sampled_from(["name", "strength", "x"])
        options.append(st.lists(st.one_of(text, st.dictionaries(keys, wrong_types)), max_size=2))
    return st.one_of(options)


# Non-empty: an empty key is test_known_bugs.py::test_an_empty_unknown_key_is_named.
unknown_keys = text.filter(lambda k: k != "" and k not in DESCRIPTOR.fields_by_name and k not in ("type", "id"))
