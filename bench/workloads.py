"""The benchmark workloads: how many jobs, how long they last, how fast they may be polled.

Durations and poll intervals are stated in API time (what a real account would see) and divided
by `time_scale` for the run. The published rate limits stay as they are, in real calls per
second: the ratio of polling demand to the limit, in_flight / interval / limit, is then the same
as unscaled, since in-flight jobs (submit rate x duration) shrink by the same factor as the
intervals. What the scale does change is the weight of fixed real-time costs (an HTTP round
trip, a loop tick): detection lags are reported in real seconds and in API seconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

# The published per-account limits (calls/s): AI-job starts 30, AI-job queries 100.
PUBLISHED_SUBMIT_QPS = 30.0
PUBLISHED_STATUS_QPS = 100.0
# The daemon's documented poll defaults (config/orchestrator.toml), in API seconds. The
# baselines poll at the daemon's initial interval: a fixed 5 s is what the API pages suggest.
POLL_INITIAL_S = 5.0
POLL_MAX_INTERVAL_S = 60.0
NONEXIST_GRACE_S = 30.0
# Long enough for the slowest job of every workload plus a stretched poll, short enough that a
# stuck run still ends with timed-out events instead of hanging the benchmark.
JOB_TIMEOUT_S = 3 * 3600.0
TEMPLATE_ID = "bench-cover"


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """One seeded workload; durations (`median_s`, intervals) are API seconds."""

    name: str
    jobs: int
    seed: int
    median_s: float
    sigma: float
    time_scale: float
    fail_rate: float = 0.05
    # Submission pace of every system; above the published limit only for a fill phase, with
    # the emulator's SubmitAIImageJob limit lifted to match (said so in the results).
    submit_qps: float = PUBLISHED_SUBMIT_QPS
    status_qps: float = PUBLISHED_STATUS_QPS
    baselines: bool = True
    # Why the baselines do not run, when they do not (written into the results).
    baselines_skipped_because: str = ""
    # Wall-clock bound of one system's run: past it the run is stopped and reported as such.
    max_run_s: float = 1800.0

    def real(self, api_seconds: float) -> float:
        """API seconds as real seconds of this run."""
        return api_seconds / self.time_scale

    @property
    def poll_interval_real_s(self) -> float:
        return self.real(POLL_INITIAL_S)

    @property
    def submit_limit_raised(self) -> bool:
        return self.submit_qps > PUBLISHED_SUBMIT_QPS

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "jobs": self.jobs,
            "seed": self.seed,
            "duration_median_api_s": self.median_s,
            "duration_sigma": self.sigma,
            "time_scale": self.time_scale,
            "fail_rate": self.fail_rate,
            "poll_initial_api_s": POLL_INITIAL_S,
            "poll_max_interval_api_s": POLL_MAX_INTERVAL_S,
            "submit_qps": self.submit_qps,
            "submit_limit_raised": self.submit_limit_raised,
            "status_qps": self.status_qps,
            "baselines": self.baselines,
            "baselines_skipped_because": self.baselines_skipped_because or None,
        }


def queue_lines(workload: Workload) -> Iterator[bytes]:
    """The queue file every system reads: one video per job, request ids in order."""
    for n in range(workload.jobs):
        line = {
            "video_id": f"bench-video-{n:06d}",
            "template_id": TEMPLATE_ID,
            "request_id": f"r{n:06d}",
        }
        yield json.dumps(line, separators=(",", ":")).encode() + b"\n"


# W3's jobs last ten minutes with little spread, so that all 100,000 are in flight together
# once the fill (submissions at the raised rate) is over.
W3_SKIP_REASON = (
    "at 100,000 jobs in flight, polling every 5 s takes 20,000 calls/s one ID at a time (naive) "
    "and 2,000 calls/s ten at a time (careful), against a limit of 100 calls/s"
)

WORKLOADS: dict[str, Workload] = {
    workload.name: workload
    for workload in (
        Workload(name="W1", jobs=1_000, seed=101, median_s=60.0, sigma=0.6, time_scale=4.0),
        Workload(name="W2", jobs=10_000, seed=102, median_s=60.0, sigma=0.6, time_scale=4.0),
        Workload(
            name="W3",
            jobs=100_000,
            seed=103,
            median_s=600.0,
            sigma=0.1,
            time_scale=1.0,
            submit_qps=1000.0,
            baselines=False,
            baselines_skipped_because=W3_SKIP_REASON,
            max_run_s=3600.0,
        ),
        # The harness's own check: seconds, not minutes; its figures prove nothing.
        Workload(
            name="quick",
            jobs=20,
            seed=7,
            median_s=10.0,
            sigma=0.3,
            time_scale=20.0,
            fail_rate=0.1,
            max_run_s=120.0,
        ),
    )
}
