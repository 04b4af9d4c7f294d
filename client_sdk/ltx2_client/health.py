"""The standard gRPC health check (grpc.health.v1), spoken without the grpcio-health-checking package.

HealthCheckRequest{service=""} encodes to zero bytes; HealthCheckResponse is one varint field
`status` (1 = SERVING), so a few lines of protobuf decoding avoid a dependency.
"""

from __future__ import annotations

HEALTH_METHOD = "/grpc.health.v1.Health/Check"
SERVING = 1
HEALTH_REQUEST = b""


def parse_health_status(data: bytes) -> int:
    """The `status` field (number 1, varint) of a serialized HealthCheckResponse; 0 when absent."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, i = _varint(data, i)
            if number == 1:
                return value
        elif wire_type == 2:
            length, i = _varint(data, i)
            i += length
        elif wire_type == 5:
            i += 4
        elif wire_type == 1:
            i += 8
        else:
            break
    return 0


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while i < len(data):
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    return value, i
