"""Wiring and lifecycle: build the service from a `DaemonConfig`, serve it, shut down gracefully.

`Daemon.start()` builds ModelHost -> ResultCache -> Ltx2dService, binds gRPC (with health checking
and reflection), the msgpack bridge and the metrics endpoint, then writes the ready file. `stop()`
marks health NOT_SERVING, stops accepting, lets running jobs finish within the grace period,
cancels what is left, and unloads the model. `run()` does all that around SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2

import ltx2
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2_grpc as pb_grpc

from . import __version__
from .auth import GrpcAuthInterceptor, TokenAuth
from .bridge import BridgeServer, BridgeSettings
from .config import DEFAULT_MODEL_NAME, DaemonConfig, ModelSpec
from .errors import ServiceError
from .grpc_interceptor import ErrorInterceptor
from .grpc_servicer import Ltx2dServicer
from .metrics import Metrics
from .model_host import ModelHost
from .model_pool import ModelPool
from .result_cache import ResultCache
from .service import Ltx2dService

if TYPE_CHECKING:
    from ltx2.loader import LoadOptions

log = logging.getLogger("ltx2d.server")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Ltx2d"].full_name
# Video chunks are large (24 RGB frames of 768x512 are 28 MB); requests are small.
MAX_SEND_BYTES = 1 << 30
MAX_RECEIVE_BYTES = 16 << 20


def configured_models(config: DaemonConfig) -> tuple[ModelSpec, ...]:
    """The models to serve: the configured ones, else the embedded tiny checkpoint (its path is
    known once it is built: `checkpoint_path`)."""
    return config.models or (ModelSpec(DEFAULT_MODEL_NAME, None),)


def checkpoint_path(spec: ModelSpec) -> Path:
    """The model's folder; the embedded tiny checkpoint is built here on first use."""
    if spec.path is None:
        from ltx2.tiny import ensure_tiny_checkpoint

        return ensure_tiny_checkpoint()
    return spec.path.expanduser().resolve()


def load_options(config: DaemonConfig, spec: ModelSpec) -> LoadOptions:
    """How model `spec` is loaded. LoRAs and --distilled belong to the default (first) model: an
    adapter is trained for one model version, and a request's LoRA names mean the default's."""
    from ltx2.loader import LoadOptions

    default = spec == configured_models(config)[0]
    return LoadOptions(
        device=config.device,
        dtype=config.dtype,
        offload=config.offload,
        vae_tiling=config.vae_tiling,
        quantization=config.quantization,  # type: ignore[arg-type]  # checked by the config
        loras=config.loras if default else (),
        distilled=config.distilled if default else None,
    )


def real_engine_factory(config: DaemonConfig, spec: ModelSpec) -> Callable[[], ltx2.Engine]:
    """Builds the real engine of model `spec`; torch is imported lazily, when a model loads."""

    def build() -> ltx2.Engine:
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        from ltx2.engine import Ltx2Engine

        # Loading progress bars would break the one-record-per-line logs of a daemon.
        diffusers_logging.disable_progress_bar()
        transformers_logging.disable_progress_bar()
        return Ltx2Engine.load(checkpoint_path(spec), options=load_options(config, spec))

    return build


def checkpoint_description(config: DaemonConfig, spec: ModelSpec) -> Callable[[], ltx2.ModelInfo]:
    """Model `spec` as its files describe it, no weight loaded: its fingerprint, its adapters'
    fingerprints, version, presets, features and audio format."""

    def describe() -> ltx2.ModelInfo:
        from ltx2.loader import describe_checkpoint

        return describe_checkpoint(checkpoint_path(spec), load_options(config, spec))

    return describe


REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


def enable_reflection(service_names: list[str], server: grpc.aio.Server) -> None:
    """Serve gRPC reflection as `grpc.reflection.v1` (what grpcurl and newer tools ask for first)
    and `v1alpha` (older tools).

    grpcio-reflection ships only v1alpha; v1 is the same protocol under a new package (every
    message field has the same number), so the one servicer answers both names.
    """
    names = [*service_names, REFLECTION_V1, reflection.SERVICE_NAME]
    servicer = reflection.aio.ReflectionServicer(names)
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                service,
                {
                    "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                        servicer.ServerReflectionInfo,
                        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
                    )
                },
            )
            for service in (REFLECTION_V1, reflection.SERVICE_NAME)
        ]
    )


def _grpc_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def write_ready_file(path: Path, payload: dict[str, object]) -> None:
    """Write `payload` as JSON to a temporary name, then rename (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, path)


class Daemon:
    """One running daemon: the service and the transports in front of it.

    `engine_factory` builds the engine when the model loads; by default the real `Ltx2Engine` of each
    configured model. Tests pass a fake one, for a single model: it is described by loading it,
    which several models must not do (`ModelPool` refuses).
    """

    def __init__(
        self,
        config: DaemonConfig,
        *,
        engine_factory: Callable[[], ltx2.Engine] | None = None,
    ) -> None:
        self.config = config
        self._engine_factory = engine_factory
        self.metrics = Metrics()
        self.service: Ltx2dService | None = None
        self._grpc: grpc.aio.Server | None = None
        self._health: health.aio.HealthServicer | None = None
        self._bridge: BridgeServer | None = None
        self.grpc_port: int | None = None
        self.bridge_port: int | None = None
        self.metrics_port: int | None = None
        self._stopped = asyncio.Event()
        self._stopping = False

    async def start(self) -> None:
        """Build the service, bind every endpoint, and write the ready file."""
        config = self.config
        hosts = [
            ModelHost(
                self._engine_factory or real_engine_factory(config, spec),
                keep_alive_s=config.keep_alive,
                describe_source=None if self._engine_factory else checkpoint_description(config, spec),
                # A valid request (the engine resolves it as it would any): the defaults, a prompt, a seed.
                warm_up_params=replace(config.defaults, prompt="warm-up", seed=0),
                name=spec.name,
            )
            for spec in configured_models(config)
        ]
        # Each checkpoint read now (configs, file sizes and ends: well under a second for a 19B
        # one): GetInfo can say every model's version, and a folder that cannot be read stops the
        # start rather than failing its first request hours later.
        for host in hosts if self._engine_factory is None else ():
            try:
                await host.describe()
            except ServiceError as exc:
                raise ServiceError(exc.code, f"--model {host.name}: {exc.message}") from None
        cache = ResultCache(config.cache_dir, config.cache_max_bytes) if config.cache_max_bytes > 0 else None
        self.service = Ltx2dService(
            host=ModelPool(hosts),
            queue_capacity=config.queue_capacity,
            cache=cache,
            limits=config.limits,
            defaults=config.defaults,
            stall_limit_s=config.stall_limit,
        )
        self.service.add_job_listener(self.metrics.observe)
        await self.service.start()
        auth = TokenAuth(config.token)

        self._grpc = grpc.aio.server(
            interceptors=[*([GrpcAuthInterceptor(auth)] if auth.required else []), ErrorInterceptor(SERVICE_NAME)],
            options=[
                ("grpc.max_send_message_length", MAX_SEND_BYTES),
                ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),
                ("grpc.so_reuseport", 0),
                # Ping idle connections so a client that vanished without closing (cable, crash
                # of the machine) is noticed and its jobs are cancelled within about a minute.
                ("grpc.keepalive_time_ms", 30_000),
                ("grpc.keepalive_timeout_ms", 20_000),
            ],
        )
        pb_grpc.add_Ltx2dServicer_to_server(Ltx2dServicer(self.service), self._grpc)
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._grpc)
        enable_reflection([SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name], self._grpc)
        address = _grpc_address(config.host, config.grpc_port)
        try:
            self.grpc_port = self._grpc.add_insecure_port(address)
        except RuntimeError as exc:  # grpc's way of saying the address is taken or not ours
            raise OSError(f"could not bind gRPC to {address} (is the port in use?)") from exc
        await self._grpc.start()

        if config.bridge_port is not None:
            settings = BridgeSettings(auth, config.bridge_max_frame, config.stall_limit or None)
            self._bridge = BridgeServer(self.service, settings)
            self.bridge_port = await self._bridge.start(config.host, config.bridge_port)
        if config.metrics_port is not None:
            self.metrics.watch_service(self.service.info, asyncio.get_running_loop())
            self.metrics_port = self.metrics.serve(config.host, config.metrics_port)

        if config.preload:
            await self.service.load()
        for name in ("", SERVICE_NAME):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        if config.ready_file is not None:
            write_ready_file(config.ready_file, self.ready_info())
        log.info(
            "ltx2d %s serving grpc=%s:%s bridge=%s metrics=%s model=%s",
            __version__,
            config.host,
            self.grpc_port,
            self.bridge_port if self.bridge_port is not None else "off",
            self.metrics_port if self.metrics_port is not None else "off",
            ", ".join(f"{m.name}={m.path}" for m in config.models) or "embedded tiny checkpoint",
            extra={"event": "serving", **self.ready_info()},
        )

    def ready_info(self) -> dict[str, object]:
        return {
            "pid": os.getpid(),
            "host": self.config.host,
            "grpc_port": self.grpc_port,
            "bridge_port": self.bridge_port,
            "metrics_port": self.metrics_port,
        }

    async def stop(self, grace_s: float | None = None) -> None:
        """Stop accepting, let jobs finish within `grace_s` (config default), cancel the rest."""
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        grace = self.config.shutdown_grace if grace_s is None else grace_s
        log.info("shutting down (grace %.1f s)", grace, extra={"event": "shutdown", "grace_s": grace})
        try:
            if self._health is not None:
                await self._health.enter_graceful_shutdown()
            if self._bridge is not None:
                self._bridge.stop_accepting()
            waits = []
            if self.service is not None:
                # The service refuses new jobs, lets running ones finish for `grace`, cancels the rest.
                waits.append(self.service.shutdown(grace))
            if self._grpc is not None:
                # grpc stops taking calls now; streams still open after `grace` (+1 s for their
                # last events) are cancelled.
                waits.append(self._grpc.stop(grace + 1.0))
            await asyncio.gather(*waits)
            if self._bridge is not None:
                await self._bridge.close()
            self.metrics.stop()
            if self.config.ready_file is not None:
                with contextlib.suppress(OSError):
                    self.config.ready_file.unlink()
        finally:
            self._stopped.set()
            log.info("stopped", extra={"event": "stopped"})


def _on_signals(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """Call `callback` on the loop at SIGTERM or SIGINT (also where asyncio has no signal support)."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, callback)
        except NotImplementedError:  # Windows event loops
            signal.signal(sig, lambda _signum, _frame: loop.call_soon_threadsafe(callback))


async def run(config: DaemonConfig) -> int:
    """Serve until SIGTERM or SIGINT, then shut down gracefully. Returns the exit status."""
    daemon = Daemon(config)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    _on_signals(loop, stop.set)
    try:
        await daemon.start()
    except BaseException:
        await daemon.stop(0)
        raise
    await stop.wait()
    _on_signals(loop, _exit_now)  # a second signal while draining means "now"
    await daemon.stop()
    return 0


def _exit_now() -> None:
    log.warning("second signal: exiting without waiting for jobs")
    os._exit(1)
