"""The checks docker-smoke makes on what the emulator and the container leave behind.

    smoke_check.py endpoint EMULATOR_LOG
        print the endpoint from the emulator's `simulator.started` log line; exit 3 until it
        is there
    smoke_check.py events EVENTS_FILE REQUEST_ID=EVENT_TYPE [REQUEST_ID=EVENT_TYPE ...]
        exit 0 when every listed request has its expected event and the file keeps the event
        contract, 3 while some are still to come, 1 when a request ended otherwise or the file
        breaks the contract (a line that is not a JSON object, an event without `event_id`, a
        succeeded job without images, an image URL that still carries its `auth_key`)
    smoke_check.py stopped STATUS_JSON COUNT
        exit 0 when `status --json` says the daemon recorded its own stop, nothing is in
        flight and exactly COUNT requests succeeded (and nothing else happened)

Standard library only, and pure functions behind a thin main, like the project's own code.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXIT_DONE = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PENDING = 3
# A URL's signature; the daemon must strip it from every event (it is a credential).
SECRET_MARKER = "auth_key="
STARTED_EVENT = "simulator.started"


class UsageError(Exception):
    """The arguments do not say what to check."""


def find_endpoint(lines: Iterable[str]) -> str | None:
    """The endpoint of the first `simulator.started` JSON log line, if any."""
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == STARTED_EVENT:
            endpoint = record.get("endpoint")
            return endpoint if isinstance(endpoint, str) else None
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """What the events say so far about the expected requests."""

    seen: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.problems:
            return EXIT_FAILED
        return EXIT_PENDING if self.pending else EXIT_DONE


def judge_events(lines: Iterable[str], expected: Mapping[str, str]) -> Verdict:
    """Judge complete event lines against {request_id: expected event type}."""
    verdict = Verdict()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            verdict.problems.append(f"line {number}: not JSON ({exc})")
            continue
        if not isinstance(event, dict) or not event.get("event_id"):
            verdict.problems.append(f"line {number}: not an event object with an event_id")
            continue
        if SECRET_MARKER in line:
            verdict.problems.append(f"line {number}: an image URL keeps its {SECRET_MARKER}")
        request_id = event.get("request_id")
        if isinstance(request_id, str) and request_id in expected:
            verdict.seen[request_id] = event
    for request_id, wanted in expected.items():
        event = verdict.seen.get(request_id)
        if event is None:
            verdict.pending.append(request_id)
        elif event.get("event") != wanted:
            detail = event.get("code") or event.get("reason") or ""
            verdict.problems.append(
                f"{request_id}: expected {wanted}, got {event.get('event')} {detail}".rstrip()
            )
        elif wanted == "job.succeeded" and not event.get("images"):
            verdict.problems.append(f"{request_id}: job.succeeded without images")
    return verdict


def describe(event: Mapping[str, Any]) -> str:
    """One line about an event, for the smoke test's output."""
    parts = [str(event.get("request_id")), str(event.get("event"))]
    if "images" in event:
        parts.append(f"images={len(event['images'])}")
    if event.get("missing_image_ids"):
        parts.append(f"missing={','.join(event['missing_image_ids'])}")
    if "polls" in event:
        parts.append(f"polls={event['polls']}")
    return " ".join(parts)


def judge_stopped(status: Mapping[str, Any], succeeded: int) -> list[str]:
    """What is wrong with a `status --json` report taken after a graceful stop."""
    problems = []
    daemon = status.get("daemon")
    if not daemon or daemon.get("running") is not False:
        problems.append(f"the store does not record the daemon's stop: {daemon}")
    if status.get("active") != 0:
        problems.append(f"{status.get('active')} requests are still in flight")
    if status.get("requests") != {"succeeded": succeeded}:
        problems.append(f"expected {succeeded} succeeded requests, got {status.get('requests')}")
    return problems


def parse_expectations(arguments: Sequence[str]) -> dict[str, str]:
    expected: dict[str, str] = {}
    for argument in arguments:
        request_id, sep, event_type = argument.partition("=")
        if not (sep and request_id and event_type):
            raise UsageError(f"expected REQUEST_ID=EVENT_TYPE, got {argument!r}")
        expected[request_id] = event_type
    return expected


def _complete_lines(path: Path) -> list[str]:
    """The file's complete lines: a writer may be halfway through the last one."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return text[: text.rfind("\n") + 1].splitlines()


def _endpoint(arguments: Sequence[str]) -> int:
    if len(arguments) != 1:
        raise UsageError("endpoint takes the emulator's log file")
    endpoint = find_endpoint(_complete_lines(Path(arguments[0])))
    if endpoint is None:
        return EXIT_PENDING
    print(endpoint)
    return EXIT_DONE


def _events(arguments: Sequence[str]) -> int:
    if len(arguments) < 2:
        raise UsageError("events takes the events file and REQUEST_ID=EVENT_TYPE pairs")
    expected = parse_expectations(arguments[1:])
    verdict = judge_events(_complete_lines(Path(arguments[0])), expected)
    for problem in verdict.problems:
        print(problem)
    if verdict.exit_code == EXIT_DONE:
        for request_id in expected:
            print(describe(verdict.seen[request_id]))
    elif verdict.exit_code == EXIT_PENDING:
        print(f"{len(expected) - len(verdict.pending)}/{len(expected)} requests done")
    return verdict.exit_code


def _stopped(arguments: Sequence[str]) -> int:
    if len(arguments) != 2 or not arguments[1].isdigit():
        raise UsageError("stopped takes the status JSON file and the count of requests")
    status = json.loads(Path(arguments[0]).read_text(encoding="utf-8"))
    problems = judge_stopped(status, int(arguments[1]))
    for problem in problems:
        print(problem)
    if problems:
        return EXIT_FAILED
    daemon = status["daemon"]
    print(f"{status['requests']}, the daemon recorded its stop after {daemon['uptime_s']} s")
    return EXIT_DONE


_CHECKS = {"endpoint": _endpoint, "events": _events, "stopped": _stopped}


def main(argv: Sequence[str]) -> int:
    if not argv or argv[0] not in _CHECKS:
        print(__doc__, file=sys.stderr)
        return EXIT_USAGE
    try:
        return _CHECKS[argv[0]](argv[1:])
    except UsageError as exc:
        print(f"smoke_check: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (OSError, ValueError) as exc:
        print(f"smoke_check {argv[0]}: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
