"""Counters of what the emulator was asked and answered, for tests and benchmarks."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class IdsPerCall:
    """How many IDs the calls of one batch action carried."""

    sum: int = 0
    count: int = 0
    max: int = 0
    histogram: Counter[int] = field(default_factory=Counter)

    def add(self, n: int) -> None:
        self.sum += n
        self.count += 1
        if n > self.max:
            self.max = n
        self.histogram[n] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "sum": self.sum,
            "count": self.count,
            "max": self.max,
            "mean": self.sum / self.count if self.count else 0.0,
            # JSON object keys are strings; sorted so a printed snapshot reads as a histogram.
            "histogram": {str(n): self.histogram[n] for n in sorted(self.histogram)},
        }


class Stats:
    """What the emulator saw and answered.

    `calls`: authenticated calls per action, throttled and faulted ones included. `ids`: IDs
    per batch call that got past throttling and the faults that strike before. `errors`: error
    answers per code, signature errors included (an answer lost to a dropped connection still
    counts: the operation did fail). `faults`: injected faults per kind.
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.ids: defaultdict[str, IdsPerCall] = defaultdict(IdsPerCall)
        self.throttled: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    def snapshot(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "total_calls": sum(self.calls.values()),
            "ids_per_call": {action: ids.as_dict() for action, ids in self.ids.items()},
            "throttled": dict(self.throttled),
            "faults": dict(self.faults),
            "errors": dict(self.errors),
        }
