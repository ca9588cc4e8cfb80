"""The daemon: wires intake, submitter, poller, fetcher, look-ups and sinks into one process.

Start-up rebuilds every in-memory queue from the store, so a restart resumes where the last
process stopped. SIGTERM/SIGINT stop the intake, let the calls under way finish within
`limits.shutdown_grace_s`, deliver what the outbox holds, record the stop, and return.
"""

from __future__ import annotations

import math
import os
import random
import signal
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from functools import partial
from typing import Any, TextIO

import aiohttp
import anyio
import anyio.abc
import anyio.lowlevel
import structlog

from orchestrator.connections import vod_client
from orchestrator.errors import ConfigError
from orchestrator.fetcher import Fetcher
from orchestrator.intake import Intake
from orchestrator.ledger import Ledger
from orchestrator.lookups import Lookups
from orchestrator.poller import Poller
from orchestrator.schedule import Backoff
from orchestrator.settings import Settings
from orchestrator.sinks import Delivery, FileSink, Sink, StdoutSink, WebhookSink
from orchestrator.states import ACTIVE, State
from orchestrator.stats import Stats
from orchestrator.store import RequestRow, Store
from orchestrator.submitter import Submitter
from orchestrator.vod import Credentials, VodClient
from orchestrator.workers import wait_until

log = structlog.get_logger("orchestrator.daemon")

# How often the intake looks for appended lines: the contract is "within a second".
INTAKE_POLL_S = 0.2
# Lines taken per transaction: one commit serves many lines without holding the loop long.
INTAKE_BATCH = 500
# Backoff of an intake that cannot read the queue or write a dead letter (a disk error, a path
# that became a directory): from one second, doubling, capped so that recovery is noticed soon.
INTAKE_RETRY_INITIAL_S = 1.0
INTAKE_RETRY_MAX_S = 30.0
# Calls of one action allowed under way at once, as a multiple of its rate: enough to keep
# the rate busy with calls of up to a second, few enough that batches are composed late.
CALLS_PER_QPS = 1.0
MAX_CONCURRENCY = 64
HEARTBEAT_S = 5.0
IDLE_CHECK_S = 0.1
# The stall watchdog wakes this often; a wake-up more than STALL_THRESHOLD_S late means the
# event loop was blocked (synchronous I/O, a long computation) and every timer, socket and
# heartbeat of the daemon waited with it.
WATCHDOG_TICK_S = 0.25
STALL_THRESHOLD_S = 1.0


def _concurrency(qps: float) -> int:
    return max(2, min(MAX_CONCURRENCY, math.ceil(qps * CALLS_PER_QPS)))


async def watch_stalls(
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
    tick_s: float = WATCHDOG_TICK_S,
    threshold_s: float = STALL_THRESHOLD_S,
) -> None:
    """Log `daemon.stall` with the overshoot whenever a tick wakes more than `threshold_s` late.

    `clock` must be monotonic: a wall clock set back or forth would report stalls that were not.
    """
    while True:
        before = clock()
        await sleep(tick_s)
        overshoot = clock() - before - tick_s
        if overshoot > threshold_s:
            log.warning("daemon.stall", overshoot_s=round(overshoot, 3), tick_s=tick_s)


class Daemon:
    def __init__(
        self,
        settings: Settings,
        *,
        credentials: Credentials,
        endpoint: str | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self.settings = settings
        self._credentials = credentials
        self._endpoint = settings.vod.endpoint if endpoint is None else endpoint
        self._clock = clock
        self._rng = rng or random.Random()
        self._stdout = stdout
        self._stop = anyio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self, *, until_idle: bool = False) -> None:
        s = self.settings
        if not s.events.path and not s.events.stdout and not s.events.webhook_url:
            raise ConfigError("events.path", "no sink configured: set a path, stdout or a webhook")
        store = Store.open(s.store.path, clock=self._clock)
        async with AsyncExitStack() as stack:
            stack.callback(store.close)
            client = await stack.enter_async_context(
                vod_client(s, credentials=self._credentials, endpoint=self._endpoint)
            )
            session = await stack.enter_async_context(aiohttp.ClientSession())
            await self._serve(store, client, session, until_idle=until_idle)

    async def _serve(
        self,
        store: Store,
        client: VodClient,
        session: aiohttp.ClientSession,
        *,
        until_idle: bool,
    ) -> None:
        s = self.settings
        ledger = Ledger(store=store, clock=self._clock, max_in_flight=s.limits.max_in_flight)
        fetcher = Fetcher(
            ledger=ledger, client=client, concurrency=_concurrency(s.limits.results_qps)
        )
        poller = Poller(
            ledger=ledger,
            client=client,
            backoff=Backoff(
                initial_s=s.poll.initial_s,
                multiplier=s.poll.multiplier,
                max_interval_s=s.poll.max_interval_s,
                jitter=s.poll.jitter,
            ),
            rng=self._rng,
            status_api=s.vod.status_api,
            nonexist_grace_s=s.poll.nonexist_grace_s,
            concurrency=_concurrency(s.limits.status_qps),
            on_success=fetcher.add,
        )
        submitter = Submitter(
            ledger=ledger,
            client=client,
            concurrency=_concurrency(s.limits.submit_qps),
            on_submitted=poller.track,
        )
        lookups = Lookups(ledger=ledger, client=client)
        intake = Intake(
            path=s.queue.path,
            dead_letter_path=s.queue.dead_letter_path,
            store=store,
            clock=self._clock,
            default_timeout_s=s.poll.job_timeout_s,
        )

        def dispatch(row: RequestRow) -> None:
            if row.kind == "lookup":
                lookups.add(row)
            elif row.state in (State.PENDING, State.SUBMITTING):
                submitter.add(row)
            elif row.state is State.SUBMITTED:
                poller.track(row)
            elif row.state is State.FETCHING:
                fetcher.add(row)

        resumed = store.requests_in(ACTIVE)
        for row in resumed:
            dispatch(row)
        deliveries = [Delivery(sink, ledger) for sink in self._sinks(session)]
        stats = Stats(client=client, poller=poller, ledger=ledger)
        started_at = self._clock()
        log.info(
            "daemon.started",
            pid=os.getpid(),
            resumed=len(resumed),
            store=str(s.store.path),
            queue=str(s.queue.path),
            endpoint=self._endpoint or f"region {s.vod.region}",
            sinks=[d.sink.name for d in deliveries],
        )
        workers: list[Any] = [submitter, poller, fetcher, lookups]

        def idle() -> bool:
            return (
                intake.at_end
                and ledger.active == 0
                and all(w.idle for w in workers)
                and all(d.caught_up for d in deliveries)
            )

        def beat(stopped: bool = False) -> None:
            store.beat(
                started_at=started_at,
                progress_at=ledger.progress_at,
                stats=stats.snapshot(),
                stopped=stopped,
            )

        async def take_lines() -> None:
            delay = INTAKE_RETRY_INITIAL_S
            while not self._stop.is_set():
                free = ledger.free_slots()
                if free == 0:
                    await ledger.wait_for_space()
                    continue
                try:
                    result = intake.read(min(free, INTAKE_BATCH))
                except OSError as exc:
                    # Nothing was committed: the same lines are read again on the next try.
                    log.error("intake.failed", error=str(exc), retry_in_s=delay)
                    await anyio.sleep(delay)
                    delay = min(delay * 2, INTAKE_RETRY_MAX_S)
                    continue
                if delay > INTAKE_RETRY_INITIAL_S:
                    log.info("intake.recovered")
                    delay = INTAKE_RETRY_INITIAL_S
                ledger.admitted(len(result.taken))
                for row in result.taken:
                    dispatch(row)
                if intake.at_end:
                    await anyio.sleep(INTAKE_POLL_S)
                else:
                    # A long queue is read batch after batch: let the calls go out meanwhile.
                    await anyio.lowlevel.checkpoint()

        async def every(seconds: float, action: Callable[[], None]) -> None:
            while True:
                await anyio.sleep(seconds)
                action()

        async def watch_idle() -> None:
            await wait_until(idle, interval_s=IDLE_CHECK_S)
            log.info("daemon.idle")
            self._stop.set()

        try:
            async with anyio.create_task_group() as tg:
                intake_scope = anyio.CancelScope()

                async def intake_task() -> None:
                    with intake_scope:
                        await take_lines()

                tg.start_soon(intake_task)
                for worker in workers:
                    tg.start_soon(worker.run)
                for delivery in deliveries:
                    tg.start_soon(delivery.run)
                tg.start_soon(every, HEARTBEAT_S, beat)
                tg.start_soon(every, s.log.stats_interval_s, stats.log)
                tg.start_soon(self._watch_signals)
                tg.start_soon(partial(watch_stalls, clock=time.monotonic, sleep=anyio.sleep))
                if until_idle:
                    tg.start_soon(watch_idle)
                beat()
                await self._stop.wait()
                intake_scope.cancel()
                for worker in workers:
                    worker.stop()
                await self._drain(workers, deliveries)
                tg.cancel_scope.cancel()
        finally:
            intake.close()
            stats.log()
            beat(stopped=True)
            log.info("daemon.stopped", uptime_s=round(self._clock() - started_at, 3))

    async def _drain(self, workers: list[Any], deliveries: list[Delivery]) -> None:
        """Let calls under way finish and sinks catch up, within the shutdown grace."""

        def drained() -> bool:
            return not any(w.in_flight for w in workers) and all(
                d.caught_up or d.failing for d in deliveries
            )

        with anyio.move_on_after(self.settings.limits.shutdown_grace_s) as scope:
            await wait_until(drained, interval_s=IDLE_CHECK_S / 2)
        if scope.cancelled_caught:
            log.warning(
                "daemon.grace_expired",
                grace_s=self.settings.limits.shutdown_grace_s,
                in_flight=sum(w.in_flight for w in workers),
            )

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                log.info("daemon.stopping", signal=signal.Signals(signum).name)
                self._stop.set()
                return

    def _sinks(self, session: aiohttp.ClientSession) -> list[Sink]:
        events = self.settings.events
        sinks: list[Sink] = []
        if events.path:
            sinks.append(FileSink(events.path))
        if events.stdout:
            sinks.append(StdoutSink(self._stdout))
        if events.webhook_url:
            sinks.append(WebhookSink(events.webhook_url, events.webhook_secret, session))
        return sinks
