"""The poller's pure core: how long each job waits between polls, and which jobs to poll next.

Nothing here reads a clock, sleeps or draws from the global random generator: times are plain
floats handed in by the caller (a monotonic clock in the daemon, integers in tests) and
randomness comes from the `random.Random` the caller passes.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from dataclasses import dataclass

# ListAIJob and GetAIImageJobs take at most 10 job IDs per call.
DEFAULT_BATCH_SIZE = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Per-job poll intervals: exponential growth from `initial_s`, capped, with jitter.

    The defaults see a typical job (tens of seconds to a few minutes) within seconds of its end
    while an hour-long job costs about one poll a minute; the jitter spreads jobs submitted
    together so that their polls do not stay in lock-step.
    """

    initial_s: float = 5.0
    multiplier: float = 1.5
    max_interval_s: float = 60.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        for name in ("initial_s", "multiplier", "max_interval_s", "jitter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name}: must be a number")
            if not math.isfinite(value):
                raise ValueError(f"{name}: must be finite")
        if self.initial_s <= 0:
            raise ValueError("initial_s: must be > 0")
        if self.multiplier < 1:
            raise ValueError("multiplier: must be >= 1 (a backoff never shortens the wait)")
        if self.max_interval_s < self.initial_s:
            raise ValueError("max_interval_s: must be >= initial_s")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter: must be >= 0 and < 1 (so that every wait stays positive)")

    def interval(self, polls: int, rng: random.Random) -> float:
        """The wait after the `polls`-th poll (0: the first wait after submission), in seconds."""
        if polls < 0:
            raise ValueError("polls: must be >= 0")
        return self._unjittered(polls) * rng.uniform(1 - self.jitter, 1 + self.jitter)

    def _unjittered(self, polls: int) -> float:
        if self.multiplier == 1:
            return self.initial_s
        # `multiplier ** polls` overflows a float (and a huge int overflows even its conversion
        # to float), so the cap is decided first, comparing exponents; comparing an int with a
        # float is exact in Python at any size.
        if polls >= math.log(self.max_interval_s / self.initial_s) / math.log(self.multiplier):
            return self.max_interval_s
        return min(self.max_interval_s, self.initial_s * self.multiplier**polls)


# A heap entry: (due, sequence, job_id). The sequence number orders jobs with equal due times
# first-come first-served and keeps job ids out of comparisons. An entry is live only while it
# is the very object `_live` holds for its job; any other entry for that job is stale.
_Entry = tuple[float, int, str]


class PollSchedule:
    """Every in-flight job's next due time; O(log n) add, move, discard and take (amortised).

    A dict holds the truth; the heap may also hold stale entries (a moved or discarded job),
    skipped when they surface and swept out whenever they outnumber the live ones, so memory
    stays proportional to the number of jobs.
    """

    __slots__ = ("_heap", "_live", "_sequence")

    def __init__(self) -> None:
        self._heap: list[_Entry] = []
        self._live: dict[str, _Entry] = {}
        self._sequence = itertools.count()

    def add(self, job_id: str, due: float) -> None:
        """Schedule `job_id` at `due`; a job already scheduled is moved there."""
        if not math.isfinite(due):
            raise ValueError("due: must be a finite time")
        entry = (due, next(self._sequence), job_id)
        self._live[job_id] = entry
        heapq.heappush(self._heap, entry)
        self._compact_if_sparse()

    def discard(self, job_id: str) -> None:
        """Unschedule `job_id`; nothing happens if it is not scheduled."""
        if self._live.pop(job_id, None) is not None:
            self._compact_if_sparse()

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, job_id: object) -> bool:
        return isinstance(job_id, str) and job_id in self._live

    def due_at(self, job_id: str) -> float | None:
        """When `job_id` is due, or None if it is not scheduled."""
        entry = self._live.get(job_id)
        return None if entry is None else entry[0]

    def next_due(self) -> float | None:
        """The earliest due time, or None when nothing is scheduled."""
        self._drop_stale_top()
        return self._heap[0][0] if self._heap else None

    def due_count(self, now: float) -> int:
        """How many jobs are due at `now`; costs O(entries due), not O(n).

        The heap is walked from the root, pruning every subtree whose root is not due: heap
        order guarantees that nothing below it is due either.
        """
        heap, count = self._heap, 0
        pending = [0] if heap else []
        while pending:
            index = pending.pop()
            entry = heap[index]
            if entry[0] > now:
                continue
            if self._is_live(entry):
                count += 1
            pending.extend(child for child in (2 * index + 1, 2 * index + 2) if child < len(heap))
        return count

    def take_batch(self, now: float, size: int = DEFAULT_BATCH_SIZE) -> list[str]:
        """Remove and return up to `size` distinct jobs to poll in one call, earliest due first.

        Nothing is taken unless at least one job is due at `now`. Then the due jobs come first,
        and a call that they do not fill takes the jobs due next: polling a job a little early
        costs nothing, while a half-empty call wastes rate-limited capacity. The caller
        re-adds each job with its next due time once the call is answered.
        """
        if size < 1:
            raise ValueError("size: must be >= 1")
        first = self.next_due()
        if first is None or first > now:
            return []
        batch: list[str] = []
        while self._heap and len(batch) < size:
            entry = heapq.heappop(self._heap)
            if self._is_live(entry):
                del self._live[entry[2]]
                batch.append(entry[2])
        self._compact_if_sparse()
        return batch

    def _is_live(self, entry: _Entry) -> bool:
        return self._live.get(entry[2]) is entry

    def _drop_stale_top(self) -> None:
        while self._heap and not self._is_live(self._heap[0]):
            heapq.heappop(self._heap)

    def _compact_if_sparse(self) -> None:
        # A rebuild costs O(heap) and runs only when stale entries outnumber live ones, so each
        # stale entry (one per move or discard) pays for its own removal and at most one live
        # entry's: amortised O(1). Checked after every mutation, so the heap never holds more
        # than twice the live jobs.
        if len(self._heap) > 2 * len(self._live):
            self._heap = list(self._live.values())
            heapq.heapify(self._heap)
