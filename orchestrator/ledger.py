"""The ledger: every state change of a request goes through here.

It commits the change and its event in one store transaction, then tells the rest of the
daemon what happened: admission (a finished request frees a slot for the intake), the sinks
(there is a new event to deliver) and the heartbeat (the daemon made progress).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from orchestrator.states import ACTIVE, State
from orchestrator.store import RequestRow, Store

log = structlog.get_logger("orchestrator.ledger")


class Ledger:
    def __init__(self, *, store: Store, clock: Callable[[], float], max_in_flight: int) -> None:
        self.store = store
        self.clock = clock
        self.max_in_flight = max_in_flight
        # Requests by state, counted once from the store and then kept up to date here, so
        # the periodic figures never scan a table that grows with the daemon's history.
        self.counts: Counter[str] = Counter(store.count_by_state())
        self.active = sum(self.counts[state] for state in ACTIVE)
        self.progress_at = clock()
        self._space = asyncio.Event()
        self._outbox_listeners: list[asyncio.Event] = []

    # --- admission ----------------------------------------------------------------------------

    def free_slots(self) -> int:
        return max(0, self.max_in_flight - self.active)

    def admitted(self, count: int) -> None:
        """`count` new requests were taken from the queue (in `pending`)."""
        self.active += count
        self.counts[State.PENDING] += count
        if count:
            self.progressed()

    async def wait_for_space(self) -> None:
        while self.free_slots() == 0:
            self._space.clear()
            await self._space.wait()

    # --- outbox -------------------------------------------------------------------------------

    def outbox_listener(self) -> asyncio.Event:
        """An event set whenever new events are committed; the listener clears it."""
        listener = asyncio.Event()
        listener.set()  # deliver whatever the outbox already holds
        self._outbox_listeners.append(listener)
        return listener

    def events_committed(self) -> None:
        for listener in self._outbox_listeners:
            listener.set()

    # --- changes ------------------------------------------------------------------------------

    def progressed(self) -> None:
        self.progress_at = self.clock()

    def advance(
        self,
        row: RequestRow,
        new: State,
        *,
        event: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> bool:
        """Move `row` to `new` with its event; False if another path already moved it."""
        if not self.store.transition(row.request_id, row.state, new, event=event, **fields):
            log.warning(
                "request.transition_skipped",
                request_id=row.request_id,
                expected=str(row.state),
                wanted=str(new),
            )
            return False
        self.counts[row.state] -= 1
        self.counts[new] += 1
        self.progressed()
        if event is not None:
            self.events_committed()
        if new.is_terminal:
            self.active -= 1
            self._space.set()
            log.info(
                "request.finished",
                request_id=row.request_id,
                state=str(new),
                job_id=row.job_id,
                video_id=row.video_id,
                event_id=event["event_id"] if event else None,
            )
        return True
