"""Runs one workload through each system, one at a time, each against a fresh emulator.

Three processes per run: the emulator (`python -m orchestrator.simulator`, seeded by the
workload), the system under test (the daemon as `python -m orchestrator run --until-idle`, or
a baseline as `python -m bench.baselines`) and this harness, which samples the system's
/proc every half second and the emulator's counters every second, then collects the
emulator's jobs and the system's events. On a machine with two cores or more the system gets
a core of its own; the emulator and the harness share another.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import figures, procstat
from bench.emulator import Emulator
from bench.figures import ApiSample, Limits, RunRecord
from bench.workloads import (
    JOB_TIMEOUT_S,
    NONEXIST_GRACE_S,
    POLL_INITIAL_S,
    POLL_MAX_INTERVAL_S,
    WORKLOADS,
    Workload,
    queue_lines,
)
from orchestrator.simulator import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET

SYSTEMS = ("daemon", "naive", "careful")
REPO_ROOT = Path(__file__).resolve().parent.parent
PROC_SAMPLE_S = 0.5
API_SAMPLE_S = 1.0
LOOP_TICK_S = 0.05
# The daemon's figures log line, often enough to follow a run of minutes.
DAEMON_STATS_INTERVAL_S = 10.0
# The published limit of ListAIImageInfo ("queries of media assets"): the daemon may use it all.
RESULTS_QPS = 100.0
# The daemon's default cap on requests in flight; raised to the workload's size when larger.
DEFAULT_MAX_IN_FLIGHT = 10_000


@dataclass(frozen=True, slots=True)
class Placement:
    """Which CPUs the system under test and the rest (emulator, harness) run on."""

    system: tuple[int, ...]
    others: tuple[int, ...]

    @classmethod
    def for_machine(cls) -> Placement:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return cls(system=(), others=())
        return cls(system=(cpus[-1],), others=tuple(cpus[:-1]))


def _clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without any ORCHESTRATOR_* or credential variable."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ORCHESTRATOR_", "ALIBABA_CLOUD_"))
    }
    env.update(
        ALIBABA_CLOUD_ACCESS_KEY_ID=DEMO_ACCESS_KEY_ID,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=DEMO_ACCESS_KEY_SECRET,
        **extra,
    )
    return env


def daemon_settings(workload: Workload, workdir: Path, endpoint: str) -> dict[str, str]:
    """The daemon's ORCHESTRATOR_* settings: its defaults, time-scaled, at the published limits."""
    return {
        "ORCHESTRATOR_VOD_ENDPOINT": endpoint,
        "ORCHESTRATOR_QUEUE_PATH": str(workdir / "queue.jsonl"),
        "ORCHESTRATOR_QUEUE_DEAD_LETTER_PATH": str(workdir / "dead-letter.jsonl"),
        "ORCHESTRATOR_STORE_PATH": str(workdir / "store.db"),
        "ORCHESTRATOR_EVENTS_PATH": str(workdir / "events.jsonl"),
        "ORCHESTRATOR_POLL_INITIAL_S": str(workload.real(POLL_INITIAL_S)),
        "ORCHESTRATOR_POLL_MAX_INTERVAL_S": str(workload.real(POLL_MAX_INTERVAL_S)),
        "ORCHESTRATOR_POLL_NONEXIST_GRACE_S": str(workload.real(NONEXIST_GRACE_S)),
        "ORCHESTRATOR_POLL_JOB_TIMEOUT_S": str(workload.real(JOB_TIMEOUT_S)),
        "ORCHESTRATOR_LIMITS_SUBMIT_QPS": str(workload.submit_qps),
        "ORCHESTRATOR_LIMITS_STATUS_QPS": str(workload.status_qps),
        "ORCHESTRATOR_LIMITS_RESULTS_QPS": str(RESULTS_QPS),
        "ORCHESTRATOR_LIMITS_MAX_IN_FLIGHT": str(max(DEFAULT_MAX_IN_FLIGHT, workload.jobs)),
        "ORCHESTRATOR_LOG_STATS_INTERVAL_S": str(DAEMON_STATS_INTERVAL_S),
    }


def system_command(
    system: str,
    workload: Workload,
    workdir: Path,
    emulator: Emulator,
    daemon_overrides: Mapping[str, str],
) -> tuple[list[str], dict[str, str]]:
    if system == "daemon":
        settings = {**daemon_settings(workload, workdir, emulator.endpoint), **daemon_overrides}
        return [sys.executable, "-m", "orchestrator", "run", "--until-idle"], _clean_environ(
            **settings
        )
    command = [
        sys.executable,
        "-m",
        "bench.baselines",
        system,
        f"--endpoint=127.0.0.1:{emulator.port}",
        f"--queue={workdir / 'queue.jsonl'}",
        f"--events={workdir / 'events.jsonl'}",
        f"--interval-s={workload.poll_interval_real_s}",
        f"--submit-qps={workload.submit_qps}",
    ]
    return command, _clean_environ()


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open() as lines:
        return [json.loads(line) for line in lines if line.strip()]


def run_system(
    system: str,
    workload: Workload,
    workdir: Path,
    placement: Placement,
    daemon_overrides: Mapping[str, str],
) -> RunRecord:
    """One system through the workload, against a fresh emulator; everything recorded."""
    workdir.mkdir(parents=True)
    with (workdir / "queue.jsonl").open("wb") as queue:
        queue.writelines(queue_lines(workload))
    emulator = Emulator(workload, cpus=placement.others)
    try:
        command, env = system_command(system, workload, workdir, emulator, daemon_overrides)
        with (workdir / "system.log").open("wb") as log:
            started_at = time.time()
            child = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        try:
            if placement.system:
                os.sched_setaffinity(child.pid, set(placement.system))
            proc, api, timed_out = _watch(child.pid, started_at, emulator, workload.max_run_s)
        except BaseException:
            child.kill()
            raise
        finally:
            cpu_s = procstat.reap(child, 0.0)
        stats = emulator.stats()
        api.append(ApiSample.from_stats(time.time(), stats))
        jobs = emulator.jobs()
    finally:
        emulator_cpu_s = emulator.stop()
    return RunRecord(
        system=system,
        started_at=started_at,
        exit_code=child.returncode,
        timed_out=timed_out,
        cpu_s=cpu_s,
        emulator_cpu_s=emulator_cpu_s,
        proc=proc,
        api=api,
        stats=stats,
        jobs=jobs,
        events=read_events(workdir / "events.jsonl"),
    )


def _watch(
    pid: int, started_at: float, emulator: Emulator, max_run_s: float
) -> tuple[list[procstat.ProcSample], list[ApiSample], bool]:
    """Sample the system and the emulator until the system exits (killed past `max_run_s`);
    the process is left unreaped, for its final CPU time."""
    proc: list[procstat.ProcSample] = []
    api: list[ApiSample] = []
    timed_out = False
    next_proc = next_api = 0.0
    while not procstat.exited_unreaped(pid):
        now = time.time() - started_at
        if now >= next_proc:
            sample = procstat.sample(pid, now)
            if sample is not None:
                proc.append(sample)
            next_proc += PROC_SAMPLE_S
        if now >= next_api:
            api.append(ApiSample.from_stats(time.time(), emulator.stats()))
            next_api += API_SAMPLE_S
        if now > max_run_s and not timed_out:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
        time.sleep(LOOP_TICK_S)
    return proc, api, timed_out


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    with open("/proc/meminfo") as meminfo:
        total_kib = int(meminfo.readline().split()[1])
    model = ""
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(total_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sdk": f"alibabacloud-vod20170321 {metadata.version('alibabacloud-vod20170321')}",
    }


def revision() -> dict[str, Any]:
    """The code measured: the commit, and whether the package had uncommitted changes."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], capture_output=True, text=True, check=True, cwd=REPO_ROOT
            )
        except (OSError, subprocess.CalledProcessError):
            return ""
        return done.stdout

    changed = git("status", "--porcelain", "--", "orchestrator")
    return {
        "commit": git("rev-parse", "HEAD").strip() or None,
        "orchestrator_changed_files": [line[3:] for line in changed.splitlines()],
    }


def ratios(systems: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """The daemon's figures divided by each baseline's (below 1: the daemon uses less)."""
    daemon = systems.get("daemon")
    out: dict[str, dict[str, float | None]] = {}
    if daemon is None or "skipped" in daemon:
        return out
    keys: dict[str, Callable[[dict[str, Any]], float | None]] = {
        "status_calls_per_completed_job": lambda f: f["status_calls_per_completed_job"],
        "detection_lag_p50": lambda f: f["detection_lag"]["p50_s"],
        "detection_lag_p99": lambda f: f["detection_lag"]["p99_s"],
        "wall_time_to_drain": lambda f: f["wall_time_to_drain_s"],
        "cpu_s_per_1000_jobs": lambda f: f["cpu_s_per_1000_jobs"],
        "peak_rss": lambda f: f["peak_rss_mib"],
    }
    for name, figures_of in systems.items():
        if name == "daemon" or "skipped" in figures_of:
            continue
        row: dict[str, float | None] = {}
        for key, get in keys.items():
            mine, theirs = get(daemon), get(figures_of)
            row[key] = mine / theirs if mine is not None and theirs else None
        out[f"daemon_vs_{name}"] = row
    return out


def run_workload(
    workload: Workload,
    *,
    results_dir: Path,
    systems: Sequence[str] = SYSTEMS,
    daemon_overrides: Mapping[str, str] | None = None,
    label: str = "",
    keep_dir: Path | None = None,
) -> Path:
    """Run `workload` through `systems` and write bench/results/<date>-<workload>.json.

    `daemon_overrides` (ORCHESTRATOR_* variables) try the daemon with other settings; such a
    run needs a `label`, which goes into the file name (<date>-<workload>-<label>.json) so
    that the report, which reads the unlabelled files, is not confused by it. With `keep_dir`
    each system's files (queue, events, logs, store) and its raw record stay there.
    """
    overrides = dict(daemon_overrides or {})
    if overrides and not label:
        raise ValueError("a run with daemon overrides needs a label")
    placement = Placement.for_machine()
    results: dict[str, dict[str, Any]] = {}
    with contextlib.ExitStack() as stack:
        scratch = keep_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix=f"bench-{workload.name}-"))
        )
        for system in systems:
            if system != "daemon" and not workload.baselines:
                results[system] = {"system": system, "skipped": workload.baselines_skipped_because}
                continue
            print(f"[{workload.name}] {system}: {workload.jobs} jobs ...", flush=True)
            record = run_system(system, workload, scratch / system, placement, overrides)
            if keep_dir is not None:
                (scratch / system / "record.json").write_text(json.dumps(asdict(record)))
            results[system] = figures_of(record, workload)
            print(f"[{workload.name}] {system}: {_summary(results[system])}", flush=True)
    now = datetime.now(UTC)
    document = {
        "workload": workload.describe(),
        "date": now.isoformat(timespec="seconds"),
        "machine": machine(),
        "revision": revision(),
        "daemon_overrides": overrides,
        "placement": {
            "system_cpus": placement.system,
            "emulator_and_harness_cpus": placement.others,
        },
        "systems": results,
        "ratios": ratios(results),
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    suffix = f"-{label}" if label else ""
    path = results_dir / f"{now:%Y-%m-%d}-{workload.name}{suffix}.json"
    _write(path, document)
    return path


def figures_of(record: RunRecord, workload: Workload) -> dict[str, Any]:
    limits = Limits(
        status_qps=workload.status_qps, max_interval_s=workload.real(POLL_MAX_INTERVAL_S)
    )
    return figures.compute(
        record, workload_jobs=workload.jobs, time_scale=workload.time_scale, limits=limits
    )


def load_record(path: Path) -> RunRecord:
    """A raw record kept by `run_workload(keep_dir=...)`."""
    raw = json.loads(path.read_text())
    raw["proc"] = [procstat.ProcSample(**sample) for sample in raw["proc"]]
    raw["api"] = [ApiSample(**sample) for sample in raw["api"]]
    return RunRecord(**raw)


def refigure(results_path: Path, kept: Path) -> None:
    """Compute a results file's figures again from the raw records kept in `kept` (one
    directory per system), after a change to how a figure is defined; the run stays as it was."""
    document = json.loads(results_path.read_text())
    workload = WORKLOADS[document["workload"]["name"]]
    systems: dict[str, dict[str, Any]] = document["systems"]
    for name, old in systems.items():
        if "skipped" not in old:
            systems[name] = figures_of(load_record(kept / name / "record.json"), workload)
    document["ratios"] = ratios(systems)
    _write(results_path, document)


def _write(path: Path, document: dict[str, Any]) -> None:
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(document, indent=1) + "\n")
    temporary.replace(path)


def _summary(f: dict[str, Any]) -> str:
    lag = f["detection_lag"]
    p50 = "-" if lag["p50_s"] is None else f"{lag['p50_s']:.2f}"
    per_job = f["status_calls_per_completed_job"]
    return (
        f"completed {f['completed_jobs']}, status calls/job "
        f"{'-' if per_job is None else f'{per_job:.2f}'}, lag p50 {p50} s, "
        f"throttled {f['throttled_calls']}, cpu {f['cpu_s']} s, peak RSS {f['peak_rss_mib']} MiB"
    )
