"""Crash and stop: SIGKILL loses and repeats nothing it can avoid; SIGTERM stops cleanly."""

from __future__ import annotations

import signal

import pytest

from orchestrator import simulator
from orchestrator.simulator import EmulatorConfig
from orchestrator.states import State
from tests.e2e.conftest import TIME_SCALE, Workdir, eventually, job_lines
from tests.e2e.process import DaemonProcess, requests_in


@pytest.mark.slow
async def test_sigkill_then_restart_loses_and_duplicates_nothing(workdir: Workdir) -> None:
    """After SIGKILL mid-run and a restart, each request has one terminal event, none lost."""
    config = EmulatorConfig(seed=3, time_scale=TIME_SCALE / 3, fail_rate=0.1)
    workdir.append(job_lines(300))
    async with simulator.serve(config) as emulator:
        environ = workdir.environ(emulator.endpoint, ORCHESTRATOR_LIMITS_SUBMIT_QPS="100")
        daemon = DaemonProcess(environ, workdir.root / "daemon.log")
        await daemon.start()
        await eventually(lambda: len(workdir.events()) >= 60, timeout_s=60)
        daemon.signal(signal.SIGKILL)
        assert await daemon.wait(10) == -signal.SIGKILL
        caught_submitting = requests_in(workdir.root / "store.db", State.SUBMITTING)
        in_flight = requests_in(workdir.root / "store.db", State.SUBMITTED)
        assert in_flight, "the kill should land while jobs are being polled"

        restarted = DaemonProcess(environ, workdir.root / "daemon.log")
        await restarted.start("--until-idle")
        assert await restarted.wait(120) == 0
        submissions = emulator.submissions_by_request_id()

    counts = workdir.terminal_counts()
    assert set(counts) == {f"r{n}" for n in range(300)}
    assert set(counts.values()) == {1}
    resubmitted = {rid for rid, n in submissions.items() if n > 1}
    assert resubmitted <= caught_submitting


@pytest.mark.slow
async def test_sigterm_exits_zero_and_restart_resumes_without_resubmitting(
    workdir: Workdir,
) -> None:
    """SIGTERM stops the daemon with exit 0; the restart polls the same jobs, none resubmitted."""
    # Slow jobs: most are still running when the signal comes.
    config = EmulatorConfig(seed=5, time_scale=10, fail_rate=0.0)
    workdir.append(job_lines(50))
    async with simulator.serve(config) as emulator:
        environ = workdir.environ(
            emulator.endpoint,
            ORCHESTRATOR_LIMITS_SHUTDOWN_GRACE_S="5",
            ORCHESTRATOR_LIMITS_SUBMIT_QPS="100",
        )
        daemon = DaemonProcess(environ, workdir.root / "daemon.log")
        await daemon.start()
        await daemon.started()
        await eventually(lambda: len(requests_in(workdir.root / "store.db", State.SUBMITTED)) == 50)
        daemon.signal(signal.SIGTERM)
        assert await daemon.wait(10) == 0
        assert requests_in(workdir.root / "store.db", State.SUBMITTING) == set()
        assert requests_in(workdir.root / "store.db", State.SUBMITTED)

        restarted = DaemonProcess(environ, workdir.root / "daemon.log")
        await restarted.start("--until-idle")
        assert await restarted.wait(120) == 0
        submissions = emulator.submissions_by_request_id()

    assert set(workdir.terminal_counts().values()) == {1}
    assert len(workdir.terminal_counts()) == 50
    assert set(submissions.values()) == {1}
