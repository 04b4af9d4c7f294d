"""A minimal blocking client of the msgpack bridge (docs/bridge-protocol.md), as a game engine would write it.

Frames are a 4-byte big-endian length and one msgpack map. `generate()` yields the maps of one job
as they arrive, up to and including its `completed` or `error`.
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator
from typing import Any

from ltx2d.msgpack_codec import encode_frame, recv_frame


class BridgeError(RuntimeError):
    """The daemon answered a request with an `error` map."""

    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__(f"{reply.get('code')}: {reply.get('message')}")
        self.code = reply.get("code")
        self.reply = reply


class BridgeConnection:
    """One TCP connection to the bridge."""

    def __init__(self, address: str, timeout: float = 600.0) -> None:
        host, _, port = address.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._ids = itertools.count(1)

    def send(self, message: dict[str, Any]) -> None:
        self.sock.sendall(encode_frame(message))

    def recv(self) -> dict[str, Any]:
        reply = recv_frame(self.sock)
        if reply is None:
            raise ConnectionError("the daemon closed the connection")
        return reply

    def generate(self, **request: Any) -> Iterator[dict[str, Any]]:
        """Send a `generate` and yield its replies; an `error` reply raises `BridgeError`."""
        request_id = next(self._ids)
        self.send({"type": "generate", "id": request_id, **request})
        while True:
            reply = self.recv()
            if reply.get("id") != request_id:
                continue
            if reply["type"] == "error":
                raise BridgeError(reply)
            yield reply
            if reply["type"] == "completed":
                return

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> BridgeConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
