"""Poller: watches every submitted job until it succeeds, fails, times out or is lost.

Every in-flight job sits in an in-memory `PollSchedule` (rebuilt from the store at start-up)
with its own backoff. Batches of up to 10 distinct IDs are composed at the moment a call may
be sent, so a call with room takes the jobs due next instead of going out half empty. Calls
run concurrently; the client paces them under the status action's rate limit.

IDs the API calls non-existent are given `nonexist_grace_s` after submission to appear; past
it, when polling with ListAIJob, they are asked once of GetAIImageJobs (a live account may
report image jobs only there): found, the job is polled there from then on; absent, it is lost.
"""

from __future__ import annotations

import collections
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import structlog

from orchestrator import events
from orchestrator.ledger import Ledger
from orchestrator.schedule import Backoff, PollSchedule
from orchestrator.states import State
from orchestrator.store import RequestRow
from orchestrator.vod import JobStatus, VodClient, VodError
from orchestrator.workers import Worker

log = structlog.get_logger("orchestrator.poller")

LIST_AI_JOB = "ListAIJob"
GET_AI_IMAGE_JOBS = "GetAIImageJobs"
# Both status calls take at most this many IDs.
BATCH_SIZE = 10
# Detection lags kept for the stats percentiles: recent enough to reflect the present.
LAG_WINDOW = 2000


@dataclass(slots=True)
class _Job:
    """What the poller keeps in memory per job: small, so 100,000 jobs fit comfortably."""

    request_id: str
    job_id: str
    polls: int
    submitted_at: float
    deadline_at: float
    status_api: str


@dataclass(frozen=True, slots=True)
class _Status:
    job_id: str
    status: JobStatus
    code: str | None
    message: str | None
    complete_time: str | None


class Poller(Worker[list[str]]):
    def __init__(
        self,
        *,
        ledger: Ledger,
        client: VodClient,
        backoff: Backoff,
        rng: random.Random,
        status_api: str,
        nonexist_grace_s: float,
        concurrency: int,
        on_success: Callable[[RequestRow], None],
    ) -> None:
        super().__init__(concurrency=concurrency)
        self._ledger = ledger
        self._client = client
        self._backoff = backoff
        self._rng = rng
        self._status_api = status_api
        self._grace = nonexist_grace_s
        self._on_success = on_success
        self._schedule = PollSchedule()
        self._jobs: dict[str, _Job] = {}
        self.lags: collections.deque[float] = collections.deque(maxlen=LAG_WINDOW)

    def __len__(self) -> int:
        return len(self._jobs)

    @property
    def pending(self) -> bool:
        return bool(self._jobs)

    def track(self, row: RequestRow) -> None:
        """Watch a `submitted` job, first due at its saved time or one initial interval on."""
        assert row.job_id is not None, "a submitted row has a job id"
        assert row.submitted_at is not None, "a submitted row has a submission time"
        job = _Job(
            request_id=row.request_id,
            job_id=row.job_id,
            polls=row.polls,
            submitted_at=row.submitted_at,
            deadline_at=row.deadline_at,
            status_api=row.status_api or self._status_api,
        )
        self._jobs[job.job_id] = job
        due = row.next_poll_at
        if due is None:
            due = row.submitted_at + self._backoff.interval(row.polls, self._rng)
        self._schedule.add(job.job_id, min(due, job.deadline_at))
        self.wake()

    def ready_in(self) -> float | None:
        due = self._schedule.next_due()
        return None if due is None else due - self._ledger.clock()

    def take(self) -> list[str] | None:
        return self._schedule.take_batch(self._ledger.clock(), BATCH_SIZE) or None

    async def process(self, item: list[str]) -> None:
        by_api: dict[str, list[_Job]] = collections.defaultdict(list)
        for job_id in item:
            job = self._jobs.get(job_id)
            if job is not None:
                by_api[job.status_api].append(job)
        for api, jobs in by_api.items():
            await self._poll(api, jobs)

    async def _poll(self, api: str, jobs: Sequence[_Job]) -> None:
        try:
            statuses, unknown = await self._ask(api, [j.job_id for j in jobs])
        except VodError as exc:
            log.warning(
                "poll.failed",
                action=api,
                code=exc.code,
                jobs=len(jobs),
                retryable=exc.retryable,
            )
            self._reschedule(jobs)
            return
        now = self._ledger.clock()
        waiting: list[_Job] = []
        missing: list[_Job] = []
        for job in jobs:
            job.polls += 1
            status = statuses.get(job.job_id)
            if status is None:
                if job.job_id in unknown and now - job.submitted_at < self._grace:
                    waiting.append(job)
                else:
                    missing.append(job)
            elif status.status is JobStatus.SUCCESS:
                self._finish_success(job, status, now)
            elif status.status is JobStatus.FAIL:
                self._finish(job, State.FAILED, events.JOB_FAILED, status=status, now=now)
            elif now >= job.deadline_at:
                self._finish(job, State.TIMED_OUT, events.JOB_TIMED_OUT, status=status, now=now)
            else:
                waiting.append(job)
        if missing:
            waiting.extend(await self._resolve_missing(api, missing))
        self._reschedule(waiting)

    async def _ask(self, api: str, job_ids: list[str]) -> tuple[dict[str, _Status], frozenset[str]]:
        """Statuses by job ID, and the IDs the API reported as non-existent."""
        if api == GET_AI_IMAGE_JOBS:
            result = await self._client.get_ai_image_jobs(job_ids)
            found = {
                j.job_id: _Status(j.job_id, j.status, j.code, j.message, None) for j in result.jobs
            }
            return found, frozenset(job_ids) - found.keys()
        listed = await self._client.list_ai_job(job_ids)
        found = {
            j.job_id: _Status(j.job_id, j.status, j.code, j.message, j.complete_time)
            for j in listed.jobs
        }
        return found, frozenset(listed.non_exist_job_ids)

    async def _resolve_missing(self, api: str, jobs: list[_Job]) -> list[_Job]:
        """Jobs unseen past their grace: ask GetAIImageJobs once, else declare them lost."""
        found: dict[str, _Status] = {}
        if api == LIST_AI_JOB:
            try:
                found, _ = await self._ask(GET_AI_IMAGE_JOBS, [j.job_id for j in jobs])
            except VodError as exc:
                log.warning("poll.fallback_failed", code=exc.code, jobs=len(jobs))
                return jobs
        now = self._ledger.clock()
        still: list[_Job] = []
        for job in jobs:
            status = found.get(job.job_id)
            if status is None:
                self._finish(job, State.LOST, events.JOB_LOST, status=None, now=now)
                continue
            log.info("poll.fallback_adopted", request_id=job.request_id, job_id=job.job_id)
            job.status_api = GET_AI_IMAGE_JOBS
            self._ledger.store.set_status_api(job.request_id, GET_AI_IMAGE_JOBS)
            if status.status is JobStatus.SUCCESS:
                self._finish_success(job, status, now)
            elif status.status is JobStatus.FAIL:
                self._finish(job, State.FAILED, events.JOB_FAILED, status=status, now=now)
            else:
                still.append(job)
        return still

    def _reschedule(self, jobs: Sequence[_Job]) -> None:
        if not jobs:
            return
        now = self._ledger.clock()
        updates = []
        for job in jobs:
            if now >= job.deadline_at:
                self._finish(job, State.TIMED_OUT, events.JOB_TIMED_OUT, status=None, now=now)
                continue
            due = min(now + self._backoff.interval(job.polls, self._rng), job.deadline_at)
            self._schedule.add(job.job_id, due)
            updates.append((job.request_id, job.polls, due))
        if updates:
            self._ledger.store.record_polls(updates)
            self._ledger.progressed()
            self.wake()

    def _finish_success(self, job: _Job, status: _Status, now: float) -> None:
        row = self._row(job)
        if row is None:
            return
        self._record_lag(status, now)
        if self._ledger.advance(row, State.FETCHING, polls=job.polls):
            log.info("job.done", request_id=job.request_id, job_id=job.job_id, polls=job.polls)
            self._on_success(replace(row, state=State.FETCHING))

    def _finish(
        self, job: _Job, state: State, event_type: str, *, status: _Status | None, now: float
    ) -> None:
        row = self._row(job)
        if row is None:
            return
        if status is not None:
            self._record_lag(status, now)
        code = status.code if status else None
        message = status.message if status else None
        event = events.job_event(
            event_type,
            row,
            now=now,
            status=str(status.status) if status else None,
            code=code,
            message=message,
        )
        self._ledger.advance(
            row, state, event=event, polls=job.polls, completed_at=now, code=code, message=message
        )

    def _row(self, job: _Job) -> RequestRow | None:
        """The job's full row, with the poll count so far, and its end in the schedule."""
        self._jobs.pop(job.job_id, None)
        self._schedule.discard(job.job_id)
        row = self._ledger.store.get(job.request_id)
        if row is None or row.state is not State.SUBMITTED:
            return None
        return replace(row, polls=job.polls)

    def _record_lag(self, status: _Status, now: float) -> None:
        if status.complete_time:
            try:
                done = datetime.fromisoformat(status.complete_time.replace("Z", "+00:00"))
            except ValueError:
                return
            self.lags.append(max(0.0, now - done.timestamp()))
