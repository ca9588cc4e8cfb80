"""The store: SQLite on local disk, the single source of truth.

It holds the requests with their state machine, the queue offset, the event outbox with one
cursor per sink, and the heartbeat. Every state change commits together with the event it
causes, and the intake commits each line's request together with the new queue offset, so a
crash at any instant leaves a consistent store.

One daemon per store: an exclusive `flock` on `<store>.lock` is held for the daemon's life and
released by the kernel even on SIGKILL. Readers (`status`) open the database read-only and
take no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import StoreError
from orchestrator.states import ACTIVE, State, can_transition

# Migration i upgrades a store from schema version i to i + 1; PRAGMA user_version records it.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE requests (
        request_id    TEXT PRIMARY KEY,
        kind          TEXT NOT NULL CHECK (kind IN ('job', 'lookup')),
        state         TEXT NOT NULL,
        line          INTEGER,
        video_id      TEXT,
        template_id   TEXT,
        user_data     TEXT,
        pipeline_id   TEXT,
        image_ids     TEXT,
        job_id        TEXT,
        status_api    TEXT,
        submits       INTEGER NOT NULL DEFAULT 0,
        polls         INTEGER NOT NULL DEFAULT 0,
        next_poll_at  REAL,
        deadline_at   REAL NOT NULL,
        created_at    REAL NOT NULL,
        submitted_at  REAL,
        completed_at  REAL,
        code          TEXT,
        message       TEXT
    );
    CREATE INDEX requests_by_state ON requests (state);
    CREATE TABLE queue_position (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        device      INTEGER NOT NULL,
        inode       INTEGER NOT NULL,
        offset      INTEGER NOT NULL,
        line        INTEGER NOT NULL,
        generation  INTEGER NOT NULL
    );
    CREATE TABLE events (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id    TEXT NOT NULL UNIQUE,
        type        TEXT NOT NULL,
        request_id  TEXT,
        body        TEXT NOT NULL
    );
    CREATE TABLE sink_cursors (sink TEXT PRIMARY KEY, seq INTEGER NOT NULL);
    CREATE TABLE heartbeat (
        id           INTEGER PRIMARY KEY CHECK (id = 1),
        pid          INTEGER NOT NULL,
        started_at   REAL NOT NULL,
        beat_at      REAL NOT NULL,
        progress_at  REAL NOT NULL,
        stopped_at   REAL,
        stats        TEXT NOT NULL DEFAULT '{}'
    );
    """,
    # v2: `status` lists recent failures by event type; without an index that scans the outbox.
    """
    CREATE INDEX events_by_type ON events (type, seq);
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)

# Columns a transition may set; anything else is a programming error, caught before SQL.
_UPDATABLE = frozenset(
    {
        "job_id",
        "status_api",
        "submits",
        "polls",
        "next_poll_at",
        "submitted_at",
        "completed_at",
        "code",
        "message",
    }
)


@dataclass(frozen=True, slots=True)
class QueuePosition:
    """Where the intake stands in the queue file; `generation` counts truncations and rotations."""

    device: int
    inode: int
    offset: int
    line: int
    generation: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestRow:
    request_id: str
    kind: str
    state: State
    line: int | None
    video_id: str | None
    template_id: str | None
    user_data: str | None
    pipeline_id: str | None
    image_ids: tuple[str, ...]
    job_id: str | None
    status_api: str | None
    submits: int
    polls: int
    next_poll_at: float | None
    deadline_at: float
    created_at: float
    submitted_at: float | None
    completed_at: float | None
    code: str | None
    message: str | None


@dataclass(frozen=True, slots=True)
class NewRequest:
    """A request as the intake records it (`image_ids` empty for a job)."""

    request_id: str
    kind: str
    line: int
    deadline_at: float
    video_id: str | None = None
    template_id: str | None = None
    user_data: str | None = None
    pipeline_id: str | None = None
    image_ids: tuple[str, ...] = ()

    def as_row(self, *, created_at: float) -> RequestRow:
        """The row `record_intake` inserts for this request."""
        return RequestRow(
            request_id=self.request_id,
            kind=self.kind,
            state=State.PENDING,
            line=self.line,
            video_id=self.video_id,
            template_id=self.template_id,
            user_data=self.user_data,
            pipeline_id=self.pipeline_id,
            image_ids=self.image_ids,
            job_id=None,
            status_api=None,
            submits=0,
            polls=0,
            next_poll_at=None,
            deadline_at=self.deadline_at,
            created_at=created_at,
            submitted_at=None,
            completed_at=None,
            code=None,
            message=None,
        )


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    event_id: str
    type: str
    body: str


def _row(values: sqlite3.Row) -> RequestRow:
    data = dict(values)
    data["state"] = State(data["state"])
    data["image_ids"] = tuple(json.loads(data["image_ids"])) if data["image_ids"] else ()
    return RequestRow(**data)


class Store:
    """Access to one store file. Use `Store.open` (daemon) or `Store.open_readonly` (status)."""

    def __init__(
        self, conn: sqlite3.Connection, *, lock_fd: int | None, clock: Callable[[], float]
    ) -> None:
        self._conn = conn
        self._lock_fd = lock_fd
        self._clock = clock

    # --- opening and closing ------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, clock: Callable[[], float]) -> Store:
        """Lock, open (creating it if absent), check and migrate the store at `path`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_fd = _lock(path)
        try:
            conn = _connect(str(path), uri=False)
            _check_integrity(conn, path)
            _migrate(conn, path)
        except BaseException:
            os.close(lock_fd)
            raise
        return cls(conn, lock_fd=lock_fd, clock=clock)

    @classmethod
    def open_readonly(cls, path: Path, *, clock: Callable[[], float]) -> Store:
        if not path.exists():
            raise StoreError(
                f"no store at {path}: has the daemon ever run with this configuration?"
            )
        conn = _connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        version = _user_version(conn, path)
        if version != SCHEMA_VERSION:
            conn.close()
            raise StoreError(
                f"store {path} has schema {version}, this version reads {SCHEMA_VERSION}"
            )
        return cls(conn, lock_fd=None, clock=clock)

    def close(self) -> None:
        self._conn.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; taken immediately so that no other writer can interleave."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # --- intake -------------------------------------------------------------------------------

    def queue_position(self) -> QueuePosition | None:
        row = self._conn.execute(
            "SELECT device, inode, offset, line, generation FROM queue_position"
        ).fetchone()
        return QueuePosition(*row) if row else None

    def record_intake(
        self,
        position: QueuePosition,
        requests: Sequence[NewRequest],
        rejections: Sequence[Mapping[str, Any]],
    ) -> list[RequestRow]:
        """Commit new requests, rejection events and the new queue position together."""
        now = self._clock()
        with self.transaction() as conn:
            for event in rejections:
                _insert_event(conn, event)
            conn.executemany(
                "INSERT INTO requests (request_id, kind, state, line, video_id, template_id,"
                " user_data, pipeline_id, image_ids, deadline_at, created_at)"
                " VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        req.request_id,
                        req.kind,
                        req.line,
                        req.video_id,
                        req.template_id,
                        req.user_data,
                        req.pipeline_id,
                        json.dumps(list(req.image_ids)) if req.image_ids else None,
                        req.deadline_at,
                        now,
                    )
                    for req in requests
                ],
            )
            conn.execute(
                "INSERT OR REPLACE INTO queue_position"
                " (id, device, inode, offset, line, generation)"
                " VALUES (1, ?, ?, ?, ?, ?)",
                (
                    position.device,
                    position.inode,
                    position.offset,
                    position.line,
                    position.generation,
                ),
            )
        return [req.as_row(created_at=now) for req in requests]

    def first_line_of(self, request_id: str) -> int | None:
        row = self._conn.execute(
            "SELECT line FROM requests WHERE request_id = ?", (request_id,)
        ).fetchone()
        return None if row is None else int(row[0])

    # --- requests -----------------------------------------------------------------------------

    def get(self, request_id: str) -> RequestRow | None:
        row = self._conn.execute(
            "SELECT * FROM requests WHERE request_id = ?", (request_id,)
        ).fetchone()
        return None if row is None else _row(row)

    def requests_in(self, states: Iterable[State], *, kind: str | None = None) -> list[RequestRow]:
        wanted = [str(s) for s in states]
        sql = f"SELECT * FROM requests WHERE state IN ({','.join('?' * len(wanted))})"
        params: list[Any] = list(wanted)
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        rows = self._conn.execute(sql + " ORDER BY created_at, rowid", params).fetchall()
        return [_row(r) for r in rows]

    def transition(
        self,
        request_id: str,
        old: State,
        new: State,
        *,
        event: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> bool:
        """Move a request from `old` to `new`, set `fields`, and queue `event`, all in one commit.

        Returns False (and changes nothing) when the request is no longer in `old`: the guard
        that makes a second terminal event for one request impossible.
        """
        if not can_transition(old, new):
            raise ValueError(f"illegal transition {old} -> {new}")
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        assignments = "".join(f", {name} = ?" for name in fields)
        with self.transaction() as conn:
            cursor = conn.execute(
                f"UPDATE requests SET state = ?{assignments} WHERE request_id = ? AND state = ?",
                (str(new), *fields.values(), request_id, str(old)),
            )
            if cursor.rowcount != 1:
                return False
            if event is not None:
                _insert_event(conn, event)
        return True

    def record_polls(self, updates: Iterable[tuple[str, int, float]]) -> None:
        """Persist (request_id, polls, next_poll_at) of jobs that stay `submitted`."""
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE requests SET polls = ?, next_poll_at = ? WHERE request_id = ?"
                " AND state = 'submitted'",
                [(polls, due, rid) for rid, polls, due in updates],
            )

    def set_status_api(self, request_id: str, status_api: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE requests SET status_api = ? WHERE request_id = ?", (status_api, request_id)
            )

    def count_by_state(self) -> dict[str, int]:
        rows = self._conn.execute("SELECT state, COUNT(*) FROM requests GROUP BY state")
        return dict(rows)

    def active_count(self) -> int:
        marks = ",".join("?" * len(ACTIVE))
        row = self._conn.execute(
            f"SELECT COUNT(*) FROM requests WHERE state IN ({marks})", [str(s) for s in ACTIVE]
        ).fetchone()
        return int(row[0])

    def oldest_active_created_at(self) -> float | None:
        marks = ",".join("?" * len(ACTIVE))
        row = self._conn.execute(
            f"SELECT MIN(created_at) FROM requests WHERE state IN ({marks})",
            [str(s) for s in ACTIVE],
        ).fetchone()
        return None if row[0] is None else float(row[0])

    # --- events and sinks ---------------------------------------------------------------------

    def events_after(self, seq: int, limit: int) -> list[StoredEvent]:
        rows = self._conn.execute(
            "SELECT seq, event_id, type, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        )
        return [StoredEvent(*r) for r in rows]

    def last_event_seq(self) -> int:
        row = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
        return int(row[0])

    def recent_events(self, types: Sequence[str], limit: int) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(types))
        rows = self._conn.execute(
            f"SELECT body FROM events WHERE type IN ({marks}) ORDER BY seq DESC LIMIT ?",
            (*types, limit),
        )
        return [json.loads(body) for (body,) in rows]

    def sink_cursor(self, sink: str) -> int:
        row = self._conn.execute("SELECT seq FROM sink_cursors WHERE sink = ?", (sink,)).fetchone()
        return 0 if row is None else int(row[0])

    def sink_cursors(self) -> dict[str, int]:
        return dict(self._conn.execute("SELECT sink, seq FROM sink_cursors"))

    def set_sink_cursor(self, sink: str, seq: int) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO sink_cursors (sink, seq) VALUES (?, ?)",
                (sink, seq),
            )

    # --- heartbeat ----------------------------------------------------------------------------

    def beat(
        self, *, started_at: float, progress_at: float, stats: Mapping[str, Any], stopped: bool
    ) -> None:
        now = self._clock()
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO heartbeat"
                " (id, pid, started_at, beat_at, progress_at, stopped_at, stats)"
                " VALUES (1, ?, ?, ?, ?, ?, ?)",
                (
                    os.getpid(),
                    started_at,
                    now,
                    progress_at,
                    now if stopped else None,
                    json.dumps(stats, separators=(",", ":")),
                ),
            )

    def heartbeat(self) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT pid, started_at, beat_at, progress_at, stopped_at, stats FROM heartbeat"
        ).fetchone()
        if row is None:
            return None
        pid, started_at, beat_at, progress_at, stopped_at, stats = row
        return {
            "pid": pid,
            "started_at": started_at,
            "beat_at": beat_at,
            "progress_at": progress_at,
            "stopped_at": stopped_at,
            "stats": json.loads(stats),
        }


def _insert_event(conn: sqlite3.Connection, event: Mapping[str, Any]) -> None:
    conn.execute(
        "INSERT INTO events (event_id, type, request_id, body) VALUES (?, ?, ?, ?)",
        (
            event["event_id"],
            event["event"],
            event.get("request_id"),
            json.dumps(event, separators=(",", ":"), ensure_ascii=False),
        ),
    )


def _lock(path: Path) -> int:
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StoreError(
            f"store {path} is in use by another daemon (pid {holder}); two daemons must never"
            " share one store"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def _connect(target: str, *, uri: bool) -> sqlite3.Connection:
    try:
        # Autocommit mode: transactions are explicit (Store.transaction), never implicit.
        conn = sqlite3.connect(target, uri=uri, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 5000")
        if not uri:
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode survives a process crash (SIGKILL) without an fsync per commit;
            # an OS crash may lose the last commits, which at-least-once delivery absorbs.
            conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"store {target} is corrupt or not a database: {exc}") from exc
    return conn


def _user_version(conn: sqlite3.Connection, path: Path) -> int:
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"store {path} is not a readable SQLite database: {exc}") from exc


def _check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    try:
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(f"store {path} is corrupt or not a database: {exc}") from exc
    if verdict != "ok":
        conn.close()
        raise StoreError(f"store {path} failed its integrity check: {verdict}")


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    version = _user_version(conn, path)
    if version > SCHEMA_VERSION:
        conn.close()
        raise StoreError(
            f"store {path} has schema {version}, newer than this version's {SCHEMA_VERSION}:"
            " upgrade vod-orchestrator"
        )
    for target in range(version, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _MIGRATIONS[target].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target + 1}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
