"""Fixtures of the emulator tests: a fake clock, a running emulator, a signed caller."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from orchestrator.simulator import EmulatorConfig, RunningEmulator, serve
from tests.simulator.helpers import Caller, FakeClock, Running, Start


@pytest.fixture
def clock() -> FakeClock:
    """Starts at the real time so that third-party clients' timestamps are within tolerance."""
    return FakeClock(time.time())


@pytest.fixture
def start(clock: FakeClock) -> Start:
    """Start an emulator on an ephemeral port, on the test's fake clock."""

    def starter(config: EmulatorConfig | None = None) -> Running:
        return serve(config or EmulatorConfig(), clock=clock)

    return starter


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def emu(start: Start) -> AsyncIterator[RunningEmulator]:
    async with start() as running:
        yield running


@pytest.fixture
def caller(session: aiohttp.ClientSession, emu: RunningEmulator, clock: FakeClock) -> Caller:
    return Caller(session, emu, clock)
