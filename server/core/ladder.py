"""The escalation ladder as a pure policy: (alert, now, who is online) in, what to do out.

PROTOCOL.md: rung 1 is every facilitator on call; after `ack_seconds` without an
acknowledgement, rung 2 is every facilitator with a console open, on call or not; after
another `ack_seconds`, rung 3 is every staff member online, and rung 3 repeats every
`ack_seconds` until someone acknowledges. Each rung keeps the earlier rungs paged.

Issue 13: an alert from a direct room also pages that room's current supporters on rung 1
(they know the person), and so on every rung above it.

One rule of ours on top: a rung with nobody on it is climbed at once. Waiting out a deadline
that nobody can see would only delay the first human who could help.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ON_CALL = 1
FACILITATORS = 2
EVERYONE = 3


@dataclass(frozen=True, slots=True)
class Online:
    """A staff member with a console open somewhere."""

    uid: str
    roles: tuple[str, ...]
    on_call: bool


@dataclass(frozen=True, slots=True)
class AlertState:
    rung: int  # 0 before the first page
    deadline_ms: int  # when the current rung gives way to the next
    taken: bool


@dataclass(frozen=True, slots=True)
class Step:
    rung: int
    deadline_ms: int
    page: bool  # send the alert (again) to `recipients` now
    recipients: frozenset[str]


def recipients(
    rung: int, roster: Iterable[Online], supporters: frozenset[str] = frozenset()
) -> frozenset[str]:
    """Everyone a rung pages, the earlier rungs included. `supporters`: the current
    supporters of the direct room the alert came from (none for a group room)."""
    chosen = set()
    for person in roster:
        facilitator = "facilitator" in person.roles
        if (
            (rung >= ON_CALL and person.uid in supporters)
            or (rung >= ON_CALL and facilitator and person.on_call)
            or (rung >= FACILITATORS and facilitator)
            or rung >= EVERYONE
        ):
            chosen.add(person.uid)
    return frozenset(chosen)


def first(now_ms: int) -> AlertState:
    """A new alert: due at once, so the first step pages rung 1."""
    return AlertState(rung=0, deadline_ms=now_ms, taken=False)


def step(
    state: AlertState,
    now_ms: int,
    roster: Iterable[Online],
    ack_ms: int,
    supporters: frozenset[str] = frozenset(),
) -> Step:
    people = tuple(roster)
    if state.taken:
        return Step(state.rung, state.deadline_ms, False, frozenset())
    rung, deadline, page = state.rung, state.deadline_ms, False
    if now_ms >= deadline:
        rung, deadline, page = min(rung + 1, EVERYONE), now_ms + ack_ms, True
    while rung < EVERYONE and not recipients(rung, people, supporters):
        rung, deadline, page = rung + 1, now_ms + ack_ms, True
    return Step(rung, deadline, page, recipients(rung, people, supporters))
