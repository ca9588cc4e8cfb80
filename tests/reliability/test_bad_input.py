"""Bad queue lines among good ones: each bad line rejected with its reason, each good one taken.

Invalid UTF-8, NUL and other control bytes, random bytes, CRLF endings, huge lines, deep nesting,
wrong types and huge numbers (see `queue_lines`). A Hypothesis property drives the intake over a
real store (no sockets); a seeded run drives the whole daemon against the emulator.
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator import simulator
from orchestrator.events import REQUEST_REJECTED, TERMINAL_TYPES
from orchestrator.intake import Intake
from orchestrator.store import Store
from tests.e2e.conftest import Workdir, run_until_idle
from tests.reliability.conftest import json_lines
from tests.reliability.queue_lines import BadLine, ValidLine, mixed_lines

NOW = 1_700_000_000.0


def _expected(lines: list[ValidLine | BadLine]) -> tuple[dict[str, int], dict[int, BadLine]]:
    """Request id -> line number of the good lines, and line number -> bad line."""
    good: dict[str, int] = {}
    bad: dict[int, BadLine] = {}
    for number, line in enumerate(lines, start=1):
        if isinstance(line, ValidLine):
            good[line.request_id or f"g0-line{number}"] = number
        else:
            bad[number] = line
    return good, bad


def _assert_rejections(
    rejected: list[dict[str, Any]], dead: list[dict[str, Any]], bad: dict[int, BadLine]
) -> None:
    assert [e["line"] for e in rejected] == sorted(bad)
    for event in rejected:
        line = bad[event["line"]]
        assert any(word in event["reason"] for word in line.reason_words), (line, event)
    assert [(d["line"], d["reason"]) for d in dead] == [(e["line"], e["reason"]) for e in rejected]


def _take_all(root: Path, lines: list[ValidLine | BadLine], batch: int) -> None:
    """Feed `lines` to the intake in batches of `batch` and check what it took and rejected."""
    queue = root / "queue.jsonl"
    queue.write_bytes(b"".join(line.raw for line in lines))
    store = Store.open(root / "store.db", clock=lambda: NOW)
    intake = Intake(
        path=queue,
        dead_letter_path=root / "dead.jsonl",
        store=store,
        clock=lambda: NOW,
        default_timeout_s=3600.0,
    )
    try:
        taken = []
        while not intake.at_end:
            taken += intake.read(batch).taken
        good, bad = _expected(lines)
        assert {row.request_id: row.line for row in taken} == good
        position = store.queue_position()
        assert position is not None
        assert (position.offset, position.line) == (queue.stat().st_size, len(lines))
        events = [json.loads(e.body) for e in store.events_after(0, 10_000)]
        assert {e["event"] for e in events} <= {REQUEST_REJECTED}
        _assert_rejections(events, json_lines(root / "dead.jsonl"), bad)
    finally:
        intake.close()
        store.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rng=st.randoms(use_true_random=False),
    count=st.integers(min_value=1, max_value=40),
    bad_share=st.floats(min_value=0.0, max_value=1.0),
    batch=st.integers(min_value=1, max_value=50),
)
def test_intake_takes_every_good_line_and_rejects_every_bad_one(
    rng: random.Random, count: int, bad_share: float, batch: int
) -> None:
    """For any mix of lines and batch size, good lines become requests, bad ones rejections."""
    lines = mixed_lines(rng, count, bad_share)
    with tempfile.TemporaryDirectory() as tmp:
        _take_all(Path(tmp), lines, batch)


async def test_daemon_completes_good_lines_among_random_bad_ones(
    workdir: Workdir, emulator: simulator.RunningEmulator
) -> None:
    """300 lines, half of them bad in every way: each good one ends once, each bad one rejected."""
    lines = mixed_lines(random.Random(4242), 300, bad_share=0.5)
    workdir.append([line.raw for line in lines])
    await run_until_idle(workdir.settings(emulator.endpoint), timeout_s=90)

    good, bad = _expected(lines)
    assert len(bad) > 100
    assert {bad_line.kind for bad_line in bad.values()} >= {
        "invalid_utf8",
        "control_byte",
        "control_character",
        "random_bytes",
        "huge",
        "deep",
        "wrong_type",
        "huge_number",
    }
    events = json_lines(workdir.events_path)
    ended = [e["request_id"] for e in events if e["event"] in TERMINAL_TYPES]
    assert sorted(ended) == sorted(good), "each good line ends once"
    rejected = [e for e in events if e["event"] == REQUEST_REJECTED]
    _assert_rejections(rejected, json_lines(workdir.dead_letter), bad)
