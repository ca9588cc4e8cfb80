"""Per-action flow control and the seeded fault draw."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from orchestrator.errors import ConfigError
from orchestrator.simulator import FaultConfig
from orchestrator.simulator.limits import (
    NO_FAULT,
    FaultInjector,
    FaultKind,
    MalformedKind,
    QpsLimiter,
)
from tests.simulator.helpers import T0


def test_a_burst_up_to_the_limit_passes_and_the_rest_is_throttled() -> None:
    """With 5 calls/s, five simultaneous calls pass and the sixth is refused."""
    limiter = QpsLimiter({"ListAIJob": 5})
    assert [limiter.allow("ListAIJob", T0) for _ in range(6)] == [True] * 5 + [False]


def test_tokens_come_back_at_the_configured_rate() -> None:
    """After a burst, one call is admitted every 1/qps seconds, never more than a second's worth."""
    limiter = QpsLimiter({"ListAIJob": 5})
    for _ in range(5):
        limiter.allow("ListAIJob", T0)
    assert not limiter.allow("ListAIJob", T0 + 0.19)
    assert limiter.allow("ListAIJob", T0 + 0.2)
    assert not limiter.allow("ListAIJob", T0 + 0.2)
    # A long pause refills the bucket to its capacity only.
    assert sum(limiter.allow("ListAIJob", T0 + 100) for _ in range(10)) == 5


def test_actions_are_limited_separately() -> None:
    """Exhausting one action's budget leaves the others untouched."""
    limiter = QpsLimiter({"ListAIJob": 1, "GetImageInfos": 1})
    assert limiter.allow("ListAIJob", T0)
    assert not limiter.allow("ListAIJob", T0)
    assert limiter.allow("GetImageInfos", T0)


def test_no_limit_means_every_call_passes() -> None:
    """None (and 0) lift the limit."""
    limiter = QpsLimiter({"ListAIJob": None, "GetImageInfos": 0})
    assert all(limiter.allow("ListAIJob", T0) for _ in range(10_000))
    assert all(limiter.allow("GetImageInfos", T0) for _ in range(100))


def test_a_limit_can_change_at_run_time() -> None:
    """set_limit applies at once, with a full bucket; unknown actions are refused."""
    limiter = QpsLimiter({"ListAIJob": 1})
    limiter.allow("ListAIJob", T0)
    limiter.set_limit("ListAIJob", 3)
    assert [limiter.allow("ListAIJob", T0) for _ in range(4)] == [True, True, True, False]
    assert limiter.limits["ListAIJob"] == 3.0
    with pytest.raises(ConfigError):
        limiter.set_limit("NoSuchAction", 1)


def test_a_quiet_config_never_draws() -> None:
    """Without faults or latency every call gets NO_FAULT and the generator is not touched."""
    rng = random.Random(1)
    state = rng.getstate()
    injector = FaultInjector(FaultConfig(), rng)
    assert all(injector.decide() is NO_FAULT for _ in range(100))
    assert rng.getstate() == state


def test_fault_kinds_occur_at_their_configured_rates() -> None:
    """Over many calls each kind's share is close to its rate (seeded: not flaky)."""
    faults = FaultConfig(
        internal_error=0.1,
        unavailable=0.05,
        bad_gateway=0.05,
        drop_connection=0.1,
        malformed_body=0.2,
    )
    injector = FaultInjector(faults, random.Random(7))
    draws = 20_000
    counts = Counter(injector.decide().kind for _ in range(draws))
    for kind, rate in [
        (FaultKind.INTERNAL_ERROR, 0.1),
        (FaultKind.UNAVAILABLE, 0.05),
        (FaultKind.BAD_GATEWAY, 0.05),
        (FaultKind.DROP_CONNECTION, 0.1),
        (FaultKind.MALFORMED_BODY, 0.2),
        (None, 0.5),
    ]:
        assert counts[kind] / draws == pytest.approx(rate, abs=0.01)


def test_the_same_seed_draws_the_same_faults() -> None:
    """Two injectors with the same seed decide identically, call after call."""
    faults = FaultConfig(internal_error=0.3, malformed_body=0.3, latency_spike_rate=0.5)
    first = FaultInjector(faults, random.Random("s"))
    second = FaultInjector(faults, random.Random("s"))
    assert [first.decide() for _ in range(200)] == [second.decide() for _ in range(200)]


def test_latency_is_constant_plus_occasional_spikes() -> None:
    """Every call waits latency_s; a spike adds latency_spike_s at its rate."""
    faults = FaultConfig(latency_s=0.01, latency_spike_rate=0.25, latency_spike_s=2.0)
    injector = FaultInjector(faults, random.Random(3))
    delays = Counter(round(injector.decide().delay_s, 6) for _ in range(4000))
    assert set(delays) == {0.01, 2.01}
    assert delays[2.01] / 4000 == pytest.approx(0.25, abs=0.03)


def test_malformed_bodies_come_in_both_flavours() -> None:
    """Malformed answers are sometimes truncated JSON, sometimes the wrong shape."""
    injector = FaultInjector(FaultConfig(malformed_body=1.0), random.Random(0))
    flavours = {injector.decide().malformed for _ in range(50)}
    assert flavours == {MalformedKind.TRUNCATED, MalformedKind.WRONG_SHAPE}


def test_which_faults_strike_before_the_operation() -> None:
    """Error answers stop a call before it runs; drops and malformed bodies come after."""
    before = {kind for kind in FaultKind if kind.strikes_before}
    assert before == {FaultKind.INTERNAL_ERROR, FaultKind.UNAVAILABLE, FaultKind.BAD_GATEWAY}
