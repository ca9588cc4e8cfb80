"""Completion events: their types and how each is built (pure).

An event is built once, stored in the outbox in the same transaction as the state change that
causes it, and delivered at least once to every sink with the same `event_id`, so consumers
de-duplicate on it. Image URLs are emitted without their `auth_key` (a credential).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from orchestrator.logs import redact_url
from orchestrator.store import RequestRow

JOB_SUCCEEDED = "job.succeeded"
JOB_FAILED = "job.failed"
JOB_TIMED_OUT = "job.timed_out"
JOB_LOST = "job.lost"
REQUEST_REJECTED = "request.rejected"
IMAGES_RESOLVED = "images.resolved"
# An image look-up that cannot be answered (a permanent GetImageInfos error).
IMAGES_FAILED = "images.failed"

TERMINAL_TYPES = (
    JOB_SUCCEEDED,
    JOB_FAILED,
    JOB_TIMED_OUT,
    JOB_LOST,
    IMAGES_RESOLVED,
    IMAGES_FAILED,
)
FAILURE_TYPES = (JOB_FAILED, JOB_TIMED_OUT, JOB_LOST, IMAGES_FAILED)


def iso(ts: float | None) -> str | None:
    """ISO 8601 UTC with millisecond precision, `None` kept."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _base(event_type: str, now: float, request_id: str | None) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4().hex,
        "event": event_type,
        "request_id": request_id,
        "emitted_at": iso(now),
    }


def job_event(
    event_type: str,
    row: RequestRow,
    *,
    now: float,
    status: str | None = None,
    images: Sequence[Mapping[str, Any]] | None = None,
    code: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """The terminal event of a job request."""
    event = _base(event_type, now, row.request_id)
    event.update(
        video_id=row.video_id,
        template_id=row.template_id,
        job_id=row.job_id,
        status=status,
        submitted_at=iso(row.submitted_at),
        completed_at=iso(now),
        polls=row.polls,
    )
    if event_type == JOB_SUCCEEDED:
        event["images"] = list(images or [])
    if code is not None or message is not None:
        event["code"] = code
        event["message"] = message
    return event


def rejected_event(
    *, line: int, reason: str, now: float, request_id: str | None = None
) -> dict[str, Any]:
    """A queue line that was not taken: malformed, invalid, or a duplicate request id."""
    event = _base(REQUEST_REJECTED, now, request_id)
    event.update(line=line, reason=reason)
    return event


def images_event(
    row: RequestRow,
    *,
    now: float,
    images: Iterable[Mapping[str, Any]] = (),
    missing: Sequence[str] = (),
    code: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """`images.resolved` (found images and the missing ids) or, with a code, `images.failed`.

    `images` come ready to emit: the look-ups strip their signed URL parameters.
    """
    if code is not None:
        event = _base(IMAGES_FAILED, now, row.request_id)
        event.update(image_ids=list(row.image_ids), code=code, message=message)
        return event
    event = _base(IMAGES_RESOLVED, now, row.request_id)
    event.update(
        image_ids=list(row.image_ids),
        images=list(images),
        missing_image_ids=list(missing),
        completed_at=iso(now),
    )
    return event


def ai_image(
    *,
    ai_image_info_id: str,
    job_id: str,
    video_id: str,
    file_url: str,
    format: str,
    score: float | None,
    version: str,
    creation_time: str,
) -> dict[str, Any]:
    """One entry of a `job.succeeded` event's `images`, its URL stripped of `auth_key`."""
    return {
        "ai_image_info_id": ai_image_info_id,
        "file_url": redact_url(file_url),
        "format": format,
        "score": score,
        "version": version,
        "creation_time": creation_time,
        "job_id": job_id,
        "video_id": video_id,
    }
