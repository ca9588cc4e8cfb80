"""Intake: complete lines taken once, bad lines rejected, rotation and truncation handled."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from orchestrator.intake import Intake
from orchestrator.lines import MAX_LINE_BYTES
from orchestrator.store import Store
from tests.daemon.conftest import FakeClock


def _job(n: int, **extra: object) -> bytes:
    return json.dumps({"video_id": f"v{n}", "template_id": "t", **extra}).encode() + b"\n"


@pytest.fixture
def queue(tmp_path: Path) -> Path:
    return tmp_path / "queue.jsonl"


@pytest.fixture
def intake(queue: Path, store: Store, clock: FakeClock, tmp_path: Path) -> Intake:
    return Intake(
        path=queue,
        dead_letter_path=tmp_path / "dead.jsonl",
        store=store,
        clock=clock,
        default_timeout_s=3600,
    )


def _rejections(store: Store) -> list[dict[str, object]]:
    return [json.loads(e.body) for e in store.events_after(0, 1000) if e.type == "request.rejected"]


def test_missing_queue_file_is_at_end(intake: Intake) -> None:
    """With no queue file yet there is nothing to take and the intake reports its end."""
    assert intake.read(10).taken == []
    assert intake.at_end


def test_complete_lines_are_taken_and_partial_line_waits(intake: Intake, queue: Path) -> None:
    """Only newline-terminated lines are taken; the rest is taken once its newline arrives."""
    queue.write_bytes(_job(1) + _job(2) + b'{"video_id": "v3", "templ')
    first = intake.read(100)
    assert [r.video_id for r in first.taken] == ["v1", "v2"]
    assert intake.at_end
    with queue.open("ab") as f:
        f.write(b'ate_id": "t"}\n')
    second = intake.read(100)
    assert [r.video_id for r in second.taken] == ["v3"]
    assert second.taken[0].line == 3


def test_lines_are_taken_once_across_restarts(
    queue: Path, store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    """A new intake over the same store resumes after the last committed line."""
    queue.write_bytes(_job(1) + _job(2))
    first = Intake(
        path=queue, dead_letter_path=tmp_path / "d", store=store, clock=clock, default_timeout_s=60
    )
    assert len(first.read(100).taken) == 2
    first.close()
    with queue.open("ab") as f:
        f.write(_job(3))
    again = Intake(
        path=queue, dead_letter_path=tmp_path / "d", store=store, clock=clock, default_timeout_s=60
    )
    assert [r.video_id for r in again.read(100).taken] == ["v3"]


def test_max_lines_bounds_a_read(intake: Intake, queue: Path) -> None:
    """A read takes no more than it is allowed (admission) and resumes where it stopped."""
    queue.write_bytes(b"".join(_job(n) for n in range(5)))
    assert len(intake.read(2).taken) == 2
    assert not intake.at_end
    assert [r.video_id for r in intake.read(10).taken] == ["v2", "v3", "v4"]


def test_bad_lines_are_rejected_with_line_numbers_and_dead_lettered(
    intake: Intake, queue: Path, store: Store, tmp_path: Path
) -> None:
    """Each bad line becomes a rejection event and a dead letter while good lines are taken."""
    queue.write_bytes(
        _job(1)
        + b"not json\n"
        + b"\xff\xfe\n"
        + b"[1, 2]\n"
        + b"\n"
        + b'{"video_id": "v"}\n'
        + _job(2)
    )
    result = intake.read(100)
    assert [r.video_id for r in result.taken] == ["v1", "v2"]
    rejected = _rejections(store)
    assert [r["line"] for r in rejected] == [2, 3, 4, 5, 6]
    assert all(r["reason"] for r in rejected)
    dead = [json.loads(x) for x in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert [d["line"] for d in dead] == [2, 3, 4, 5, 6]
    assert dead[0]["raw"] == "not json"


def test_overlong_line_is_rejected_without_loading_it_whole(
    intake: Intake, queue: Path, store: Store
) -> None:
    """A line over the limit is rejected with its length and the next line is still taken."""
    queue.write_bytes(b"x" * (3 * MAX_LINE_BYTES) + b"\n" + _job(1))
    result = intake.read(100)
    assert [r.video_id for r in result.taken] == ["v1"]
    [rejection] = _rejections(store)
    assert rejection["line"] == 1
    assert "longer than" in str(rejection["reason"])


def test_unfinished_overlong_line_waits(intake: Intake, queue: Path) -> None:
    """An over-long line without its newline yet is neither taken nor rejected."""
    queue.write_bytes(b"y" * (2 * MAX_LINE_BYTES))
    assert intake.read(10).lines == 0
    with queue.open("ab") as f:
        f.write(b"\n" + _job(1))
    assert intake.read(10).lines == 2


def test_duplicate_request_id_is_reported_not_taken(
    intake: Intake, queue: Path, store: Store
) -> None:
    """A repeated request_id, in the same read or a later one, is rejected as a duplicate."""
    queue.write_bytes(_job(1, request_id="r") + _job(2, request_id="r"))
    assert [r.request_id for r in intake.read(100).taken] == ["r"]
    with queue.open("ab") as f:
        f.write(_job(3, request_id="r"))
    assert intake.read(100).taken == []
    reasons = [str(r["reason"]) for r in _rejections(store)]
    assert len(reasons) == 2
    assert all("duplicate request_id 'r'" in reason for reason in reasons)
    assert all("line 1" in reason for reason in reasons)


def test_default_request_id_comes_from_the_position(intake: Intake, queue: Path) -> None:
    """A line without request_id gets an id derived from its generation and line number."""
    queue.write_bytes(_job(1) + _job(2))
    assert [r.request_id for r in intake.read(10).taken] == ["g0-line1", "g0-line2"]


def test_truncation_restarts_at_the_beginning(intake: Intake, queue: Path) -> None:
    """A file shorter than the saved offset is logged and read again from its start."""
    queue.write_bytes(_job(1) + _job(2))
    intake.read(10)
    queue.write_bytes(_job(3))
    with capture_logs() as logs:
        taken = intake.read(10).taken
    assert [(r.video_id, r.request_id) for r in taken] == [("v3", "g1-line1")]
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["queue.truncated"]


def test_rotation_drains_old_file_then_reads_new_one(intake: Intake, queue: Path) -> None:
    """Lines appended to a rotated file before the switch are taken, then the new file."""
    queue.write_bytes(_job(1))
    intake.read(10)
    with queue.open("ab") as f:
        f.write(_job(2))
    os.rename(queue, queue.with_suffix(".old"))
    queue.write_bytes(_job(3))
    with capture_logs() as logs:
        first = intake.read(10).taken
        second = intake.read(10).taken
    assert "queue.rotated" in [e["event"] for e in logs]
    assert [r.video_id for r in first + second] == ["v2", "v3"]
    assert second[0].request_id == "g1-line1"


def test_crlf_lines_are_accepted(intake: Intake, queue: Path) -> None:
    """A line ending in CRLF is taken like one ending in LF."""
    queue.write_bytes(_job(1).replace(b"\n", b"\r\n"))
    assert [r.video_id for r in intake.read(10).taken] == ["v1"]
