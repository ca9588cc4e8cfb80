"""The poller's decisions for each answer, driven with a scripted client (no sockets)."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any, cast

import pytest

from orchestrator.ledger import Ledger
from orchestrator.poller import GET_AI_IMAGE_JOBS, LIST_AI_JOB, Poller
from orchestrator.schedule import Backoff
from orchestrator.states import State
from orchestrator.store import NewRequest, QueuePosition, RequestRow, Store
from orchestrator.vod import (
    AIImageJob,
    AIJob,
    GetAIImageJobsResult,
    JobStatus,
    ListAIJobResult,
    VodClient,
    VodError,
)
from tests.daemon.conftest import FakeClock

GRACE_S = 30.0


class ScriptedClient:
    """Answers status calls from dictionaries the test fills: job id -> status."""

    def __init__(self) -> None:
        self.listed: dict[str, JobStatus] = {}
        self.image_jobs: dict[str, JobStatus] = {}
        self.calls: list[tuple[str, list[str]]] = []
        self.error: VodError | None = None

    async def list_ai_job(self, job_ids: Sequence[str]) -> ListAIJobResult:
        self.calls.append((LIST_AI_JOB, list(job_ids)))
        if self.error:
            raise self.error
        jobs = tuple(
            AIJob(
                job_id=j,
                media_id="v",
                type="AIImage",
                status=self.listed[j],
                code="Bad" if self.listed[j] is JobStatus.FAIL else "",
                message="why",
                data=None,
                creation_time="",
                complete_time="",
            )
            for j in job_ids
            if j in self.listed
        )
        missing = tuple(j for j in job_ids if j not in self.listed)
        return ListAIJobResult(request_id="r", jobs=jobs, non_exist_job_ids=missing)

    async def get_ai_image_jobs(self, job_ids: Sequence[str]) -> GetAIImageJobsResult:
        self.calls.append((GET_AI_IMAGE_JOBS, list(job_ids)))
        jobs = tuple(
            AIImageJob(
                job_id=j,
                video_id="v",
                template_id="t",
                status=self.image_jobs[j],
                code="",
                message="",
                user_data=None,
                template_config=None,
                results=(),
                creation_time="",
            )
            for j in job_ids
            if j in self.image_jobs
        )
        return GetAIImageJobsResult(request_id="r", jobs=jobs)


@pytest.fixture
def client() -> ScriptedClient:
    return ScriptedClient()


@pytest.fixture
def ledger(store: Store, clock: FakeClock) -> Ledger:
    return Ledger(store=store, clock=clock, max_in_flight=100)


def _submitted(
    ledger: Ledger, clock: FakeClock, job_id: str, *, deadline_in: float = 3600
) -> RequestRow:
    request = NewRequest(
        request_id=f"req-{job_id}",
        kind="job",
        line=1,
        video_id="v",
        template_id="t",
        deadline_at=clock() + deadline_in,
    )
    [row] = ledger.store.record_intake(QueuePosition(0, 0, 0, 0, 0), [request], [])
    ledger.admitted(1)
    assert ledger.advance(row, State.SUBMITTING)
    submitting = ledger.store.get(row.request_id)
    assert submitting is not None
    assert ledger.advance(submitting, State.SUBMITTED, job_id=job_id, submitted_at=clock())
    stored = ledger.store.get(row.request_id)
    assert stored is not None
    return stored


def _poller(ledger: Ledger, client: ScriptedClient, succeeded: list[RequestRow]) -> Poller:
    return Poller(
        ledger=ledger,
        client=cast(VodClient, client),
        backoff=Backoff(initial_s=5, jitter=0),
        rng=random.Random(1),
        status_api=LIST_AI_JOB,
        nonexist_grace_s=GRACE_S,
        concurrency=2,
        on_success=succeeded.append,
    )


def _events(store: Store) -> list[dict[str, Any]]:
    return [json.loads(e.body) for e in store.events_after(0, 100)]


async def test_terminal_answers_end_requests_with_their_events(
    ledger: Ledger, client: ScriptedClient, clock: FakeClock
) -> None:
    """success hands the job to the fetcher, fail emits job.failed, running reschedules."""
    succeeded: list[RequestRow] = []
    poller = _poller(ledger, client, succeeded)
    for job_id in ("ok", "bad", "busy"):
        poller.track(_submitted(ledger, clock, job_id))
    client.listed = {"ok": JobStatus.SUCCESS, "bad": JobStatus.FAIL, "busy": JobStatus.PROCESSING}
    clock.advance(5)
    batch = poller.take()
    assert batch is not None
    assert sorted(batch) == ["bad", "busy", "ok"]
    await poller.process(batch)

    assert [r.job_id for r in succeeded] == ["ok"]
    assert succeeded[0].state is State.FETCHING
    [failed] = _events(ledger.store)
    assert (failed["event"], failed["code"], failed["message"]) == ("job.failed", "Bad", "why")
    busy = ledger.store.get("req-busy")
    assert busy is not None
    assert (busy.state, busy.polls, busy.next_poll_at) == (State.SUBMITTED, 1, clock() + 7.5)
    assert len(poller) == 1


async def test_unknown_id_within_grace_is_polled_again(
    ledger: Ledger, client: ScriptedClient, clock: FakeClock
) -> None:
    """A job reported non-existent soon after submission is rescheduled, not lost."""
    poller = _poller(ledger, client, [])
    poller.track(_submitted(ledger, clock, "new"))
    clock.advance(5)
    await poller.process(["new"])
    assert _events(ledger.store) == []
    assert len(poller) == 1
    assert client.calls == [(LIST_AI_JOB, ["new"])]


async def test_unknown_id_past_grace_is_asked_of_get_ai_image_jobs_then_adopted(
    ledger: Ledger, client: ScriptedClient, clock: FakeClock
) -> None:
    """Past the grace, a job GetAIImageJobs knows is polled there from then on."""
    poller = _poller(ledger, client, [])
    poller.track(_submitted(ledger, clock, "img"))
    client.image_jobs = {"img": JobStatus.PROCESSING}
    clock.advance(GRACE_S + 1)
    await poller.process(["img"])
    assert client.calls == [(LIST_AI_JOB, ["img"]), (GET_AI_IMAGE_JOBS, ["img"])]
    row = ledger.store.get("req-img")
    assert row is not None
    assert row.status_api == GET_AI_IMAGE_JOBS
    client.calls.clear()
    await poller.process(["img"])
    assert client.calls == [(GET_AI_IMAGE_JOBS, ["img"])]


async def test_unknown_id_past_grace_and_absent_everywhere_is_lost(
    ledger: Ledger, client: ScriptedClient, clock: FakeClock
) -> None:
    """A job neither status call knows after the grace ends as job.lost."""
    poller = _poller(ledger, client, [])
    poller.track(_submitted(ledger, clock, "gone"))
    clock.advance(GRACE_S + 1)
    await poller.process(["gone"])
    [lost] = _events(ledger.store)
    assert (lost["event"], lost["job_id"]) == ("job.lost", "gone")
    assert len(poller) == 0
    assert ledger.active == 0


async def test_running_job_past_its_deadline_times_out(
    ledger: Ledger, client: ScriptedClient, clock: FakeClock
) -> None:
    """A job still processing at its deadline ends as job.timed_out."""
    poller = _poller(ledger, client, [])
    poller.track(_submitted(ledger, clock, "slow", deadline_in=10))
    client.listed = {"slow": JobStatus.PROCESSING}
    clock.advance(11)
    await poller.process(["slow"])
    [timed_out] = _events(ledger.store)
    assert (timed_out["event"], timed_out["status"]) == ("job.timed_out", "processing")


async def test_failed_call_reschedules_without_events(
    ledger: Ledger, client: ScriptedClient, clock: FakeClock
) -> None:
    """A status call that fails leaves its jobs in flight, to be polled again."""
    poller = _poller(ledger, client, [])
    poller.track(_submitted(ledger, clock, "x"))
    client.error = VodError(
        action=LIST_AI_JOB, code="ServiceUnavailable", message="busy", http_status=503
    )
    clock.advance(5)
    await poller.process(["x"])
    assert _events(ledger.store) == []
    assert len(poller) == 1
    assert poller.ready_in() == pytest.approx(5.0)


async def test_batches_fill_up_with_jobs_due_next(
    ledger: Ledger, client: ScriptedClient, clock: FakeClock
) -> None:
    """One due job takes nine not-yet-due ones with it; nothing is taken when none is due."""
    poller = _poller(ledger, client, [])
    start = clock()
    for n in range(12):
        poller.track(_submitted(ledger, clock, f"j{n:02d}"))
        clock.advance(1)
    clock.now = start + 4.9  # nothing is due yet
    assert poller.take() is None
    clock.now = start + 5  # only j00 is due
    assert poller.take() == [f"j{n:02d}" for n in range(10)]
