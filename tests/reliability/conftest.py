"""Shared pieces of the reliability suites: fixtures, daemon log records, the CLI as a process."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

# The end-to-end suite's fixtures, shared: a work directory and an emulator on a real socket.
from tests.e2e.conftest import emulator as emulator
from tests.e2e.conftest import workdir as workdir


@pytest.fixture(autouse=True)
def plain_structlog() -> Iterator[None]:
    """structlog's defaults around each test: `capture_logs` then sees every level, whatever
    logging an earlier test (the CLI's) configured."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


def json_lines(path: Path) -> list[Any]:
    """The objects of a JSON Lines file, split at b"\\n" only: a JSON string may hold U+2028 or
    U+0085 raw, where `str.splitlines` would cut a line in two."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_bytes().split(b"\n") if line]


def log_records(path: Path) -> list[dict[str, Any]]:
    """The JSON records of a daemon's captured output; other lines (tracebacks) are left out."""
    records = []
    for line in path.read_bytes().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def named(records: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("event") == event]


def assert_no_traceback(path: Path) -> None:
    """A daemon's captured output holds no Python traceback (it never crashed or leaked one)."""
    text = path.read_text(errors="replace")
    assert "Traceback" not in text, text[text.find("Traceback") :][:3000]


def process_environ(environ: dict[str, str]) -> dict[str, str]:
    """This process's environment without any daemon setting or credential, plus `environ`."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ORCHESTRATOR_", "ALIBABA_CLOUD_"))
    }
    return {**inherited, **environ}


async def cli(environ: dict[str, str], *args: str, timeout_s: float = 30.0) -> tuple[int, str]:
    """Run `python -m orchestrator ARGS` to its end; its exit code and its stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator",
        *args,
        env=process_environ(environ),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    assert proc.returncode is not None
    return proc.returncode, output.decode(errors="replace")
