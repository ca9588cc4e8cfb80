"""A local emulator of the ApsaraVideo VOD image AI API, served with aiohttp.web.

It speaks the real wire format (RPC parameters in the query, V1 or V3 signatures that it
verifies, JSON answers with the service's error codes), runs a seeded, time-scaled job
lifecycle, enforces per-action QPS limits with `Throttling.User`, and injects faults on demand.
It backs the demo, the end-to-end tests and the benchmarks::

    async with serve(EmulatorConfig(seed=7, time_scale=60)) as emu:
        client = VodClient(credentials=..., endpoint=emu.endpoint)
        ...
        emu.set_faults(internal_error=0.2)
        emu.stats()

It may use `orchestrator.vod.signing` (the same functions verify what the client signs) but
never the client itself, so that the two are checked against each other.
"""

from orchestrator.simulator.config import (
    DEFAULT_QPS,
    DEMO_ACCESS_KEY_ID,
    DEMO_ACCESS_KEY_SECRET,
    EmulatorConfig,
    FaultConfig,
    resolve_access_keys,
)
from orchestrator.simulator.core import EmulatorCore
from orchestrator.simulator.library import library_image_ids
from orchestrator.simulator.server import EmulatorStartError, RunningEmulator, serve

__all__ = [
    "DEFAULT_QPS",
    "DEMO_ACCESS_KEY_ID",
    "DEMO_ACCESS_KEY_SECRET",
    "EmulatorConfig",
    "EmulatorCore",
    "EmulatorStartError",
    "FaultConfig",
    "RunningEmulator",
    "library_image_ids",
    "resolve_access_keys",
    "serve",
]
