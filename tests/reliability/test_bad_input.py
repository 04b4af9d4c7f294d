"""Property-based bad input on both transports of a real daemon (tiny model, small limits).

Every request is answered with the status the oracle (`GenerationParams.validate` plus the wire
rules, see oracle.py) predicts: INVALID_ARGUMENT naming one of the offending fields, or, when the
generated request happens to be valid, `Accepted` with the asked-for format (then the job is
cancelled, so valid cases stay fast). After each batch the daemon still passes a health check and
runs a tiny generation.
"""

from __future__ import annotations

import itertools
from typing import Any

import grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltx2 import GenerationParams
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2_grpc as pb_grpc
from ltx2d.config import DaemonConfig
from ltx2d.testing import DaemonProcess
from tests.reliability import strategies as S
from tests.reliability.harness import RawBridge, assert_serving, count, tiny_generation, wait_idle
from tests.reliability.oracle import MEDIA, bridge_first_problem, bridge_problems, grpc_problems

SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
ENUM_FIELDS = ("priority", "sample_format", "frame_format", "cache_policy")
BASE = {"prompt": "a bell rings", "seed": 1, "cache_policy": pb.CACHE_POLICY_BYPASS}
ids = itertools.count()


def own(name: str, field: str) -> bool:
    """Whether a refusal naming `field` is about field `name` alone (a mode that needs a medium
    is refused naming the missing medium)."""
    if field == name or field.startswith((f"{name}[", f"{name}.")):
        return True
    return name == "mode" and field.split(".")[0] in MEDIA


def check_accepted(accepted: pb.Accepted | dict[str, Any], params: GenerationParams) -> None:
    """The format a valid request was accepted with is the one the oracle computed."""
    fmt = accepted.format if isinstance(accepted, pb.Accepted) else pb.ClipFormat(**accepted["format"])
    got = (fmt.width, fmt.height, fmt.num_frames, fmt.steps, fmt.audio_only, fmt.sample_format)
    want = (params.width, params.height, params.num_frames, params.steps, not params.sends_video, params.sample_format)
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
    count("grpc generate fields (of which valid, accepted)")
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
        count("bridge generate keys (of which valid, accepted)")
    # Closing the connection cancelled the job.
    wait_idle(stub)


@st.composite
def one_field(draw: st.DrawFn, values: Any) -> tuple[str, dict[str, Any]]:
    """A valid base request with one field set to a drawn value (and that field's name)."""
    name = draw(st.sampled_from(S.GRPC_FIELDS))
    return name, {**BASE, name: draw(values(name))}


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
    def check(case: tuple[str, dict[str, Any]]) -> None:
        name, fields = case
        bad = grpc_problems(fields, config.defaults, config.limits)[0]
        assert all(own(name, f) for f in bad), bad  # the base is valid
        count("grpc generate fields")
        grpc_answer(stub, fields, config)

    check()
    assert_serving(daemon.grpc_address, stub)


def test_grpc_many_fields(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub, config: DaemonConfig) -> None:
    @settings(SETTINGS, max_examples=100)
    @given(many_fields(S.grpc_values))
    def check(fields: dict[str, Any]) -> None:
        count("grpc generate fields")
        grpc_answer(stub, fields, config)

    check()
    assert_serving(daemon.grpc_address, stub)


def test_bridge_one_key_at_a_time(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub, config: DaemonConfig) -> None:
    @settings(SETTINGS, max_examples=150)
    @given(one_field(S.bridge_values))
    def check(case: tuple[str, dict[str, Any]]) -> None:
        name, fields = case
        bad = bridge_problems(fields, config.defaults, config.limits)[0]
        assert all(own(name, f) for f in bad), bad  # the base is valid
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
        count("bridge generate keys")
        bridge_answer(daemon, stub, fields, config)

    check()
    assert_serving(daemon.grpc_address, stub, daemon.bridge_address)


@st.composite
def prefetch_lists(draw: st.DrawFn, values: Any) -> list[dict[str, Any]]:
    """One to three requests with seeds, each with up to one drawn field (a seed may be dropped)."""
    requests = []
    for _ in range(draw(st.integers(1, 3))):
        request = {"prompt": "rain", "seed": draw(st.integers(0, 2**20))}
        if draw(st.booleans()):
            name = draw(st.sampled_from(S.GRPC_FIELDS))
            request[name] = draw(values(name))
        if draw(st.integers(0, 9)) == 0:
            del request["seed"]
        requests.append(request)
    return requests


def prefetch_problems(requests: list[dict[str, Any]], config: DaemonConfig, bridge: bool) -> set[str]:
    """The fields a Prefetch may name: of the first request with a problem (seeds come last). Over
    the bridge, the whole message is typed first: a typing problem of any request comes first."""
    if bridge:
        for i, request in enumerate(requests):
            first, _ = bridge_first_problem(request)
            if first is not None:
                return {f"requests[{i}].{first}"}
    for i, request in enumerate(requests):
        problems = bridge_problems if bridge else grpc_problems
        bad, _ = problems(request, config.defaults, config.limits)
        if bad:
            return {f"requests[{i}].{field}" for field in bad}
    for i, request in enumerate(requests):
        if request.get("seed") is None:
            return {f"requests[{i}].seed"}
    return set()


def test_prefetch_over_both_transports(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub, config: DaemonConfig) -> None:
    """Prefetch validates every request before it queues any; errors name `requests[i].field`."""

    def queued(job_ids: list[str]) -> None:
        for job_id in job_ids:  # valid: cancel what was queued, this is not a cache test
            stub.Cancel(pb.CancelRequest(job_id=job_id), timeout=10)
        wait_idle(stub)

    @settings(SETTINGS, max_examples=60)
    @given(prefetch_lists(S.grpc_values), st.sampled_from(["grpc", "bridge"]))
    def check(requests: list[dict[str, Any]], transport: str) -> None:
        count(f"{transport} prefetch")
        bad = prefetch_problems(requests, config, bridge=transport == "bridge")
        if transport == "grpc":
            try:
                reply = stub.Prefetch(
                    pb.PrefetchRequest(requests=[pb.GenerateRequest(**r) for r in requests]), timeout=30
                )
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, (requests, exc.details())
                assert dict(exc.trailing_metadata() or ())["ltx2d-field"] in bad, (requests, bad, exc.details())
                return
            assert not bad, f"{requests} was accepted; expected INVALID_ARGUMENT naming one of {bad}"
            assert len(reply.job_ids) == len(requests)
            queued([j for j in reply.job_ids if j])
            return
        with RawBridge(daemon.bridge_address) as bridge:
            reply = bridge.request({"type": "prefetch", "id": 1, "requests": requests})
        if reply["type"] == "error":
            assert reply["code"] == "INVALID_ARGUMENT" and reply["field"] in bad, (requests, bad, reply)
            return
        assert not bad, f"{requests} was accepted; expected INVALID_ARGUMENT naming one of {bad}"
        assert reply["type"] == "prefetch" and len(reply["job_ids"]) == len(requests), reply
        queued([j for j in reply["job_ids"] if j])

    check()
    assert_serving(daemon.grpc_address, stub, daemon.bridge_address)


@st.composite
def small_valid_requests(draw: st.DrawFn) -> dict[str, Any]:
    """Valid requests with the delivery options varied, kept tiny (64x64, 9 or 17 frames, 2 steps)."""
    fields = {
        "prompt": draw(S.text.filter(lambda p: p.strip() != "")),
        "negative_prompt": draw(S.text),
        "num_frames": draw(st.sampled_from([9, 17])),
        "seed": draw(st.integers(0, 2**63 - 1)),
        "cache_policy": pb.CACHE_POLICY_BYPASS,
        "sample_format": draw(st.sampled_from([0, 1, 2])),
        "frame_format": draw(st.sampled_from([0, 1, 2])),
        "audio_only": draw(st.booleans()),
        "tags": draw(S.tags),
    }
    optional = {
        "audio_sample_rate": st.sampled_from([8000, 22050, 44100, 48000]),
        "jpeg_quality": st.integers(1, 100),
        "chunk_frames": st.sampled_from([8, 16]),
        "priority": st.sampled_from([1, 2, 3]),
        "video_guidance_scale": st.floats(1.0, 30.0, width=32),
        "stg_scale": st.floats(0.0, 30.0, width=32),
        "guidance_rescale": st.floats(0.0, 1.0, width=32),
    }
    for name in draw(st.lists(st.sampled_from(sorted(optional)), max_size=3, unique=True)):
        fields[name] = draw(optional[name])
    return fields


def test_valid_requests_run_to_completion(daemon: DaemonProcess, stub: pb_grpc.Ltx2dStub, config: DaemonConfig) -> None:
    """Valid values (odd prompts, every delivery option) are not only accepted: the clip arrives
    whole over raw gRPC, and the SDK (which checks every stream against the wire contract) gets the
    same clip."""
    from ltx2_client import Client

    sdk = Client(daemon.grpc_address)

    @settings(SETTINGS, max_examples=8)
    @given(small_valid_requests())
    def check(fields: dict[str, Any]) -> None:
        count("grpc valid requests run")
        bad, params = grpc_problems(fields, config.defaults, config.limits)
        assert not bad and params is not None, bad
        events = tiny_generation(stub, **fields)
        check_accepted(events[0].accepted, params)
        fmt = events[0].accepted.format
        video = [e.video_chunk for e in events if e.HasField("video_chunk")]
        assert not video if params.audio_only else len(video) >= 1
        jpeg = fields["frame_format"] == pb.FRAME_FORMAT_JPEG
        if jpeg:
            assert all(len(v.jpeg_frames) == v.num_frames and not v.data for v in video)

        count("sdk valid requests run")
        options = {k: v for k, v in fields.items() if k != "prompt" and not (k in ENUM_FIELDS and v == 0)}
        clip = sdk.generate(fields["prompt"], **options).result()
        frames = 0 if params.audio_only else params.num_frames
        assert clip.frames.shape[0] == frames and clip.audio.shape == (fmt.num_samples, fmt.channels)
        if frames:
            assert clip.frames.shape[1:] == (params.height, params.width, 3)
        if not jpeg and frames:  # the same seed gives the same bytes
            assert clip.frames.tobytes() == b"".join(v.data for v in video)
        if params.sample_format == 2:
            raw = b"".join(e.audio_chunk.data for e in events if e.HasField("audio_chunk"))
            assert clip.audio.astype("<f4").tobytes() == raw

    try:
        check()
    finally:
        sdk.close()
