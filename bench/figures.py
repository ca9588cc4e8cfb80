"""The figures of one run, computed from what was recorded (pure: no clock, no I/O).

Inputs are the emulator's view (its final counters, its jobs with their submission and
completion times, its counters sampled every second), the system's events (the detection
time of each job) and the /proc samples of the system's process. Every time is Unix seconds
on the one machine clock that the emulator, the system and the harness share.

Jobs in flight at time t: submitted by t (emulator) and not yet reported by an event at t;
they hold the system's memory. Jobs running at t: submitted by t and not yet completed at the
API. Those must be polled, whatever the system does, so they are the population that decides
whether a full status call is possible and whether more polling is due than the limit allows
(jobs that are complete but not yet reported may be waiting for their images, not for a poll).
"""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bench.procstat import ProcSample

STATUS_ACTIONS = ("ListAIJob", "GetAIImageJobs")
# Events that end a job the API finished, so that its detection lag is defined.
DETECTED_EVENTS = frozenset({"job.succeeded", "job.failed"})
TERMINAL_EVENTS = DETECTED_EVENTS | {"job.timed_out", "job.lost"}
BATCH_SIZE = 10  # ListAIJob's maximum of IDs per call
# "Whenever 10 or more jobs are in flight": a call can only be full with that many running.
FULL_BATCH_IN_FLIGHT = 10
# The plateau of a run: running jobs within this share of their peak.
PLATEAU_SHARE = 0.9
# A steady-state CPU figure over less than this much time says little.
MIN_STEADY_WINDOW_S = 10.0
MIB = 1024 * 1024
# Points kept of the lag distribution for the CDF figure, and of the run's timeline.
CDF_POINTS = 101
TIMELINE_POINTS = 240


@dataclass(frozen=True, slots=True)
class ApiSample:
    """The emulator's cumulative counters at time `t`."""

    t: float
    status_calls: int
    status_ids: int
    status_answered: int  # calls past throttling (the ones whose IDs are counted)
    status_throttled: int

    @classmethod
    def from_stats(cls, t: float, stats: Mapping[str, Any]) -> ApiSample:
        ids = stats["ids_per_call"]
        return cls(
            t=t,
            status_calls=sum(stats["calls"].get(a, 0) for a in STATUS_ACTIONS),
            status_ids=sum(ids.get(a, {}).get("sum", 0) for a in STATUS_ACTIONS),
            status_answered=sum(ids.get(a, {}).get("count", 0) for a in STATUS_ACTIONS),
            status_throttled=sum(stats["throttled"].get(a, 0) for a in STATUS_ACTIONS),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """Everything recorded of one system on one workload."""

    system: str
    started_at: float
    exit_code: int | None
    timed_out: bool
    cpu_s: float | None
    emulator_cpu_s: float | None
    proc: Sequence[ProcSample]  # t relative to started_at
    api: Sequence[ApiSample]  # t absolute
    stats: Mapping[str, Any]
    jobs: Sequence[Mapping[str, Any]]
    events: Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """What the system was allowed, in real time, to judge saturation."""

    status_qps: float
    max_interval_s: float


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def quantile(values: Sequence[float], fraction: float) -> float | None:
    """Linear-interpolated quantile of sorted `values`; None when empty."""
    if not values:
        return None
    position = fraction * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


class InFlight:
    """Jobs in flight at any time, from submission times and detection times."""

    def __init__(self, submitted: Iterable[float], detected: Iterable[float]) -> None:
        self._submitted = sorted(submitted)
        self._detected = sorted(detected)

    def at(self, t: float) -> int:
        return bisect.bisect_right(self._submitted, t) - bisect.bisect_right(self._detected, t)

    def submissions_between(self, start: float, end: float) -> int:
        """Submissions in (start, end]."""
        return bisect.bisect_right(self._submitted, end) - bisect.bisect_right(
            self._submitted, start
        )

    def peak(self) -> tuple[int, float]:
        """The most jobs in flight at once, and when that was first reached."""
        best, best_t, current = 0, 0.0, 0
        detected = self._detected
        d = 0
        for t in self._submitted:
            while d < len(detected) and detected[d] <= t:
                current -= 1
                d += 1
            current += 1
            if current > best:
                best, best_t = current, t
        return best, best_t


def detection_lags(
    jobs: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]]
) -> list[float]:
    """Sorted seconds from each job's completion (emulator) to its event (system)."""
    completes_at = {job["job_id"]: job["completes_at"] for job in jobs}
    lags = [
        parse_time(event["emitted_at"]) - completes_at[event["job_id"]]
        for event in events
        if event.get("event") in DETECTED_EVENTS and event.get("job_id") in completes_at
    ]
    return sorted(lags)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _lag_summary(lags: Sequence[float], time_scale: float) -> dict[str, Any]:
    marks = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
    real = {name: quantile(lags, fraction) for name, fraction in marks.items()}
    return {
        **{f"{name}_s": value for name, value in real.items()},
        **{
            f"{name}_api_s": None if value is None else value * time_scale
            for name, value in real.items()
        },
        "mean_s": statistics.fmean(lags) if lags else None,
        "max_s": lags[-1] if lags else None,
        "cdf_s": [quantile(lags, i / (CDF_POINTS - 1)) for i in range(CDF_POINTS)] if lags else [],
    }


def _interval_figures(
    api: Sequence[ApiSample], running: InFlight, limits: Limits
) -> dict[str, Any]:
    """Batching whenever a full call is possible, and the rate achieved under saturation.

    Saturated: even at the longest poll interval, the jobs running need more calls than the
    status limit allows (running / (10 x max_interval) > status_qps) at both ends of a
    sampling interval, so more work is due than can be sent.
    """
    ids = answered = 0
    sat_s = sat_calls = sat_throttled = 0.0
    saturating_in_flight = limits.status_qps * BATCH_SIZE * limits.max_interval_s
    for a, b in itertools.pairwise(api):
        low = min(running.at(a.t), running.at(b.t))
        if low >= FULL_BATCH_IN_FLIGHT:
            ids += b.status_ids - a.status_ids
            answered += b.status_answered - a.status_answered
        if low > saturating_in_flight:
            sat_s += b.t - a.t
            sat_calls += b.status_calls - a.status_calls
            sat_throttled += b.status_throttled - a.status_throttled
    achieved = sat_calls / sat_s if sat_s else None
    return {
        "mean_ids_per_status_call_at_10_running": _ratio(ids, answered),
        "saturated": {
            "seconds": sat_s,
            "running_threshold": saturating_in_flight,
            "configured_status_qps": limits.status_qps,
            "achieved_status_qps": achieved,
            "achieved_share_of_limit": None if achieved is None else achieved / limits.status_qps,
            "throttled_share": _ratio(sat_throttled, sat_calls),
        },
    }


def _steady_cpu(proc: Sequence[ProcSample], started_at: float, running: InFlight) -> Any:
    """CPU share of one core while polling its peak of running jobs, without submissions."""
    peak, _ = running.peak()
    floor = PLATEAU_SHARE * peak
    cpu = seconds = 0.0
    for a, b in itertools.pairwise(proc):
        ta, tb = started_at + a.t, started_at + b.t
        if (
            running.at(ta) >= floor
            and running.at(tb) >= floor
            and running.submissions_between(ta, tb) == 0
        ):
            cpu += b.cpu_s - a.cpu_s
            seconds += tb - ta
    return {
        "seconds": seconds,
        "cpu_fraction": cpu / seconds if seconds >= MIN_STEADY_WINDOW_S else None,
    }


def _memory(proc: Sequence[ProcSample], peak_in_flight: int) -> dict[str, Any]:
    """Peak RSS, whole and per job in flight at the peak (the interpreter's fixed share included:
    compare runs of different sizes for the cost of one more job)."""
    hwm = max((s.hwm_bytes or 0 for s in proc), default=0)
    return {
        "peak_rss_mib": hwm / MIB if hwm else None,
        "rss_per_in_flight_job_kib": _ratio(hwm / 1024, peak_in_flight) if hwm else None,
    }


def _timeline(
    proc: Sequence[ProcSample], started_at: float, in_flight: InFlight
) -> list[list[float]]:
    """[t, in_flight, cpu_s, rss_mib] at most TIMELINE_POINTS times, for the figures."""
    step = max(1, len(proc) // TIMELINE_POINTS)
    return [
        [s.t, in_flight.at(started_at + s.t), s.cpu_s, (s.rss_bytes or 0) / MIB]
        for s in proc[::step]
    ]


def compute(
    record: RunRecord, *, workload_jobs: int, time_scale: float, limits: Limits
) -> dict[str, Any]:
    """Every figure of one run."""
    stats = record.stats
    events = [e for e in record.events if e.get("event") in TERMINAL_EVENTS]
    detected = [parse_time(e["emitted_at"]) for e in events]
    outcomes: dict[str, int] = {}
    for event in events:
        outcomes[event["event"]] = outcomes.get(event["event"], 0) + 1
    completed = sum(outcomes.get(kind, 0) for kind in DETECTED_EVENTS)
    in_flight = InFlight((job["submitted_at"] for job in record.jobs), detected)
    running = InFlight(
        (job["submitted_at"] for job in record.jobs), (job["completes_at"] for job in record.jobs)
    )
    peak, peak_at = in_flight.peak()
    calls = stats["calls"]
    status_calls = sum(calls.get(a, 0) for a in STATUS_ACTIONS)
    ids = stats["ids_per_call"]
    status_ids = sum(ids.get(a, {}).get("sum", 0) for a in STATUS_ACTIONS)
    answered = sum(ids.get(a, {}).get("count", 0) for a in STATUS_ACTIONS)
    throttled = stats["throttled"]
    status_throttled = sum(throttled.get(a, 0) for a in STATUS_ACTIONS)
    lags = detection_lags(record.jobs, events)
    cpu = record.cpu_s
    return {
        "system": record.system,
        "exit_code": record.exit_code,
        "timed_out": record.timed_out,
        "jobs_submitted": len(record.jobs),
        "outcomes": outcomes,
        "completed_jobs": completed,
        "status_calls": status_calls,
        "status_calls_per_completed_job": _ratio(status_calls, completed),
        "mean_ids_per_status_call": _ratio(status_ids, answered),
        "fetch_calls_per_completed_job": _ratio(calls.get("ListAIImageInfo", 0), completed),
        "calls": dict(calls),
        "throttled_calls": sum(throttled.values()),
        "throttled_by_action": dict(throttled),
        "throttled_share_of_status_calls": _ratio(status_throttled, status_calls),
        "detection_lag": _lag_summary(lags, time_scale),
        "wall_time_to_drain_s": max(detected) - record.started_at if detected else None,
        "cpu_s": cpu,
        "cpu_s_per_1000_jobs": None if cpu is None else cpu / workload_jobs * 1000,
        "emulator_cpu_s": record.emulator_cpu_s,
        "peak_in_flight": peak,
        "peak_in_flight_at_s": peak_at - record.started_at if peak else None,
        **_memory(record.proc, peak),
        "peak_running": running.peak()[0],
        "steady_state": _steady_cpu(record.proc, record.started_at, running),
        **_interval_figures(record.api, running, limits),
        "timeline": _timeline(record.proc, record.started_at, in_flight),
    }
