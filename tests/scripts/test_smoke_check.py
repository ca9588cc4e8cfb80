"""scripts/smoke_check.py: how docker-smoke judges the emulator log, the events and the stop."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.scripts.loader import load_script

smoke_check = load_script("smoke_check")


def _event(request_id: str, kind: str, **fields: Any) -> str:
    return json.dumps(
        {"event_id": f"e-{request_id}", "event": kind, "request_id": request_id, **fields}
    )


def test_endpoint_is_read_from_the_started_line_among_other_output() -> None:
    """The endpoint comes from the simulator.started line; other lines and noise are skipped."""
    lines = [
        "not json",
        json.dumps({"event": "other"}),
        json.dumps({"event": "simulator.started", "endpoint": "http://127.0.0.1:4321"}),
    ]
    assert smoke_check.find_endpoint(lines) == "http://127.0.0.1:4321"
    assert smoke_check.find_endpoint(lines[:2]) is None


def test_events_done_when_every_request_has_its_expected_event() -> None:
    """All expected events present with the right types and images: done."""
    lines = [
        _event("a", "job.succeeded", images=[{"file_url": "http://x/a.gif"}]),
        _event("b", "images.resolved", images=[], missing_image_ids=["m"]),
    ]
    verdict = smoke_check.judge_events(lines, {"a": "job.succeeded", "b": "images.resolved"})
    assert verdict.exit_code == smoke_check.EXIT_DONE
    assert smoke_check.describe(verdict.seen["b"]) == "b images.resolved images=0 missing=m"


def test_events_pending_while_a_request_has_no_event_yet() -> None:
    """A request without an event yet keeps the verdict pending, not failed."""
    lines = [_event("a", "job.succeeded", images=[{}])]
    verdict = smoke_check.judge_events(lines, {"a": "job.succeeded", "b": "job.succeeded"})
    assert verdict.exit_code == smoke_check.EXIT_PENDING
    assert verdict.pending == ["b"]


def test_events_fail_on_another_outcome_with_its_code() -> None:
    """A request that ended otherwise fails the check, and the message carries the code."""
    lines = [_event("a", "job.failed", code="SignatureDoesNotMatch")]
    verdict = smoke_check.judge_events(lines, {"a": "job.succeeded"})
    assert verdict.exit_code == smoke_check.EXIT_FAILED
    assert verdict.problems == ["a: expected job.succeeded, got job.failed SignatureDoesNotMatch"]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{broken", "not JSON"),
        (json.dumps({"event": "job.succeeded", "request_id": "x"}), "event_id"),
        (
            _event("x", "job.succeeded", images=[{"file_url": "http://h/i?auth_key=1-0-0-f"}]),
            "auth_key",
        ),
    ],
)
def test_events_fail_when_the_file_breaks_the_contract(line: str, problem: str) -> None:
    """A broken line, an event without event_id, or a URL with its auth_key fails the check."""
    verdict = smoke_check.judge_events([line], {})
    assert verdict.exit_code == smoke_check.EXIT_FAILED
    assert problem in verdict.problems[0]


def test_a_succeeded_job_without_images_fails() -> None:
    """job.succeeded must carry the job's images."""
    verdict = smoke_check.judge_events(
        [_event("a", "job.succeeded", images=[])], {"a": "job.succeeded"}
    )
    assert verdict.problems == ["a: job.succeeded without images"]


def test_events_main_ignores_a_half_written_last_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A last line without its newline is still being written: pending, not broken."""
    events = tmp_path / "events.jsonl"
    events.write_text(
        _event("a", "job.succeeded", images=[{}]) + "\n" + '{"event_id": "e-b', "utf-8"
    )
    code = smoke_check.main(["events", str(events), "a=job.succeeded", "b=job.succeeded"])
    assert code == smoke_check.EXIT_PENDING
    assert capsys.readouterr().out == "1/2 requests done\n"


def test_events_main_waits_for_a_file_not_yet_created(tmp_path: Path) -> None:
    """No events file yet means pending."""
    code = smoke_check.main(["events", str(tmp_path / "none.jsonl"), "a=job.succeeded"])
    assert code == smoke_check.EXIT_PENDING


def test_stopped_accepts_a_recorded_graceful_stop() -> None:
    """Daemon not running, nothing in flight, exactly the expected successes: no problem."""
    status = {
        "daemon": {"running": False, "uptime_s": 5.0},
        "active": 0,
        "requests": {"succeeded": 6},
    }
    assert smoke_check.judge_stopped(status, 6) == []


def test_stopped_reports_a_daemon_still_marked_running_and_other_outcomes() -> None:
    """A store that still says running, work in flight or other states are each reported."""
    status = {
        "daemon": {"running": True},
        "active": 1,
        "requests": {"succeeded": 5, "submitted": 1},
    }
    problems = smoke_check.judge_stopped(status, 6)
    assert len(problems) == 3
    assert "does not record the daemon's stop" in problems[0]


@pytest.mark.parametrize(
    "argv", [[], ["nope"], ["events", "f"], ["stopped", "f", "x"], ["events", "f", "no-equals"]]
)
def test_bad_arguments_are_a_usage_error(argv: list[str]) -> None:
    """Unknown checks and malformed arguments exit 2."""
    assert smoke_check.main(argv) == smoke_check.EXIT_USAGE
