"""Errors raised by the engine library."""

from __future__ import annotations


class Ltx2Error(Exception):
    """Base class of every error the engine raises on purpose."""


class InvalidParams(Ltx2Error, ValueError):
    """A generation parameter broke a rule. The message names the field, the value and the rule."""

    def __init__(self, field: str, value: object, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{field}={value!r}: {rule}")


class Cancelled(Ltx2Error):
    """The job's cancel token was set; raised at the next step or chunk boundary."""

    def __init__(self, reason: str = "cancelled") -> None:
        self.reason = reason
        super().__init__(reason)


class CheckpointError(Ltx2Error):
    """A checkpoint folder is missing, incomplete or unreadable."""


class OutOfMemory(Ltx2Error):
    """The device ran out of memory during a job; the engine freed its cache and stays usable."""
