"""The poll schedule and the per-job backoff: batching order, moves, compaction, intervals."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from orchestrator.schedule import DEFAULT_BATCH_SIZE, Backoff, PollSchedule

# --- Backoff -----------------------------------------------------------------------------------


def test_backoff_without_jitter_grows_geometrically_then_caps() -> None:
    """With no jitter the waits are initial * multiplier**polls, capped at max_interval_s."""
    backoff = Backoff(initial_s=4.0, multiplier=2.0, max_interval_s=60.0, jitter=0.0)
    rng = random.Random(0)
    assert [backoff.interval(n, rng) for n in range(7)] == [4, 8, 16, 32, 60, 60, 60]


def test_backoff_defaults_reach_the_cap() -> None:
    """The default schedule starts at 5 s, grows by half each poll and stops growing at 60 s."""
    backoff = Backoff(jitter=0.0)
    rng = random.Random(0)
    assert backoff.interval(0, rng) == 5.0
    assert backoff.interval(1, rng) == 7.5
    assert backoff.interval(2, rng) == 11.25
    assert backoff.interval(7, rng) == 60.0


@pytest.mark.parametrize("polls", [1_000, 10**6, 10**400])
def test_backoff_huge_poll_counts_do_not_overflow(polls: int) -> None:
    """A job polled absurdly often still gets the capped interval, not an OverflowError."""
    assert Backoff(jitter=0.0).interval(polls, random.Random(0)) == 60.0


def test_backoff_multiplier_of_one_keeps_the_initial_interval() -> None:
    """A multiplier of exactly 1 is a fixed interval, even for huge poll counts."""
    backoff = Backoff(initial_s=3.0, multiplier=1.0, max_interval_s=10.0, jitter=0.0)
    assert backoff.interval(0, random.Random(0)) == 3.0
    assert backoff.interval(10**400, random.Random(0)) == 3.0


@given(
    polls=st.integers(min_value=0, max_value=10**30),
    seed=st.integers(),
    jitter=st.floats(min_value=0.0, max_value=0.99),
)
def test_backoff_stays_within_the_jitter_band(polls: int, seed: int, jitter: float) -> None:
    """Every wait lies within ±jitter of the unjittered, capped interval."""
    backoff = Backoff(jitter=jitter)
    base = Backoff(jitter=0.0).interval(polls, random.Random(0))
    wait = backoff.interval(polls, random.Random(seed))
    assert base * (1 - jitter) <= wait <= base * (1 + jitter)
    assert wait > 0


@given(polls=st.integers(min_value=0, max_value=100))
def test_backoff_never_shrinks_without_jitter(polls: int) -> None:
    """Without jitter the wait after one more poll is never shorter."""
    backoff = Backoff(jitter=0.0)
    rng = random.Random(0)
    assert backoff.interval(polls + 1, rng) >= backoff.interval(polls, rng)


def test_backoff_is_deterministic_for_a_seeded_rng() -> None:
    """Two generators with the same seed give the same sequence of waits."""
    backoff = Backoff()
    first, second = random.Random(42), random.Random(42)
    waits = [backoff.interval(n, first) for n in range(20)]
    assert waits == [backoff.interval(n, second) for n in range(20)]
    assert len(set(waits)) == len(waits)  # the jitter is really applied


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"initial_s": 0.0}, "initial_s: must be > 0", id="initial-zero"),
        pytest.param({"initial_s": float("nan")}, "initial_s: must be finite", id="initial-nan"),
        pytest.param({"multiplier": 0.5}, "multiplier: must be >= 1", id="shrinking"),
        pytest.param({"max_interval_s": 1.0}, "max_interval_s: must be >= initial_s", id="cap"),
        pytest.param({"max_interval_s": float("inf")}, "must be finite", id="cap-inf"),
        pytest.param({"jitter": 1.0}, "jitter: must be >= 0 and < 1", id="jitter-one"),
        pytest.param({"jitter": -0.1}, "jitter: must be >= 0 and < 1", id="jitter-negative"),
        pytest.param({"jitter": True}, "jitter: must be a number", id="jitter-bool"),
    ],
)
def test_backoff_rejects_invalid_parameters(kwargs: dict[str, float], message: str) -> None:
    """Parameters that would make no sense as a backoff raise ValueError naming the field."""
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)


def test_backoff_rejects_a_negative_poll_count() -> None:
    """A negative poll count is a caller bug and raises ValueError."""
    with pytest.raises(ValueError, match="polls"):
        Backoff().interval(-1, random.Random(0))


# --- PollSchedule: examples --------------------------------------------------------------------


def schedule_of(**dues: float) -> PollSchedule:
    schedule = PollSchedule()
    for job_id, due in dues.items():
        schedule.add(job_id, due)
    return schedule


def test_empty_schedule() -> None:
    """An empty schedule has no next due time, nothing due and nothing to take."""
    schedule = PollSchedule()
    assert len(schedule) == 0
    assert schedule.next_due() is None
    assert schedule.due_count(1e9) == 0
    assert schedule.take_batch(1e9) == []


def test_take_batch_returns_nothing_when_nothing_is_due() -> None:
    """Jobs due later are not taken, and stay scheduled."""
    schedule = schedule_of(a=10.0, b=20.0)
    assert schedule.take_batch(9.9) == []
    assert len(schedule) == 2


def test_take_batch_takes_due_jobs_earliest_first() -> None:
    """Due jobs come out in due order and leave the schedule."""
    schedule = schedule_of(c=3.0, a=1.0, b=2.0)
    assert schedule.take_batch(5.0) == ["a", "b", "c"]
    assert len(schedule) == 0


def test_take_batch_fills_a_call_with_the_jobs_due_next() -> None:
    """When fewer than `size` are due, the jobs due next fill the call, earliest first."""
    schedule = schedule_of(late2=40.0, due=5.0, late1=30.0, late3=50.0)
    assert schedule.take_batch(10.0, size=3) == ["due", "late1", "late2"]
    assert schedule.due_at("late3") == 50.0


def test_take_batch_respects_the_size() -> None:
    """No more than `size` jobs are taken even when more are due; the rest wait their turn."""
    schedule = schedule_of(**{f"j{n:02}": float(n) for n in range(25)})
    assert schedule.take_batch(100.0) == [f"j{n:02}" for n in range(DEFAULT_BATCH_SIZE)]
    assert schedule.take_batch(100.0, size=20) == [f"j{n:02}" for n in range(10, 25)]


def test_equal_due_times_are_taken_first_come_first_served() -> None:
    """Jobs due at the same time come out in the order they were scheduled."""
    schedule = schedule_of(z=1.0, a=1.0, m=1.0)
    assert schedule.take_batch(1.0) == ["z", "a", "m"]


def test_re_adding_moves_a_job() -> None:
    """Adding a scheduled job again replaces its due time instead of duplicating it."""
    schedule = schedule_of(a=1.0, b=2.0)
    schedule.add("a", 50.0)
    assert len(schedule) == 2
    assert schedule.due_at("a") == 50.0
    assert schedule.next_due() == 2.0
    assert schedule.take_batch(10.0) == ["b", "a"]


def test_moving_a_job_earlier_takes_effect() -> None:
    """A job moved to an earlier time is due from then on."""
    schedule = schedule_of(a=100.0)
    schedule.add("a", 1.0)
    assert schedule.due_count(1.0) == 1
    assert schedule.take_batch(1.0) == ["a"]


def test_discard_removes_a_job_and_tolerates_absent_ones() -> None:
    """A discarded job is gone from every query; discarding an unknown job is harmless."""
    schedule = schedule_of(a=1.0, b=2.0)
    schedule.discard("a")
    schedule.discard("a")
    schedule.discard("never-added")
    assert "a" not in schedule
    assert schedule.due_at("a") is None
    assert schedule.next_due() == 2.0
    assert schedule.due_count(5.0) == 1
    assert schedule.take_batch(5.0) == ["b"]


def test_contains_accepts_any_object() -> None:
    """Membership works for scheduled ids and answers False for non-strings, even unhashable."""
    schedule = schedule_of(a=1.0)
    assert "a" in schedule
    assert "b" not in schedule
    assert ["a"] not in schedule
    assert 1 not in schedule


def test_due_count_counts_only_live_due_jobs() -> None:
    """due_count sees jobs due at `now` inclusive, ignoring moved and discarded entries."""
    schedule = schedule_of(a=1.0, b=2.0, c=3.0, d=4.0)
    schedule.add("a", 10.0)
    schedule.discard("b")
    assert schedule.due_count(3.0) == 1
    assert schedule.due_count(4.0) == 2
    assert schedule.due_count(10.0) == 3


def test_a_taken_job_can_be_scheduled_again() -> None:
    """After a call, the caller re-adds the job and it is due again at its new time."""
    schedule = schedule_of(a=1.0)
    assert schedule.take_batch(1.0) == ["a"]
    schedule.add("a", 8.0)
    assert schedule.take_batch(7.0) == []
    assert schedule.take_batch(8.0) == ["a"]


@pytest.mark.parametrize("due", [float("nan"), float("inf"), float("-inf")])
def test_add_rejects_a_non_finite_due_time(due: float) -> None:
    """A NaN or infinite due time would corrupt the heap order and is refused."""
    with pytest.raises(ValueError, match="finite"):
        PollSchedule().add("a", due)


def test_take_batch_rejects_a_non_positive_size() -> None:
    """A batch size below one is a caller bug and raises ValueError."""
    with pytest.raises(ValueError, match="size"):
        schedule_of(a=1.0).take_batch(1.0, size=0)


def test_repeated_moves_keep_the_heap_bounded() -> None:
    """Moving the same jobs over and over does not grow memory: stale entries are swept."""
    schedule = schedule_of(**{f"j{n}": float(n) for n in range(100)})
    for round_ in range(1, 200):
        for n in range(100):
            schedule.add(f"j{n}", float(round_ * 1000 + n))
        # The heap is private; reading it here is the only way to see what compaction saves.
        assert len(schedule._heap) <= 2 * len(schedule)
    assert schedule.take_batch(1e9, size=100) == [f"j{n}" for n in range(100)]


def test_discarding_most_jobs_shrinks_the_heap() -> None:
    """Discarding jobs releases their heap entries once stale ones outnumber live ones."""
    schedule = schedule_of(**{f"j{n}": float(n) for n in range(1000)})
    for n in range(990):
        schedule.discard(f"j{n}")
    assert len(schedule._heap) <= 2 * len(schedule)
    assert schedule.take_batch(1e9) == [f"j{n}" for n in range(990, 1000)]


def test_one_hundred_thousand_jobs() -> None:
    """Adding, moving, counting and draining 100,000 jobs completes with the right results."""
    rng = random.Random(7)
    count = 100_000
    due_of: dict[str, float] = {}
    schedule = PollSchedule()
    for n in range(count):
        due_of[f"job-{n}"] = rng.uniform(0, 1000)
        schedule.add(f"job-{n}", due_of[f"job-{n}"])
    for n in range(0, count, 2):  # move half of them past 1000
        due_of[f"job-{n}"] = rng.uniform(1000, 2000)
        schedule.add(f"job-{n}", due_of[f"job-{n}"])
    assert len(schedule) == count
    assert schedule.due_count(1000.0) == count // 2
    taken: list[str] = []
    while batch := schedule.take_batch(2000.0):
        assert len(batch) <= DEFAULT_BATCH_SIZE
        taken.extend(batch)
    assert sorted(taken) == sorted(due_of)
    dues = [due_of[job_id] for job_id in taken]
    assert dues == sorted(dues)
    assert len(schedule) == 0


# --- PollSchedule: model-based -----------------------------------------------------------------

JOB_IDS = [f"job{n}" for n in range(12)]
job_ids = st.sampled_from(JOB_IDS)
times = st.integers(min_value=0, max_value=50).map(float)


class ScheduleMachine(RuleBasedStateMachine):
    """Drives PollSchedule and a plain dict model with the same operations and compares them."""

    def __init__(self) -> None:
        super().__init__()
        self.schedule = PollSchedule()
        # job -> (due, order of its last add): the model's sort key matches the documented order.
        self.model: dict[str, tuple[float, int]] = {}
        self.adds = 0

    def expected_order(self) -> list[str]:
        return sorted(self.model, key=self.model.__getitem__)

    @rule(job_id=job_ids, due=times)
    def add(self, job_id: str, due: float) -> None:
        self.schedule.add(job_id, due)
        self.adds += 1
        self.model[job_id] = (due, self.adds)

    @rule(job_id=job_ids)
    def discard(self, job_id: str) -> None:
        self.schedule.discard(job_id)
        self.model.pop(job_id, None)

    @rule(now=times, size=st.integers(min_value=1, max_value=12))
    def take_batch(self, now: float, size: int) -> None:
        batch = self.schedule.take_batch(now, size)
        order = self.expected_order()
        anything_due = bool(order) and self.model[order[0]][0] <= now
        assert batch == (order[:size] if anything_due else [])
        assert len(batch) == len(set(batch)) <= size
        due = [job for job in order if self.model[job][0] <= now]
        assert batch[: len(due)] == due[: len(batch)]  # every due job before any not-yet-due one
        for job_id in batch:
            del self.model[job_id]

    @rule(now=times)
    def due_count(self, now: float) -> None:
        assert self.schedule.due_count(now) == sum(d <= now for d, _ in self.model.values())

    @invariant()
    def matches_model(self) -> None:
        assert len(self.schedule) == len(self.model)
        order = self.expected_order()
        assert self.schedule.next_due() == (self.model[order[0]][0] if order else None)
        for job_id in JOB_IDS:
            expected = self.model.get(job_id)
            assert self.schedule.due_at(job_id) == (None if expected is None else expected[0])
            assert (job_id in self.schedule) == (expected is not None)
        assert len(self.schedule._heap) <= 2 * len(self.schedule)


ScheduleMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=60)
test_schedule_matches_a_simple_model = ScheduleMachine.TestCase
