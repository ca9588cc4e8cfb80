"""The submitter records a request as submitting only when its call leaves the daemon."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import anyio

from orchestrator.ledger import Ledger
from orchestrator.states import State
from orchestrator.store import NewRequest, QueuePosition, RequestRow, Store
from orchestrator.submitter import Submitter
from orchestrator.vod import SubmitAIImageJobResult, VodClient
from tests.daemon.conftest import FakeClock


class GatedClient:
    """Holds each submission (as the rate limiter would) until the test opens the gate."""

    def __init__(self, store: Store) -> None:
        self.gate = anyio.Event()
        self.state_when_sent: State | None = None
        self._store = store

    async def submit_ai_image_job(
        self, *, on_send: Callable[[], None] | None = None, **_: object
    ) -> SubmitAIImageJobResult:
        await self.gate.wait()
        assert on_send is not None
        on_send()
        row = self._store.get("r1")
        self.state_when_sent = None if row is None else row.state
        return SubmitAIImageJobResult(job_id="job-1", request_id="api")


async def test_request_waiting_for_the_limiter_stays_pending(
    store: Store, clock: FakeClock
) -> None:
    """A request queued behind the rate limiter is pending; it is submitting once sent."""
    ledger = Ledger(store=store, clock=clock, max_in_flight=10)
    request = NewRequest(
        request_id="r1", kind="job", line=1, deadline_at=clock() + 60, video_id="v", template_id="t"
    )
    [row] = store.record_intake(QueuePosition(0, 0, 0, 1, 0), [request], [])
    ledger.admitted(1)
    client = GatedClient(store)
    submitted: list[RequestRow] = []
    submitter = Submitter(
        ledger=ledger, client=cast(VodClient, client), concurrency=1, on_submitted=submitted.append
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(submitter.process, row)
        await anyio.sleep(0.05)
        waiting = store.get("r1")
        assert waiting is not None
        assert waiting.state is State.PENDING
        client.gate.set()
    assert client.state_when_sent is State.SUBMITTING
    done = store.get("r1")
    assert done is not None
    assert (done.state, done.job_id, done.submits) == (State.SUBMITTED, "job-1", 1)
    assert [r.job_id for r in submitted] == ["job-1"]
