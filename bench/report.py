"""bench/REPORT.md and one PNG per workload from the newest results file of each workload.

The generated part of REPORT.md sits between two markers; what is written around them (the
analysis) is kept when the report is generated again.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.workloads import WORKLOADS

START = "<!-- generated:start (python -m bench report) -->"
END = "<!-- generated:end -->"
SYSTEM_ORDER = ("daemon", "naive", "careful")
BASELINES = ("naive", "careful")
# The targets of the issue "Benchmarks".
CALLS_RATIO_TARGET = 0.15
IDS_PER_CALL_TARGET = 9.5
RSS_TARGET_MB = 300.0
RSS_TARGET_IN_FLIGHT = 100_000
STEADY_CPU_TARGET = 0.10
ACHIEVED_RATE_TARGET = 0.95
THROTTLED_TARGET = 0.01
MB = 1_000_000
# The calls panel is logarithmic (tens of calls per job beside fractions of one): from a tenth of
# a call, with room above the tallest bar for its label and the legend.
CALLS_AXIS_FLOOR = 0.1
CALLS_AXIS_HEADROOM = 8.0
MIB = 1024 * 1024

Figures = dict[str, Any]


def newest_results(results_dir: Path) -> list[dict[str, Any]]:
    """The newest results document of each known workload, in catalogue order."""
    documents = []
    for name in WORKLOADS:
        paths = sorted(results_dir.glob(f"*-{name}.json"))
        if paths:
            document = json.loads(paths[-1].read_text())
            document["path"] = paths[-1].name
            documents.append(document)
    return documents


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


ROWS: Sequence[tuple[str, Callable[[Figures], str], Callable[[Figures], float | None] | None]] = (
    ("jobs completed (succeeded + failed)", lambda f: f"{f['completed_jobs']:,}", None),
    (
        "status calls per completed job",
        lambda f: _num(f["status_calls_per_completed_job"]),
        lambda f: f["status_calls_per_completed_job"],
    ),
    ("mean IDs per status call", lambda f: _num(f["mean_ids_per_status_call"]), None),
    (
        "… while ≥ 10 jobs running",
        lambda f: _num(f["mean_ids_per_status_call_at_10_running"]),
        None,
    ),
    (
        "detection lag p50, s (API s)",
        lambda f: _lag(f, "p50"),
        lambda f: f["detection_lag"]["p50_s"],
    ),
    (
        "detection lag p95, s (API s)",
        lambda f: _lag(f, "p95"),
        lambda f: f["detection_lag"]["p95_s"],
    ),
    (
        "detection lag p99, s (API s)",
        lambda f: _lag(f, "p99"),
        lambda f: f["detection_lag"]["p99_s"],
    ),
    (
        "throttled calls (share of status calls)",
        lambda f: f"{f['throttled_calls']:,} ({_pct(f['throttled_share_of_status_calls'])})",
        None,
    ),
    (
        "wall time to drain, s",
        lambda f: _num(f["wall_time_to_drain_s"], 1),
        lambda f: f["wall_time_to_drain_s"],
    ),
    (
        "CPU s per 1,000 jobs",
        lambda f: _num(f["cpu_s_per_1000_jobs"]),
        lambda f: f["cpu_s_per_1000_jobs"],
    ),
    ("peak RSS, MiB", lambda f: _num(f["peak_rss_mib"], 1), lambda f: f["peak_rss_mib"]),
    ("peak jobs in flight (running at the API)", lambda f: _in_flight(f), None),
    (
        "peak RSS per job in flight at the peak, KiB",
        lambda f: _num(f["rss_per_in_flight_job_kib"], 2),
        None,
    ),
    (
        "CPU share of a core, polling plateau",
        lambda f: _pct(f["steady_state"]["cpu_fraction"]),
        None,
    ),
)


def _in_flight(f: Figures) -> str:
    return f"{f['peak_in_flight']:,} ({f['peak_running']:,})"


def _lag(f: Figures, mark: str) -> str:
    lag = f["detection_lag"]
    return f"{_num(lag[f'{mark}_s'])} ({_num(lag[f'{mark}_api_s'], 1)})"


def workload_table(document: dict[str, Any]) -> list[str]:
    systems: dict[str, Figures] = document["systems"]
    ran = [s for s in SYSTEM_ORDER if s in systems and "skipped" not in systems[s]]
    compared = [b for b in BASELINES if b in ran and "daemon" in ran]
    header = ["figure", *ran, *(f"daemon / {b}" for b in compared)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, show, value in ROWS:
        cells = [label, *(show(systems[s]) for s in ran)]
        for baseline in compared:
            ratio = None
            if value is not None:
                mine, theirs = value(systems["daemon"]), value(systems[baseline])
                ratio = mine / theirs if mine is not None and theirs else None
            cells.append(_num(ratio, 3) if ratio is not None else "")
        lines.append("| " + " | ".join(cells) + " |")
    skipped: dict[str, list[str]] = {}
    for name in SYSTEM_ORDER:
        if name in systems and "skipped" in systems[name]:
            skipped.setdefault(systems[name]["skipped"], []).append(name)
    for reason, names in skipped.items():
        lines.append(f"\nNot run: {' and '.join(names)}: {reason}.")
    return lines


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**missed**")


def targets(documents: Sequence[dict[str, Any]]) -> list[str]:
    """One line per target and workload where it applies."""
    rows = ["| target | workload | measured | verdict |", "|---|---|---|---|"]
    for document in documents:
        name = document["workload"]["name"]
        systems = document["systems"]
        daemon = systems.get("daemon")
        if daemon is None:
            continue
        naive = systems.get("naive")
        if naive is not None and "skipped" not in naive:
            ratio = _safe_div(
                daemon["status_calls_per_completed_job"], naive["status_calls_per_completed_job"]
            )
            lag, naive_lag = daemon["detection_lag"]["p50_s"], naive["detection_lag"]["p50_s"]
            ok = None
            if ratio is not None and lag is not None and naive_lag is not None:
                ok = ratio <= CALLS_RATIO_TARGET and lag <= naive_lag
            rows.append(
                f"| status calls/job ≤ {CALLS_RATIO_TARGET} x naive's, at p50 lag ≤ naive's "
                f"| {name} | {_num(ratio, 3)} x, p50 {_num(lag)} s vs {_num(naive_lag)} s "
                f"| {_verdict(ok)} |"
            )
        ids = daemon["mean_ids_per_status_call_at_10_running"]
        rows.append(
            f"| mean IDs per status call ≥ {IDS_PER_CALL_TARGET} while ≥ 10 running | {name} | "
            f"{_num(ids)} | {_verdict(None if ids is None else ids >= IDS_PER_CALL_TARGET)} |"
        )
        if daemon["peak_in_flight"] >= RSS_TARGET_IN_FLIGHT:
            rss = daemon["peak_rss_mib"]
            rss_mb = None if rss is None else rss * MIB / MB
            cpu = daemon["steady_state"]["cpu_fraction"]
            rows.append(
                f"| {RSS_TARGET_IN_FLIGHT:,} in flight under {RSS_TARGET_MB:.0f} MB RSS | {name} | "
                f"{daemon['peak_in_flight']:,} in flight, {_num(rss_mb, 1)} MB | "
                f"{_verdict(None if rss_mb is None else rss_mb < RSS_TARGET_MB)} |"
            )
            rows.append(
                f"| daemon CPU < {STEADY_CPU_TARGET:.0%} of a core at steady state | {name} | "
                f"{_pct(cpu)} over {_num(daemon['steady_state']['seconds'], 0)} s | "
                f"{_verdict(None if cpu is None else cpu < STEADY_CPU_TARGET)} |"
            )
        saturated = daemon["saturated"]
        achieved, throttled = saturated["achieved_share_of_limit"], saturated["throttled_share"]
        ok = None
        if achieved is not None and throttled is not None:
            ok = achieved >= ACHIEVED_RATE_TARGET and throttled < THROTTLED_TARGET
        measured = (
            f"{_pct(achieved)} of {saturated['configured_status_qps']:.0f}/s, "
            f"{_pct(throttled)} throttled, over {_num(saturated['seconds'], 0)} s"
            if achieved is not None
            else "never saturated"
        )
        rows.append(
            f"| status rate ≥ {ACHIEVED_RATE_TARGET:.0%} of limit, < {THROTTLED_TARGET:.0%} "
            f"throttled, when saturated | {name} | {measured} | {_verdict(ok)} |"
        )
    return rows


def _safe_div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def draw(document: dict[str, Any], path: Path) -> None:
    """Detection-lag CDF, calls per completed job (log scale: the naive baseline makes tens),
    and memory with jobs in flight over the run."""
    # Imported here, by name: matplotlib is a `bench` extra, absent where only tests run.
    importlib.import_module("matplotlib").use("Agg")
    plt = importlib.import_module("matplotlib.pyplot")

    systems = {
        name: figures
        for name in SYSTEM_ORDER
        if (figures := document["systems"].get(name)) and "skipped" not in figures
    }
    scale = document["workload"]["time_scale"]
    fig, (lag_ax, calls_ax, rss_ax) = plt.subplots(1, 3, figsize=(17, 4.8))
    for name, figures in systems.items():
        cdf = figures["detection_lag"]["cdf_s"]
        if cdf:
            shares = [i / (len(cdf) - 1) for i in range(len(cdf))]
            lag_ax.plot([v * scale for v in cdf], shares, label=name)
    lag_ax.set_xlabel("detection lag, API s (event time - completion time)")
    lag_ax.set_ylabel("share of jobs")
    lag_ax.set_title("Detection lag (CDF)")
    lag_ax.grid(alpha=0.3)
    lag_ax.legend()

    names = list(systems)
    width = 0.38
    tallest: list[float] = []
    for offset, (key, label) in zip(
        (-width / 2, width / 2),
        (
            ("status_calls_per_completed_job", "status calls (ListAIJob)"),
            ("fetch_calls_per_completed_job", "fetch calls (ListAIImageInfo)"),
        ),
        strict=True,
    ):
        values = [systems[n][key] or 0 for n in names]
        tallest.extend(values)
        bars = calls_ax.bar([x + offset for x in range(len(names))], values, width, label=label)
        calls_ax.bar_label(bars, fmt="%.2f")
    calls_ax.set_xticks(range(len(names)), names)
    calls_ax.set_yscale("log")
    calls_ax.set_ylim(CALLS_AXIS_FLOOR, CALLS_AXIS_HEADROOM * max(CALLS_AXIS_FLOOR, *tallest))
    calls_ax.set_ylabel("calls per completed job (log)")
    calls_ax.set_title("API calls per completed job")
    calls_ax.legend(loc="upper left")

    jobs_ax = rss_ax.twinx()
    for name, figures in systems.items():
        timeline = figures["timeline"]
        times = [point[0] for point in timeline]
        line = rss_ax.plot(times, [point[3] for point in timeline], label=f"{name} RSS")
        jobs_ax.plot(
            times,
            [point[1] for point in timeline],
            linestyle=":",
            color=line[0].get_color(),
            label=f"{name} in flight",
        )
    rss_ax.set_xlabel("seconds since start")
    rss_ax.set_ylabel("RSS, MiB (solid)")
    jobs_ax.set_ylabel("jobs in flight (dotted)")
    rss_ax.set_ylim(bottom=0)
    jobs_ax.set_ylim(bottom=0)
    rss_ax.set_title("Memory and jobs in flight")
    rss_ax.legend(loc="upper left")

    workload = document["workload"]
    fig.suptitle(f"{workload['name']}: {workload['jobs']:,} jobs ({document['date'][:10]})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


Drawer = Callable[[dict[str, Any], Path], None]


def generated(
    documents: Sequence[dict[str, Any]], results_dir: Path, report: Path, drawer: Drawer
) -> str:
    lines = [START, ""]
    if documents:
        m = documents[0]["machine"]
        lines += [
            f"Machine: {m['cores']} cores ({m['cpu_model']}), {m['memory_gib']} GiB, "
            f"Python {m['python']}, {m['platform']}; baselines on {m['sdk']}.",
            "",
            "## Targets",
            "",
            *targets(documents),
            "",
        ]
    for document in documents:
        w = document["workload"]
        png = results_dir / document["path"].replace(".json", ".png")
        drawer(document, png)
        fill = (
            f", submissions at {w['submit_qps']:.0f}/s (emulator's SubmitAIImageJob limit "
            "raised to match for the fill)"
            if w["submit_limit_raised"]
            else f", submissions at {w['submit_qps']:.0f}/s"
        )
        lines += [
            f"## {w['name']}: {w['jobs']:,} jobs",
            "",
            f"Seed {w['seed']}; durations lognormal, median "
            f"{w['duration_median_api_s']:.0f} API s, sigma {w['duration_sigma']}; "
            f"{w['fail_rate']:.0%} fail; time scale "
            f"{w['time_scale']:g} (poll interval {w['poll_initial_api_s']:g} API s = "
            f"{w['poll_initial_api_s'] / w['time_scale']:g} s){fill}; ListAIJob limit "
            f"{w['status_qps']:.0f}/s. Results: `{results_dir.name}/{document['path']}` "
            f"({document['date']}).",
            "",
            *workload_table(document),
            "",
            f"![{w['name']}]({os.path.relpath(png, report.parent)})",
            "",
        ]
    lines.append(END)
    return "\n".join(lines)


def write_report(results_dir: Path, report: Path, drawer: Drawer = draw) -> Path:
    """Regenerate the marked part of `report` (created if missing) from `results_dir`."""
    body = generated(newest_results(results_dir), results_dir, report, drawer)
    text = report.read_text() if report.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START in text and END in text:
        head, _, rest = text.partition(START)
        _, _, tail = rest.partition(END)
        text = head + body + tail
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    report.write_text(text)
    return report
