"""Retry policy: full-jitter backoff, retry-after, attempt limit, time budget, logging order."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from orchestrator.vod.errors import VodError
from orchestrator.vod.retry import RetryPolicy, backoff_delay, call_with_retry, retry_wait
from tests.vod.conftest import FakeClock

POLICY = RetryPolicy(max_attempts=5, initial_s=0.2, max_s=10.0, budget_s=60.0)


class _Ceiling(random.Random):
    """A random source that always draws the top of the interval."""

    def uniform(self, a: float, b: float) -> float:
        return b


def _transient(retry_after: float | None = None) -> VodError:
    return VodError(
        action="ListAIJob",
        code="ServiceUnavailable",
        message="busy",
        http_status=503,
        retry_after=retry_after,
    )


def test_backoff_ceiling_doubles_and_is_capped() -> None:
    """The jitter window is initial_s * 2**attempt, capped at max_s."""
    windows = [backoff_delay(attempt, POLICY, _Ceiling()) for attempt in range(8)]
    assert windows == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0])


@settings(max_examples=200)
@given(attempt=st.integers(min_value=0, max_value=10_000), seed=st.integers())
def test_backoff_is_full_jitter_within_the_window(attempt: int, seed: int) -> None:
    """Every delay lies in [0, min(max_s, initial_s * 2**attempt)], for any attempt number."""
    delay = backoff_delay(attempt, POLICY, random.Random(seed))
    assert 0.0 <= delay <= min(POLICY.max_s, POLICY.initial_s * 2 ** min(attempt, 64))


def test_backoff_rejects_a_negative_attempt() -> None:
    """Attempt numbers start at 0."""
    with pytest.raises(ValueError, match="attempt"):
        backoff_delay(-1, POLICY, random.Random(1))


def test_retry_after_wins_only_when_longer() -> None:
    """The server's hint replaces the backoff when longer and is ignored when shorter."""
    assert retry_wait(0, _transient(retry_after=5.0), POLICY, _Ceiling()) == 5.0
    assert retry_wait(3, _transient(retry_after=0.1), POLICY, _Ceiling()) == pytest.approx(1.6)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"initial_s": 0.0}, "initial_s"),
        ({"max_s": float("inf")}, "max_s"),
        ({"budget_s": -1.0}, "budget_s"),
        ({"initial_s": 5.0, "max_s": 1.0}, "initial_s must not exceed"),
    ],
)
def test_policy_rejects_nonsense(options: dict[str, float], match: str) -> None:
    """Zero attempts, non-positive or infinite times, or initial above max are refused."""
    with pytest.raises(ValueError, match=match):
        RetryPolicy(**options)  # type: ignore[arg-type]


class _Script:
    """An attempt that fails with the scripted errors, then returns 'ok'.

    Like the client's attempts, it takes `cost_s` but never more than the budget it is given.
    """

    def __init__(self, clock: FakeClock, failures: list[VodError], cost_s: float = 0.0) -> None:
        self.clock = clock
        self.failures = failures
        self.cost_s = cost_s
        self.budgets: list[float] = []

    async def __call__(self, remaining_s: float) -> str:
        self.budgets.append(remaining_s)
        self.clock.now += min(self.cost_s, remaining_s)
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


async def _run(clock: FakeClock, script: _Script, policy: RetryPolicy = POLICY) -> str:
    return await call_with_retry(
        script,
        action="ListAIJob",
        policy=policy,
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(3),
    )


async def test_transient_failures_are_retried_until_success(clock: FakeClock) -> None:
    """Two transient failures, then success: three attempts, two sleeps, the result returned."""
    script = _Script(clock, [_transient(), _transient()])
    assert await _run(clock, script) == "ok"
    assert len(script.budgets) == 3
    assert len(clock.sleeps) == 2


async def test_a_permanent_error_is_raised_at_once(clock: FakeClock) -> None:
    """A non-retryable error ends the call after one attempt without sleeping."""
    permanent = VodError(action="ListAIJob", code="InvalidParameter", message="x", http_status=400)
    script = _Script(clock, [permanent])
    with pytest.raises(VodError) as caught:
        await _run(clock, script)
    assert caught.value is permanent
    assert clock.sleeps == []


async def test_max_attempts_bounds_the_tries_and_raises_the_last_error(clock: FakeClock) -> None:
    """With every attempt failing, max_attempts tries are made and the last error is raised."""
    failures = [_transient() for _ in range(10)]
    last = failures[4]
    script = _Script(clock, failures)
    with capture_logs() as logs, pytest.raises(VodError) as caught:
        await _run(clock, script)
    assert caught.value is last
    assert len(script.budgets) == POLICY.max_attempts
    assert len(clock.sleeps) == POLICY.max_attempts - 1
    assert logs[-1]["event"] == "vod.gave_up"
    assert logs[-1]["reason"] == "max_attempts"


async def test_a_retry_after_beyond_the_budget_gives_up_without_sleeping(clock: FakeClock) -> None:
    """If the next sleep would cross the budget, the error is raised before sleeping."""
    policy = RetryPolicy(max_attempts=5, initial_s=0.2, max_s=10.0, budget_s=5.0)
    script = _Script(clock, [_transient(retry_after=6.0)])
    with capture_logs() as logs, pytest.raises(VodError):
        await _run(clock, script, policy)
    assert clock.sleeps == []
    assert [entry["reason"] for entry in logs if entry["event"] == "vod.gave_up"] == ["budget"]


async def test_total_time_never_exceeds_the_budget(clock: FakeClock) -> None:
    """Slow attempts plus sleeps stop before the budget; each attempt is told what is left."""
    policy = RetryPolicy(max_attempts=50, initial_s=1.0, max_s=2.0, budget_s=10.0)
    script = _Script(clock, [_transient() for _ in range(50)], cost_s=1.5)
    started = clock.now
    with pytest.raises(VodError):
        await _run(clock, script, policy)
    assert clock.now - started <= policy.budget_s
    assert 1 < len(script.budgets) < 50
    assert script.budgets[0] == policy.budget_s
    assert script.budgets == sorted(script.budgets, reverse=True)


async def test_each_retry_is_logged_before_its_sleep(clock: FakeClock) -> None:
    """vod.retry (action, attempt, wait_s, code, http_status) is emitted before the sleep starts."""
    logged_at_sleep: list[int] = []
    script = _Script(clock, [_transient(retry_after=1.25)])
    with capture_logs() as logs:

        async def sleep(seconds: float) -> None:
            logged_at_sleep.append(len(logs))
            await clock.sleep(seconds)

        result = await call_with_retry(
            script,
            action="ListAIJob",
            policy=POLICY,
            clock=clock,
            sleep=sleep,
            rng=random.Random(3),
        )
    assert result == "ok"
    retry = logs[0]
    assert retry == {
        "event": "vod.retry",
        "log_level": "info",
        "action": "ListAIJob",
        "attempt": 1,
        "wait_s": 1.25,
        "code": "ServiceUnavailable",
        "http_status": 503,
    }
    assert logged_at_sleep == [1]
    assert clock.sleeps == [1.25]


async def test_on_retry_is_told_of_each_retry(clock: FakeClock) -> None:
    """The on_retry hook sees every retried error and not the final success."""
    seen: list[str] = []
    script = _Script(clock, [_transient(), _transient()])
    await call_with_retry(
        script,
        action="ListAIJob",
        policy=POLICY,
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(3),
        on_retry=lambda error: seen.append(error.code),
    )
    assert seen == ["ServiceUnavailable", "ServiceUnavailable"]


async def test_foreign_exceptions_are_not_retried(clock: FakeClock) -> None:
    """Only VodError is retried: a programming error propagates from the first attempt."""

    async def broken(remaining_s: float) -> str:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await call_with_retry(
            broken,
            action="ListAIJob",
            policy=POLICY,
            clock=clock,
            sleep=clock.sleep,
            rng=random.Random(3),
        )
    assert clock.sleeps == []
