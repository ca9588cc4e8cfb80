"""Image look-ups: `image_ids` requests answered with GetImageInfos.

The IDs of every waiting request are pooled, so one call of up to 20 distinct IDs serves
several requests, and a request of many IDs spans several calls. A request completes with
`images.resolved` once each of its IDs has been answered (found, or listed in
`NonExistImageIds`); a permanent API error ends the requests it touches with `images.failed`.
Answers live in memory only: after a restart, a look-up is simply asked again (it is a read).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog

from orchestrator import events
from orchestrator.ledger import Ledger
from orchestrator.logs import redact_url
from orchestrator.states import State
from orchestrator.store import RequestRow
from orchestrator.vod import ImageInfo, VodClient, VodError
from orchestrator.workers import Worker, worth_retrying

log = structlog.get_logger("orchestrator.lookups")

# GetImageInfos takes at most this many IDs.
BATCH_SIZE = 20
# A transient failure (after the client's own retries) waits this long before the next try.
ERROR_DELAY_S = 10.0


@dataclass(slots=True)
class _Lookup:
    row: RequestRow
    found: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)

    @property
    def answered(self) -> bool:
        return len(self.found) + len(self.missing) >= len(set(self.row.image_ids))


class Lookups(Worker[dict[str, dict[str, None]]]):
    def __init__(self, *, ledger: Ledger, client: VodClient) -> None:
        # One call at a time: GetImageInfos has the smallest rate limit, and calls taken one by
        # one let the IDs that arrive meanwhile fill the next batch.
        super().__init__(concurrency=1)
        self._ledger = ledger
        self._client = client
        self._lookups: dict[str, _Lookup] = {}
        # Image ID -> request IDs waiting for it, in arrival order (dicts keep insertion order).
        self._wanted: dict[str, dict[str, None]] = {}

    @property
    def pending(self) -> bool:
        return bool(self._lookups)

    def add(self, row: RequestRow) -> None:
        self._lookups[row.request_id] = _Lookup(row)
        self._want(row.request_id, row.image_ids)

    def _want(self, request_id: str, image_ids: Iterable[str]) -> None:
        for image_id in image_ids:
            self._wanted.setdefault(image_id, {})[request_id] = None
        self.wake()

    def ready_in(self) -> float | None:
        return 0.0 if self._wanted else None

    def take(self) -> dict[str, dict[str, None]] | None:
        if not self._wanted:
            return None
        return {
            image_id: self._wanted.pop(image_id) for image_id in list(self._wanted)[:BATCH_SIZE]
        }

    async def process(self, batch: dict[str, dict[str, None]]) -> None:
        try:
            result = await self._client.get_image_infos(list(batch))
        except VodError as exc:
            self._failed(batch, exc)
            return
        infos = {info.image_id: _image(info) for info in result.images}
        touched: dict[str, None] = {}
        for image_id, requests in batch.items():
            for request_id in requests:
                lookup = self._lookups.get(request_id)
                if lookup is None:
                    continue
                if image_id in infos:
                    lookup.found[image_id] = infos[image_id]
                else:
                    lookup.missing.add(image_id)
                touched[request_id] = None
        now = self._ledger.clock()
        for request_id in touched:
            lookup = self._lookups[request_id]
            if lookup.answered:
                del self._lookups[request_id]
                ids = lookup.row.image_ids
                self._finish(
                    lookup.row,
                    events.images_event(
                        lookup.row,
                        now=now,
                        images=[lookup.found[i] for i in dict.fromkeys(ids) if i in lookup.found],
                        missing=[i for i in dict.fromkeys(ids) if i in lookup.missing],
                    ),
                    State.SUCCEEDED,
                )

    def _failed(self, batch: dict[str, dict[str, None]], exc: VodError) -> None:
        """A transient error asks again later, within each request's deadline; a permanent
        one, or a deadline passed, ends the requests of the batch with `images.failed`."""
        transient = worth_retrying(exc)
        log.warning("lookup.failed", code=exc.code, retrying=transient, ids=len(batch))
        now = self._ledger.clock()
        touched = dict.fromkeys(r for requests in batch.values() for r in requests)
        failed = [
            self._lookups.pop(request_id)
            for request_id in touched
            if request_id in self._lookups
            and (not transient or now >= self._lookups[request_id].row.deadline_at)
        ]
        gone = {lookup.row.request_id for lookup in failed}
        if gone:
            self._wanted = {
                image_id: {r: None for r in waiting if r not in gone}
                for image_id, waiting in self._wanted.items()
                if set(waiting) - gone
            }
        for lookup in failed:
            event = events.images_event(lookup.row, now=now, code=exc.code, message=exc.message)
            self._finish(lookup.row, event, State.FAILED)
        if transient and any(request_id in self._lookups for request_id in touched):

            def retry() -> None:
                for image_id, requests in batch.items():
                    for request_id in requests:
                        if request_id in self._lookups:
                            self._want(request_id, [image_id])

            self.later(ERROR_DELAY_S, retry)

    def _finish(self, row: RequestRow, event: dict[str, Any], state: State) -> None:
        if self._ledger.advance(row, state, event=event, completed_at=self._ledger.clock()):
            # Logged under the event's own name: images.resolved or images.failed.
            log.info(event["event"], request_id=row.request_id, state=str(state))


def _image(info: ImageInfo) -> dict[str, Any]:
    """The fields of an image that an event carries; signed URL parameters stripped."""
    return {
        "image_id": info.image_id,
        "url": redact_url(info.url) if info.url else info.url,
        "title": info.title,
        "status": info.status,
        "image_type": info.image_type,
        "creation_time": info.creation_time,
        "width": info.width,
        "height": info.height,
        "file_size": info.file_size,
    }
