"""The configured models (`--model NAME=PATH`, repeatable), of which one at a time is resident.

Each model has its own `ModelHost` (its loading, keep-alive and fingerprint); the pool keeps at
most one of them loaded: making a model resident unloads the others first, and is refused while a
job runs on another (the scheduler never asks for that: it switches only between jobs). A device
holds one LTX-2 model: the 19B transformer alone is 38 GB in bf16, so two would not fit a 80 GB
GPU with their activations, and swapping weights per step would cost more than the step.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence

import ltx2

from .errors import ServiceError, StatusCode
from .model_host import RELEASE_GRACE_S, ModelHost
from .validation import model_name

# A model whose load failed this recently fails its next jobs at once, without unloading the
# resident one first: each attempt would cost the resident model a full reload (tens of seconds
# at real sizes) and any client could make the daemon thrash by naming a broken model. An explicit
# Load tries again at any time.
LOAD_RETRY_S = 60.0


class ModelPool:
    """Model hosts by name; the first is the default (a request that names none)."""

    def __init__(self, hosts: Sequence[ModelHost]) -> None:
        if not hosts:
            raise ValueError("a model pool needs at least one model")
        self._hosts = {host.name: host for host in hosts}
        if len(self._hosts) != len(hosts):
            raise ValueError(f"model names must differ: {[host.name for host in hosts]}")
        self.default = hosts[0].name
        if len(hosts) > 1 and not all(host.describable for host in hosts):
            # Describing by loading would put a second model on the device beside the resident one.
            raise ValueError("with several models, every model host needs a describe_source")
        self._switching: asyncio.Lock | None = None

    @classmethod
    def single(cls, host: ModelHost) -> ModelPool:
        """A pool of one model (the daemon without `--model NAME=PATH`, and most tests)."""
        return cls([host])

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._hosts)

    def __iter__(self) -> Iterator[ModelHost]:
        return iter(self._hosts.values())

    def host(self, name: str = "") -> ModelHost:
        """The host of model `name` ("" for the default); INVALID_ARGUMENT naming `model` otherwise."""
        return self._hosts[self.resolve_name(name)]

    def resolve_name(self, name: str) -> str:
        """The configured name `name` stands for ("" is the default); INVALID_ARGUMENT otherwise."""
        return model_name(name, self.names)

    @property
    def resident(self) -> ModelHost | None:
        """The model loaded on the device now, if any."""
        return next((host for host in self if host.loaded), None)

    def info(self) -> ltx2.ModelInfo | None:
        """The resident model, else the default one as last loaded or described."""
        resident = self.resident
        return resident.info() if resident is not None else self.host().info()

    def _lock(self) -> asyncio.Lock:
        if self._switching is None:
            self._switching = asyncio.Lock()
        return self._switching

    async def activate(self, name: str, *, retry: bool = False) -> ltx2.Engine:
        """Model `name`'s warm engine, the other models unloaded first (one resident at a time).

        FAILED_PRECONDITION while a job runs on another model: its engine cannot be closed under it.
        A model whose load failed less than `LOAD_RETRY_S` ago fails again at once unless `retry`.
        """
        target = self.host(name)
        async with self._lock():  # two activations must not load two models side by side
            failure = target.last_failure
            if failure is not None and not retry and not target.loaded:
                failed_at, error = failure
                if time.monotonic() - failed_at < LOAD_RETRY_S:
                    raise ServiceError(
                        error.code,
                        f"{error.message} (loading failed {time.monotonic() - failed_at:.0f} s ago; tried again "
                        f"after {LOAD_RETRY_S:g} s or on an explicit Load)",
                    )
            for host in self:
                if host is target:
                    continue
                if host.in_use and host.loaded and not await host.wait_idle(RELEASE_GRACE_S):
                    raise ServiceError(
                        StatusCode.FAILED_PRECONDITION,
                        f"cannot switch to model {target.name!r} while {host.in_use} job(s) run on "
                        f"model {host.name!r}; wait for them or cancel them",
                    )
                # Also when it does not look loaded: a load left running by a cancelled Load, or an
                # idle unload still closing, holds the host's lock until its weights are in or out.
                await host.unload(reason=f"switching to model {target.name!r}")
            return await target.engine()

    async def load(self, name: str = "") -> ltx2.ModelInfo:
        """Make model `name` resident now (Load RPC, --preload)."""
        host = self.host(name)
        await self.activate(host.name, retry=True)
        return await host.load()

    async def unload(self) -> bool:
        """Unload the resident model (refused while a job runs on it). False when none was loaded."""
        resident = self.resident
        return await resident.unload() if resident is not None else False

    async def close(self) -> None:
        for host in self:
            await host.close()
