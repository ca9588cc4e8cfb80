"""The figures of a run, computed from recorded samples, jobs and events (no I/O, no clock)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bench.figures import (
    ApiSample,
    InFlight,
    Limits,
    RunRecord,
    compute,
    detection_lags,
    quantile,
)
from bench.procstat import ProcSample

START = 1_000.0
MIB = 1024 * 1024


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def job(n: int, submitted_at: float, completes_at: float) -> dict[str, Any]:
    return {"job_id": f"j{n}", "submitted_at": submitted_at, "completes_at": completes_at}


def event(n: int, kind: str, at: float) -> dict[str, Any]:
    return {"event": kind, "job_id": f"j{n}", "request_id": f"r{n}", "emitted_at": iso(at)}


def stats(
    *, calls: int = 0, ids: int = 0, answered: int = 0, throttled: int = 0, fetches: int = 0
) -> dict[str, Any]:
    return {
        "calls": {"ListAIJob": calls, "ListAIImageInfo": fetches},
        "ids_per_call": {"ListAIJob": {"sum": ids, "count": answered}},
        "throttled": {"ListAIJob": throttled} if throttled else {},
    }


def record(**changes: Any) -> RunRecord:
    fields: dict[str, Any] = {
        "system": "daemon",
        "started_at": START,
        "exit_code": 0,
        "timed_out": False,
        "cpu_s": 2.0,
        "emulator_cpu_s": 1.0,
        "proc": [],
        "api": [],
        "stats": stats(),
        "jobs": [],
        "events": [],
    }
    fields.update(changes)
    return RunRecord(**fields)


LIMITS = Limits(status_qps=100.0, max_interval_s=60.0)


def test_quantile_interpolates_between_ranks() -> None:
    """Quantiles interpolate linearly between sorted values; no values give None."""
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == pytest.approx(2.5)
    assert quantile([1.0, 2.0, 3.0, 4.0], 1.0) == 4.0
    assert quantile([7.0], 0.99) == 7.0
    assert quantile([], 0.5) is None


def test_in_flight_counts_submitted_not_yet_detected_jobs() -> None:
    """A job is in flight from its submission until its event, and the peak is found."""
    in_flight = InFlight(submitted=[1.0, 2.0, 3.0, 6.0], detected=[4.0, 5.0, 7.0, 8.0])
    assert [in_flight.at(t) for t in (0.5, 1.0, 3.5, 4.0, 6.5, 9.0)] == [0, 1, 3, 2, 2, 0]
    assert in_flight.peak() == (3, 3.0)
    assert in_flight.submissions_between(1.0, 3.0) == 2


def test_detection_lag_is_event_time_minus_completion_time() -> None:
    """Lags are sorted, and events of jobs the API never finished are left out."""
    jobs = [job(1, 0.0, 10.0), job(2, 0.0, 20.0), job(3, 0.0, 30.0)]
    events = [
        event(1, "job.succeeded", 12.5),
        event(2, "job.failed", 20.5),
        event(3, "job.timed_out", 40.0),
    ]
    assert detection_lags(jobs, events) == pytest.approx([0.5, 2.5])


def test_call_figures_come_from_the_emulator_counters() -> None:
    """Calls per completed job count throttled calls; IDs per call count answered calls only."""
    jobs = [job(n, START + n, START + 10 + n) for n in range(4)]
    events = [event(n, "job.succeeded", START + 11 + n) for n in range(3)]
    events.append(event(3, "job.failed", START + 14))
    figures = compute(
        record(
            jobs=jobs,
            events=events,
            stats=stats(calls=6, ids=20, answered=5, throttled=1, fetches=3),
        ),
        workload_jobs=4,
        time_scale=4.0,
        limits=LIMITS,
    )
    assert figures["completed_jobs"] == 4
    assert figures["outcomes"] == {"job.succeeded": 3, "job.failed": 1}
    assert figures["status_calls_per_completed_job"] == pytest.approx(1.5)
    assert figures["mean_ids_per_status_call"] == pytest.approx(4.0)
    assert figures["fetch_calls_per_completed_job"] == pytest.approx(0.75)
    assert figures["throttled_share_of_status_calls"] == pytest.approx(1 / 6)
    assert figures["detection_lag"]["p50_s"] == pytest.approx(1.0)
    assert figures["detection_lag"]["p50_api_s"] == pytest.approx(4.0)
    assert figures["wall_time_to_drain_s"] == pytest.approx(14.0)
    assert figures["cpu_s_per_1000_jobs"] == pytest.approx(500.0)
    assert figures["peak_in_flight"] == 4


def test_batching_is_judged_only_while_a_full_call_is_possible() -> None:
    """IDs per call count only intervals with at least 10 jobs running at the API at both ends;
    jobs complete but not yet reported (waiting for their images) do not count as running."""
    jobs = [
        job(n, START + (0 if n < 12 else 50), START + (20 if n < 12 else 100)) for n in range(14)
    ]
    events = [event(n, "job.succeeded", START + (90 if n < 12 else 110)) for n in range(14)]
    api = [
        ApiSample(START + 5, 0, 0, 0, 0),
        ApiSample(START + 15, 10, 100, 10, 0),  # 12 running at both ends: counted
        ApiSample(START + 55, 13, 103, 13, 0),  # 12 then 2 running (14 in flight): not counted
    ]
    figures = compute(
        record(jobs=jobs, events=events, api=api), workload_jobs=14, time_scale=1.0, limits=LIMITS
    )
    assert figures["mean_ids_per_status_call_at_10_running"] == pytest.approx(10.0)
    assert figures["saturated"]["achieved_status_qps"] is None


def test_saturated_intervals_give_the_achieved_rate_and_throttled_share() -> None:
    """With more jobs than the limit can poll at the longest interval, the rate is measured."""
    limits = Limits(status_qps=1.0, max_interval_s=1.0)  # saturated above 10 jobs running
    jobs = [job(n, START, START + 100) for n in range(20)]
    events = [event(n, "job.succeeded", START + 100) for n in range(20)]
    api = [
        ApiSample(START + 10, 0, 0, 0, 0),
        ApiSample(START + 20, 9, 80, 8, 1),
        ApiSample(START + 30, 19, 180, 18, 1),
    ]
    saturated = compute(
        record(jobs=jobs, events=events, api=api), workload_jobs=20, time_scale=1.0, limits=limits
    )["saturated"]
    assert saturated["seconds"] == pytest.approx(20.0)
    assert saturated["achieved_status_qps"] == pytest.approx(0.95)
    assert saturated["achieved_share_of_limit"] == pytest.approx(0.95)
    assert saturated["throttled_share"] == pytest.approx(1 / 19)


def test_steady_cpu_counts_the_plateau_without_submissions() -> None:
    """CPU share is taken where running jobs sit near their peak and nothing is submitted."""
    jobs = [job(n, START + n, START + 100) for n in range(10)]
    events = [event(n, "job.succeeded", START + 100) for n in range(10)]
    proc = [
        ProcSample(
            t=float(t),
            cpu_s=t * 0.5 if t <= 10 else 5.0 + (t - 10) * 0.05,
            rss_bytes=(10 + min(t, 9)) * MIB,
            hwm_bytes=(10 + min(t, 9)) * MIB,
        )
        for t in range(0, 60, 5)
    ]
    figures = compute(
        record(jobs=jobs, events=events, proc=proc),
        workload_jobs=10,
        time_scale=1.0,
        limits=LIMITS,
    )
    steady = figures["steady_state"]
    assert steady["seconds"] == pytest.approx(45.0)
    assert steady["cpu_fraction"] == pytest.approx(0.05)
    assert figures["peak_rss_mib"] == pytest.approx(19.0)
    assert figures["rss_per_in_flight_job_kib"] == pytest.approx(19 * 1024 / 10)
