"""The staff login policy (server/core/login_limits.py), pure, with a fake clock: which limit
refuses an attempt and for how long, and what a success or an untried attempt gives back."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from server.core.login_limits import (
    BACKOFF_CAP_SECONDS,
    FAILURE_WINDOW_SECONDS,
    FAILURES_PER_HOUR,
    NAME_FREE_FAILURES,
    Failures,
    LoginLimits,
    Refusal,
    backoff_seconds,
    decide,
    not_tried,
    succeeded,
)

LIMITS = LoginLimits(per_address_per_minute=30, pair_free_failures=5)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Counts:
    """What a store keeps, driven only through the pure functions."""

    clock: Clock
    limits: LoginLimits = LIMITS
    pace: dict[str, int] = field(default_factory=dict)
    failures: dict[tuple[str, ...], Failures] = field(default_factory=dict)

    def attempt(self, name: str, address: str) -> tuple[Refusal | None, float]:
        now = self.clock()
        pair, whole = ("p", name, address), ("n", name)
        verdict = decide(
            self.pace.get(address, 0),
            self.failures.get(pair, Failures()),
            self.failures.get(whole, Failures()),
            now,
            self.limits,
        )
        self.pace[address] = verdict.address_tat_ms
        if verdict.refusal is None:
            self.failures[pair], self.failures[whole] = verdict.pair, verdict.name
        return verdict.refusal, verdict.wait_seconds

    def success(self, name: str, address: str) -> None:
        pair, whole = ("p", name, address), ("n", name)
        self.failures[pair], self.failures[whole] = succeeded(
            self.failures.get(pair, Failures()), self.failures.get(whole, Failures())
        )


def test_backoff_starts_after_the_free_failures_and_doubles_to_fifteen_minutes() -> None:
    assert [backoff_seconds(n, 5) for n in range(5)] == [0.0] * 5
    assert [backoff_seconds(n, 5) for n in range(5, 9)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff_seconds(20, 5) == BACKOFF_CAP_SECONDS == 900.0
    assert backoff_seconds(FAILURES_PER_HOUR, 5) == FAILURE_WINDOW_SECONDS  # the hard limit
    assert backoff_seconds(NAME_FREE_FAILURES - 1, NAME_FREE_FAILURES) == 0.0


def test_failures_from_one_address_do_not_hold_the_name_from_another() -> None:
    clock = Clock()
    counts = Counts(clock)
    for _ in range(5):
        assert counts.attempt("sam", "A") == (None, 0.0)
        clock.advance(0.1)
    refusal, wait = counts.attempt("sam", "A")
    assert refusal is Refusal.FAILURES and wait == pytest.approx(0.9)
    # The owner, from another address, goes ahead at once; a success clears their pair.
    assert counts.attempt("sam", "B") == (None, 0.0)
    counts.success("sam", "B")
    # A's back-off doubles with each failure it makes, and only A's.
    clock.advance(1.0)
    assert counts.attempt("sam", "A") == (None, 0.0)
    refusal, wait = counts.attempt("sam", "A")
    assert refusal is Refusal.FAILURES and wait == pytest.approx(2.0)
    assert counts.attempt("sam", "B") == (None, 0.0)


def test_the_address_pace_comes_first_and_counts_every_username() -> None:
    clock = Clock()
    counts = Counts(clock)
    # 30 a minute, 30 back to back: then one every 2 s, whatever the names.
    for i in range(30):
        assert counts.attempt(f"random-{i}", "A")[0] is None
    refusal, wait = counts.attempt("random-x", "A")
    assert refusal is Refusal.ADDRESS and wait == pytest.approx(2.0)
    assert counts.attempt("random-x", "B")[0] is None  # another address is not affected
    clock.advance(2.0)
    assert counts.attempt("random-y", "A")[0] is None
    assert counts.attempt("random-z", "A")[0] is Refusal.ADDRESS
    # A refusal by the address pace counts no failure of the name.
    assert ("p", "random-z", "A") not in counts.failures


def test_the_name_wide_limit_holds_only_addresses_that_failed_with_the_name() -> None:
    clock = Clock()
    counts = Counts(clock)
    # Many addresses, one failure each, until the name is over its own count.
    for i in range(NAME_FREE_FAILURES):
        assert counts.attempt("sam", f"bot-{i}") == (None, 0.0)
    # An address that failed once with the name is now held by the name's back-off...
    refusal, wait = counts.attempt("sam", "bot-0")
    assert refusal is Refusal.FAILURES and wait == pytest.approx(1.0)
    # ...and the owner, from an address without failures, is not held at all.
    assert counts.attempt("sam", "home") == (None, 0.0)
    counts.success("sam", "home")
    assert counts.failures[("n", "sam")].n == NAME_FREE_FAILURES  # only its own was given back
    # Further bots get one guess each; the name's back-off keeps growing for the others.
    for i in range(NAME_FREE_FAILURES, NAME_FREE_FAILURES + 5):
        assert counts.attempt("sam", f"bot-{i}") == (None, 0.0)
    refusal, wait = counts.attempt("sam", "bot-1")
    assert refusal is Refusal.FAILURES and wait == pytest.approx(32.0)
    assert counts.attempt("sam", "office") == (None, 0.0)


def test_counts_are_forgotten_only_by_the_store_not_by_the_policy() -> None:
    # The policy never forgets by itself: an hour's wait at the hard limit is an hour.
    now = 1_000.0
    pair = Failures(FAILURES_PER_HOUR, now + FAILURE_WINDOW_SECONDS)
    verdict = decide(0, pair, Failures(), now + 3599, LIMITS)
    assert verdict.refusal is Refusal.FAILURES and verdict.wait_seconds == pytest.approx(1.0)
    assert decide(0, pair, Failures(), now + 3600, LIMITS).refusal is None


def test_an_attempt_never_tried_is_given_back_without_shortening_a_wait() -> None:
    now = 500.0
    pair, name = not_tried(Failures(5, now + 1), Failures(1, now), now, LIMITS)
    assert pair == Failures(4, now) and name == Failures()
    # Back above the free count, the wait is recomputed from now for the count left.
    pair, _ = not_tried(Failures(7, now + 4), Failures(), now, LIMITS)
    assert pair == Failures(6, now + 2.0)
    assert not_tried(Failures(), Failures(), now, LIMITS) == (Failures(), Failures())


def test_the_limits_follow_the_settings() -> None:
    clock = Clock()
    counts = Counts(clock, LoginLimits(per_address_per_minute=2, pair_free_failures=1000))
    assert counts.attempt("a", "A")[0] is None and counts.attempt("b", "A")[0] is None
    refusal, wait = counts.attempt("c", "A")
    assert refusal is Refusal.ADDRESS and wait == pytest.approx(30.0)
    counts = Counts(clock, LoginLimits(per_address_per_minute=1000, pair_free_failures=2))
    assert counts.attempt("a", "A")[0] is None and counts.attempt("a", "A")[0] is None
    refusal, wait = counts.attempt("a", "A")
    assert refusal is Refusal.FAILURES and wait == pytest.approx(1.0)
