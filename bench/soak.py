"""Soak: steady enqueueing near the API limit for a long time; memory must not grow.

`python -m bench.soak --minutes 60` runs the emulator and the daemon as processes of their own
(real time: jobs last as long as real ones, 30 s median), appends `--rate` jobs per second to
the queue file for the whole run, and every `--sample-s` seconds records the daemon's RSS and
CPU, the jobs in flight, and the status calls and detection lags of the window. The result is
written to bench/results/<date>-soak.json with a one-line summary per window on stdout.
A benchmark, not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.emulator import Emulator
from bench.figures import detection_lags, quantile
from bench.procstat import reap, sample
from bench.runner import _clean_environ, daemon_settings, machine, revision
from bench.workloads import Workload

RESULTS = Path(__file__).resolve().parent / "results"
# Just under the daemon's default submit limit (20/s): the queue never backs up, the API is busy.
DEFAULT_RATE = 18.0
STOP_TIMEOUT_S = 60.0


def soak_workload(minutes: float, rate: float) -> Workload:
    return Workload(
        name="soak",
        jobs=int(minutes * 60 * rate),
        seed=4242,
        median_s=30.0,
        sigma=0.6,
        time_scale=1.0,
        submit_qps=20.0,
        status_qps=50.0,
    )


def _job_line(n: int) -> bytes:
    line = {"video_id": f"soak-video-{n % 500}", "template_id": "soak", "request_id": f"s{n}"}
    return json.dumps(line).encode() + b"\n"


def run(minutes: float, rate: float, sample_s: float) -> dict[str, Any]:
    workload = soak_workload(minutes, rate)
    workdir = Path(tempfile.mkdtemp(prefix="vod-soak-"))
    emulator = Emulator(workload)
    settings = daemon_settings(workload, workdir, emulator.endpoint)
    settings["ORCHESTRATOR_LIMITS_MAX_IN_FLIGHT"] = "10000"
    log = (workdir / "daemon.log").open("wb")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "run"],
        env=_clean_environ(**settings),
        stdout=log,
        stderr=log,
    )
    queue = workdir / "queue.jsonl"
    started = time.monotonic()
    windows: list[dict[str, Any]] = []
    appended = 0
    last_calls = 0
    next_sample = sample_s
    try:
        with queue.open("ab") as out:
            while (elapsed := time.monotonic() - started) < minutes * 60:
                due = int(elapsed * rate)
                if due > appended:
                    out.write(b"".join(_job_line(n) for n in range(appended, due)))
                    out.flush()
                    appended = due
                if elapsed >= next_sample:
                    windows.append(
                        _window(
                            daemon.pid, emulator, workdir, elapsed, appended, last_calls, sample_s
                        )
                    )
                    last_calls = windows[-1]["status_calls_total"]
                    print(json.dumps(windows[-1]), flush=True)
                    next_sample += sample_s
                time.sleep(0.05)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon_cpu = reap(daemon, STOP_TIMEOUT_S)
        emulator.stop()
        log.close()
    return {
        "workload": workload.describe() | {"rate_per_s": rate, "minutes": minutes},
        "machine": machine(),
        "revision": revision(),
        "appended": appended,
        "daemon_cpu_s": daemon_cpu,
        "daemon_exit": daemon.returncode,
        "windows": windows,
        "workdir": str(workdir),
    }


def _window(
    pid: int,
    emulator: Emulator,
    workdir: Path,
    elapsed: float,
    appended: int,
    last_calls: int,
    sample_s: float,
) -> dict[str, Any]:
    proc = sample(pid, elapsed)
    stats = emulator.stats()
    calls = stats["calls"].get("ListAIJob", 0)
    events_path = workdir / "events.jsonl"
    events = (
        [json.loads(x) for x in events_path.read_text().splitlines()]
        if events_path.exists()
        else []
    )
    recent = [e for e in events if e.get("job_id")][-2000:]
    lags = detection_lags(emulator.jobs(), recent)
    return {
        "t_s": round(elapsed, 1),
        "appended": appended,
        "events": len(events),
        "in_flight": appended - len(events),
        "rss_mb": None
        if proc is None or proc.rss_bytes is None
        else round(proc.rss_bytes / 2**20, 1),
        "cpu_s": None if proc is None else round(proc.cpu_s, 2),
        "status_calls_total": calls,
        "status_calls_per_s": round((calls - last_calls) / sample_s, 2),
        "throttled": sum(stats["throttled"].values()),
        "lag_p50_s": quantile(lags, 0.5),
        "lag_p95_s": quantile(lags, 0.95),
        "lag_p99_s": quantile(lags, 0.99),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="jobs appended per second")
    parser.add_argument("--sample-s", type=float, default=60.0)
    args = parser.parse_args(argv)
    result = run(args.minutes, args.rate, args.sample_s)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-soak.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
