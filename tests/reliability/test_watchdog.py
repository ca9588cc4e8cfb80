"""The stall watchdog: a blocked event loop is reported as `daemon.stall` with its overshoot."""

from __future__ import annotations

import time

import anyio
import pytest
from structlog.testing import capture_logs

from orchestrator import simulator
from orchestrator.daemon import STALL_THRESHOLD_S, WATCHDOG_TICK_S, Daemon, watch_stalls
from tests.e2e.conftest import Workdir, eventually


class _ScriptedLoop:
    """A clock and a sleep whose every wake-up comes the scripted number of seconds late."""

    def __init__(self, lateness: list[float]) -> None:
        self.now = 100.0
        self._lateness = lateness

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if not self._lateness:
            raise _ScriptDone
        self.now += seconds + self._lateness.pop(0)


class _ScriptDone(Exception):
    """Ends the watchdog's endless loop once the script is spent."""


async def test_only_wake_ups_more_than_a_second_late_are_stalls() -> None:
    """Late by 0, 0.5 and exactly 1 s is normal; 1.2 s and 3 s late are two stalls."""
    loop = _ScriptedLoop([0.0, 0.5, STALL_THRESHOLD_S, 1.2, 0.0, 3.0])
    with capture_logs() as logs, pytest.raises(_ScriptDone):
        await watch_stalls(clock=loop.clock, sleep=loop.sleep)
    stalls = [entry for entry in logs if entry["event"] == "daemon.stall"]
    assert [s["overshoot_s"] for s in stalls] == [1.2, 3.0]
    assert all(s["tick_s"] == WATCHDOG_TICK_S and s["log_level"] == "warning" for s in stalls)


async def test_running_daemon_reports_a_blocked_loop(
    workdir: Workdir, emulator: simulator.RunningEmulator
) -> None:
    """A daemon whose loop is blocked for 1.6 s logs one daemon.stall of over a second."""
    settings = workdir.settings(emulator.endpoint)
    assert settings.credentials is not None
    daemon = Daemon(settings, credentials=settings.credentials)
    with capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            tg.start_soon(daemon.run)
            await eventually(lambda: any(e["event"] == "daemon.started" for e in logs))
            await anyio.sleep(2 * WATCHDOG_TICK_S)
            time.sleep(1.6)  # noqa: ASYNC251 - blocking the loop is the point
            await eventually(lambda: any(e["event"] == "daemon.stall" for e in logs))
            daemon.request_stop()
    [stall] = [entry for entry in logs if entry["event"] == "daemon.stall"]
    assert STALL_THRESHOLD_S < stall["overshoot_s"] < 1.6 + WATCHDOG_TICK_S
