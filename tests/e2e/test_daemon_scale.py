"""A thousand requests through faults and throttling: one terminal event each, full batches."""

from __future__ import annotations

import pytest

from orchestrator import simulator
from orchestrator.simulator import EmulatorConfig, FaultConfig
from tests.e2e.conftest import TIME_SCALE, Workdir, job_lines, run_until_idle


@pytest.mark.slow
async def test_thousand_requests_through_faults_each_end_once(workdir: Workdir) -> None:
    """Under 10% 5xx and throttling, 1,000 requests end once each in calls of at most 10 IDs."""
    config = EmulatorConfig(
        seed=11,
        time_scale=TIME_SCALE,
        fail_rate=0.2,
        faults=FaultConfig(internal_error=0.05, unavailable=0.05),
        # Below the daemon's configured rates, so the emulator throttles and the client adapts.
        qps={"SubmitAIImageJob": 100, "ListAIJob": 30},
    )
    workdir.append(job_lines(1000))
    async with simulator.serve(config) as emulator:
        settings = workdir.settings(
            emulator.endpoint,
            ORCHESTRATOR_LIMITS_SUBMIT_QPS="200",
            ORCHESTRATOR_LIMITS_STATUS_QPS="80",
            ORCHESTRATOR_LIMITS_RESULTS_QPS="200",
        )
        await run_until_idle(settings, timeout_s=240)
        stats = emulator.stats()

    counts = workdir.terminal_counts()
    assert len(counts) == 1000
    assert set(counts.values()) == {1}
    outcomes = {e["event"] for e in workdir.events()}
    assert {"job.succeeded", "job.failed"} <= outcomes
    status_ids = stats["ids_per_call"]["ListAIJob"]
    assert status_ids["max"] <= 10
    # Over the whole run, ramp-up and drain included (when fewer than 10 jobs are in flight).
    assert status_ids["mean"] >= 9.0, status_ids
    assert sum(stats["throttled"].values()) > 0
    assert sum(stats["faults"].values()) > 0
