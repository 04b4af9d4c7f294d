"""Retry, contract-check and error-mapping rules, on an in-process fake daemon that can misbehave."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest

from ltx2_client import (
    AsyncClient,
    Busy,
    Client,
    DeadlineExceeded,
    InvalidArgument,
    Ltx2Error,
    ProtocolError,
    Unavailable,
)
from ltx2_client.errors import from_rpc_error

from .fake_daemon import Behaviour, FakeServer, expected_audio, expected_frames

SMALL = {"width": 64, "height": 64, "num_frames": 25}


def test_clip_is_exactly_the_concatenated_chunks():
    with FakeServer() as server, Client(server.address) as client:
        clip = client.generate("x", **SMALL).result()
    np.testing.assert_array_equal(clip.frames, expected_frames(64, 64, 25))
    np.testing.assert_allclose(clip.audio, expected_audio(clip.audio.shape[0]) / 32768.0)


def test_unavailable_before_accepted_is_retried():
    behaviour = Behaviour(unavailable_before_accept=2)
    with FakeServer(behaviour) as server, Client(server.address, retries=3) as client:
        clip = client.generate("x", **SMALL).result()
    assert behaviour.generate_calls == 3
    assert clip.num_frames == 25


def test_retries_are_bounded():
    behaviour = Behaviour(unavailable_before_accept=5)
    server = FakeServer(behaviour)
    with server, Client(server.address, retries=2) as client, pytest.raises(Unavailable, match="warming up"):
        client.generate("x", **SMALL).result()
    assert behaviour.generate_calls == 3


def test_unavailable_after_accepted_is_never_retried():
    behaviour = Behaviour(unavailable_after_accept=True)
    with FakeServer(behaviour) as server, Client(server.address, retries=3) as client:
        stream = client.generate("x", **SMALL)
        with pytest.raises(Unavailable, match="connection lost"):
            stream.result()
    assert behaviour.generate_calls == 1
    assert stream.job_id == "job-1"


def test_async_client_follows_the_same_retry_rule():
    async def main(behaviour):
        async with AsyncClient(server.address, retries=3) as client:
            return await client.generate("x", **SMALL).result()

    behaviour = Behaviour(unavailable_before_accept=1)
    with FakeServer(behaviour) as server:
        clip = asyncio.run(main(behaviour))
    assert behaviour.generate_calls == 2 and clip.num_frames == 25
    behaviour = Behaviour(unavailable_after_accept=True)
    with FakeServer(behaviour) as server, pytest.raises(Unavailable):
        asyncio.run(main(behaviour))
    assert behaviour.generate_calls == 1


def test_a_gap_in_frame_indices_is_a_protocol_error():
    server = FakeServer(Behaviour(skip_frame_index=True))
    with server, Client(server.address) as client, pytest.raises(ProtocolError, match="frame 10, expected 9"):
        client.generate("x", **SMALL).result()


def test_progress_between_whole_chunks_is_in_order_but_not_inside_a_chunk():
    with FakeServer() as server, Client(server.address) as client:
        kinds = [type(e).__name__ for e in client.generate("x", **SMALL)]
    assert kinds[-4:] == ["AudioChunk", "VideoChunk", "Progress", "Completed"]
    server = FakeServer(Behaviour(progress_inside_chunk=True))
    with server, Client(server.address) as client, pytest.raises(ProtocolError, match="between an AudioChunk and"):
        client.generate("x", **SMALL).result()


def test_chunks_consumed_by_iteration_cannot_be_collected_again():
    with FakeServer() as server, Client(server.address) as client:
        stream = client.generate("x", **SMALL)
        next(stream.frames())
        with pytest.raises(RuntimeError, match="already consumed"):
            stream.result()
        # Reading up to Accepted first is fine.
        stream = client.generate("x", **SMALL)
        assert stream.wait_accepted().format.num_frames == 25
        assert stream.result().num_frames == 25


def test_cancel_sends_cancel_by_job_id():
    behaviour = Behaviour(event_delay_s=0.05)
    with FakeServer(behaviour) as server, Client(server.address) as client:
        stream = client.generate("x", **SMALL)
        accepted = stream.wait_accepted()
        stream.cancel()
        stream.cancel()  # idempotent
        assert list(stream) == []
    assert behaviour.cancels == [accepted.job_id]


def test_generate_timeout_is_deadline_exceeded():
    server = FakeServer(Behaviour(event_delay_s=0.5))
    with server, Client(server.address) as client, pytest.raises(DeadlineExceeded):
        client.generate("x", steps=5, timeout=0.3, **SMALL).result()


def test_token_travels_as_bearer_metadata(monkeypatch):
    behaviour = Behaviour()
    with FakeServer(behaviour, token="abc") as server:
        with Client(server.address, token="abc") as client:
            assert client.info().model_id == "ltx2-fake"
        assert behaviour.last_metadata["authorization"] == "Bearer abc"
        monkeypatch.setenv("LTX2D_TOKEN", "abc")
        with Client(server.address) as client:  # token from the environment
            assert client.info().model_id == "ltx2-fake"


def test_enum_options_accept_names_and_reject_others():
    with FakeServer() as server, Client(server.address) as client:
        assert client.generate("x", priority="batch", sample_format="s16", **SMALL).result().num_frames == 25
        with pytest.raises(InvalidArgument) as error:
            client.generate("x", priority="urgent")
        assert error.value.field == "priority" and "'realtime'" in error.value.message
        with pytest.raises(TypeError, match="fps"):
            client.generate("x", fps=24)


class _FakeRpcError(grpc.RpcError):
    def __init__(self, code, details, trailing=()):
        self._code, self._details, self._trailing = code, details, trailing

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._trailing


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (grpc.StatusCode.RESOURCE_EXHAUSTED, Busy),
        (grpc.StatusCode.DEADLINE_EXCEEDED, DeadlineExceeded),
        (grpc.StatusCode.UNAVAILABLE, Unavailable),
        (grpc.StatusCode.INTERNAL, Ltx2Error),
    ],
)
def test_status_codes_map_to_typed_errors(code, kind):
    error = from_rpc_error(_FakeRpcError(code, "queue is full (16 jobs)"))
    assert type(error) is kind
    assert error.message == "queue is full (16 jobs)" and error.code == code.name


def test_invalid_argument_takes_the_field_from_the_trailer():
    error = from_rpc_error(
        _FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "steps=0: must be at least 1", (("ltx2d-field", "steps"),))
    )
    assert isinstance(error, InvalidArgument) and error.field == "steps"
