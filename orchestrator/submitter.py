"""Submitter: turns `pending` job requests into VOD jobs.

Each request is marked `submitting` (committed) before the call, so a crash during the call is
seen at start-up and the request is submitted again: the API has no idempotency token, so this
is at-least-once, and logged as such (`job.resubmitting`). The client paces the calls under the
SubmitAIImageJob rate limit and retries transient errors within its budget; a transient error
that outlasts that budget parks the request in `pending` for another try later, a permanent one
ends it as `job.failed` with the API's code and message.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import replace

import anyio
import anyio.abc
import structlog

from orchestrator import events
from orchestrator.ledger import Ledger
from orchestrator.states import State
from orchestrator.store import RequestRow
from orchestrator.vod import VodClient, VodError

log = structlog.get_logger("orchestrator.submitter")

# A request whose submission failed transiently (after the client's own retries) waits this
# long before the next try: long enough for an outage to pass, short next to job timeouts.
RESUBMIT_DELAY_S = 30.0


class Submitter:
    def __init__(
        self,
        *,
        ledger: Ledger,
        client: VodClient,
        concurrency: int,
        on_submitted: Callable[[RequestRow], None],
    ) -> None:
        self._ledger = ledger
        self._client = client
        self._concurrency = concurrency
        self._on_submitted = on_submitted
        self._queue: collections.deque[RequestRow] = collections.deque()
        self._wake = anyio.Event()
        self._tg: anyio.abc.TaskGroup
        self.in_flight = 0
        self.stopping = False

    def add(self, row: RequestRow) -> None:
        """Queue a `pending` request, or one found in `submitting` after a crash."""
        self._queue.append(row)
        self._wake.set()

    @property
    def idle(self) -> bool:
        return not self._queue and self.in_flight == 0

    async def run(self) -> None:
        limiter = anyio.CapacityLimiter(self._concurrency)
        async with anyio.create_task_group() as tg:
            self._tg = tg
            while True:
                if not self._queue or self.stopping:
                    self._wake = anyio.Event()
                    await self._wake.wait()
                    continue
                await limiter.acquire()
                if self.stopping or not self._queue:
                    limiter.release()
                    continue
                row = self._queue.popleft()
                self.in_flight += 1
                tg.start_soon(self._submit_released, row, limiter)

    def stop(self) -> None:
        """Start no new submission; the ones under way finish."""
        self.stopping = True
        self._wake.set()

    async def _submit_released(self, row: RequestRow, limiter: anyio.CapacityLimiter) -> None:
        try:
            await self._submit(row)
        finally:
            self.in_flight -= 1
            limiter.release()

    async def _submit(self, row: RequestRow) -> None:
        ledger = self._ledger
        now = ledger.clock()
        if now >= row.deadline_at:
            ledger.advance(row, State.TIMED_OUT, event=events.job_event(
                events.JOB_TIMED_OUT, row, now=now, message="deadline passed before submission"))
            return
        if row.state is State.SUBMITTING:
            log.warning(
                "job.resubmitting", request_id=row.request_id, video_id=row.video_id,
                reason="found in submitting after a restart: at-least-once",
            )
        elif not ledger.advance(row, State.SUBMITTING, submits=row.submits + 1):
            return
        row = replace(row, state=State.SUBMITTING)
        try:
            result = await self._client.submit_ai_image_job(
                video_id=row.video_id or "",
                template_id=row.template_id or "",
                user_data=row.user_data,
                pipeline_id=row.pipeline_id,
            )
        except VodError as exc:
            self._failed(row, exc)
            return
        submitted_at = ledger.clock()
        if ledger.advance(row, State.SUBMITTED, job_id=result.job_id, submitted_at=submitted_at):
            log.info(
                "job.submitted", request_id=row.request_id, job_id=result.job_id,
                video_id=row.video_id, template_id=row.template_id,
            )
            self._on_submitted(
                replace(row, state=State.SUBMITTED, job_id=result.job_id, submitted_at=submitted_at)
            )

    def _failed(self, row: RequestRow, exc: VodError) -> None:
        now = self._ledger.clock()
        if not exc.retryable:
            log.error(
                "job.submit_failed", request_id=row.request_id, video_id=row.video_id,
                code=exc.code, message=exc.message,
            )
            self._ledger.advance(row, State.FAILED, event=events.job_event(
                events.JOB_FAILED, row, now=now, code=exc.code, message=exc.message),
                code=exc.code, message=exc.message)
            return
        log.warning(
            "job.submit_deferred", request_id=row.request_id, code=exc.code,
            retry_in_s=RESUBMIT_DELAY_S,
        )
        if self._ledger.advance(row, State.PENDING, code=exc.code, message=exc.message):
            self._later(replace(row, state=State.PENDING), RESUBMIT_DELAY_S)

    def _later(self, row: RequestRow, delay: float) -> None:
        async def requeue() -> None:
            await anyio.sleep(delay)
            self.add(row)

        self._tg.start_soon(requeue)


