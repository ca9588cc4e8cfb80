"""The figures an operator watches: the periodic `orchestrator.stats` line and the heartbeat."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import structlog

from orchestrator.ledger import Ledger
from orchestrator.poller import Poller
from orchestrator.vod import VodClient

log = structlog.get_logger("orchestrator.stats")

STATUS_ACTIONS = ("ListAIJob", "GetAIImageJobs")


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The `fraction` quantile (0..1) by linear interpolation; None without values."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    index = min(98, max(0, round(fraction * 100) - 1))
    return cuts[index]


class Stats:
    def __init__(self, *, client: VodClient, poller: Poller, ledger: Ledger) -> None:
        self._client = client
        self._poller = poller
        self._ledger = ledger

    def snapshot(self) -> dict[str, Any]:
        calls = self._client.stats
        lags = list(self._poller.lags)
        p50 = percentile(lags, 0.50)
        p95 = percentile(lags, 0.95)
        return {
            "requests": {state: n for state, n in sorted(self._ledger.counts.items()) if n},
            "active": self._ledger.active,
            "polled_jobs": len(self._poller),
            "calls": dict(calls.calls),
            "throttled": calls.throttled,
            "retries": calls.retries,
            "errors": dict(calls.errors),
            "status_calls": calls.status_calls,
            "mean_ids_per_status_call": (
                round(calls.status_ids / calls.status_calls, 2) if calls.status_calls else None
            ),
            "lag_p50_s": None if p50 is None else round(p50, 3),
            "lag_p95_s": None if p95 is None else round(p95, 3),
        }

    def log(self) -> None:
        snap = self.snapshot()
        flat: dict[str, Any] = {
            key: value for key, value in snap.items() if not isinstance(value, dict)
        }
        for group in ("requests", "calls", "errors"):
            for name, value in snap[group].items():
                flat[f"{group}_{name}"] = value
        log.info("orchestrator.stats", **flat)
