"""The loop the submitter, poller, fetcher and look-ups share.

A worker waits until an item is ready, takes it at the moment a slot is free (so a batch is
composed as late as possible, with the freshest work), and processes up to `concurrency`
items at once. `stop()` starts nothing new; items under way finish (`in_flight` counts them).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, TypeVar

import anyio
import anyio.abc

from orchestrator.vod import VodError
from orchestrator.vod.errors import MALFORMED_RESPONSE

T = TypeVar("T")


def worth_retrying(error: VodError) -> bool:
    """Whether a request should make this call again later rather than end on `error`.

    The client's `retryable` is about repeating the same call at once. A success answer it could
    not read (`Response.Malformed`: garbled on the way, or an odd gateway) is no verdict of the
    API on the request either: the job may well exist, or have its images. So the request tries
    again later, within its deadline, like after any transient failure.
    """
    return error.retryable or error.code == MALFORMED_RESPONSE


class Worker(ABC, Generic[T]):
    def __init__(self, *, concurrency: int) -> None:
        self._slots = anyio.Semaphore(concurrency)
        self._wake = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None
        self.in_flight = 0
        self.delayed = 0
        self.stopping = False

    # --- what a worker defines -------------------------------------------------------------------

    @abstractmethod
    def ready_in(self) -> float | None:
        """Seconds until an item is ready (0 or less: now), None when there is none."""

    @abstractmethod
    def take(self) -> T | None:
        """Remove and return the next ready item, or None."""

    @abstractmethod
    async def process(self, item: T) -> None:
        """Do the work of one item; runs concurrently with others."""

    @property
    @abstractmethod
    def pending(self) -> bool:
        """Whether items wait that are not yet taken."""

    # --- the loop -------------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        return not self.pending and self.in_flight == 0 and self.delayed == 0

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self.stopping = True
        self._wake.set()

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            while True:
                wait = None if self.stopping else self.ready_in()
                if wait is None or wait > 0:
                    await self._sleep(wait)
                    continue
                await self._slots.acquire()
                item = None if self.stopping else self.take()
                if item is None:
                    self._slots.release()
                    continue
                self.in_flight += 1
                tg.start_soon(self._process_one, item)

    def later(self, delay: float, action: Callable[[], None]) -> None:
        """Run `action` after `delay` seconds (a retry); counted so the worker is not idle."""
        assert self._tg is not None, "later() is for items being processed"
        self.delayed += 1

        async def wait_then_act() -> None:
            try:
                await anyio.sleep(delay)
                action()
            finally:
                self.delayed -= 1

        self._tg.start_soon(wait_then_act)

    async def _process_one(self, item: T) -> None:
        try:
            await self.process(item)
        finally:
            self.in_flight -= 1
            self._slots.release()

    async def _sleep(self, seconds: float | None) -> None:
        self._wake = anyio.Event()
        with anyio.move_on_after(math.inf if seconds is None else seconds):
            await self._wake.wait()


async def wait_until(condition: Callable[[], bool], *, interval_s: float) -> None:
    """Poll `condition` until it holds: for states spread over several parts, none of which
    could signal the whole (idle: every worker, the intake and every sink at once)."""
    while not condition():  # noqa: ASYNC110 - a combined condition has no single event to await
        await anyio.sleep(interval_s)
