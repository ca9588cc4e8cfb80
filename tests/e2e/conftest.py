"""End-to-end fixtures: the emulator on a real socket and a daemon configured against it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from orchestrator import simulator
from orchestrator.daemon import Daemon
from orchestrator.events import TERMINAL_TYPES
from orchestrator.settings import Settings, load_settings
from orchestrator.workers import wait_until

# Emulated jobs last ~30 s; at this scale they take ~0.1 s, so a test runs in seconds.
TIME_SCALE = 300.0
# Poll fast enough for such jobs; the schedule's shape (backoff, batching) is unchanged.
FAST_POLL = {
    "ORCHESTRATOR_POLL_INITIAL_S": "0.05",
    "ORCHESTRATOR_POLL_MAX_INTERVAL_S": "0.4",
    "ORCHESTRATOR_POLL_NONEXIST_GRACE_S": "1",
    "ORCHESTRATOR_LIMITS_SHUTDOWN_GRACE_S": "5",
}


@dataclass
class Workdir:
    root: Path

    @property
    def queue(self) -> Path:
        return self.root / "queue.jsonl"

    @property
    def events_path(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def dead_letter(self) -> Path:
        return self.root / "dead-letter.jsonl"

    def environ(self, endpoint: str, **overrides: str) -> dict[str, str]:
        return {
            "ORCHESTRATOR_VOD_ENDPOINT": endpoint,
            "ORCHESTRATOR_QUEUE_PATH": str(self.queue),
            "ORCHESTRATOR_QUEUE_DEAD_LETTER_PATH": str(self.dead_letter),
            "ORCHESTRATOR_STORE_PATH": str(self.root / "store.db"),
            "ORCHESTRATOR_EVENTS_PATH": str(self.events_path),
            "ALIBABA_CLOUD_ACCESS_KEY_ID": simulator.DEMO_ACCESS_KEY_ID,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": simulator.DEMO_ACCESS_KEY_SECRET,
            **FAST_POLL,
            **overrides,
        }

    def settings(self, endpoint: str, **overrides: str) -> Settings:
        return load_settings(None, environ=self.environ(endpoint, **overrides))

    def append(self, lines: Iterable[Mapping[str, Any] | bytes]) -> None:
        with self.queue.open("ab") as out:
            for line in lines:
                out.write(line if isinstance(line, bytes) else json.dumps(line).encode() + b"\n")

    def events(self) -> list[dict[str, Any]]:
        if not self.events_path.exists():
            return []
        # JSON may hold U+2028 raw, which str.splitlines() would take for a line break.
        lines = self.events_path.read_text().split("\n")
        return [json.loads(x) for x in lines if x]

    def terminal_counts(self) -> Counter[str]:
        """Distinct terminal event ids per request id."""
        seen: dict[str, set[str]] = {}
        for event in self.events():
            if event["event"] in TERMINAL_TYPES:
                seen.setdefault(event["request_id"], set()).add(event["event_id"])
        return Counter({rid: len(ids) for rid, ids in seen.items()})


@pytest.fixture
def workdir(tmp_path: Path) -> Workdir:
    return Workdir(tmp_path)


@pytest.fixture
async def emulator() -> AsyncIterator[simulator.RunningEmulator]:
    config = simulator.EmulatorConfig(seed=7, time_scale=TIME_SCALE, fail_rate=0.2)
    async with simulator.serve(config) as running:
        yield running


async def eventually(condition: Callable[[], bool], *, timeout_s: float = 30.0) -> None:
    """Wait until `condition` holds (files and stores written by another task or process)."""
    with anyio.fail_after(timeout_s):
        await wait_until(condition, interval_s=0.05)


async def run_until_idle(settings: Settings, *, timeout_s: float = 60.0) -> None:
    assert settings.credentials is not None
    with anyio.fail_after(timeout_s):
        await Daemon(settings, credentials=settings.credentials).run(until_idle=True)


def job_lines(count: int, *, prefix: str = "r") -> list[dict[str, Any]]:
    return [
        {"video_id": f"video-{n % 7}", "template_id": "tmpl-cover", "request_id": f"{prefix}{n}"}
        for n in range(count)
    ]
