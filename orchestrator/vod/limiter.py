"""An adaptive rate limiter for one API action: evenly spaced calls, slowed by throttling.

The limit the API enforces is per account and shared with every other client of the account, so
the configured rate is only an upper bound. On a `Throttling*` answer the limiter halves its rate
(down to a floor) and, given a `retry_after`, holds every caller until then; each successful call
then gives back a small, fixed share of the configured rate (additive increase, multiplicative
decrease), never exceeding it.

`AdaptiveRate` is the pure arithmetic over an explicit clock value; `RateLimiter` adds the
waiting, with the clock and the sleep injected so that tests run without real time.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

# The rate never falls below this share of the configured one: the limiter has to keep sending
# to learn that the pressure is gone, and a twentieth still drains a backlog.
FLOOR_FRACTION = 1 / 20
# Each success restores this share of the configured rate: 25 calls from half back to full, slow
# enough that the account's other clients get room before we probe the limit again.
RECOVERY_FRACTION = 1 / 50


class AdaptiveRate:
    """The limiter's state and rules, free of I/O: every method takes the current time."""

    def __init__(
        self,
        rate: float,
        *,
        floor_fraction: float = FLOOR_FRACTION,
        recovery_fraction: float = RECOVERY_FRACTION,
    ) -> None:
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"rate must be a positive number of calls per second, got {rate!r}")
        if not 0 < floor_fraction <= 1 or not 0 < recovery_fraction <= 1:
            raise ValueError("floor_fraction and recovery_fraction must lie in (0, 1]")
        self.configured_rate = rate
        self.floor_rate = rate * floor_fraction
        self._step = rate * recovery_fraction
        self.rate = rate
        self.blocked_until = -math.inf
        self._last_grant = -math.inf
        self._last_decrease = -math.inf

    def delay(self, now: float) -> float:
        """Seconds until the next call may start: one interval after the last, and not blocked."""
        ready = max(self.blocked_until, self._last_grant + 1 / self.rate)
        return max(0.0, ready - now)

    def grant(self, now: float) -> None:
        """Record that a call starts at `now`."""
        self._last_grant = now

    def throttled(self, now: float, *, granted_at: float, retry_after: float | None) -> None:
        """React to a throttled call that started at `granted_at`.

        Calls already in flight when the rate was last cut were sent too fast under the old
        rate; counting each of them again would crash the rate to the floor on one burst.
        """
        if granted_at >= self._last_decrease:
            self.rate = max(self.floor_rate, self.rate / 2)
            self._last_decrease = now
        if retry_after is not None and retry_after > 0:
            self.blocked_until = max(self.blocked_until, now + retry_after)

    def succeeded(self) -> None:
        """A call went through: give back one step of rate, up to the configured rate."""
        self.rate = min(self.configured_rate, self.rate + self._step)


class RateLimiter:
    """Spreads one action's calls evenly at an adaptive rate; waiters are served first come first.

    Fairness comes from `asyncio.Lock`, which wakes its waiters in arrival order: the holder
    sleeps until its slot, takes it and releases, so at most one call starts per interval.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._state = AdaptiveRate(rate)
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()

    @property
    def rate(self) -> float:
        """The current rate in calls per second."""
        return self._state.rate

    @property
    def configured_rate(self) -> float:
        return self._state.configured_rate

    async def acquire(self) -> float:
        """Wait for this caller's turn; returns the start time to pass to `throttled`."""
        async with self._lock:
            now = self._clock()
            slot = now
            # Loop: a throttled answer may cut the rate or block callers while we sleep.
            while (wait := self._state.delay(now)) > 0:
                slot = now + wait
                await self._sleep(wait)
                now = self._clock()
            # A caller that waited takes the slot it waited for, not the moment it woke: late
            # wake-ups under load would otherwise push every later call back (measured: 90-92
            # calls/s of a 100/s limit). The slot is never more than one interval in the past,
            # so a stalled loop does not release a burst of catch-up calls.
            self._state.grant(max(min(slot, now), now - 1 / self._state.rate))
            return now

    def throttled(self, granted_at: float, retry_after: float | None) -> None:
        self._state.throttled(self._clock(), granted_at=granted_at, retry_after=retry_after)

    def succeeded(self) -> None:
        self._state.succeeded()
