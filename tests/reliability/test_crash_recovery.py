"""Crash recovery: SIGKILL at random moments, again and again, loses and repeats nothing avoidable.

The daemon runs as a real process against the emulator while a producer keeps appending to the
queue (sometimes half a line at a time). The process is killed with SIGKILL at a random moment,
at least `KILLS` times, and restarted each time; a last run drains the queue `--until-idle`.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
from pathlib import Path

import pytest

from orchestrator import simulator
from orchestrator.events import TERMINAL_TYPES
from orchestrator.simulator import EmulatorConfig
from orchestrator.states import TERMINAL
from orchestrator.store import Store
from tests.e2e.conftest import TIME_SCALE, Workdir, eventually, job_lines
from tests.e2e.process import DaemonProcess
from tests.reliability.conftest import assert_no_traceback, log_records, named

REQUESTS = 2000
KILLS = 24
# Some kills land during start-up (opening the store, rebuilding the schedule from it): this
# share of them, at a random moment in the first KILL_IN_START_UP_S after the spawn. The others
# land at a random moment of the first KILL_WHILE_RUNNING_S after `daemon.started`, while lines
# are taken, jobs submitted, polled and fetched, and events written.
START_UP_SHARE = 0.25
KILL_IN_START_UP_S = 0.25
KILL_WHILE_RUNNING_S = 1.5
# The producer appends this many lines at a time, every PRODUCE_EVERY_S: the queue grows while
# the daemon is killed and restarted, so crashes also land in the intake.
PRODUCE_BATCH = (5, 60)
PRODUCE_EVERY_S = 0.1


def _starts(log_path: Path) -> int:
    """How many daemon processes have logged `daemon.started` so far."""
    return log_path.read_bytes().count(b'"event": "daemon.started"') if log_path.exists() else 0


async def _started_after(log_path: Path, starts: int) -> None:
    await eventually(lambda: _starts(log_path) > starts)


async def _produce(workdir: Workdir, rng: random.Random) -> None:
    lines = [json.dumps(line).encode() + b"\n" for line in job_lines(REQUESTS)]
    while lines:
        size = rng.randint(*PRODUCE_BATCH)
        chunk, lines = b"".join(lines[:size]), lines[size:]
        # Now and then a batch arrives in two writes that split a line: the intake must wait
        # for the newline, across crashes too.
        cut = rng.randrange(1, len(chunk)) if rng.random() < 0.3 else len(chunk)
        for part in (chunk[:cut], chunk[cut:]):
            if part:
                workdir.append([part])
                await asyncio.sleep(PRODUCE_EVERY_S / 2)


@pytest.mark.slow
async def test_repeated_sigkill_loses_nothing_and_duplicates_at_most_one_submit_per_kill(
    workdir: Workdir,
) -> None:
    """2,000 requests, 24 SIGKILLs: one terminal event each, duplicated submits <= kills."""
    # Two generators, so that the kill schedule does not depend on the producer's timing.
    kill_rng, producer_rng = random.Random(20_240_611), random.Random(1_106_042)
    config = EmulatorConfig(
        seed=17,
        time_scale=TIME_SCALE,
        fail_rate=0.1,
        # No flow control here: this test is about crashes, and a fast run fits more of them.
        qps={"SubmitAIImageJob": None, "ListAIJob": None, "ListAIImageInfo": None},
    )
    log_path = workdir.root / "daemon.log"
    started = time.monotonic()
    async with simulator.serve(config) as emulator:
        environ = workdir.environ(
            emulator.endpoint,
            ORCHESTRATOR_LIMITS_SUBMIT_QPS="150",
            ORCHESTRATOR_LIMITS_STATUS_QPS="150",
            ORCHESTRATOR_LIMITS_RESULTS_QPS="150",
        )
        producer = asyncio.create_task(_produce(workdir, producer_rng))
        kills = 0
        while kills < KILLS:
            daemon = DaemonProcess(environ, log_path)
            starts = _starts(log_path)
            await daemon.start()
            if kill_rng.random() < START_UP_SHARE:
                await asyncio.sleep(kill_rng.uniform(0, KILL_IN_START_UP_S))
            else:
                await _started_after(log_path, starts)
                await asyncio.sleep(kill_rng.uniform(0, KILL_WHILE_RUNNING_S))
            daemon.signal(signal.SIGKILL)
            assert await daemon.wait(10) == -signal.SIGKILL, "the daemon died before its kill"
            kills += 1
        await producer

        final = DaemonProcess(environ, log_path)
        await final.start("--until-idle")
        assert await final.wait(120) == 0
        submissions = emulator.submissions_by_request_id()
    wall_s = time.monotonic() - started

    wanted = {f"r{n}" for n in range(REQUESTS)}
    counts = workdir.terminal_counts()
    assert set(counts) == wanted, f"lost: {sorted(wanted - set(counts))[:10]}"
    assert set(counts.values()) == {1}
    events = workdir.events()  # every line parses: no event torn by a kill
    assert {e["event"] for e in events} <= {*TERMINAL_TYPES}
    store = Store.open_readonly(workdir.root / "store.db", clock=time.time)
    try:
        assert set(store.count_by_state()) <= {str(s) for s in TERMINAL}
    finally:
        store.close()

    assert set(submissions) <= wanted
    duplicates = sum(n - 1 for n in submissions.values())
    records = log_records(log_path)
    assert_no_traceback(log_path)
    in_start_up = kills + 1 - len(named(records, "daemon.started"))
    print(
        f"\ncrash recovery: {REQUESTS} requests, {kills} SIGKILLs ({in_start_up} in start-up),"
        f" {duplicates} duplicated SubmitAIImageJob calls,"
        f" {len(named(records, 'job.resubmitting'))} resubmissions logged,"
        f" {len(events) - len(counts)} events redelivered, wall time {wall_s:.1f} s"
    )
    assert duplicates <= kills
