"""The benchmark harness end to end on a tiny workload: it runs, and it writes every figure.

A benchmark's numbers depend on the machine; this only proves that `make bench-quick` still
works: the three systems run against the emulator and the results file holds each figure.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.runner import SYSTEMS, run_workload
from bench.workloads import WORKLOADS

FIGURES = (
    "completed_jobs",
    "status_calls_per_completed_job",
    "mean_ids_per_status_call",
    "mean_ids_per_status_call_at_10_running",
    "detection_lag",
    "throttled_calls",
    "wall_time_to_drain_s",
    "cpu_s_per_1000_jobs",
    "peak_rss_mib",
    "rss_per_in_flight_job_kib",
    "peak_in_flight",
    "steady_state",
    "saturated",
)


@pytest.mark.slow
def test_quick_run_writes_every_figure_for_every_system(tmp_path: Path) -> None:
    """A quick run of ~20 jobs leaves one results file with each figure of each system."""
    workload = WORKLOADS["quick"]
    path = run_workload(workload, results_dir=tmp_path)

    assert path.parent == tmp_path
    assert path.name.endswith("-quick.json")
    document = json.loads(path.read_text())
    assert set(document["machine"]) >= {"cores", "memory_gib", "python"}
    assert set(document["systems"]) == set(SYSTEMS)
    for system, figures in document["systems"].items():
        assert figures["exit_code"] == 0, system
        assert set(figures) >= set(FIGURES), system
        assert figures["completed_jobs"] == workload.jobs, system
        assert {"p50_s", "p95_s", "p99_s"} <= set(figures["detection_lag"]), system
    assert set(document["ratios"]) == {"daemon_vs_naive", "daemon_vs_careful"}
