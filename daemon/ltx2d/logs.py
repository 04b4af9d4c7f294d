"""Structured logs on stderr: readable text lines, or one JSON object per line.

Code logs with the standard `logging` module and passes structured fields in `extra=` (for
example `extra={"event": "job_accepted", "job_id": ...}`); the JSON format emits them as keys,
the text format appends them as `key=value`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _utc(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the `extra` fields, and exc on errors."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _utc(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _extras(record).items():
            out.setdefault(key, value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`2026-11-24T11:00:00.000Z info ltx2d.grpc message key=value ...`"""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        line = f"{_utc(record)} {record.levelname.lower():<7} {record.name} {message}"
        # Fields the message already shows as key=value are not repeated.
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items() if k != "event" and f"{k}=" not in message)
        if extras:
            line += " " + extras
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Send the `ltx2d` and `ltx2` loggers (and warnings) to `stream` (stderr) in `fmt`."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in ("ltx2d", "ltx2"):
        logging.getLogger(name).setLevel(level.upper())
    logging.captureWarnings(True)
