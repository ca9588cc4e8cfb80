"""The request state machine (pure).

    pending → submitting → submitted → fetching → succeeded
       │           │            │          │
       └───────────┴────────────┴──────────┴──► failed | timed_out | lost

`submitting → pending` is the way back when a submission must be retried later; a request
found in `submitting` at start-up is submitted again (the API has no idempotency token).
Image look-ups use `pending → succeeded | failed` only.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    PENDING = "pending"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    FETCHING = "fetching"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    LOST = "lost"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({State.SUCCEEDED, State.FAILED, State.TIMED_OUT, State.LOST})
# Counted against limits.max_in_flight: everything taken from the queue and not finished.
ACTIVE = frozenset(State) - TERMINAL

_ENDINGS = frozenset({State.FAILED, State.TIMED_OUT})
TRANSITIONS: dict[State, frozenset[State]] = {
    State.PENDING: _ENDINGS | {State.SUBMITTING, State.SUCCEEDED},
    State.SUBMITTING: _ENDINGS | {State.SUBMITTED, State.PENDING},
    State.SUBMITTED: _ENDINGS | {State.FETCHING, State.LOST},
    State.FETCHING: _ENDINGS | {State.SUCCEEDED},
}


def can_transition(old: State, new: State) -> bool:
    return new in TRANSITIONS.get(old, frozenset())
