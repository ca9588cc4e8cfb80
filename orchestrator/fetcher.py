"""Fetcher: collects the images of finished jobs and completes their requests.

ListAIImageInfo answers per video with the images of every job of that video, so jobs of one
video that finish together share a single call, and each keeps the images whose `JobId` is its
own. Images may appear a little after the job reports success: a job with none visible yet is
asked again a few times within `FETCH_GRACE_S`, then completes with an empty list and a warning.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass

import anyio
import anyio.abc
import structlog

from orchestrator import events
from orchestrator.ledger import Ledger
from orchestrator.states import State
from orchestrator.store import RequestRow
from orchestrator.vod import AIImageInfo, VodClient, VodError

log = structlog.get_logger("orchestrator.fetcher")

# Waits before asking again for a job whose images are not visible yet; their sum is the grace.
RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 15.0)
FETCH_GRACE_S = sum(RETRY_DELAYS_S)
# A transient failure (after the client's own retries) waits this long before the next try.
ERROR_DELAY_S = 10.0


@dataclass(slots=True)
class _Pending:
    row: RequestRow
    tries: int = 0


class Fetcher:
    def __init__(self, *, ledger: Ledger, client: VodClient, concurrency: int) -> None:
        self._ledger = ledger
        self._client = client
        self._concurrency = concurrency
        # Insertion-ordered: videos are fetched first come, first served.
        self._videos: dict[str, list[_Pending]] = {}
        self._wake = anyio.Event()
        self._tg: anyio.abc.TaskGroup
        self.in_flight = 0
        self.delayed = 0
        self.stopping = False

    @property
    def idle(self) -> bool:
        return not self._videos and self.in_flight == 0 and self.delayed == 0

    def add(self, row: RequestRow) -> None:
        """Queue a `fetching` request; it joins any fetch of its video not yet sent."""
        self._enqueue(_Pending(row))

    def _enqueue(self, pending: _Pending) -> None:
        assert pending.row.video_id is not None
        self._videos.setdefault(pending.row.video_id, []).append(pending)
        self._wake.set()

    def stop(self) -> None:
        self.stopping = True
        self._wake.set()

    async def run(self) -> None:
        limiter = anyio.CapacityLimiter(self._concurrency)
        async with anyio.create_task_group() as tg:
            self._tg = tg
            while True:
                if not self._videos or self.stopping:
                    self._wake = anyio.Event()
                    await self._wake.wait()
                    continue
                await limiter.acquire()
                if not self._videos or self.stopping:
                    limiter.release()
                    continue
                video_id = next(iter(self._videos))
                waiting = self._videos.pop(video_id)
                self.in_flight += 1
                tg.start_soon(self._fetch_released, video_id, waiting, limiter)

    async def _fetch_released(
        self, video_id: str, waiting: list[_Pending], limiter: anyio.CapacityLimiter
    ) -> None:
        try:
            await self._fetch(video_id, waiting)
        finally:
            self.in_flight -= 1
            limiter.release()

    async def _fetch(self, video_id: str, waiting: list[_Pending]) -> None:
        try:
            result = await self._client.list_ai_image_info(video_id)
        except VodError as exc:
            self._fetch_failed(video_id, waiting, exc)
            return
        by_job: dict[str, list[AIImageInfo]] = collections.defaultdict(list)
        for image in result.images:
            by_job[image.job_id].append(image)
        now = self._ledger.clock()
        for pending in waiting:
            row = pending.row
            images = by_job.get(row.job_id or "", [])
            if not images and pending.tries < len(RETRY_DELAYS_S) and now < row.deadline_at:
                self._later(pending, RETRY_DELAYS_S[pending.tries])
                continue
            if not images:
                log.warning(
                    "job.no_images", request_id=row.request_id, job_id=row.job_id,
                    video_id=video_id, grace_s=FETCH_GRACE_S,
                )
            self._succeed(row, images, now)

    def _succeed(self, row: RequestRow, images: Sequence[AIImageInfo], now: float) -> None:
        payload = [
            events.ai_image(
                ai_image_info_id=i.ai_image_info_id, job_id=i.job_id, video_id=i.video_id,
                file_url=i.file_url, format=i.format, score=i.score, version=i.version,
                creation_time=i.creation_time,
            )
            for i in images
        ]
        event = events.job_event(events.JOB_SUCCEEDED, row, now=now, status="success", images=payload)
        if self._ledger.advance(row, State.SUCCEEDED, event=event, completed_at=now):
            log.info(
                "job.succeeded", request_id=row.request_id, job_id=row.job_id,
                video_id=row.video_id, images=len(payload), polls=row.polls,
            )

    def _fetch_failed(self, video_id: str, waiting: list[_Pending], exc: VodError) -> None:
        now = self._ledger.clock()
        for pending in waiting:
            row = pending.row
            if exc.retryable and now < row.deadline_at:
                self._later(pending, ERROR_DELAY_S, count=False)
                continue
            state, event_type = (
                (State.FAILED, events.JOB_FAILED) if not exc.retryable
                else (State.TIMED_OUT, events.JOB_TIMED_OUT)
            )
            event = events.job_event(
                event_type, row, now=now, status="success", code=exc.code, message=exc.message
            )
            self._ledger.advance(row, state, event=event, completed_at=now, code=exc.code,
                                 message=exc.message)
        log.warning("fetch.failed", video_id=video_id, code=exc.code, retryable=exc.retryable)

    def _later(self, pending: _Pending, delay: float, *, count: bool = True) -> None:
        if count:
            pending.tries += 1
        self.delayed += 1

        async def requeue() -> None:
            try:
                await anyio.sleep(delay)
                self._enqueue(pending)
            finally:
                self.delayed -= 1

        self._tg.start_soon(requeue)
