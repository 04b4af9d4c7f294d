"""Where the daemon is and how to call it: address, token metadata, channel options."""

from __future__ import annotations

import os

DEFAULT_ADDRESS = "127.0.0.1:50151"
ADDRESS_ENV = "LTX2D_ADDRESS"
TOKEN_ENV = "LTX2D_TOKEN"

# The daemon keeps each video message under 4 MiB, but one frame of more than 1.37 Mpx (1920x1088
# RGB8 is 6.3 MB) travels alone in a bigger message: lift gRPC's 4 MiB receive limit.
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
]


def resolve_address(address: str | None) -> str:
    """`address`, else $LTX2D_ADDRESS (read now, not at import), else the default port on loopback."""
    return address or os.environ.get(ADDRESS_ENV) or DEFAULT_ADDRESS


def call_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    """gRPC metadata carrying the bearer token, if any."""
    return (("authorization", f"Bearer {token}"),) if token else ()
