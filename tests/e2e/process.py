"""The daemon as a real process (`python -m orchestrator run`), for kill and signal tests."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from orchestrator.states import State
from orchestrator.store import Store
from orchestrator.workers import wait_until

# A pidfd of every daemon started by a test, so that one a failing test left running is
# killed after it; a pidfd names that very process, never another that reused its pid.
_STARTED: list[int] = []


def kill_leftovers() -> int:
    """SIGKILL every daemon a test started that still runs; how many there were."""
    killed = 0
    for pidfd in _STARTED:
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
        finally:
            os.close(pidfd)
    _STARTED.clear()
    return killed


class DaemonProcess:
    def __init__(self, environ: dict[str, str], log_path: Path) -> None:
        self._environ = environ
        self._log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, *args: str) -> None:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("ORCHESTRATOR_", "ALIBABA_CLOUD_"))
        }
        env.update(self._environ)
        with self._log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "orchestrator",
                "run",
                *args,
                env=env,
                stdout=log,
                stderr=log,
                stdin=asyncio.subprocess.DEVNULL,
            )
        _STARTED.append(os.pidfd_open(self.proc.pid))

    async def wait(self, timeout_s: float) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout_s)

    async def started(self, timeout_s: float = 30.0) -> None:
        """Wait for the daemon's `daemon.started` log line (its store is open by then)."""
        async with asyncio.timeout(timeout_s):
            await wait_until(
                lambda: b"daemon.started" in self._log_path.read_bytes(), interval_s=0.05
            )

    def signal(self, signum: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)


def requests_in(store_path: Path, state: State) -> set[str]:
    """Request ids in `state`, read as `status` would, from a store no daemon holds."""
    store = Store.open_readonly(store_path, clock=lambda: 0.0)
    try:
        return {row.request_id for row in store.requests_in([state])}
    finally:
        store.close()
