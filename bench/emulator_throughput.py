"""How many signed ListAIJob calls per second the emulator serves on one core.

The emulator runs in a child process (`python -m orchestrator.simulator`) pinned to one CPU;
this process, pinned to the others when there are any, keeps `--concurrency` V3- (or V1-)
signed ListAIJob calls of 10 job IDs in flight for `--seconds` and prints calls/s. Every call
is signed afresh (own nonce, own timestamp) and every answer is checked for status 200, so the
figure is what a real client gets, signature verification included.

    .venv/bin/python bench/emulator_throughput.py --seconds 10 --concurrency 64

The project's other benchmarks stand on the emulator: it must never be their bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp

from orchestrator.simulator import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET
from orchestrator.vod.signing import Credentials, sign_v1, sign_v3

CREDENTIALS = Credentials(DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET)
JOBS_PER_CALL = 10  # ListAIJob's documented maximum
STARTUP_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class Result:
    calls: int
    failures: int
    elapsed_s: float
    latencies_ms: list[float]
    server_calls: int

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.elapsed_s


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pin(cpus: set[int]) -> None:
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)


@contextlib.contextmanager
def emulator_process(port: int, cpu: int | None) -> Iterator[subprocess.Popen[bytes]]:
    """The emulator alone in a child, pinned to `cpu`, without limits, logging warnings only."""
    command = [
        sys.executable,
        "-m",
        "orchestrator.simulator",
        f"--port={port}",
        "--log-level=warning",
        *(f"--qps={action}=0" for action in ("SubmitAIImageJob", "ListAIJob")),
    ]
    child = subprocess.Popen(
        command, preexec_fn=(lambda: pin({cpu})) if cpu is not None else None
    )
    try:
        yield child
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


async def wait_until_up(session: aiohttp.ClientSession, endpoint: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        try:
            async with session.get(f"{endpoint}/_emulator/stats") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)


class Signer:
    """Signs each call afresh, as a client does; one UTC timestamp string per second."""

    def __init__(self, endpoint: str, scheme: str) -> None:
        self._host = endpoint.removeprefix("http://")
        self._scheme = scheme

    def sign(self, action: str, params: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        """(query, headers) of one signed POST."""
        now = datetime.now(UTC)
        nonce = uuid.uuid4().hex
        if self._scheme == "v1":
            query = sign_v1(
                action, params, credentials=CREDENTIALS, method="POST", now=now, nonce=nonce
            )
            return query, {}
        headers = sign_v3(
            action,
            params,
            credentials=CREDENTIALS,
            host=self._host,
            method="POST",
            now=now,
            nonce=nonce,
        )
        return params, headers


async def submit_jobs(session: aiohttp.ClientSession, endpoint: str, signer: Signer) -> list[str]:
    job_ids = []
    for n in range(JOBS_PER_CALL):
        query, headers = signer.sign(
            "SubmitAIImageJob", {"VideoId": f"bench-video-{n}", "AITemplateId": "bench"}
        )
        async with session.post(f"{endpoint}/", params=query, headers=headers) as response:
            response.raise_for_status()
            job_ids.append((await response.json())["JobId"])
    return job_ids


async def drive(endpoint: str, *, scheme: str, seconds: float, concurrency: int) -> Result:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await wait_until_up(session, endpoint)
        signer = Signer(endpoint, scheme)
        job_ids = ",".join(await submit_jobs(session, endpoint, signer))
        url = f"{endpoint}/"
        latencies: list[float] = []
        failures = 0
        stop_at = 0.0

        async def worker() -> None:
            nonlocal failures
            while time.perf_counter() < stop_at:
                query, headers = signer.sign("ListAIJob", {"JobIds": job_ids})
                began = time.perf_counter()
                async with session.post(url, params=query, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        failures += 1
                latencies.append((time.perf_counter() - began) * 1000)

        async with session.get(f"{endpoint}/_emulator/stats") as response:
            before = (await response.json())["calls"].get("ListAIJob", 0)
        began = time.perf_counter()
        stop_at = began + seconds
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
        async with session.get(f"{endpoint}/_emulator/stats") as response:
            after = (await response.json())["calls"].get("ListAIJob", 0)
    return Result(len(latencies), failures, elapsed, latencies, after - before)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--scheme", choices=("v3", "v1"), default="v3")
    parser.add_argument("--cpu", type=int, default=0, help="CPU the emulator is pinned to")
    args = parser.parse_args()

    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    emulator_cpu = args.cpu if args.cpu in cpus else None
    pin(cpus - {args.cpu})  # the driver keeps off the emulator's core when it can
    port = free_port()
    with emulator_process(port, emulator_cpu):
        result = asyncio.run(
            drive(
                f"http://127.0.0.1:{port}",
                scheme=args.scheme,
                seconds=args.seconds,
                concurrency=args.concurrency,
            )
        )
    quantiles = statistics.quantiles(result.latencies_ms, n=100)
    pinned = f"CPU {emulator_cpu}" if emulator_cpu is not None else "unpinned"
    print(f"emulator: 1 process, {pinned}; driver: CPUs {sorted(cpus - {args.cpu}) or 'same'}")
    print(
        f"ListAIJob x{JOBS_PER_CALL} IDs, {args.scheme.upper()}-signed, "
        f"concurrency {args.concurrency}, {result.elapsed_s:.1f} s"
    )
    print(f"calls/s: {result.calls_per_s:.0f}  (calls {result.calls}, failures {result.failures})")
    print(f"server counted: {result.server_calls}")
    print(f"latency ms: p50 {quantiles[49]:.2f}  p90 {quantiles[89]:.2f}  p99 {quantiles[98]:.2f}")
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
