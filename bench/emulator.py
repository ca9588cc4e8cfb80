"""The emulator in a process of its own (`python -m orchestrator.simulator`), and its
unsigned introspection pages, read with the standard library so the harness stays light."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from typing import Any

from bench.procstat import reap
from bench.workloads import Workload

STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
# /_emulator/jobs of 100,000 jobs is tens of megabytes of JSON: give it time.
INTROSPECTION_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def emulator_command(workload: Workload, port: int) -> list[str]:
    """The emulator's command line: the workload's seed and job shape, published limits.

    Only SubmitAIImageJob is raised, and only when the workload fills faster than the
    published 30/s (W3); every other limit is the published one.
    """
    command = [
        sys.executable,
        "-m",
        "orchestrator.simulator",
        f"--port={port}",
        f"--seed={workload.seed}",
        f"--time-scale={workload.time_scale}",
        f"--job-median-s={workload.median_s}",
        f"--job-sigma={workload.sigma}",
        f"--fail-rate={workload.fail_rate}",
        "--log-level=warning",
    ]
    if workload.submit_limit_raised:
        command.append(f"--qps=SubmitAIImageJob={workload.submit_qps}")
    return command


class Emulator:
    """A started emulator process; `stop()` ends it and tells its CPU seconds."""

    def __init__(self, workload: Workload, *, cpus: Sequence[int] = ()) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(emulator_command(workload, self.port))
        if cpus:
            os.sched_setaffinity(self.process.pid, set(cpus))
        self._wait_until_up()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _get(self, page: str, timeout_s: float = INTROSPECTION_TIMEOUT_S) -> Any:
        with urllib.request.urlopen(f"{self.endpoint}/_emulator/{page}", timeout=timeout_s) as r:
            return json.load(r)

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the emulator exited with {self.process.returncode}")
            try:
                self._get("stats", timeout_s=1.0)
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.05)

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._get("stats")
        return stats

    def jobs(self) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = self._get("jobs")["jobs"]
        return jobs

    def stop(self) -> float | None:
        """Stop the emulator; its CPU seconds over the whole run (None if unreadable)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return reap(self.process, STOP_TIMEOUT_S)
