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

import structlog

from orchestrator import events
from orchestrator.ledger import Ledger
from orchestrator.states import State
from orchestrator.store import RequestRow
from orchestrator.vod import AIImageInfo, VodClient, VodError
from orchestrator.workers import Worker, worth_retrying

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


class Fetcher(Worker[tuple[str, list[_Pending]]]):
    def __init__(self, *, ledger: Ledger, client: VodClient, concurrency: int) -> None:
        super().__init__(concurrency=concurrency)
        self._ledger = ledger
        self._client = client
        # Insertion-ordered: videos are fetched first come, first served.
        self._videos: dict[str, list[_Pending]] = {}

    @property
    def pending(self) -> bool:
        return bool(self._videos)

    def add(self, row: RequestRow) -> None:
        """Queue a `fetching` request; it joins any fetch of its video not yet sent."""
        self._enqueue(_Pending(row))

    def _enqueue(self, pending: _Pending) -> None:
        assert pending.row.video_id is not None
        self._videos.setdefault(pending.row.video_id, []).append(pending)
        self.wake()

    def ready_in(self) -> float | None:
        return 0.0 if self._videos else None

    def take(self) -> tuple[str, list[_Pending]] | None:
        if not self._videos:
            return None
        video_id = next(iter(self._videos))
        return video_id, self._videos.pop(video_id)

    async def process(self, item: tuple[str, list[_Pending]]) -> None:
        await self._fetch(*item)

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
                    "job.no_images",
                    request_id=row.request_id,
                    job_id=row.job_id,
                    video_id=video_id,
                    grace_s=FETCH_GRACE_S,
                )
            self._succeed(row, images, now)

    def _succeed(self, row: RequestRow, images: Sequence[AIImageInfo], now: float) -> None:
        payload = [
            events.ai_image(
                ai_image_info_id=i.ai_image_info_id,
                job_id=i.job_id,
                video_id=i.video_id,
                file_url=i.file_url,
                format=i.format,
                score=i.score,
                version=i.version,
                creation_time=i.creation_time,
            )
            for i in images
        ]
        event = events.job_event(
            events.JOB_SUCCEEDED, row, now=now, status="success", images=payload
        )
        if self._ledger.advance(row, State.SUCCEEDED, event=event, completed_at=now):
            log.info(
                "job.succeeded",
                request_id=row.request_id,
                job_id=row.job_id,
                video_id=row.video_id,
                images=len(payload),
                polls=row.polls,
            )

    def _fetch_failed(self, video_id: str, waiting: list[_Pending], exc: VodError) -> None:
        now = self._ledger.clock()
        transient = worth_retrying(exc)
        for pending in waiting:
            row = pending.row
            if transient and now < row.deadline_at:
                self._later(pending, ERROR_DELAY_S, count=False)
                continue
            state, event_type = (
                (State.TIMED_OUT, events.JOB_TIMED_OUT)
                if transient
                else (State.FAILED, events.JOB_FAILED)
            )
            event = events.job_event(
                event_type, row, now=now, status="success", code=exc.code, message=exc.message
            )
            self._ledger.advance(
                row, state, event=event, completed_at=now, code=exc.code, message=exc.message
            )
        log.warning("fetch.failed", video_id=video_id, code=exc.code, retrying=transient)

    def _later(self, pending: _Pending, delay: float, *, count: bool = True) -> None:
        if count:
            pending.tries += 1
        self.later(delay, lambda: self._enqueue(pending))
