"""Staff login limits as pure functions: how long an attempt must wait, given the counts.

No I/O and no clock reads; `now` is passed in (epoch seconds). The store keeps the counts:
server/store/redis.py mirrors these functions in one Lua script, and the contract tests hold
the script to the same answers as `decide` here. Three counters, checked in this order
before any password hashing (issue 11):

1. the client address (a keyed hash of it): every attempt, any username, right or wrong,
   paced by GCRA at `per_address_per_minute`; a flood of bogus logins from one address is
   refused at once, before it costs any argon2 work;
2. the pair (username typed, address): failures, free up to `pair_free_failures`, then a
   back-off of 1 s doubling up to 15 min, and an hour at 100. A stranger who knows a
   username therefore locks out only their own address, not the owner (A2);
3. the username typed, across addresses: failures, free up to NAME_FREE_FAILURES (ten times
   the pair's default), then the same back-off, which holds only addresses that have
   already failed with this name. An address without failures for the name is never held
   by it: a distributed guesser gets one guess per address and hour once the name is under
   attack, and the owner, from a clean address, still gets in at once.

Every attempt that goes ahead counts as a failure of its pair and its name before the
password is checked (so parallel guesses cannot all slip through before the first failure is
written); a success takes it back, and so does an attempt that was never tried because the
hashing queue was full. Refused attempts count nowhere but at the address.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from server.core.ratelimit import Rate, gcra

BACKOFF_FIRST_SECONDS = 1.0  # A2: back-off starts at 1 s and doubles
BACKOFF_CAP_SECONDS = 15 * 60.0  # A2: capped at 15 min
FAILURES_PER_HOUR = 100  # A2: hard limit per (username, address) an hour: then an hour's wait
FAILURE_WINDOW_SECONDS = 3600  # counts are forgotten an hour after the last failure
# Failures of one username from all addresses together before the name-wide back-off: ten
# times the per-address default, so the name-wide limit only starts when many addresses
# guess at one name, and only for those that already failed with it.
NAME_FREE_FAILURES = 50


# Logins with one username typed that one process checks at once; more are refused (429
# `rate_limited`) for known and unknown names alike. A person logs in once (twice with a
# double click); without this, concurrent attempts on a name that exists could fill the
# hashing queue (unknown names take no slot) and `busy` answers would tell that it exists.
LOGINS_IN_FLIGHT_PER_NAME = 2


class Refusal(StrEnum):
    """Which limit refused an attempt (both answer 429 `rate_limited`; the detail differs)."""

    ADDRESS = "address"  # too many login attempts from this address
    FAILURES = "failures"  # too many failures of this username (from this address)


@dataclass(frozen=True, slots=True)
class LoginLimits:
    per_address_per_minute: int  # PEERLINE_LOGINS_PER_ADDRESS_PER_MINUTE
    pair_free_failures: int  # PEERLINE_LOGIN_FAILURES_PER_ADDRESS
    name_free_failures: int = NAME_FREE_FAILURES

    @property
    def address_rate(self) -> Rate:
        # A minute's worth may come back to back (a clinic behind one NAT at shift change),
        # then one every 60/N s.
        return Rate(self.per_address_per_minute, self.per_address_per_minute)


@dataclass(frozen=True, slots=True)
class Failures:
    """One failure counter: `n` failures, and no attempt before `not_before` (epoch s)."""

    n: int = 0
    not_before: float = 0.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """What `decide` found: go ahead (refusal None, the new state to store) or wait."""

    refusal: Refusal | None
    wait_seconds: float
    address_tat_ms: int  # the address's GCRA arrival time, to store (unchanged if refused)
    pair: Failures
    name: Failures


def backoff_seconds(failures: int, free: int) -> float:
    """How long the next attempt waits after `failures` failures with `free` free ones."""
    if failures >= FAILURES_PER_HOUR:
        return float(FAILURE_WINDOW_SECONDS)
    if failures < free:
        return 0.0
    return min(BACKOFF_CAP_SECONDS, BACKOFF_FIRST_SECONDS * 2.0 ** (failures - free))


def failure_wait(pair: Failures, name: Failures, now: float, limits: LoginLimits) -> float:
    """Seconds this (username, address) must still wait; 0 when it may try now."""
    wait = max(0.0, pair.not_before - now)
    if pair.n > 0 and name.n >= limits.name_free_failures:
        # The name-wide back-off holds only an address that already failed with this name.
        wait = max(wait, name.not_before - now)
    return wait


def decide(
    address_tat_ms: int, pair: Failures, name: Failures, now: float, limits: LoginLimits
) -> Verdict:
    """The whole check of one attempt, and the state to store when it goes ahead."""
    now_ms = int(now * 1000)
    allowed, tat, wait_ms = gcra(address_tat_ms, now_ms, limits.address_rate)
    if not allowed:
        return Verdict(Refusal.ADDRESS, wait_ms / 1000, address_tat_ms, pair, name)
    wait = failure_wait(pair, name, now, limits)
    if wait > 0:
        # The address pace still counts this attempt: it was made.
        return Verdict(Refusal.FAILURES, wait, tat, pair, name)
    pair_n, name_n = pair.n + 1, name.n + 1
    return Verdict(
        None,
        0.0,
        tat,
        Failures(pair_n, now + backoff_seconds(pair_n, limits.pair_free_failures)),
        Failures(name_n, now + backoff_seconds(name_n, limits.name_free_failures)),
    )


def succeeded(pair: Failures, name: Failures) -> tuple[Failures, Failures]:
    """After a good login: the pair starts afresh; the name gives back the one attempt that
    was counted in advance (failures of other addresses stay counted)."""
    return Failures(), Failures(max(0, name.n - 1), name.not_before)


def not_tried(
    pair: Failures, name: Failures, now: float, limits: LoginLimits
) -> tuple[Failures, Failures]:
    """After an attempt that went ahead but was never checked (the hashing queue was full):
    one failure fewer for each. The wait is recomputed from `now`, never shorter than the
    count left asks for (the moment of the earlier failure is not stored)."""
    return (
        _one_fewer(pair, now, limits.pair_free_failures),
        _one_fewer(name, now, limits.name_free_failures),
    )


def _one_fewer(failures: Failures, now: float, free: int) -> Failures:
    n = max(0, failures.n - 1)
    return Failures(n, now + backoff_seconds(n, free)) if n else Failures()
