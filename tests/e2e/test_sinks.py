"""Event sinks: a signed webhook, at least once and in order, never blocking the file."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from aiohttp import web

from orchestrator import simulator
from orchestrator.daemon import Daemon
from tests.e2e.conftest import Workdir, eventually, job_lines

SECRET = "webhook-shared-secret"


@dataclass
class Receiver:
    """A webhook endpoint that fails while `failing` is set and records what it accepts."""

    failing: bool = True
    received: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    refused: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        if request.headers.get("X-Orchestrator-Signature") != expected:
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.failing:
            self.refused += 1
            return web.Response(status=503)
        self.received.append(json.loads(body))
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    hook.url = f"http://127.0.0.1:{port}/hook"
    yield hook
    await runner.cleanup()


async def test_failing_webhook_does_not_block_the_file_and_catches_up_in_order(
    workdir: Workdir, emulator: simulator.RunningEmulator, receiver: Receiver
) -> None:
    """While the webhook fails the file sink delivers; once it recovers it gets every event."""
    settings = workdir.settings(
        emulator.endpoint,
        ORCHESTRATOR_EVENTS_WEBHOOK_URL=receiver.url,
        ORCHESTRATOR_EVENTS_WEBHOOK_SECRET=SECRET,
    )
    assert settings.credentials is not None
    workdir.append(job_lines(10))
    daemon = Daemon(settings, credentials=settings.credentials)
    async with anyio.create_task_group() as tg:
        tg.start_soon(daemon.run)
        await eventually(lambda: len(workdir.terminal_counts()) == 10)
        assert receiver.refused > 0
        assert receiver.received == []
        receiver.failing = False
        await eventually(lambda: len(receiver.received) == 10)
        daemon.request_stop()

    file_ids = [e["event_id"] for e in workdir.events()]
    assert [e["event_id"] for e in receiver.received] == file_ids
    assert receiver.bad_signatures == 0
