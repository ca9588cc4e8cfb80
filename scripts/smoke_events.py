"""Check a daemon's events file against the outcome expected for each request.

    python3 smoke_events.py EVENTS_FILE REQUEST_ID=EVENT_TYPE [REQUEST_ID=EVENT_TYPE ...]

Exit status: 0 when every listed request has its expected event and the file keeps the event
contract; 3 when some are still to come (the caller polls again); 1 when a request ended
otherwise, or the file breaks the contract (a line that is not a JSON object, an event without
`event_id`, a succeeded job without images, an image URL that still carries its `auth_key`).
docker-smoke polls it while the container works; it needs only the standard library.
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


def evaluate(lines: Iterable[str], expected: Mapping[str, str]) -> Verdict:
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


def parse_expectations(arguments: Sequence[str]) -> dict[str, str]:
    expected: dict[str, str] = {}
    for argument in arguments:
        request_id, sep, event_type = argument.partition("=")
        if not (sep and request_id and event_type):
            raise ValueError(f"expected REQUEST_ID=EVENT_TYPE, got {argument!r}")
        expected[request_id] = event_type
    return expected


def main(argv: Sequence[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return EXIT_USAGE
    try:
        expected = parse_expectations(argv[1:])
    except ValueError as exc:
        print(f"smoke_events: {exc}", file=sys.stderr)
        return EXIT_USAGE
    path = Path(argv[0])
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    # The daemon may be writing the last line right now: judge complete lines only.
    complete = text[: text.rfind("\n") + 1]
    verdict = evaluate(complete.splitlines(), expected)
    for problem in verdict.problems:
        print(f"smoke_events: {problem}", file=sys.stderr)
    if verdict.exit_code == EXIT_DONE:
        for request_id in expected:
            print(describe(verdict.seen[request_id]))
    elif verdict.exit_code == EXIT_PENDING:
        print(f"{len(expected) - len(verdict.pending)}/{len(expected)} requests done")
    return verdict.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
