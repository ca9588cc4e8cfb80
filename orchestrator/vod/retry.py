"""Retries of transient VOD failures: capped exponential backoff with full jitter, in a budget.

`backoff_delay` and `retry_wait` are pure; `call_with_retry` runs the loop with the clock, the
sleep and the random source injected, so tests drive it without waiting.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog

from orchestrator.vod.errors import VodError

T = TypeVar("T")

_log = structlog.get_logger("orchestrator.vod")

# 2**62 * any positive initial_s is far beyond any max_s; capping the exponent keeps the float
# arithmetic finite however many attempts a caller configures.
_MAX_EXPONENT = 62


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how long to retry one call.

    `max_attempts` counts the first try; `budget_s` bounds the whole call, sleeps and attempts
    together, as measured by the injected clock.
    """

    max_attempts: int = 5
    initial_s: float = 0.2
    max_s: float = 10.0
    budget_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        for name in ("initial_s", "max_s", "budget_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if self.initial_s > self.max_s:
            raise ValueError("initial_s must not exceed max_s")


def backoff_delay(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Full-jitter delay before retry `attempt` (0 for the first retry).

    Uniform over [0, min(max_s, initial_s * 2**attempt)]: spreading retries over the whole
    window keeps a crowd of throttled callers from coming back in lockstep.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    ceiling = min(policy.max_s, policy.initial_s * 2 ** min(attempt, _MAX_EXPONENT))
    return rng.uniform(0.0, ceiling)


def retry_wait(attempt: int, error: VodError, policy: RetryPolicy, rng: random.Random) -> float:
    """The sleep before retry `attempt`: the backoff, or the server's `retry_after` if longer."""
    delay = backoff_delay(attempt, policy, rng)
    if error.retry_after is not None:
        return max(delay, error.retry_after)
    return delay


async def call_with_retry(
    attempt_call: Callable[[float], Awaitable[T]],
    *,
    action: str,
    policy: RetryPolicy,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
    rng: random.Random,
    on_retry: Callable[[VodError], None] | None = None,
) -> T:
    """Run `attempt_call(remaining_budget_s)` until it succeeds or retrying cannot help.

    Only a retryable `VodError` is retried. The last error is raised when it is permanent, when
    the attempts are used up, or when the next sleep would carry the call past its budget.
    Each retry is logged as `vod.retry` before the sleep, so a log shows why the call is quiet.
    """
    started = clock()
    attempts = 0
    while True:
        try:
            return await attempt_call(policy.budget_s - (clock() - started))
        except VodError as error:
            attempts += 1
            if not error.retryable:
                raise
            if attempts >= policy.max_attempts:
                _gave_up(action, error, attempts=attempts, reason="max_attempts")
                raise
            wait = retry_wait(attempts - 1, error, policy, rng)
            if clock() - started + wait >= policy.budget_s:
                _gave_up(action, error, attempts=attempts, reason="budget")
                raise
            _log.info(
                "vod.retry",
                action=action,
                attempt=attempts,
                wait_s=round(wait, 3),
                code=error.code,
                http_status=error.http_status,
            )
            if on_retry is not None:
                on_retry(error)
            await sleep(wait)


def _gave_up(action: str, error: VodError, *, attempts: int, reason: str) -> None:
    _log.info(
        "vod.gave_up",
        action=action,
        attempts=attempts,
        reason=reason,
        code=error.code,
        http_status=error.http_status,
    )
