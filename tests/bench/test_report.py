"""REPORT.md from results files: the newest file per workload, the targets, the kept analysis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.report import END, START, newest_results, targets, write_report


def figures(**changes: Any) -> dict[str, Any]:
    """A system's figures as the runner writes them, with chosen values changed."""
    base: dict[str, Any] = {
        "completed_jobs": 1000,
        "status_calls_per_completed_job": 1.0,
        "fetch_calls_per_completed_job": 0.95,
        "mean_ids_per_status_call": 10.0,
        "mean_ids_per_status_call_at_10_running": 10.0,
        "detection_lag": {
            **{f"p{p}_s": 1.0 for p in (50, 95, 99)},
            **{f"p{p}_api_s": 4.0 for p in (50, 95, 99)},
            "cdf_s": [0.5, 1.0],
        },
        "throttled_calls": 0,
        "throttled_share_of_status_calls": 0.0,
        "wall_time_to_drain_s": 100.0,
        "cpu_s_per_1000_jobs": 2.0,
        "peak_rss_mib": 50.0,
        "peak_in_flight": 500,
        "peak_running": 400,
        "rss_per_in_flight_job_kib": 100.0,
        "steady_state": {"seconds": 0.0, "cpu_fraction": None},
        "saturated": {
            "seconds": 0.0,
            "configured_status_qps": 100.0,
            "achieved_share_of_limit": None,
            "throttled_share": None,
        },
    }
    base.update(changes)
    return base


def document(name: str, systems: dict[str, Any]) -> dict[str, Any]:
    return {
        "workload": {
            "name": name,
            "jobs": 1000,
            "seed": 1,
            "duration_median_api_s": 60.0,
            "duration_sigma": 0.6,
            "fail_rate": 0.05,
            "time_scale": 4.0,
            "poll_initial_api_s": 5.0,
            "submit_qps": 30.0,
            "submit_limit_raised": False,
            "status_qps": 100.0,
        },
        "date": "2026-01-02T03:04:05+00:00",
        "machine": {
            "cores": 2,
            "cpu_model": "test",
            "memory_gib": 1.0,
            "python": "3.11",
            "platform": "linux",
            "sdk": "sdk 1",
        },
        "systems": systems,
    }


def verdict(rows: list[str], start: str) -> str:
    [row] = [r for r in rows if r.startswith(f"| {start}")]
    return row.rsplit("|", 2)[1].strip()


def test_call_target_needs_both_fewer_calls_and_no_worse_lag() -> None:
    """0.1x the naive calls at a lower p50 lag is met; the same calls at a worse lag is missed."""
    naive = figures(status_calls_per_completed_job=20.0)
    good = targets([document("W1", {"daemon": figures(), "naive": naive})])
    slow = figures(detection_lag={"p50_s": 2.0, "p50_api_s": 8.0, "p95_s": 3.0, "p99_s": 3.0})
    late = targets([document("W1", {"daemon": slow, "naive": naive})])
    assert verdict(good, "status calls/job") == "**met**"
    assert verdict(late, "status calls/job") == "**missed**"


def test_scale_targets_apply_only_at_a_hundred_thousand_in_flight() -> None:
    """RSS and steady CPU are judged on a run with 100,000 jobs in flight, not on smaller ones."""
    small = targets([document("W1", {"daemon": figures()})])
    assert not any("MB RSS" in row for row in small)
    big = figures(
        peak_in_flight=100_000,
        peak_rss_mib=250.0,
        steady_state={"seconds": 120.0, "cpu_fraction": 0.2},
        saturated={
            "seconds": 120.0,
            "configured_status_qps": 100.0,
            "achieved_share_of_limit": 0.97,
            "throttled_share": 0.0,
        },
    )
    rows = targets([document("W3", {"daemon": big})])
    assert verdict(rows, "100,000 in flight") == "**met**"
    assert verdict(rows, "daemon CPU") == "**missed**"
    assert verdict(rows, "status rate") == "**met**"


def test_report_keeps_the_analysis_and_reads_the_newest_results(tmp_path: Path) -> None:
    """Text outside the markers survives; the newest file of a workload is the one shown."""
    results = tmp_path / "results"
    results.mkdir()
    old = document("W1", {"daemon": figures(completed_jobs=1)})
    new = document("W1", {"daemon": figures(completed_jobs=777)})
    (results / "2026-01-01-W1.json").write_text(json.dumps(old))
    (results / "2026-01-02-W1.json").write_text(json.dumps(new))
    (results / "2026-01-03-W1-variant.json").write_text(json.dumps(old))
    report = tmp_path / "REPORT.md"
    report.write_text(f"# Title\n\nAnalysis before.\n\n{START}\nstale\n{END}\n\nAnalysis after.\n")
    drawn: list[Path] = []

    write_report(results, report, drawer=lambda _doc, png: drawn.append(png))

    text = report.read_text()
    assert text.startswith("# Title\n\nAnalysis before.\n\n")
    assert text.endswith(f"{END}\n\nAnalysis after.\n")
    assert "stale" not in text
    assert "| jobs completed (succeeded + failed) | 777 |" in text
    assert [p.name for p in drawn] == ["2026-01-02-W1.png"]
    assert [d["path"] for d in newest_results(results)] == ["2026-01-02-W1.json"]
