"""errors.service_error: the one mapping from an exception to what a client is told (both transports)."""

from __future__ import annotations

import logging

import pytest

import ltx2
from ltx2d.errors import ServiceError, StatusCode, service_error


@pytest.mark.parametrize(
    ("exc", "code", "message", "field"),
    [
        (ServiceError(StatusCode.UNAVAILABLE, "shutting down"), StatusCode.UNAVAILABLE, "shutting down", None),
        (ltx2.InvalidParams("steps", 1, "must be between 2 and 100"), StatusCode.INVALID_ARGUMENT, "steps=1", "steps"),
        (ltx2.OutOfMemory("at 1920x1088x257"), StatusCode.RESOURCE_EXHAUSTED, "GPU out of memory", None),
        (ltx2.Cancelled(), StatusCode.CANCELLED, "cancelled", None),
        (KeyError("bust"), StatusCode.INTERNAL, "internal error: KeyError: 'bust'", None),
    ],
)
def test_each_kind_of_exception_has_one_status(exc, code, message, field) -> None:
    error = service_error(exc)
    assert (error.code, error.field) == (code, field)
    assert message in error.message


def test_only_unexpected_exceptions_are_logged_as_errors(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="ltx2d.errors"):
        service_error(ltx2.InvalidParams("width", 65, "must be a multiple of 32"), "Generate")
        assert not caplog.records
        service_error(RuntimeError("boom"), "Generate")
    assert [r.getMessage() for r in caplog.records] == ["Generate failed"]
    assert caplog.records[0].exc_info is not None  # with its traceback: it is a bug
