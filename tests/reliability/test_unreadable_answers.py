"""An answer the client cannot read ends no request: the request tries again later.

`Response.Malformed` (a success status with a body of the wrong shape: garbled on the way, an
odd gateway) is not the API's verdict on a request; the job may exist or have its images. The
submitter, fetcher and look-ups retry it like a transient failure; a permanent API error still
ends the request at once. Driven with a scripted client and a real store, no sockets.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import anyio
import pytest
from structlog.testing import capture_logs

from orchestrator.fetcher import Fetcher
from orchestrator.ledger import Ledger
from orchestrator.lookups import Lookups
from orchestrator.states import State
from orchestrator.store import NewRequest, QueuePosition, RequestRow, Store
from orchestrator.submitter import RESUBMIT_MAX_S, Submitter, resubmit_delay
from orchestrator.vod import SubmitAIImageJobResult, VodClient, VodError
from orchestrator.vod.errors import MALFORMED_RESPONSE
from orchestrator.workers import Worker, worth_retrying
from tests.daemon.conftest import FakeClock
from tests.e2e.conftest import eventually


def _malformed(action: str) -> VodError:
    return VodError(action=action, code=MALFORMED_RESPONSE, message="field 'X' is absent")


def _not_found(action: str) -> VodError:
    return VodError(
        action=action, code="InvalidVideo.NotFound", message="no video", http_status=404
    )


class ScriptedClient:
    """Answers each call with the next scripted answer: a result, or an error to raise."""

    def __init__(self, *answers: object) -> None:
        self._answers = list(answers)

    async def _next(self) -> Any:
        answer = self._answers.pop(0)
        if isinstance(answer, VodError):
            raise answer
        return answer

    async def submit_ai_image_job(
        self, *, on_send: Callable[[], None] | None = None, **_: object
    ) -> Any:
        if on_send is not None:
            on_send()  # the request left, as the real client reports it
        return await self._next()

    async def list_ai_image_info(self, video_id: str) -> Any:
        return await self._next()

    async def get_image_infos(self, image_ids: list[str]) -> Any:
        return await self._next()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger(tmp_path: Path, clock: FakeClock) -> Iterator[Ledger]:
    store = Store.open(tmp_path / "store.db", clock=clock)
    yield Ledger(store=store, clock=clock, max_in_flight=100)
    store.close()


@asynccontextmanager
async def _running(worker: Worker[Any]) -> AsyncIterator[None]:
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        yield
        tg.cancel_scope.cancel()


def _new(ledger: Ledger, clock: FakeClock, **fields: Any) -> RequestRow:
    request = NewRequest(request_id="req", line=1, deadline_at=clock() + 3600, **fields)
    [row] = ledger.store.record_intake(QueuePosition(0, 0, 0, 0, 0), [request], [])
    ledger.admitted(1)
    return row


def _fetching(ledger: Ledger, clock: FakeClock) -> RequestRow:
    row = _new(ledger, clock, kind="job", video_id="v", template_id="t")
    store = ledger.store
    assert store.transition(row.request_id, State.PENDING, State.SUBMITTING)
    assert store.transition(
        row.request_id, State.SUBMITTING, State.SUBMITTED, job_id="job-1", submitted_at=clock()
    )
    assert store.transition(row.request_id, State.SUBMITTED, State.FETCHING)
    fetching = ledger.store.get(row.request_id)
    assert fetching is not None
    return fetching


def _stored(ledger: Ledger) -> RequestRow:
    row = ledger.store.get("req")
    assert row is not None
    return row


def _events(ledger: Ledger) -> list[dict[str, Any]]:
    return [json.loads(e.body) for e in ledger.store.events_after(0, 100)]


def test_only_the_api_verdicts_end_a_request() -> None:
    """Transient errors and unreadable answers are worth retrying; API refusals are not."""
    assert worth_retrying(_malformed("ListAIImageInfo"))
    assert worth_retrying(
        VodError(action="A", code="ServiceUnAvailable", message="", http_status=503)
    )
    assert not worth_retrying(_not_found("ListAIImageInfo"))
    assert not worth_retrying(VodError(action="A", code="Forbidden.RAM", message=""))


def test_resubmission_waits_double_each_time_up_to_a_minute() -> None:
    """The wait after each failed submission doubles from 2 s and stays at the cap."""
    assert [resubmit_delay(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]
    assert resubmit_delay(10**9) == RESUBMIT_MAX_S


async def test_submit_answered_unreadably_is_parked_and_counted(
    ledger: Ledger, clock: FakeClock
) -> None:
    """A malformed submit answer parks the request in pending; every try counts, waits grow."""
    client = ScriptedClient(
        _malformed("SubmitAIImageJob"),
        _malformed("SubmitAIImageJob"),
        SubmitAIImageJobResult(job_id="job-1", request_id="api"),
    )
    submitted: list[RequestRow] = []
    submitter = Submitter(
        ledger=ledger,
        client=cast(VodClient, client),
        concurrency=1,
        on_submitted=submitted.append,
    )
    row = _new(ledger, clock, kind="job", video_id="v", template_id="t")
    with capture_logs() as logs:
        async with _running(submitter):
            submitter.add(row)
            await eventually(lambda: submitter.delayed == 1)
            parked = _stored(ledger)
            assert (parked.state, parked.code, parked.submits) == (
                State.PENDING,
                "Response.Malformed",
                1,
            )
            await submitter.process(parked)  # the retry, without waiting for its delay
            await submitter.process(_stored(ledger))
    assert _stored(ledger).state is State.SUBMITTED
    assert _stored(ledger).submits == 3
    assert [r.job_id for r in submitted] == ["job-1"]
    assert _events(ledger) == []
    deferred = [e for e in logs if e["event"] == "job.submit_deferred"]
    assert [(e["submits"], e["retry_in_s"]) for e in deferred] == [(1, 2.0), (2, 4.0)]


async def test_submit_refused_by_the_api_fails_at_once(ledger: Ledger, clock: FakeClock) -> None:
    """A permanent API error on submit ends the request as job.failed with the API's code."""
    client = ScriptedClient(_not_found("SubmitAIImageJob"))
    submitter = Submitter(
        ledger=ledger, client=cast(VodClient, client), concurrency=1, on_submitted=lambda _: None
    )
    await submitter.process(_new(ledger, clock, kind="job", video_id="v", template_id="t"))
    [event] = _events(ledger)
    assert (event["event"], event["code"]) == ("job.failed", "InvalidVideo.NotFound")


@pytest.mark.parametrize(
    ("error", "state", "event_types"),
    [
        (_malformed("ListAIImageInfo"), State.FETCHING, []),
        (_not_found("ListAIImageInfo"), State.FAILED, ["job.failed"]),
    ],
)
async def test_fetch_retries_an_unreadable_answer_and_fails_on_a_refusal(
    ledger: Ledger, clock: FakeClock, error: VodError, state: State, event_types: list[str]
) -> None:
    """A malformed ListAIImageInfo answer is asked again later; InvalidVideo ends the job."""
    fetcher = Fetcher(ledger=ledger, client=cast(VodClient, ScriptedClient(error)), concurrency=1)
    async with _running(fetcher):
        fetcher.add(_fetching(ledger, clock))
        await eventually(lambda: fetcher.delayed == 1 or _stored(ledger).state.is_terminal)
    assert _stored(ledger).state is state
    assert [e["event"] for e in _events(ledger)] == event_types


@pytest.mark.parametrize(
    ("error", "state", "event_types"),
    [
        (_malformed("GetImageInfos"), State.PENDING, []),
        (
            VodError(action="GetImageInfos", code="Forbidden", message=""),
            State.FAILED,
            ["images.failed"],
        ),
    ],
)
async def test_lookup_retries_an_unreadable_answer_and_fails_on_a_refusal(
    ledger: Ledger, clock: FakeClock, error: VodError, state: State, event_types: list[str]
) -> None:
    """A malformed GetImageInfos answer is asked again later; Forbidden ends the look-up."""
    lookups = Lookups(ledger=ledger, client=cast(VodClient, ScriptedClient(error)))
    row = _new(ledger, clock, kind="lookup", image_ids=("img-1", "img-2"))
    with capture_logs() as logs:
        async with _running(lookups):
            lookups.add(row)
            await eventually(lambda: lookups.delayed == 1 or _stored(ledger).state.is_terminal)
    assert _stored(ledger).state is state
    assert [e["event"] for e in _events(ledger)] == event_types
    # The log line of the outcome carries the event's name, as the event does.
    assert [e["event"] for e in logs if e["event"].startswith("images.")] == event_types


async def test_lookup_past_its_deadline_stops_retrying(ledger: Ledger, clock: FakeClock) -> None:
    """A transient GetImageInfos error after the look-up's deadline ends it as images.failed."""
    lookups = Lookups(
        ledger=ledger, client=cast(VodClient, ScriptedClient(_malformed("GetImageInfos")))
    )
    row = _new(ledger, clock, kind="lookup", image_ids=("img-1",))
    clock.advance(3601)
    async with _running(lookups):
        lookups.add(row)
        await eventually(lambda: _stored(ledger).state.is_terminal)
        assert lookups.idle  # no retry left behind
    assert _stored(ledger).state is State.FAILED
    [failed] = _events(ledger)
    assert (failed["event"], failed["code"]) == ("images.failed", MALFORMED_RESPONSE)
