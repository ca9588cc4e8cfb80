"""Submitter: turns `pending` job requests into VOD jobs.

Each request is marked `submitting` (committed) before the call, so a crash during the call is
seen at start-up and the request is submitted again: the API has no idempotency token, so this
is at-least-once, and logged as such (`job.resubmitting`). The client paces the calls under the
SubmitAIImageJob rate limit and retries transient errors within its budget; a transient error
that outlasts that budget, or an answer the client could not read (the job may exist: resubmitting
is at-least-once again), parks the request in `pending` for another try later; a permanent one
ends it as `job.failed` with the API's code and message.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import replace

import structlog

from orchestrator import events
from orchestrator.ledger import Ledger
from orchestrator.states import State
from orchestrator.store import RequestRow
from orchestrator.vod import VodClient, VodError
from orchestrator.workers import Worker, worth_retrying

log = structlog.get_logger("orchestrator.submitter")

# A request whose submission failed transiently (after the client's own retries) waits before
# its next try: a few seconds after a one-off (one garbled answer, one unlucky streak), doubling
# with each failed submission up to a cap long enough for an outage to pass, short next to job
# timeouts.
RESUBMIT_INITIAL_S = 2.0
RESUBMIT_MAX_S = 60.0


def resubmit_delay(submits: int) -> float:
    """The wait before the next submission of a request whose `submits` tries all failed."""
    # The exponent is capped first: 2 ** a large count would overflow a float.
    return min(RESUBMIT_MAX_S, RESUBMIT_INITIAL_S * 2.0 ** min(max(submits - 1, 0), 32))


class Submitter(Worker[RequestRow]):
    def __init__(
        self,
        *,
        ledger: Ledger,
        client: VodClient,
        concurrency: int,
        on_submitted: Callable[[RequestRow], None],
    ) -> None:
        super().__init__(concurrency=concurrency)
        self._ledger = ledger
        self._client = client
        self._on_submitted = on_submitted
        self._queue: collections.deque[RequestRow] = collections.deque()

    def add(self, row: RequestRow) -> None:
        """Queue a `pending` request, or one found in `submitting` after a crash."""
        self._queue.append(row)
        self.wake()

    @property
    def pending(self) -> bool:
        return bool(self._queue)

    def ready_in(self) -> float | None:
        return 0.0 if self._queue else None

    def take(self) -> RequestRow | None:
        return self._queue.popleft() if self._queue else None

    async def process(self, row: RequestRow) -> None:
        ledger = self._ledger
        now = ledger.clock()
        if now >= row.deadline_at:
            ledger.advance(
                row,
                State.TIMED_OUT,
                event=events.job_event(
                    events.JOB_TIMED_OUT, row, now=now, message="deadline passed before submission"
                ),
            )
            return
        if row.state is State.SUBMITTING:
            log.warning(
                "job.resubmitting",
                request_id=row.request_id,
                video_id=row.video_id,
                reason="found in submitting after a restart: at-least-once",
            )
        sent = row

        def mark_sent() -> None:
            # Recorded when the request leaves (the limiter let it go), not when it is queued:
            # only a crash after this instant can have created a job we do not know of.
            nonlocal sent
            if sent.state is State.PENDING and ledger.advance(
                sent, State.SUBMITTING, submits=sent.submits + 1
            ):
                sent = replace(sent, state=State.SUBMITTING, submits=sent.submits + 1)

        try:
            result = await self._client.submit_ai_image_job(
                video_id=row.video_id or "",
                template_id=row.template_id or "",
                user_data=row.user_data,
                pipeline_id=row.pipeline_id,
                on_send=mark_sent,
            )
        except VodError as exc:
            self._failed(sent, exc)
            return
        row = sent
        submitted_at = ledger.clock()
        if ledger.advance(row, State.SUBMITTED, job_id=result.job_id, submitted_at=submitted_at):
            log.info(
                "job.submitted",
                request_id=row.request_id,
                job_id=result.job_id,
                video_id=row.video_id,
                template_id=row.template_id,
            )
            self._on_submitted(
                replace(row, state=State.SUBMITTED, job_id=result.job_id, submitted_at=submitted_at)
            )

    def _failed(self, row: RequestRow, exc: VodError) -> None:
        now = self._ledger.clock()
        if not worth_retrying(exc):
            log.error(
                "job.submit_failed",
                request_id=row.request_id,
                video_id=row.video_id,
                code=exc.code,
                message=exc.message,
            )
            self._ledger.advance(
                row,
                State.FAILED,
                event=events.job_event(
                    events.JOB_FAILED, row, now=now, code=exc.code, message=exc.message
                ),
                code=exc.code,
                message=exc.message,
            )
            return
        delay = resubmit_delay(row.submits)
        log.warning(
            "job.submit_deferred",
            request_id=row.request_id,
            code=exc.code,
            submits=row.submits,
            retry_in_s=delay,
        )
        if row.state is State.PENDING:  # nothing left the daemon: no state to change
            self.later(delay, lambda: self.add(row))
        elif self._ledger.advance(row, State.PENDING, code=exc.code, message=exc.message):
            parked = replace(row, state=State.PENDING)
            self.later(delay, lambda: self.add(parked))
