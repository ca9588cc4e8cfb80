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
import json
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
from urllib.parse import quote, urlencode

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
    server_cpu_s: float | None
    driver_cpu_s: float

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.elapsed_s


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pin(cpus: set[int], *, pid: int = 0) -> None:
    """Restrict a process (0: this one) to `cpus`, where the platform allows it."""
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(pid, cpus)


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
    child = subprocess.Popen(command)
    try:
        if cpu is not None:
            pin({cpu}, pid=child.pid)
        yield child
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


class Signer:
    """Signs every call afresh, as a client does: its own nonce and timestamp."""

    def __init__(self, host: str, scheme: str) -> None:
        self._host = host
        self._scheme = scheme

    def request(self, action: str, params: dict[str, str]) -> bytes:
        """The bytes of one signed `POST /` with the parameters in the query, as the SDK sends."""
        now = datetime.now(UTC)
        nonce = uuid.uuid4().hex
        headers: dict[str, str] = {}
        if self._scheme == "v1":
            query = sign_v1(
                action, params, credentials=CREDENTIALS, method="POST", now=now, nonce=nonce
            )
        else:
            query = params
            headers = sign_v3(
                action,
                params,
                credentials=CREDENTIALS,
                host=self._host,
                method="POST",
                now=now,
                nonce=nonce,
            )
        headers["host"] = self._host
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        target = f"/?{urlencode(query, quote_via=quote)}"
        return f"POST {target} HTTP/1.1\r\n{head}content-length: 0\r\n\r\n".encode()


class Connection:
    """One keep-alive HTTP/1.1 connection with a single call in flight.

    A deliberately thin client: aiohttp's costs several times what the emulator spends per
    call, and the figure must be the emulator's, not the load generator's.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send one request; (status, body) of its answer."""
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, await self._reader.readexactly(length)

    def close(self) -> None:
        self._writer.close()


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process (Linux), to state the emulator's cost per call."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return None
    # utime and stime are fields 14 and 15 of proc(5); the split starts at field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_until_up(port: int) -> Connection:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        try:
            return await Connection.open(port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def server_calls(connection: Connection, host: str) -> int:
    request = f"GET /_emulator/stats HTTP/1.1\r\nhost: {host}\r\n\r\n".encode()
    status, body = await connection.exchange(request)
    if status != 200:
        raise RuntimeError(f"/_emulator/stats answered {status}: {body[:200]!r}")
    calls: int = json.loads(body)["calls"].get("ListAIJob", 0)
    return calls


async def submit_jobs(connection: Connection, signer: Signer) -> list[str]:
    job_ids = []
    for n in range(JOBS_PER_CALL):
        params = {"VideoId": f"bench-video-{n}", "AITemplateId": "bench"}
        status, body = await connection.exchange(signer.request("SubmitAIImageJob", params))
        if status != 200:
            raise RuntimeError(f"SubmitAIImageJob answered {status}: {body[:200]!r}")
        job_ids.append(json.loads(body)["JobId"])
    return job_ids


async def drive(port: int, pid: int, *, scheme: str, seconds: float, concurrency: int) -> Result:
    host = f"127.0.0.1:{port}"
    control = await wait_until_up(port)
    signer = Signer(host, scheme)
    params = {"JobIds": ",".join(await submit_jobs(control, signer))}
    connections = [await Connection.open(port) for _ in range(concurrency)]
    latencies: list[float] = []
    failures = 0
    stop_at = 0.0

    async def worker(connection: Connection) -> None:
        nonlocal failures
        while time.perf_counter() < stop_at:
            request = signer.request("ListAIJob", params)
            began = time.perf_counter()
            status, body = await connection.exchange(request)
            latencies.append((time.perf_counter() - began) * 1000)
            if status != 200 or not body.startswith(b'{"RequestId"'):
                failures += 1

    before = await server_calls(control, host)
    cpu_before = cpu_seconds(pid)
    driver_before = time.process_time()
    began = time.perf_counter()
    stop_at = began + seconds
    await asyncio.gather(*(worker(connection) for connection in connections))
    elapsed = time.perf_counter() - began
    driver_cpu_s = time.process_time() - driver_before
    cpu_after = cpu_seconds(pid)
    after = await server_calls(control, host)
    for connection in [control, *connections]:
        connection.close()
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return Result(len(latencies), failures, elapsed, latencies, after - before, cpu, driver_cpu_s)


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
    with emulator_process(port, emulator_cpu) as child:
        result = asyncio.run(
            drive(
                port,
                child.pid,
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
    if result.server_cpu_s:
        per_call_us = result.server_cpu_s / result.server_calls * 1e6
        print(
            f"emulator CPU: {result.server_cpu_s:.2f} s, {per_call_us:.0f} us per call "
            f"(one core's worth: {1e6 / per_call_us:.0f} calls/s)"
        )
    # A driver busy all the time, or an emulator idle part of it, means the figure is a floor.
    print(f"driver CPU: {result.driver_cpu_s:.2f} s of {result.elapsed_s:.1f} s")
    print(f"latency ms: p50 {quantiles[49]:.2f}  p90 {quantiles[89]:.2f}  p99 {quantiles[98]:.2f}")
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
