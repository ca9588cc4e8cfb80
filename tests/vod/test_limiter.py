"""The adaptive rate limiter: even spacing, slow-down on throttling, recovery, fairness."""

from __future__ import annotations

import asyncio
import math

import pytest

from orchestrator.vod.limiter import FLOOR_FRACTION, RECOVERY_FRACTION, AdaptiveRate, RateLimiter
from tests.vod.conftest import FakeClock


def test_first_call_is_immediate_and_the_next_waits_one_interval() -> None:
    """At 10 calls/s a call may start at once and the next one 0.1 s after it."""
    state = AdaptiveRate(10.0)
    assert state.delay(5.0) == 0.0
    state.grant(5.0)
    assert state.delay(5.0) == pytest.approx(0.1)
    assert state.delay(5.04) == pytest.approx(0.06)
    assert state.delay(5.2) == 0.0


def test_throttling_halves_the_rate_down_to_the_floor() -> None:
    """Each throttle of a call sent under the current rate halves it, never below the floor."""
    state = AdaptiveRate(20.0)
    rates = []
    for step in range(8):
        now = float(step)
        state.grant(now)
        state.throttled(now, granted_at=now, retry_after=None)
        rates.append(state.rate)
    assert rates[:4] == [10.0, 5.0, 2.5, 1.25]
    assert min(rates) == pytest.approx(20.0 * FLOOR_FRACTION)
    assert state.floor_rate == pytest.approx(1.0)


def test_calls_in_flight_before_a_cut_do_not_cut_again() -> None:
    """A burst of throttled answers to calls sent under the old rate halves the rate once."""
    state = AdaptiveRate(40.0)
    for granted in (1.00, 1.01, 1.02):
        state.grant(granted)
    state.throttled(1.05, granted_at=1.00, retry_after=None)
    state.throttled(1.06, granted_at=1.01, retry_after=None)
    state.throttled(1.07, granted_at=1.02, retry_after=None)
    assert state.rate == 20.0
    state.grant(1.10)
    state.throttled(1.12, granted_at=1.10, retry_after=None)
    assert state.rate == 10.0


def test_retry_after_blocks_every_caller_until_it_passes() -> None:
    """A retry_after hint holds the next call until then, even if the interval is shorter."""
    state = AdaptiveRate(100.0)
    state.grant(0.0)
    state.throttled(0.0, granted_at=0.0, retry_after=2.0)
    assert state.blocked_until == 2.0
    assert state.delay(0.5) == pytest.approx(1.5)
    state.throttled(0.6, granted_at=0.0, retry_after=0.1)  # a shorter hint never shortens
    assert state.delay(2.0) == 0.0


def test_successes_recover_the_rate_gradually_and_never_above_configured() -> None:
    """Each success adds a fixed share of the configured rate until it is reached, no further."""
    state = AdaptiveRate(50.0)
    state.throttled(0.0, granted_at=0.0, retry_after=None)
    assert state.rate == 25.0
    state.succeeded()
    assert state.rate == pytest.approx(25.0 + 50.0 * RECOVERY_FRACTION)
    needed = math.ceil(0.5 / RECOVERY_FRACTION)
    for _ in range(needed + 10):
        state.succeeded()
    assert state.rate == 50.0


@pytest.mark.parametrize("rate", [0.0, -1.0, math.inf, math.nan])
def test_a_rate_must_be_positive_and_finite(rate: float) -> None:
    """A zero, negative or non-finite rate is refused."""
    with pytest.raises(ValueError, match="rate"):
        AdaptiveRate(rate)


async def test_concurrent_callers_are_spread_evenly(clock: FakeClock) -> None:
    """Five callers at once at 10 calls/s start 0.1 s apart."""
    limiter = RateLimiter(10.0, clock=clock, sleep=clock.sleep)
    grants = await asyncio.gather(*(limiter.acquire() for _ in range(5)))
    start = grants[0]
    assert [round(g - start, 6) for g in grants] == [0.0, 0.1, 0.2, 0.3, 0.4]


async def test_waiters_are_served_in_arrival_order(clock: FakeClock) -> None:
    """Callers are granted in the order they asked, first come first served."""
    limiter = RateLimiter(5.0, clock=clock, sleep=clock.sleep)
    order: list[int] = []

    async def caller(number: int) -> None:
        await limiter.acquire()
        order.append(number)

    tasks = []
    for number in range(8):
        tasks.append(asyncio.create_task(caller(number)))
        await asyncio.sleep(0)  # let each task queue up before the next one is created
    await asyncio.gather(*tasks)
    assert order == list(range(8))


async def test_a_throttle_slows_callers_already_waiting(clock: FakeClock) -> None:
    """Callers queued before a throttle are held by its retry_after and then the halved rate."""
    limiter = RateLimiter(10.0, clock=clock, sleep=clock.sleep)
    first = await limiter.acquire()
    waiting = [asyncio.create_task(limiter.acquire()) for _ in range(2)]
    await asyncio.sleep(0)
    throttled_at = clock.now
    limiter.throttled(first, retry_after=3.0)
    second, third = await asyncio.gather(*waiting)
    assert second == pytest.approx(throttled_at + 3.0)
    assert third - second == pytest.approx(1 / 5.0)
    assert limiter.rate == 5.0


async def test_slow_down_and_recovery_through_the_async_limiter(clock: FakeClock) -> None:
    """After a throttle the limiter spaces calls wider, then returns to the configured spacing."""
    limiter = RateLimiter(20.0, clock=clock, sleep=clock.sleep)
    granted = await limiter.acquire()
    limiter.throttled(granted, retry_after=None)
    slow = await limiter.acquire()
    assert slow - granted == pytest.approx(1 / 10.0)
    for _ in range(60):
        await limiter.acquire()
        limiter.succeeded()
    assert limiter.rate == limiter.configured_rate == 20.0
    before = await limiter.acquire()
    after = await limiter.acquire()
    assert after - before == pytest.approx(1 / 20.0)


async def test_late_wake_ups_do_not_lower_the_rate(clock: FakeClock) -> None:
    """Waiters that wake 20 ms late still start on the 0.1 s grid: 11 calls take 1 s, not 1.2."""

    async def late_sleep(seconds: float) -> None:
        await clock.sleep(seconds + 0.02)

    limiter = RateLimiter(10.0, clock=clock, sleep=late_sleep)
    grants = [await limiter.acquire() for _ in range(11)]
    assert grants[-1] - grants[0] == pytest.approx(1.0 + 0.02)
