"""The ledger keeps the counts by state without scanning the store."""

from __future__ import annotations

from orchestrator import events
from orchestrator.ledger import Ledger
from orchestrator.states import State
from orchestrator.store import NewRequest, QueuePosition, Store
from tests.daemon.conftest import FakeClock


def _request(request_id: str) -> NewRequest:
    return NewRequest(
        request_id=request_id, kind="job", line=1, deadline_at=2e9, video_id="v", template_id="t"
    )


def test_counts_follow_admissions_and_transitions(store: Store, clock: FakeClock) -> None:
    """Counts start from the store, then move with each admission and state change."""
    store.record_intake(QueuePosition(0, 0, 0, 1, 0), [_request("old")], [])
    ledger = Ledger(store=store, clock=clock, max_in_flight=10)
    assert (ledger.counts["pending"], ledger.active) == (1, 1)

    [row] = store.record_intake(QueuePosition(0, 0, 0, 2, 0), [_request("new")], [])
    ledger.admitted(1)
    event = events.job_event(events.JOB_FAILED, row, now=clock(), code="X", message="m")
    assert ledger.advance(row, State.FAILED, event=event)

    assert ledger.counts == store.count_by_state() == {"pending": 1, "failed": 1}
    assert (ledger.active, ledger.free_slots()) == (1, 9)
