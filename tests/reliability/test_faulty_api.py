"""A faulty API: 5xx, throttling, dropped connections, garbled bodies and latency spikes.

The daemon runs as a real process (its own event loop, watched by its stall watchdog) against
an emulator that misbehaves on every action. Whatever the faults, each request ends once, with
the outcome of the job it ran, retries stay within the client's policy, and the loop never stalls.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from orchestrator import simulator
from orchestrator.simulator import EmulatorConfig, FaultConfig
from orchestrator.submitter import RESUBMIT_MAX_S
from orchestrator.vod.retry import RetryPolicy
from tests.e2e.conftest import TIME_SCALE, Workdir, job_lines
from tests.e2e.process import DaemonProcess
from tests.reliability.conftest import assert_no_traceback, log_records, named

JOBS = 300
LOOKUPS = 30
FAULTS = FaultConfig(
    # 20 % server errors in all: 500, 503 and a gateway's HTML 502.
    internal_error=0.10,
    unavailable=0.05,
    bad_gateway=0.05,
    drop_connection=0.05,
    malformed_body=0.02,
    latency_spike_rate=0.03,
    latency_spike_s=1.5,
)
# The emulator's limits sit below the daemon's rates, as in the scale test, so that the daemon
# is throttled (about one call in ten) and its limiter has to adapt.
EMULATOR_QPS = {"SubmitAIImageJob": 40, "ListAIJob": 10, "ListAIImageInfo": 10, "GetImageInfos": 2}
DAEMON_RATES = {
    "ORCHESTRATOR_LIMITS_SUBMIT_QPS": "160",
    "ORCHESTRATOR_LIMITS_STATUS_QPS": "80",
    "ORCHESTRATOR_LIMITS_RESULTS_QPS": "80",
    "ORCHESTRATOR_LIMITS_IMAGES_QPS": "16",
}


def _lookup_lines(image_ids: list[str]) -> list[dict[str, Any]]:
    return [
        {"image_ids": [image_ids[n % len(image_ids)], f"missing-{n}"], "request_id": f"look{n}"}
        for n in range(LOOKUPS)
    ]


@pytest.mark.slow
async def test_every_request_ends_with_its_jobs_outcome_despite_faults(workdir: Workdir) -> None:
    """Under 20% 5xx, throttling, drops, garbled bodies and spikes: true outcomes, no stall."""
    config = EmulatorConfig(
        seed=23, time_scale=TIME_SCALE, fail_rate=0.2, qps=EMULATOR_QPS, faults=FAULTS
    )
    log_path = workdir.root / "daemon.log"
    workdir.append(job_lines(JOBS))
    async with simulator.serve(config) as emulator:
        workdir.append(_lookup_lines(simulator.library_image_ids(config.seed, 20)))
        daemon = DaemonProcess(workdir.environ(emulator.endpoint, **DAEMON_RATES), log_path)
        await daemon.start("--until-idle")
        assert await daemon.wait(180) == 0
        stats = emulator.stats()
        jobs = {job["job_id"]: job for job in emulator.jobs()}
    assert_no_traceback(log_path)
    records = log_records(log_path)

    counts = workdir.terminal_counts()
    assert set(counts) == {f"r{n}" for n in range(JOBS)} | {f"look{n}" for n in range(LOOKUPS)}
    assert set(counts.values()) == {1}
    outcomes = Counter[str]()
    for event in workdir.events():
        if event["event"] in ("job.succeeded", "job.failed"):
            job = jobs[event["job_id"]]
            outcomes[event["event"]] += 1
            assert job["request_id"] == event["request_id"]
            assert (event["event"], event.get("code")) == (
                ("job.succeeded", None)
                if job["status"] == "success"
                else ("job.failed", job["code"])
            ), "a request ended by a fault, not by its job"
        elif event["event"] == "images.resolved":
            assert len(event["images"]) == 1
            assert len(event["missing_image_ids"]) == 1
        else:
            raise AssertionError(f"unexpected outcome {json.dumps(event)[:300]}")
    assert outcomes["job.succeeded"] + outcomes["job.failed"] == JOBS

    policy = RetryPolicy()
    retries = named(records, "vod.retry")
    assert retries, "the faults should have caused retries"
    assert max(r["attempt"] for r in retries) < policy.max_attempts
    assert max(r["wait_s"] for r in retries) <= policy.max_s
    assert all(r["attempts"] <= policy.max_attempts for r in named(records, "vod.gave_up"))
    assert all(r["retry_in_s"] <= RESUBMIT_MAX_S for r in named(records, "job.submit_deferred"))
    assert named(records, "daemon.stall") == []

    faults = stats["faults"]
    assert set(faults) == {
        "internal_error",
        "unavailable",
        "bad_gateway",
        "drop_connection",
        "malformed_body",
    }
    calls = sum(stats["calls"].values())
    throttled = sum(stats["throttled"].values())
    print(
        f"\nfaulty API: {calls} calls, {throttled} throttled ({throttled / calls:.1%}),"
        f" faults {dict(faults)}, {len(retries)} retries,"
        f" {len(named(records, 'vod.gave_up'))} gave up, outcomes {dict(outcomes)}"
    )
    assert throttled / calls >= 0.05
