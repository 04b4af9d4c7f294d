"""`DaemonProcess`: a real `python -m ltx2d` in a subprocess, for integration tests and scripts.

    with DaemonProcess(["--default-steps", "2"]) as daemon:
        channel = grpc.insecure_channel(daemon.grpc_address)
        ...

It binds gRPC and the bridge to port 0 on 127.0.0.1, uses a temporary cache folder unless one is
given, waits for the ready file and for gRPC health SERVING, and stops the daemon with SIGTERM on
exit (SIGKILL after a timeout). Errors carry the daemon's stderr.

`in_process_daemon` serves a `Daemon` on the running event loop instead (fast tests with a fake
engine), and `BridgeClient` speaks the msgpack bridge protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .auth import AUTH_METADATA_KEY
from .msgpack_codec import MalformedFrame, encode_frame, read_frame

if TYPE_CHECKING:
    from ltx2 import Engine

    from .config import DaemonConfig
    from .server import Daemon


class DaemonError(RuntimeError):
    """The daemon did not start, or did not stop, in time; the message holds its stderr."""


class DaemonProcess:
    """Starts `python -m ltx2d` with `args` (plus port 0, a ready file and a temporary cache)."""

    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        token: str | None = None,
        start_timeout_s: float = 120.0,
        stop_timeout_s: float = 30.0,
        bridge: bool = True,
    ) -> None:
        self.args = list(args)
        self.env = dict(os.environ if env is None else env)
        self.token = token
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.bridge = bridge
        self.host = "127.0.0.1"
        self.grpc_port = 0
        self.bridge_port: int | None = None
        self.metrics_port: int | None = None
        self.pid = 0
        self.returncode: int | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr_path: Path | None = None
        self._final_stderr = ""
        self.ready_file: Path | None = None

    @property
    def grpc_address(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def bridge_address(self) -> str:
        if self.bridge_port is None:
            raise DaemonError("the bridge is disabled for this daemon")
        return f"{self.host}:{self.bridge_port}"

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """gRPC call metadata carrying the token (empty without one)."""
        return ((AUTH_METADATA_KEY, f"Bearer {self.token}"),) if self.token else ()

    @property
    def stderr(self) -> str:
        """Everything the daemon wrote to stderr so far (its logs)."""
        if self._stderr_path is None or not self._stderr_path.exists():
            return self._final_stderr
        return self._stderr_path.read_text(errors="replace")

    def _has_flag(self, flag: str) -> bool:
        return any(a == flag or a.startswith(flag + "=") for a in self.args)

    def start(self) -> DaemonProcess:
        self._tmp = tempfile.TemporaryDirectory(prefix="ltx2d-test-")
        tmp = Path(self._tmp.name)
        ready = self.ready_file = tmp / "ready.json"
        argv = [sys.executable, "-m", "ltx2d", "--ready-file", str(ready)]
        if not self._has_flag("--host"):
            argv += ["--host", self.host]
        if not self._has_flag("--grpc-port"):
            argv += ["--grpc-port", "0"]
        if not self._has_flag("--bridge-port") and not self._has_flag("--no-bridge"):
            argv += ["--bridge-port", "0"] if self.bridge else ["--no-bridge"]
        if not self._has_flag("--cache-dir"):
            argv += ["--cache-dir", str(tmp / "cache")]
        if self.token and not self._has_flag("--token"):
            self.env["LTX2D_TOKEN"] = self.token
        argv += self.args
        self._stderr_path = tmp / "stderr.log"
        with open(self._stderr_path, "wb") as stderr:
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr, env=self.env)
        self.pid = self._proc.pid
        try:
            self._wait_ready(ready)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, ready: Path) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout_s
        while not ready.exists():
            if self._proc.poll() is not None:
                raise DaemonError(
                    f"ltx2d exited with status {self._proc.returncode} before it was ready:\n{self.stderr}"
                )
            if time.monotonic() > deadline:
                raise DaemonError(f"ltx2d wrote no ready file within {self.start_timeout_s:g} s:\n{self.stderr}")
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        self.host = info["host"]
        self.grpc_port = info["grpc_port"]
        self.bridge_port = info["bridge_port"]
        self.metrics_port = info["metrics_port"]
        with grpc.insecure_channel(self.grpc_address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DaemonError(f"ltx2d was not SERVING within {self.start_timeout_s:g} s:\n{self.stderr}")
                try:
                    reply = stub.Check(
                        health_pb2.HealthCheckRequest(), timeout=min(5.0, remaining), metadata=self.metadata
                    )
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.05)

    def send_signal(self, sig: int = signal.SIGTERM) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(sig)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to exit; returns its status."""
        assert self._proc is not None
        self.returncode = self._proc.wait(timeout)
        return self.returncode

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after `stop_timeout_s`; returns the exit status."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None:
            self.returncode = proc.returncode
        if self._tmp is not None:
            self._final_stderr = self.stderr  # kept for inspection after the folder is gone
            with contextlib.suppress(OSError):
                self._tmp.cleanup()
            self._tmp = None
        return self.returncode

    def __enter__(self) -> DaemonProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextlib.asynccontextmanager
async def in_process_daemon(
    config: DaemonConfig, engine_factory: Callable[[], Engine] | None = None
) -> AsyncIterator[Daemon]:
    """A `Daemon` serving on the running loop (tests use port 0 and a fake engine factory)."""
    from .server import Daemon

    daemon = Daemon(config, engine_factory=engine_factory)
    try:
        await daemon.start()
        yield daemon
    finally:
        await daemon.stop(0)


class BridgeClient:
    """A minimal asyncio client of the msgpack bridge (docs/bridge-protocol.md), for tests."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, address: str) -> BridgeClient:
        host, _, port = address.rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer)

    async def send(self, message: dict[str, Any]) -> None:
        """Send one map as a frame."""
        await self.send_raw(encode_frame(message))

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self, timeout: float = 20.0) -> dict[str, Any] | None:
        """The next map from the daemon, None when it closed the connection."""
        try:
            return await asyncio.wait_for(read_frame(self.reader), timeout)
        except (MalformedFrame, ConnectionError):
            return None

    async def request(self, message: dict[str, Any], timeout: float = 20.0) -> dict[str, Any]:
        """Send `message` and return the first reply with the same id (others are dropped)."""
        await self.send(message)
        while True:
            reply = await self.recv(timeout)
            if reply is None:
                raise ConnectionError("the daemon closed the connection")
            if reply.get("id") == message.get("id"):
                return reply

    async def stream(self, request_id: Any, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Every map with `request_id` up to and including its `completed` or `error`."""
        out = []
        while True:
            reply = await self.recv(timeout)
            if reply is None:
                raise ConnectionError("the daemon closed the connection")
            if reply.get("id") != request_id:
                continue
            out.append(reply)
            if reply["type"] in ("completed", "error"):
                return out

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
