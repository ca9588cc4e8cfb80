"""What a team writes with the official SDK's async client: the two baselines.

`naive`: one ListAIJob call per job, every `interval_s`, as the API pages lead one to write; the
SDK's defaults (no retries), so a failed or throttled poll waits for the next interval.
`careful`: every `interval_s`, all jobs in flight in calls of 10 IDs, with the SDK's retry
options on for throttling and server errors.

Both submit the queue file's jobs paced at the published SubmitAIImageJob rate with the very
UserData the daemon sends (so the emulator decides the same future for each job), stop polling
a job once it is terminal, fetch a succeeded job's images with ListAIImageInfo (keeping those of
its JobId), and append one event per job, shaped like the daemon's, to `--events`.

    python -m bench.baselines naive --endpoint 127.0.0.1:9000 --queue q.jsonl --events e.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from alibabacloud_tea_openapi.utils_models import Config
from alibabacloud_vod20170321 import models
from alibabacloud_vod20170321.client import Client
from darabonba.policy.retry import RetryOptions

from orchestrator.lines import JobRequest, parse_line

BATCH_SIZE = 10  # ListAIJob's documented maximum of JobIds
TERMINAL = frozenset({"success", "fail"})
# A submission that failed is tried again after this wait: every system must start every job
# of the workload, or the comparison is not of the same work.
RESUBMIT_DELAY_S = 1.0
# Calls the careful baseline keeps under way at once: a team's usual semaphore.
CAREFUL_CONCURRENCY = 10
# The careful baseline's retry policy: three attempts with exponential full-jitter backoff
# from 200 ms, on throttling and server errors (the SDK retries nothing unless told to; its
# conditions match an exception's `code` or its `name`, which only the SDK's own carry).
RETRY_ATTEMPTS = 3
RETRY_PERIOD_MS = 200
RETRY_CAP_MS = 5_000
RETRYABLE_CODES = (
    "Throttling",
    "Throttling.User",
    "Throttling.Api",
    "ServiceUnavailable",
    "ServiceUnAvailable",
    "InternalError",
    "UnknownError",
    "SystemBusy",
)
RETRYABLE_EXCEPTIONS = ("ServerException",)


def sdk_client(endpoint: str, *, access_key_id: str, secret: str, retries: bool) -> Any:
    """The official client against a plain-HTTP endpoint (`host:port`), V3-signed (its default)."""
    config = Config(
        access_key_id=access_key_id,
        access_key_secret=secret,
        endpoint=endpoint,
        protocol="http",
        region_id="cn-shanghai",
    )
    if retries:
        config.retry_options = RetryOptions(
            {
                "retryable": True,
                "retryCondition": [
                    {
                        "maxAttempts": RETRY_ATTEMPTS,
                        "errorCode": list(RETRYABLE_CODES),
                        "exception": list(RETRYABLE_EXCEPTIONS),
                        "backoff": {
                            "policy": "ExponentialWithFullJitter",
                            "period": RETRY_PERIOD_MS,
                            "cap": RETRY_CAP_MS,
                        },
                    }
                ],
            }
        )
    return Client(config)


@dataclass(slots=True)
class Job:
    """One job of the workload as a baseline follows it."""

    request: JobRequest
    job_id: str = ""


def read_jobs(queue: Path) -> list[Job]:
    """The queue file's job lines, parsed exactly as the daemon parses them."""
    jobs = []
    for number, raw in enumerate(queue.read_bytes().splitlines(), start=1):
        parsed = parse_line(raw, default_request_id=f"line-{number}")
        if not isinstance(parsed, JobRequest):
            raise ValueError(f"{queue}:{number}: not a job line the daemon would take")
        jobs.append(Job(parsed))
    return jobs


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventLog:
    """One JSON line per finished job, flushed at once: its time is the detection time."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def finished(self, job: Job, status: str, images: Sequence[Any], polls: int) -> None:
        event = {
            "event": "job.succeeded" if status == "success" else "job.failed",
            "request_id": job.request.request_id,
            "job_id": job.job_id,
            "status": status,
            "images": len(images),
            "polls": polls,
            "emitted_at": iso_now(),
        }
        self._out.write(json.dumps(event) + "\n")
        self._out.flush()


class Baseline:
    """What both baselines share: the client, paced submissions, image fetches, events."""

    def __init__(self, client: Any, events: EventLog, *, interval_s: float, submit_qps: float):
        self.client = client
        self.events = events
        self.interval_s = interval_s
        self.submit_qps = submit_qps

    async def submitted(self, jobs: Sequence[Job]) -> AsyncIterator[Job]:
        """Submit each job, evenly paced at `submit_qps`; yields each once it has its JobId."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        for job in jobs:
            while True:
                await asyncio.sleep(max(0.0, next_at - loop.time()))
                next_at = max(next_at, loop.time()) + 1 / self.submit_qps
                request = models.SubmitAIImageJobRequest(
                    video_id=job.request.video_id,
                    aitemplate_id=job.request.template_id,
                    user_data=job.request.vod_user_data(),
                )
                try:
                    response = await self.client.submit_aiimage_job_async(request)
                except Exception:  # any failure: the same job again, later
                    await asyncio.sleep(RESUBMIT_DELAY_S)
                    continue
                job.job_id = str(response.body.job_id)
                yield job
                break

    async def statuses(self, job_ids: Sequence[str]) -> dict[str, str]:
        """Status by JobId, lower-cased (the API writes `Processing`); raises on any failure."""
        response = await self.client.list_aijob_async(
            models.ListAIJobRequest(job_ids=",".join(job_ids))
        )
        listed = response.body.aijob_list
        found = listed.aijob if listed is not None and listed.aijob else []
        return {str(job.job_id): str(job.status).lower() for job in found}

    async def finish(self, job: Job, status: str, polls: int) -> None:
        """Fetch a succeeded job's images (until a fetch works), then write its event."""
        images: list[Any] = []
        while status == "success":
            try:
                response = await self.client.list_aiimage_info_async(
                    models.ListAIImageInfoRequest(video_id=job.request.video_id)
                )
            except Exception:  # the fetch is tried again at the next interval
                await asyncio.sleep(self.interval_s)
                continue
            found = response.body.aiimage_info_list or []
            images = [image for image in found if image.job_id == job.job_id]
            break
        self.events.finished(job, status, images, polls)


async def run_naive(baseline: Baseline, jobs: Sequence[Job]) -> None:
    """One task per job: sleep the interval, ask for its status alone, until it ends."""

    async def follow(job: Job) -> None:
        polls = 0
        while True:
            await asyncio.sleep(baseline.interval_s)
            polls += 1
            try:
                status = (await baseline.statuses([job.job_id])).get(job.job_id)
            except Exception:  # throttled or failed: next interval
                continue
            if status in TERMINAL:
                await baseline.finish(job, status, polls)
                return

    async with asyncio.TaskGroup() as tasks:
        async for job in baseline.submitted(jobs):
            tasks.create_task(follow(job))


async def run_careful(baseline: Baseline, jobs: Sequence[Job]) -> None:
    """Every interval, every job in flight in calls of 10, a few calls at a time."""
    in_flight: dict[str, Job] = {}
    polls: dict[str, int] = {}
    submitting = True
    slots = asyncio.Semaphore(CAREFUL_CONCURRENCY)

    async def submit_all() -> None:
        nonlocal submitting
        async for job in baseline.submitted(jobs):
            in_flight[job.job_id] = job
            polls[job.job_id] = 0
        submitting = False

    async def poll(batch: list[str], tasks: asyncio.TaskGroup) -> None:
        async with slots:
            try:
                statuses = await baseline.statuses(batch)
            except Exception:  # retries exhausted: the next round asks again
                return
        for job_id in batch:
            polls[job_id] += 1
            status = statuses.get(job_id)
            if status in TERMINAL and job_id in in_flight:
                tasks.create_task(baseline.finish(in_flight.pop(job_id), status, polls[job_id]))

    loop = asyncio.get_running_loop()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(submit_all())
        while submitting or in_flight:
            round_at = loop.time()
            ids = list(in_flight)
            await asyncio.gather(
                *(poll(ids[i : i + BATCH_SIZE], tasks) for i in range(0, len(ids), BATCH_SIZE))
            )
            await asyncio.sleep(max(0.0, round_at + baseline.interval_s - loop.time()))


RUNNERS: dict[str, Callable[[Baseline, Sequence[Job]], Coroutine[Any, Any, None]]] = {
    "naive": run_naive,
    "careful": run_careful,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("system", choices=sorted(RUNNERS))
    parser.add_argument("--endpoint", required=True, help="host:port of the emulator")
    parser.add_argument("--queue", type=Path, required=True)
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--interval-s", type=float, required=True)
    parser.add_argument("--submit-qps", type=float, required=True)
    args = parser.parse_args(argv)
    client = sdk_client(
        args.endpoint,
        access_key_id=os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"],
        secret=os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
        retries=args.system == "careful",
    )
    jobs = read_jobs(args.queue)
    with args.events.open("a") as out:
        baseline = Baseline(
            client, EventLog(out), interval_s=args.interval_s, submit_qps=args.submit_qps
        )
        asyncio.run(RUNNERS[args.system](baseline, jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
