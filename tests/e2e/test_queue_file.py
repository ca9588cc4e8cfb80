"""The queue file while the daemon runs: appends, partial lines, truncation, rotation, bad lines."""

from __future__ import annotations

import json
import os

import anyio

from orchestrator import simulator
from orchestrator.daemon import Daemon
from tests.e2e.conftest import Workdir, eventually, job_lines, run_until_idle


async def _wait_terminal(workdir: Workdir, request_ids: set[str]) -> None:
    await eventually(lambda: request_ids <= set(workdir.terminal_counts()))


async def test_appends_partial_lines_truncation_and_rotation_while_running(
    workdir: Workdir, emulator: simulator.RunningEmulator
) -> None:
    """Lines appended, completed, after truncation and after rotation are all taken once."""
    settings = workdir.settings(emulator.endpoint)
    assert settings.credentials is not None
    daemon = Daemon(settings, credentials=settings.credentials)
    workdir.append(job_lines(3, prefix="a"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(daemon.run)
        await _wait_terminal(workdir, {"a0", "a1", "a2"})

        line = json.dumps({"video_id": "v", "template_id": "t", "request_id": "partial"}).encode()
        workdir.append([line[:10]])
        await anyio.sleep(0.5)
        assert "partial" not in workdir.terminal_counts()
        workdir.append([line[10:] + b"\n"])
        await _wait_terminal(workdir, {"partial"})

        workdir.queue.write_bytes(b"")  # truncated, as by a log rotator's copytruncate
        workdir.append(job_lines(2, prefix="t"))
        await _wait_terminal(workdir, {"t0", "t1"})

        os.rename(workdir.queue, workdir.root / "queue.jsonl.1")
        workdir.append(job_lines(2, prefix="n"))
        await _wait_terminal(workdir, {"n0", "n1"})
        daemon.request_stop()

    counts = workdir.terminal_counts()
    assert set(counts) == {"a0", "a1", "a2", "partial", "t0", "t1", "n0", "n1"}
    assert set(counts.values()) == {1}


BAD_LINES = [
    b"not json at all",
    b"\xff\xfe\xfd invalid utf-8",
    b"[1, 2, 3]",
    b'{"template_id": "t"}',
    b'{"video_id": 42, "template_id": "t"}',
    b'{"video_id": "v", "template_id": "t", "user_data": {"Extend": {"x": "' + b"y" * 600 + b'"}}}',
    b'{"video_id": "v", "template_id": "t", "colour": "blue"}',
    b'{"video_id": "' + b"z" * (70 * 1024) + b'", "template_id": "t"}',
    b'{"video_id": "v", "template_id": "t", "timeout_s": -1}',
    b'{"image_ids": []}',
]


async def test_every_kind_of_bad_line_is_rejected_while_good_lines_complete(
    workdir: Workdir, emulator: simulator.RunningEmulator
) -> None:
    """Each bad line is rejected with its line number and dead-lettered; good ones complete."""
    lines: list[bytes] = []
    for n, bad in enumerate(BAD_LINES):
        good = {"video_id": "v", "template_id": "t", "request_id": f"good{n}"}
        lines += [json.dumps(good).encode() + b"\n", bad + b"\n"]
    workdir.append(lines)
    await run_until_idle(workdir.settings(emulator.endpoint))

    events = workdir.events()
    rejected = [e for e in events if e["event"] == "request.rejected"]
    assert [e["line"] for e in rejected] == [2 * (n + 1) for n in range(len(BAD_LINES))]
    assert all(e["reason"] for e in rejected)
    assert set(workdir.terminal_counts()) == {f"good{n}" for n in range(len(BAD_LINES))}
    dead = workdir.dead_letter.read_text().splitlines()
    assert [json.loads(d)["line"] for d in dead] == [e["line"] for e in rejected]
