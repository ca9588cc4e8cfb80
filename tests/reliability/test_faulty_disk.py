"""A faulty disk: unwritable files, writes that stop half-way, a store locked or corrupt.

The tests run as root, for whom file modes do not block writes, so an unwritable file is made
by putting a directory at its path, and a write that fails part-way by the file-size limit.
"""

from __future__ import annotations

import contextlib
import resource
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
from structlog.testing import capture_logs

from orchestrator import simulator
from orchestrator.cli import EXIT_FAILURE
from orchestrator.daemon import Daemon
from orchestrator.intake import Intake
from orchestrator.sinks import append_lines
from orchestrator.states import TERMINAL
from orchestrator.store import NewRequest, QueuePosition, Store
from tests.e2e.conftest import Workdir, eventually, job_lines
from tests.e2e.process import DaemonProcess
from tests.reliability.conftest import cli, json_lines


def _finished(store_path: Path) -> int:
    store = Store.open_readonly(store_path, clock=time.time)
    try:
        counts = store.count_by_state()
    finally:
        store.close()
    return sum(n for state, n in counts.items() if state in TERMINAL)


def _outbox_event_ids(store_path: Path) -> list[str]:
    store = Store.open_readonly(store_path, clock=time.time)
    try:
        return [e.event_id for e in store.events_after(0, 10_000)]
    finally:
        store.close()


async def test_unwritable_events_file_keeps_events_in_the_outbox_until_writable(
    workdir: Workdir, emulator: simulator.RunningEmulator
) -> None:
    """While events.path is a directory: an error names it, the outbox holds; then all arrive."""
    settings = workdir.settings(emulator.endpoint)
    assert settings.credentials is not None
    daemon = Daemon(settings, credentials=settings.credentials)
    store_path = settings.store.path
    aside = workdir.root / "events.aside"
    workdir.append(job_lines(10, prefix="a"))
    with capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            tg.start_soon(daemon.run)
            await eventually(lambda: len(workdir.terminal_counts()) == 10)
            workdir.events_path.rename(aside)
            workdir.events_path.mkdir()
            workdir.append(job_lines(10, prefix="b"))
            # The rest of the daemon goes on: the new requests end, their events wait.
            await eventually(lambda: _finished(store_path) == 20)
            await eventually(lambda: any(e["event"] == "sink.failed" for e in logs))
            workdir.events_path.rmdir()
            aside.rename(workdir.events_path)
            await eventually(lambda: len(workdir.terminal_counts()) == 20)
            daemon.request_stop()

    failure = next(e for e in logs if e["event"] == "sink.failed")
    assert failure["log_level"] == "error"
    assert failure["sink"] == "file"
    assert "Is a directory" in failure["error"]
    assert str(workdir.events_path) in failure["error"]
    assert any(e["event"] == "sink.recovered" for e in logs)
    delivered = [e["event_id"] for e in workdir.events()]
    assert delivered == _outbox_event_ids(store_path), "every event once, in outbox order"


async def test_unwritable_dead_letter_file_holds_the_intake_without_a_crash(
    workdir: Workdir, emulator: simulator.RunningEmulator
) -> None:
    """A dead letter that cannot be written holds its lines untaken; once writable, all proceed."""
    settings = workdir.settings(emulator.endpoint)
    assert settings.credentials is not None
    daemon = Daemon(settings, credentials=settings.credentials)
    workdir.dead_letter.mkdir()
    good = job_lines(2, prefix="g")
    workdir.append([good[0], b"{not json\n", good[1]])
    with capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            tg.start_soon(daemon.run)
            await eventually(lambda: any(e["event"] == "intake.failed" for e in logs))
            store = Store.open_readonly(settings.store.path, clock=time.time)
            try:
                assert store.count_by_state() == {}, "nothing of the batch may be taken"
            finally:
                store.close()
            workdir.dead_letter.rmdir()
            await eventually(lambda: len(workdir.terminal_counts()) == 2)
            await eventually(lambda: workdir.dead_letter.exists())
            daemon.request_stop()

    failure = next(e for e in logs if e["event"] == "intake.failed")
    assert failure["log_level"] == "error"
    assert "Is a directory" in failure["error"]
    assert failure["retry_in_s"] > 0
    assert any(e["event"] == "intake.recovered" for e in logs)
    [dead] = json_lines(workdir.dead_letter)
    assert dead["line"] == 2
    rejected = [e for e in workdir.events() if e["event"] == "request.rejected"]
    assert [e["line"] for e in rejected] == [2]


def test_intake_that_cannot_write_a_dead_letter_is_not_at_end(tmp_path: Path) -> None:
    """A read that fails leaves `at_end` False, so `--until-idle` never stops with lines unread."""
    queue, dead = tmp_path / "queue.jsonl", tmp_path / "dead.jsonl"
    store = Store.open(tmp_path / "store.db", clock=time.time)
    intake = Intake(
        path=queue, dead_letter_path=dead, store=store, clock=time.time, default_timeout_s=60
    )
    try:
        queue.write_bytes(b'{"video_id": "v", "template_id": "t"}\n')
        assert len(intake.read(10).taken) == 1
        assert intake.at_end
        dead.mkdir()
        with queue.open("ab") as out:
            out.write(b"bad\n")
        with pytest.raises(IsADirectoryError):
            intake.read(10)
        assert not intake.at_end
        dead.rmdir()
        assert intake.read(10).lines == 1
        assert intake.at_end
    finally:
        intake.close()
        store.close()


@contextlib.contextmanager
def _file_size_limit(limit: int) -> Iterator[None]:
    """Writes past `limit` bytes fail (EFBIG) after a short write, as on a full disk."""
    # Python ignores SIGXFSZ, so the kernel's signal does not end the test process.
    assert signal.getsignal(signal.SIGXFSZ) == signal.SIG_IGN
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_write_that_stops_half_way_leaves_no_partial_line(tmp_path: Path) -> None:
    """A batch cut short by the disk is removed again: the retry appends it whole, once."""
    path = tmp_path / "events.jsonl"
    first = b'{"n": 1}\n{"n": 2}\n'
    batch = b"".join(b'{"n": %d, "pad": "%s"}\n' % (n, b"x" * 40) for n in range(3, 8))
    append_lines(path, first)
    with _file_size_limit(len(first) + len(batch) // 2), pytest.raises(OSError, match="large"):
        append_lines(path, batch)
    assert path.read_bytes() == first
    append_lines(path, batch)
    assert path.read_bytes() == first + batch


@pytest.mark.parametrize(
    ("before", "kept"),
    [
        (b'{"n": 1}\n{"n": 2}\n{"n": 3, "to', b'{"n": 1}\n{"n": 2}\n'),
        (b'{"n": 1, "torn', b""),
        (b'{"n": 1}\n' + b"z" * 200_000, b'{"n": 1}\n'),
    ],
)
def test_line_torn_by_a_crash_is_cut_before_the_next_write(
    tmp_path: Path, before: bytes, kept: bytes
) -> None:
    """A last line without its newline (a kill mid-write) is dropped, not glued to the next."""
    path = tmp_path / "events.jsonl"
    path.write_bytes(before)
    with capture_logs() as logs:
        append_lines(path, b'{"n": 9}\n')
    assert path.read_bytes() == kept + b'{"n": 9}\n'
    [warning] = [e for e in logs if e["event"] == "file.torn_line_dropped"]
    assert warning["bytes"] == len(before) - len(kept)


async def test_second_daemon_on_the_same_store_is_refused(
    workdir: Workdir, emulator: simulator.RunningEmulator
) -> None:
    """A second `run` on a store in use exits 1 naming the holder; the first runs on unharmed."""
    environ = workdir.environ(emulator.endpoint)
    first = DaemonProcess(environ, workdir.root / "first.log")
    await first.start()
    await first.started()
    assert first.proc is not None
    workdir.append(job_lines(5))

    code, output = await cli(environ, "run", "--until-idle")
    assert code == EXIT_FAILURE
    assert f"is in use by another daemon (pid {first.proc.pid})" in output
    assert "two daemons must never share one store" in output
    assert "Traceback" not in output

    await eventually(lambda: len(workdir.terminal_counts()) == 5)
    first.signal(signal.SIGTERM)
    assert await first.wait(15) == 0


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database\n" * 500)


def _damaged_page(path: Path) -> None:
    """A real store with one of its b-tree pages overwritten (a bad sector, a stray write)."""
    store = Store.open(path, clock=time.time)
    requests = [
        NewRequest(request_id=f"r{n}", kind="job", line=n, deadline_at=0.0, video_id="v" * 60)
        for n in range(500)
    ]
    store.record_intake(QueuePosition(0, 0, 0, 0, 0), requests, [])
    store.close()
    data = bytearray(path.read_bytes())
    page = 4096
    data[3 * page : 4 * page] = bytes(range(256)) * (page // 256)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "message"),
    [(_garbage, "is corrupt or not a database"), (_damaged_page, "failed its integrity check")],
)
async def test_corrupt_store_is_refused_at_start_up(
    workdir: Workdir, damage: Callable[[Path], None], message: str
) -> None:
    """`run` on a corrupt store exits 1 with a message naming the store, and changes nothing."""
    store_path = workdir.root / "store.db"
    damage(store_path)
    before = store_path.read_bytes()
    workdir.append(job_lines(1))
    code, output = await cli(workdir.environ("http://127.0.0.1:9"), "run", "--until-idle")
    assert code == EXIT_FAILURE
    assert f"store {store_path}" in output
    assert message in output
    assert "Traceback" not in output
    assert store_path.read_bytes() == before
