"""Checking a request, once, on top of `ltx2.params` (the one place of limits and rules).

The transports only translate; the service calls `prepare` for every request, gRPC or bridge,
generate or prefetch. The parameter rules and their bounds are `ltx2.prepare_params` and
`ltx2.Limits`; what is checked here is what belongs to the daemon: the enum fields and the JPEG
quality. Every error names the field, the value and the rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import TypeVar

import ltx2

from .domain import CachePolicy, ClipRequest, Delivery, FrameFormat, PreparedRequest, Priority
from .errors import ServiceError, StatusCode, invalid

# The range of JPEG's quality setting itself (not a deployment limit).
JPEG_QUALITY_RANGE = (1, 100)

E = TypeVar("E", bound=IntEnum)


def _enum(kind: type[E], name: str, value: int | None, default: E, prefix: str = "") -> E:
    """`value` as `kind`: None and 0 (the wire's UNSPECIFIED) give `default`. `prefix`: the wire
    enum's value prefix, when it is not the field's name."""
    if value is None or value == 0:
        return default
    try:
        return kind(value)
    except ValueError:
        # Named as the wire contract names them: PRIORITY_REALTIME (1), ...
        prefix = prefix or name.upper()
        names = [f"{prefix}_UNSPECIFIED (0)", *(f"{prefix}_{m.name} ({m.value})" for m in kind if m.value != 0)]
        raise invalid(name, value, f"must be one of {', '.join(names)}") from None


def prepare(
    request: ClipRequest,
    defaults: ltx2.GenerationParams,
    limits: ltx2.Limits,
    where: str = "",
    *,
    models: Sequence[str] = (),
) -> PreparedRequest:
    """The validated form of `request` (seed resolved); ServiceError INVALID_ARGUMENT otherwise.

    `where` prefixes field names, as in `requests[2].` for the third request of a prefetch.
    `models`: the configured model names, the default first (empty: any name is let through).
    """
    try:
        model = model_name(request.model, models) if models else request.model
        priority = _enum(Priority, "priority", request.priority, Priority.INTERACTIVE)
        cache_policy = _enum(CachePolicy, "cache_policy", request.cache_policy, CachePolicy.USE)
        frame_format = _enum(FrameFormat, "frame_format", request.frame_format, FrameFormat.RGB8)
        quality = Delivery().jpeg_quality if request.jpeg_quality is None else request.jpeg_quality
        low, high = JPEG_QUALITY_RANGE
        if not low <= quality <= high:
            raise invalid("jpeg_quality", quality, f"must be between {low} and {high}")
        values = dict(request.values)
        sample_format = values.get("sample_format")
        if sample_format is not None and not isinstance(sample_format, ltx2.SampleFormat):
            values["sample_format"] = _enum(ltx2.SampleFormat, "sample_format", sample_format, defaults.sample_format)  # type: ignore[arg-type]
        mode = values.get("mode")
        if mode is not None and not isinstance(mode, ltx2.Mode):
            values["mode"] = _enum(ltx2.Mode, "mode", mode, defaults.mode, "GENERATION_MODE")  # type: ignore[arg-type]
        params = ltx2.prepare_params(defaults, values, limits, duration_s=request.duration_s)
    except ltx2.InvalidParams as exc:
        raise ServiceError(
            StatusCode.INVALID_ARGUMENT, f"{where}{exc.field}={exc.value!r}: {exc.rule}", f"{where}{exc.field}"
        ) from None
    except ServiceError as exc:
        if not where:
            raise
        raise ServiceError(exc.code, f"{where}{exc.message}", f"{where}{exc.field}" if exc.field else None) from None
    return PreparedRequest(
        params=params,
        priority=priority,
        cache_policy=cache_policy,
        delivery=Delivery(frame_format, quality),
        deadline=request.deadline,
        client=request.client,
        model=model,
    )


def model_name(name: str, models: Sequence[str]) -> str:
    """The configured model `name` names ("" the default, `models[0]`); INVALID_ARGUMENT naming
    the field `model` otherwise."""
    if not name:
        return models[0]
    if name not in models:
        rule = f"must be one of the configured models: {', '.join(models)} (empty for the default, {models[0]})"
        raise invalid("model", name, rule)
    return name
