"""What `vod-orchestrator status` reports, and what `--health` decides (pure over the store)."""

from __future__ import annotations

from typing import Any

from orchestrator import events
from orchestrator.settings import Settings
from orchestrator.store import Store

# The daemon beats every 5 s: three missed beats mean it is gone or stuck.
STALE_HEARTBEAT_S = 15.0
# With work in flight, something (a poll, a state change) happens at least every
# `poll.max_interval_s`; twice that plus a margin without progress means the daemon is stuck.
PROGRESS_MARGIN_S = 60.0
RECENT_FAILURES = 5


def report(store: Store, *, now: float, settings: Settings) -> dict[str, Any]:
    beat = store.heartbeat()
    oldest = store.oldest_active_created_at()
    return {
        "requests": store.count_by_state(),
        "active": store.active_count(),
        "oldest_in_flight_age_s": None if oldest is None else round(now - oldest, 1),
        "recent_failures": [
            {
                key: e.get(key)
                for key in ("event", "request_id", "job_id", "code", "message", "emitted_at")
            }
            for e in store.recent_events(events.FAILURE_TYPES, RECENT_FAILURES)
        ],
        "events": {"last_seq": store.last_event_seq(), "sink_cursors": store.sink_cursors()},
        "daemon": None
        if beat is None
        else {
            "pid": beat["pid"],
            "running": beat["stopped_at"] is None,
            "heartbeat_age_s": round(now - beat["beat_at"], 1),
            "progress_age_s": round(now - beat["progress_at"], 1),
            "uptime_s": round(beat["beat_at"] - beat["started_at"], 1),
        },
        "api": {} if beat is None else beat["stats"],
    }


def health(data: dict[str, Any], *, settings: Settings) -> tuple[bool, str]:
    """Healthy when the daemon runs, beats, and progresses whenever work is in flight."""
    daemon = data["daemon"]
    if daemon is None:
        return False, "the daemon has never run with this store"
    if not daemon["running"]:
        return False, f"the daemon (pid {daemon['pid']}) has stopped"
    if daemon["heartbeat_age_s"] > STALE_HEARTBEAT_S:
        return False, f"heartbeat is {daemon['heartbeat_age_s']} s old"
    stuck_after = 2 * settings.poll.max_interval_s + PROGRESS_MARGIN_S
    if data["active"] and daemon["progress_age_s"] > stuck_after:
        return False, (
            f"{data['active']} requests in flight but no progress for {daemon['progress_age_s']} s"
        )
    return True, f"pid {daemon['pid']}, heartbeat {daemon['heartbeat_age_s']} s ago"


def render(data: dict[str, Any]) -> str:
    lines = []
    daemon = data["daemon"]
    if daemon is None:
        lines.append("daemon      never ran with this store")
    else:
        state = "running" if daemon["running"] else "stopped"
        lines.append(
            f"daemon      {state} (pid {daemon['pid']}), heartbeat {daemon['heartbeat_age_s']} s"
            f" ago, last progress {daemon['progress_age_s']} s ago"
        )
    counts = data["requests"]
    lines.append(
        "requests    " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none")
    )
    if data["oldest_in_flight_age_s"] is not None:
        lines.append(f"oldest      {data['oldest_in_flight_age_s']} s in flight")
    api = data["api"]
    if api:
        calls = ", ".join(f"{k} {v}" for k, v in sorted(api.get("calls", {}).items()))
        lines.append(f"api calls   {calls or 'none'}")
        lines.append(
            f"            throttled {api.get('throttled')}, retries {api.get('retries')},"
            f" mean IDs per status call {api.get('mean_ids_per_status_call')}"
        )
    for failure in data["recent_failures"]:
        lines.append(
            f"failure     {failure['event']} {failure['request_id']} {failure.get('code') or ''}"
            f" {failure.get('message') or ''}".rstrip()
        )
    return "\n".join(lines)
