"""`serve()`: run the emulator on a real socket for as long as a context is open.

The CLI, the tests, the demo and the benchmarks all go through here, so what they exercise is
the same server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from orchestrator.errors import OrchestratorError
from orchestrator.simulator.app import EmulatorApp
from orchestrator.simulator.config import EmulatorConfig
from orchestrator.simulator.core import EmulatorCore

# How long stopping waits for calls in flight (e.g. sleeping an injected latency) before
# cancelling them: an emulator owes its callers nothing once it is told to stop.
SHUTDOWN_GRACE_S = 1.0


class EmulatorStartError(OrchestratorError):
    """The emulator could not listen on the requested address."""


@dataclass(frozen=True, slots=True)
class RunningEmulator:
    """A listening emulator: where to reach it, and its state for direct inspection."""

    core: EmulatorCore
    host: str
    port: int

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def config(self) -> EmulatorConfig:
        return self.core.config

    def set_faults(self, **changes: float) -> None:
        self.core.set_faults(**changes)

    def set_qps(self, action: str, qps: float | None) -> None:
        self.core.set_qps(action, qps)

    def stats(self) -> dict[str, Any]:
        return self.core.stats()

    def jobs(self) -> list[dict[str, Any]]:
        return self.core.jobs()

    def submissions(self) -> list[dict[str, Any]]:
        return self.core.submissions()

    def submissions_by_request_id(self) -> dict[str, int]:
        return self.core.submissions_by_request_id()


@asynccontextmanager
async def serve(
    config: EmulatorConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[RunningEmulator]:
    """Listen on `host:port` (0: an ephemeral port) until the context exits."""
    core = EmulatorCore(config or EmulatorConfig(), clock=clock, sleep=sleep)
    runner = web.AppRunner(
        EmulatorApp(core).build(),
        access_log=None,
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_GRACE_S,
    )
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as error:
            raise EmulatorStartError(f"cannot listen on {host}:{port}: {error.strerror}") from error
        bound_port = int(runner.addresses[0][1])
        yield RunningEmulator(core=core, host=host, port=bound_port)
    finally:
        await runner.cleanup()
