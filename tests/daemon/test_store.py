"""The store: schema, locking, transitions and the outbox."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from orchestrator import events
from orchestrator.errors import StoreError
from orchestrator.states import State
from orchestrator.store import _MIGRATIONS, SCHEMA_VERSION, NewRequest, QueuePosition, Store
from tests.daemon.conftest import FakeClock


def _job(request_id: str, line: int = 1) -> NewRequest:
    return NewRequest(
        request_id=request_id,
        kind="job",
        line=line,
        deadline_at=2e9,
        video_id="v1",
        template_id="t1",
        user_data=f'{{"Extend":{{"request_id":"{request_id}"}}}}',
    )


def test_new_store_is_created_at_current_schema(tmp_path: Path, clock: FakeClock) -> None:
    """Opening a path with no file creates a store at the current schema version."""
    store = Store.open(tmp_path / "s.db", clock=clock)
    store.close()
    conn = sqlite3.connect(tmp_path / "s.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_second_daemon_cannot_open_a_locked_store(store: Store, tmp_path: Path) -> None:
    """A store held by one daemon refuses a second opener with a message naming the problem."""
    with pytest.raises(StoreError, match="in use by another daemon"):
        Store.open(tmp_path / "store.db", clock=FakeClock())


def test_corrupt_store_is_refused(tmp_path: Path, clock: FakeClock) -> None:
    """A file that is not a SQLite database stops start-up with a clear error."""
    path = tmp_path / "bad.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="corrupt or not a database"):
        Store.open(path, clock=clock)


def test_store_from_newer_version_is_refused(tmp_path: Path, clock: FakeClock) -> None:
    """A store whose schema is newer than this code knows is not touched."""
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this version"):
        Store.open(path, clock=clock)


def test_data_survives_reopening(tmp_path: Path, clock: FakeClock) -> None:
    """Requests and the queue position committed before closing are there after reopening."""
    path = tmp_path / "s.db"
    store = Store.open(path, clock=clock)
    store.record_intake(QueuePosition(1, 2, 30, 3, 0), [_job("a")], [])
    store.close()
    store = Store.open(path, clock=clock)
    assert store.queue_position() == QueuePosition(1, 2, 30, 3, 0)
    row = store.get("a")
    assert row is not None
    assert row.state is State.PENDING
    store.close()


def test_transition_commits_state_and_event_together(store: Store, clock: FakeClock) -> None:
    """A terminal transition stores its event; a second one from the stale state does nothing."""
    [row] = store.record_intake(QueuePosition(1, 2, 10, 1, 0), [_job("a")], [])
    event = events.job_event(events.JOB_FAILED, row, now=clock(), code="X", message="m")
    assert store.transition("a", State.PENDING, State.FAILED, event=event, code="X")
    again = events.job_event(events.JOB_FAILED, row, now=clock(), code="X", message="m")
    assert not store.transition("a", State.PENDING, State.FAILED, event=again)
    stored = store.events_after(0, 10)
    assert [e.event_id for e in stored] == [event["event_id"]]
    assert store.count_by_state() == {"failed": 1}


def test_illegal_transition_is_a_programming_error(store: Store) -> None:
    """Moving a request backwards through the state machine raises before touching SQL."""
    store.record_intake(QueuePosition(1, 2, 10, 1, 0), [_job("a")], [])
    with pytest.raises(ValueError, match="illegal transition"):
        store.transition("a", State.PENDING, State.FETCHING)


def test_failed_transaction_leaves_nothing_behind(store: Store) -> None:
    """An event that cannot be stored rolls the state change back with it."""
    [row] = store.record_intake(QueuePosition(1, 2, 10, 1, 0), [_job("a")], [])
    bad_event = {"event_id": None, "event": "job.failed"}  # NOT NULL event_id violates schema
    with pytest.raises(sqlite3.IntegrityError):
        store.transition("a", State.PENDING, State.FAILED, event=bad_event)
    reloaded = store.get("a")
    assert reloaded is not None
    assert reloaded.state is State.PENDING
    assert row.state is State.PENDING


def test_sink_cursors_are_independent(store: Store, clock: FakeClock) -> None:
    """Each sink keeps its own cursor over the outbox."""
    rejections = [events.rejected_event(line=n, reason="bad", now=clock()) for n in range(1, 4)]
    store.record_intake(QueuePosition(1, 2, 10, 3, 0), [], rejections)
    store.set_sink_cursor("file", 3)
    store.set_sink_cursor("webhook", 1)
    assert store.sink_cursors() == {"file": 3, "webhook": 1}
    assert [e.seq for e in store.events_after(store.sink_cursor("webhook"), 10)] == [2, 3]


def test_readonly_store_reads_while_daemon_holds_the_lock(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    """`status` can read a store that a running daemon has locked."""
    store.record_intake(QueuePosition(1, 2, 10, 1, 0), [_job("a")], [])
    reader = Store.open_readonly(tmp_path / "store.db", clock=clock)
    try:
        assert reader.count_by_state() == {"pending": 1}
    finally:
        reader.close()


def test_heartbeat_records_stop(store: Store, clock: FakeClock) -> None:
    """The heartbeat row tells a stopped daemon from a running one."""
    store.beat(started_at=clock(), progress_at=clock(), stats={"a": 1}, stopped=False)
    beat = store.heartbeat()
    assert beat is not None
    assert beat["stopped_at"] is None
    assert beat["stats"] == {"a": 1}
    store.beat(started_at=clock(), progress_at=clock(), stats={}, stopped=True)
    stopped = store.heartbeat()
    assert stopped is not None
    assert stopped["stopped_at"] == clock()


def test_store_of_an_older_schema_is_migrated_with_its_data(
    tmp_path: Path, clock: FakeClock
) -> None:
    """A store written at schema 1 opens at the current schema with its rows intact."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(_MIGRATIONS[0])
    conn.execute(
        "INSERT INTO requests (request_id, kind, state, deadline_at, created_at)"
        " VALUES ('old', 'job', 'submitted', 1, 1)"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    store = Store.open(path, clock=clock)
    try:
        assert store.count_by_state() == {"submitted": 1}
    finally:
        store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    indexes = {row[1] for row in conn.execute("PRAGMA index_list('events')")}
    assert "events_by_type" in indexes
    conn.close()
