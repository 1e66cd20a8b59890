"""The escalation ladder policy on a fake clock (no I/O)."""

from __future__ import annotations

from server.core.ladder import AlertState, Online, first, recipients, step

ACK = 60_000
ON_CALL = Online("oncall", ("facilitator",), on_call=True)
OFF_CALL = Online("offcall", ("facilitator",), on_call=False)
SUPPORTER = Online("sup", ("supporter",), on_call=False)
ROSTER = (ON_CALL, OFF_CALL, SUPPORTER)


def test_each_rung_adds_people_and_keeps_the_earlier_ones() -> None:
    assert recipients(1, ROSTER) == {"oncall"}
    assert recipients(2, ROSTER) == {"oncall", "offcall"}
    assert recipients(3, ROSTER) == {"oncall", "offcall", "sup"}
    # A supporter who is also a facilitator on call is paged at rung 1.
    both = Online("both", ("supporter", "facilitator"), on_call=True)
    assert recipients(1, (both,)) == {"both"}


def test_a_new_alert_pages_rung_one_at_once() -> None:
    s = step(first(1_000), 1_000, ROSTER, ACK)
    assert (s.rung, s.deadline_ms, s.page, s.recipients) == (1, 61_000, True, {"oncall"})


def test_nothing_happens_before_the_deadline() -> None:
    s = step(AlertState(1, 61_000, False), 60_999, ROSTER, ACK)
    assert (s.rung, s.deadline_ms, s.page) == (1, 61_000, False)


def test_climbs_a_rung_per_deadline_then_repeats_the_top() -> None:
    state, now, seen = first(0), 0, []
    for _ in range(5):
        s = step(state, now, ROSTER, ACK)
        assert s.page
        seen.append(s.rung)
        state, now = AlertState(s.rung, s.deadline_ms, False), s.deadline_ms
    assert seen == [1, 2, 3, 3, 3]


def test_an_empty_rung_is_climbed_at_once() -> None:
    nobody_on_call = (OFF_CALL, SUPPORTER)
    s = step(first(0), 0, nobody_on_call, ACK)
    assert (s.rung, s.recipients) == (2, {"offcall"})
    only_supporters = (SUPPORTER,)
    s = step(first(0), 0, only_supporters, ACK)
    assert (s.rung, s.recipients, s.deadline_ms) == (3, {"sup"}, ACK)


def test_nobody_online_still_keeps_the_alert_at_the_top_and_repeating() -> None:
    s = step(first(0), 0, (), ACK)
    assert (s.rung, s.page, s.recipients) == (3, True, frozenset())
    again = step(AlertState(3, s.deadline_ms, False), s.deadline_ms, (ON_CALL,), ACK)
    assert (again.rung, again.page, again.recipients) == (3, True, {"oncall"})


def test_a_taken_alert_does_nothing() -> None:
    s = step(AlertState(2, 0, True), 10**9, ROSTER, ACK)
    assert not s.page and s.recipients == frozenset()


def test_a_direct_rooms_supporters_are_paged_on_rung_one_with_the_on_call() -> None:
    supporters = frozenset({"sup"})
    assert recipients(1, ROSTER, supporters) == {"oncall", "sup"}
    assert recipients(2, ROSTER, supporters) == {"oncall", "offcall", "sup"}
    s = step(first(0), 0, ROSTER, ACK, supporters)
    assert (s.rung, s.recipients) == (1, {"oncall", "sup"})


def test_a_supporter_alone_online_holds_rung_one_instead_of_climbing() -> None:
    s = step(first(0), 0, (SUPPORTER,), ACK, frozenset({"sup"}))
    assert (s.rung, s.deadline_ms, s.recipients) == (1, ACK, {"sup"})
    # A supporter of another room is not on rung 1.
    s = step(first(0), 0, (SUPPORTER,), ACK, frozenset({"someone-else"}))
    assert s.rung == 3


def test_an_offline_supporter_is_not_a_recipient() -> None:
    assert recipients(1, (ON_CALL,), frozenset({"sup"})) == {"oncall"}
