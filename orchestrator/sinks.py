"""Sinks: deliver the event outbox, at least once and in order, each with its own cursor.

A sink's cursor (the last delivered outbox sequence number) is committed only after its
delivery succeeded, so a crash redelivers, never skips; consumers de-duplicate on `event_id`.
A failing sink retries with capped backoff and blocks no other sink.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, TextIO

import aiohttp
import anyio
import structlog

from orchestrator.ledger import Ledger
from orchestrator.store import StoredEvent

log = structlog.get_logger("orchestrator.sinks")

# Events read from the outbox per delivery: one fsync or one wake-up serves them all.
BATCH = 500
# Backoff of a failing sink: from one second, doubling, capped so recovery is noticed soon.
RETRY_INITIAL_S = 1.0
RETRY_MAX_S = 30.0
WEBHOOK_TIMEOUT_S = 10.0
SIGNATURE_HEADER = "X-Orchestrator-Signature"
# Bytes read per step when looking back for the last newline of the events file.
_TAIL_CHUNK = 64 * 1024


class Sink(Protocol):
    name: str

    async def deliver(self, batch: Sequence[StoredEvent]) -> None:
        """Deliver every event of `batch`, in order, or raise."""


def append_lines(path: Path, data: bytes) -> None:
    """Append `data`, whole lines, to `path` (created if absent) and fsync; never half a line.

    A write that fails part-way (disk full, I/O error) is cut off again before the error is
    raised, and a last line without its newline (a write torn by a crash) is cut off before the
    next write: the writer repeats whatever it did not see succeed, so every line stays whole.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        start = _drop_torn_line(fd, path)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)


def _drop_torn_line(fd: int, path: Path) -> int:
    """Cut a last line that lacks its newline; return the size of the file's whole lines."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size
    end = size
    keep = 0
    while end > 0:
        start = max(0, end - _TAIL_CHUNK)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            keep = start + newline + 1
            break
        end = start
    log.warning("file.torn_line_dropped", path=str(path), bytes=size - keep)
    os.ftruncate(fd, keep)
    return keep


class FileSink:
    """Appends JSON lines to `events.path`, fsynced per batch (see `append_lines`)."""

    name = "file"

    def __init__(self, path: Path) -> None:
        self._path = path

    async def deliver(self, batch: Sequence[StoredEvent]) -> None:
        data = "".join(e.body + "\n" for e in batch).encode("utf-8")
        await anyio.to_thread.run_sync(append_lines, self._path, data)


class StdoutSink:
    name = "stdout"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    async def deliver(self, batch: Sequence[StoredEvent]) -> None:
        stream = self._stream or sys.stdout
        stream.write("".join(e.body + "\n" for e in batch))
        stream.flush()


class WebhookSink:
    """POSTs each event as JSON; signs the body with HMAC-SHA256 when a secret is set."""

    name = "webhook"

    def __init__(self, url: str, secret: str, session: aiohttp.ClientSession) -> None:
        self._url = url
        self._secret = secret.encode()
        self._session = session

    async def deliver(self, batch: Sequence[StoredEvent]) -> None:
        for event in batch:
            body = event.body.encode()
            headers = {"Content-Type": "application/json"}
            if self._secret:
                digest = hmac.new(self._secret, body, hashlib.sha256).hexdigest()
                headers[SIGNATURE_HEADER] = f"sha256={digest}"
            timeout = aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S)
            async with self._session.post(
                self._url, data=body, headers=headers, timeout=timeout
            ) as response:
                if response.status >= 300:
                    raise OSError(f"webhook answered HTTP {response.status}")


class Delivery:
    """Runs one sink: reads the outbox after its cursor, delivers, commits the cursor."""

    def __init__(self, sink: Sink, ledger: Ledger) -> None:
        self.sink = sink
        self._ledger = ledger
        self._signal = ledger.outbox_listener()
        self.cursor = ledger.store.sink_cursor(sink.name)
        self.failing = False

    @property
    def caught_up(self) -> bool:
        return self.cursor >= self._ledger.store.last_event_seq()

    async def run(self) -> None:
        delay = RETRY_INITIAL_S
        while True:
            await self._signal.wait()
            self._signal.clear()
            while batch := self._ledger.store.events_after(self.cursor, BATCH):
                try:
                    await self.sink.deliver(batch)
                except (OSError, aiohttp.ClientError, TimeoutError) as exc:
                    log.error(
                        "sink.failed",
                        sink=self.sink.name,
                        error=str(exc),
                        retry_in_s=delay,
                        pending_from_seq=batch[0].seq,
                    )
                    self.failing = True
                    await anyio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX_S)
                    continue
                if self.failing:
                    log.info("sink.recovered", sink=self.sink.name)
                    self.failing = False
                delay = RETRY_INITIAL_S
                self.cursor = batch[-1].seq
                self._ledger.store.set_sink_cursor(self.sink.name, self.cursor)
