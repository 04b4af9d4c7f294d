"""Property-based bad input on both transports of a real daemon (tiny model, small limits).

Every request is answered with the status the oracle (`GenerationParams.validate` plus the wire
rules, see oracle.py) predicts: INVALID_ARGUMENT naming one of the offending fields, or, when the
generated request happens to be valid, `Accepted` with the asked-for format (then the job is
cancelled, so valid cases stay fast). After each batch the daemon still passes a health check and
runs a tiny generation.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import grpc
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ltx2 import GenerationParams
from ltx2_client._proto.ltx2d.v1 import ltx2d_pb2 as pb
from ltx2_client._proto.ltx2d.v1 import ltx2d_pb2_grpc as pb_grpc
from ltx2d.config import DaemonConfig
from ltx2d.testing import DaemonProcess
from tests.reliability import strategies as S
from tests.reliability.harness import RawBridge, assert_serving, count, wait_idle
from tests.reliability.oracle import as_sent, bridge_first_problem, bridge_problems, grpc_problems

SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
BASE = {"prompt": "a bell rings", "seed": 1, "cache_policy": pb.CACHE_POLICY_BYPASS}
ids = itertools.count()


def known_duration_bug(fields: dict[str, Any], defaults: GenerationParams) -> bool:
    """duration_s with a non-finite frame rate: test_known_bugs.py::test_duration_with_a_non_finite_frame_rate."""
    if "duration_s" not in fields or "num_frames" in fields:
        return False
    duration = as_sent(fields["duration_s"])
    rate = as_sent(float(fields.get("frame_rate", defaults.frame_rate)))
    return math.isfinite(duration) and duration > 0 and not math.isfinite(rate)


def check_accepted(accepted: pb.Accepted | dict[str, Any], params: GenerationParams) -> None:
    """The format a valid request was accepted with is the one the oracle computed."""
    fmt = accepted.format if isinstance(accepted, pb.Accepted) else pb.ClipFormat(**accepted["format"])
    got = (fmt.width, fmt.height, fmt.num_frames, fmt.steps, fmt.audio_only, fmt.sample_format)
    want = (params.width, params.height, params.num_frames, params.steps, params.audio_only, params.sample_format)
    assert got == want, (got, params)
    if params.seed is not None:  # else the daemon picks one
        assert fmt.seed == params.seed
    if params.audio_sample_rate:
        assert fmt.sample_rate == params.audio_sample_rate


def grpc_answer(stub: pb_grpc.Ltx2dStub, fields: dict[str, Any], config: DaemonConfig) -> None:
    """Send `fields` as a GenerateRequest and check the answer against the oracle."""
    bad, params = grpc_problems(fields, config.defaults, config.limits)
    call = stub.Generate(pb.GenerateRequest(**fields), timeout=30)
    try:
        first = next(call)
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, (fields, exc.code(), exc.details())
        field = dict(exc.trailing_metadata() or ())["ltx2d-field"]
        assert field in bad, (fields, bad, exc.details())
        assert exc.details().startswith(f"{field}=") and ": " in exc.details(), exc.details()
        return
    call.cancel()
    assert params is not None, f"{fields} was accepted; expected INVALID_ARGUMENT naming one of {bad}"
    assert first.HasField("accepted"), first
    check_accepted(first.accepted, params)
    wait_idle(stub)


def bridge_answer(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub, fields: dict[str, Any], config: DaemonConfig):
    """Send `fields` as a bridge generate and check the answer (and that the connection stays open)."""
    bad, params = bridge_problems(fields, config.defaults, config.limits)
    request_id = next(ids)
    with RawBridge(daemon.bridge_address) as bridge:
        reply = bridge.request({"type": "generate", "id": request_id, **fields})
        if reply["type"] == "error":
            assert reply["code"] == "INVALID_ARGUMENT", (fields, reply)
            assert reply["field"] in bad, (fields, bad, reply)
            assert reply["message"].startswith(f"{reply['field']}=") and ": " in reply["message"], reply
            assert bridge.request({"type": "ping", "id": "open"})["type"] == "pong"
            return
        assert params is not None, f"{fields} was accepted; expected INVALID_ARGUMENT naming one of {bad}"
        assert reply["type"] == "accepted", reply
        check_accepted(reply, params)
    # Closing the connection cancelled the job.
    wait_idle(stub)


@st.composite
def one_field(draw: st.DrawFn, values: Any) -> dict[str, Any]:
    """A valid base request with one field set to a drawn value."""
    name = draw(st.sampled_from(S.GRPC_FIELDS))
    return {**BASE, name: draw(values(name))}


@st.composite
def many_fields(draw: st.DrawFn, values: Any) -> dict[str, Any]:
    """A prompt and a random subset of the other fields, each with a drawn value."""
    names = draw(st.lists(st.sampled_from(S.GRPC_FIELDS), max_size=6, unique=True))
    fields = {"prompt": draw(values("prompt"))}
    fields.update({name: draw(values(name)) for name in names})
    return fields


def test_grpc_one_field_at_a_time(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub, config: DaemonConfig) -> None:
    @settings(SETTINGS, max_examples=150)
    @given(one_field(S.grpc_values))
    def check(fields: dict[str, Any]) -> None:
        assume(not known_duration_bug(fields, config.defaults))
        count("grpc generate fields")
        grpc_answer(stub, fields, config)

    check()
    assert_serving(daemon.grpc_address, stub)


def test_grpc_many_fields(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub, config: DaemonConfig) -> None:
    @settings(SETTINGS, max_examples=100)
    @given(many_fields(S.grpc_values))
    def check(fields: dict[str, Any]) -> None:
        assume(not known_duration_bug(fields, config.defaults))
        count("grpc generate fields")
        grpc_answer(stub, fields, config)

    check()
    assert_serving(daemon.grpc_address, stub)


def test_bridge_one_key_at_a_time(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub, config: DaemonConfig) -> None:
    @settings(SETTINGS, max_examples=150)
    @given(one_field(S.bridge_values))
    def check(fields: dict[str, Any]) -> None:
        first, typed = bridge_first_problem(fields)
        assume(first is not None or not known_duration_bug(typed, config.defaults))
        count("bridge generate keys")
        bridge_answer(daemon, stub, fields, config)

    check()
    assert_serving(daemon.grpc_address, stub, daemon.bridge_address)


def test_bridge_many_keys_and_unknown_keys(
    daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub, config: DaemonConfig
) -> None:
    @settings(SETTINGS, max_examples=120)
    @given(many_fields(S.bridge_values), st.dictionaries(S.unknown_keys, S.wrong_types, max_size=1))
    def check(fields: dict[str, Any], unknown: dict[str, Any]) -> None:
        fields = {**fields, **unknown}
        first, typed = bridge_first_problem(fields)
        assume(first is not None or not known_duration_bug(typed, config.defaults))
        count("bridge generate keys")
        bridge_answer(daemon, stub, fields, config)

    check()
    assert_serving(daemon.grpc_address, stub, daemon.bridge_address)
