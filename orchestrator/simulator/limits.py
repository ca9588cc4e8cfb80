"""Per-action flow control and the seeded fault plan: pure, with time and chance injected."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from orchestrator.simulator.config import FaultConfig, normalise_qps


class QpsLimiter:
    """A token bucket per action holding at most one second of calls.

    The service admits bursts within its per-second budget and rejects the excess; a bucket of
    `qps` tokens refilled at `qps` per second does the same, deterministically for a given clock.
    """

    def __init__(self, limits: Mapping[str, float | None]) -> None:
        self._limits: dict[str, float | None] = {}
        self._tokens: dict[str, float] = {}
        self._stamp: dict[str, float | None] = {}
        for action, qps in limits.items():
            self.set_limit(action, qps)

    @property
    def limits(self) -> dict[str, float | None]:
        return dict(self._limits)

    def set_limit(self, action: str, qps: float | None) -> None:
        """Change an action's limit (None or 0: unlimited); its bucket starts full."""
        limit = normalise_qps(action, qps)
        self._limits[action] = limit
        self._tokens[action] = limit or 0.0
        self._stamp[action] = None

    def allow(self, action: str, now: float) -> bool:
        """Take a token for one call of `action` at `now`; False when the call is throttled."""
        qps = self._limits.get(action)
        if qps is None:
            return True
        stamp = self._stamp[action]
        tokens = self._tokens[action]
        if stamp is not None and now > stamp:
            tokens = min(qps, tokens + (now - stamp) * qps)
        self._stamp[action] = now if stamp is None else max(stamp, now)
        if tokens >= 1.0:
            self._tokens[action] = tokens - 1.0
            return True
        self._tokens[action] = tokens
        return False


class FaultKind(StrEnum):
    INTERNAL_ERROR = "internal_error"
    UNAVAILABLE = "unavailable"
    BAD_GATEWAY = "bad_gateway"
    DROP_CONNECTION = "drop_connection"
    MALFORMED_BODY = "malformed_body"

    @property
    def strikes_before(self) -> bool:
        """True for faults that stop the call before the operation runs."""
        return self in (FaultKind.INTERNAL_ERROR, FaultKind.UNAVAILABLE, FaultKind.BAD_GATEWAY)


class MalformedKind(StrEnum):
    """How a malformed success body is broken."""

    TRUNCATED = "truncated"
    WRONG_SHAPE = "wrong_shape"


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What happens to one call: an optional fault and a delay before the operation."""

    kind: FaultKind | None = None
    delay_s: float = 0.0
    malformed: MalformedKind = MalformedKind.TRUNCATED


NO_FAULT = FaultDecision()


class FaultInjector:
    """Draws each call's fault from a seeded generator, one draw for the kind."""

    def __init__(self, faults: FaultConfig, rng: random.Random) -> None:
        self._rng = rng
        self.faults = faults

    def decide(self) -> FaultDecision:
        faults = self.faults
        if faults.is_quiet:
            return NO_FAULT
        rng = self._rng
        kind = self._kind(rng.random())
        delay_s = faults.latency_s
        if faults.latency_spike_rate and rng.random() < faults.latency_spike_rate:
            delay_s += faults.latency_spike_s
        malformed = MalformedKind.TRUNCATED
        if kind is FaultKind.MALFORMED_BODY:
            malformed = rng.choice((MalformedKind.TRUNCATED, MalformedKind.WRONG_SHAPE))
        return FaultDecision(kind, delay_s, malformed)

    def _kind(self, draw: float) -> FaultKind | None:
        faults = self.faults
        for kind, rate in (
            (FaultKind.INTERNAL_ERROR, faults.internal_error),
            (FaultKind.UNAVAILABLE, faults.unavailable),
            (FaultKind.BAD_GATEWAY, faults.bad_gateway),
            (FaultKind.DROP_CONNECTION, faults.drop_connection),
            (FaultKind.MALFORMED_BODY, faults.malformed_body),
        ):
            if draw < rate:
                return kind
            draw -= rate
        return None
