"""Intake: tails the queue file and records each complete line exactly once.

The file is read from the offset saved in the store; every batch of lines is committed together
with the new offset, so a crash re-reads nothing that was taken and skips nothing that was not.
Only complete lines (ending in `\\n`) are taken: a partial last line waits for its newline.
A new inode at the path (rotation) or a file smaller than the offset (truncation) is logged and
reading restarts at the beginning of the new file, in a new `generation`; before leaving a
rotated file, the lines still unread in it are drained through the open descriptor.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import structlog

from orchestrator import events
from orchestrator.lines import MAX_LINE_BYTES, JobRequest, LookupRequest, Rejection, parse_line
from orchestrator.sinks import append_lines
from orchestrator.store import NewRequest, QueuePosition, RequestRow, Store

log = structlog.get_logger("orchestrator.intake")

# Bytes read per chunk: large enough for thousands of lines a read, small enough to never stall.
_CHUNK = 1 << 20
# At most this much of an over-long line is copied to the dead-letter file.
_DEAD_LETTER_MAX = 1 << 20


@dataclass(frozen=True, slots=True)
class IntakeResult:
    """What one read took: new requests (for the scheduler) and how many lines it consumed."""

    taken: list[RequestRow]
    lines: int


class Intake:
    def __init__(
        self,
        *,
        path: Path,
        dead_letter_path: Path,
        store: Store,
        clock: Callable[[], float],
        default_timeout_s: float,
    ) -> None:
        self._path = path
        self._dead_letter_path = dead_letter_path
        self._store = store
        self._clock = clock
        self._default_timeout_s = default_timeout_s
        self._fd: int | None = None
        self._fd_ident: tuple[int, int] | None = None
        self._missing_logged = False
        self.at_end = False

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._fd_ident = None

    def read(self, max_lines: int) -> IntakeResult:
        """Take up to `max_lines` complete lines; sets `at_end` when none is left to take.

        Raises OSError when the queue cannot be read or a dead letter not written; nothing is
        committed then, and `at_end` stays False: the lines are still to be taken.
        """
        self.at_end = False
        position = self._current_position()
        if position is None or max_lines <= 0:
            self.at_end = position is None
            return IntakeResult([], 0)
        assert self._fd is not None
        lines: list[_Line] = []
        offset = position.offset
        line_no = position.line
        while len(lines) < max_lines:
            chunk = os.pread(self._fd, _CHUNK, offset)
            if not chunk:
                break
            end = chunk.find(b"\n")
            if end < 0:
                length = self._overlong_length(offset, len(chunk))
                if length is None:
                    break  # a partial last line: wait for its newline
                line_no += 1
                lines.append(_Line(line_no, chunk[:_DEAD_LETTER_MAX], length - 1))
                offset += length
                continue
            start = 0
            while end >= 0 and len(lines) < max_lines:
                line_no += 1
                lines.append(_Line(line_no, chunk[start:end], end - start))
                offset += end + 1 - start
                start = end + 1
                end = chunk.find(b"\n", start)
        if not lines:
            self.at_end = True
            return IntakeResult([], 0)
        new_position = QueuePosition(
            position.device, position.inode, offset, line_no, position.generation
        )
        taken = self._record(new_position, lines)
        self.at_end = len(lines) < max_lines
        return IntakeResult(taken, len(lines))

    # --- reading ------------------------------------------------------------------------------

    def _current_position(self) -> QueuePosition | None:
        """Open the queue file if needed and reconcile the saved position with what is on disk."""
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            if not self._missing_logged:
                log.warning("queue.missing", path=str(self._path))
                self._missing_logged = True
            return self._store.queue_position() if self._fd is not None else None
        self._missing_logged = False
        saved = self._store.queue_position()
        ident = (st.st_dev, st.st_ino)
        if saved is None:
            self._open(ident)
            return QueuePosition(st.st_dev, st.st_ino, 0, 0, 0)
        if (saved.device, saved.inode) != ident:
            if self._unread_in_rotated(saved):
                return saved  # drain the rotated file before leaving it
            log.warning(
                "queue.rotated",
                path=str(self._path),
                generation=saved.generation + 1,
                previous_offset=saved.offset,
            )
            self._open(ident)
            return QueuePosition(st.st_dev, st.st_ino, 0, 0, saved.generation + 1)
        if self._fd_ident != ident:
            self._open(ident)
        if st.st_size < saved.offset:
            log.warning(
                "queue.truncated",
                path=str(self._path),
                size=st.st_size,
                previous_offset=saved.offset,
                generation=saved.generation + 1,
            )
            return QueuePosition(st.st_dev, st.st_ino, 0, 0, saved.generation + 1)
        return saved

    def _unread_in_rotated(self, saved: QueuePosition) -> bool:
        """Whether the file we still hold open, now rotated away, has lines not yet read."""
        if self._fd is None or self._fd_ident != (saved.device, saved.inode):
            return False
        return os.fstat(self._fd).st_size > saved.offset

    def _open(self, ident: tuple[int, int]) -> None:
        self.close()
        fd = os.open(self._path, os.O_RDONLY)
        st = os.fstat(fd)
        self._fd = fd
        self._fd_ident = (st.st_dev, st.st_ino)
        if self._fd_ident != ident:  # replaced between stat and open: the next read reconciles
            log.info("queue.replaced_while_opening", path=str(self._path))

    def _overlong_length(self, offset: int, available: int) -> int | None:
        """Length (newline included) of an over-long line at `offset`; None if it is unfinished."""
        if available <= MAX_LINE_BYTES + 1:
            return None
        assert self._fd is not None
        scanned = available
        while True:
            chunk = os.pread(self._fd, _CHUNK, offset + scanned)
            if not chunk:
                return None
            end = chunk.find(b"\n")
            if end >= 0:
                return scanned + end + 1
            scanned += len(chunk)

    # --- recording ----------------------------------------------------------------------------

    def _record(self, position: QueuePosition, lines: list[_Line]) -> list[RequestRow]:
        """Validate, dead-letter the rejects, then commit requests, events and offset together.

        The dead-letter file is written before the commit: a crash between the two repeats a
        dead-letter entry, never loses one.
        """
        now = self._clock()
        requests: list[NewRequest] = []
        rejections: list[dict[str, Any]] = []
        dead: list[dict[str, Any]] = []
        seen: dict[str, int] = {}

        def reject(line: _Line, reason: str, request_id: str | None = None) -> None:
            rejections.append(
                events.rejected_event(
                    line=line.number, reason=reason, now=now, request_id=request_id
                )
            )
            dead.append(_dead_letter(line, reason, now))
            log.warning("request.rejected", line=line.number, reason=reason, request_id=request_id)

        for line in lines:
            if line.length > MAX_LINE_BYTES:
                reject(line, f"line is {line.length} bytes, longer than {MAX_LINE_BYTES}")
                continue
            parsed = parse_line(
                line.raw, default_request_id=f"g{position.generation}-line{line.number}"
            )
            if isinstance(parsed, Rejection):
                reject(line, parsed.reason)
                continue
            first = seen.get(parsed.request_id) or self._store.first_line_of(parsed.request_id)
            if first is not None:
                reject(
                    line,
                    f"duplicate request_id {parsed.request_id!r}, first taken at line {first}",
                    parsed.request_id,
                )
                continue
            seen[parsed.request_id] = line.number
            requests.append(self._new_request(parsed, line.number, now))
        if dead:
            self._write_dead_letters(dead)
        taken = self._store.record_intake(position, requests, rejections)
        for req in requests:
            log.info("request.accepted", request_id=req.request_id, line=req.line, kind=req.kind)
        return taken

    def _new_request(self, parsed: JobRequest | LookupRequest, line: int, now: float) -> NewRequest:
        if isinstance(parsed, LookupRequest):
            return NewRequest(
                request_id=parsed.request_id,
                kind="lookup",
                line=line,
                deadline_at=now + self._default_timeout_s,
                image_ids=parsed.image_ids,
            )
        return NewRequest(
            request_id=parsed.request_id,
            kind="job",
            line=line,
            deadline_at=now + (parsed.timeout_s or self._default_timeout_s),
            video_id=parsed.video_id,
            template_id=parsed.template_id,
            user_data=parsed.vod_user_data(),
            pipeline_id=parsed.pipeline_id,
        )

    def _write_dead_letters(self, dead: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in dead)
        append_lines(self._dead_letter_path, text.encode("utf-8"))


class _Line(NamedTuple):
    number: int
    raw: bytes  # the line without its newline (only the first bytes of an over-long one)
    length: int


def _dead_letter(line: _Line, reason: str, now: float) -> dict[str, Any]:
    return {
        "line": line.number,
        "reason": reason,
        "rejected_at": events.iso(now),
        "raw": line.raw.decode("utf-8", errors="backslashreplace"),
        "truncated": line.length > len(line.raw),
    }
