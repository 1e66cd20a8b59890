from __future__ import annotations

import pytest

from server.config import load_program
from server.core.protocol import ErrorCode
from server.core.rooms import decide_join, staff_join_texts

PROGRAM = load_program(None)


@pytest.mark.parametrize(
    ("room", "invites", "invite", "error", "remember"),
    [
        ("general", frozenset(), None, None, False),
        ("nowhere", frozenset(), None, ErrorCode.NO_SUCH_ROOM, False),
        ("officers", frozenset(), None, ErrorCode.INVITE_REQUIRED, False),
        ("officers", frozenset(), "wrong-code", ErrorCode.INVITE_REQUIRED, False),
        ("officers", frozenset(), "blue-harbor-demo", None, True),
        ("officers", frozenset({"officers"}), None, None, False),
        ("dm-0123456789abcdef0123456789abcdef", frozenset(), None, ErrorCode.FORBIDDEN, False),
    ],
    ids=[
        "open",
        "unknown-group",
        "invite-missing",
        "invite-wrong",
        "invite-right",
        "invite-remembered",
        "direct-not-mine",
    ],
)
def test_join_rules(
    room: str,
    invites: frozenset[str],
    invite: str | None,
    error: ErrorCode | None,
    remember: bool,
) -> None:
    decision = decide_join(PROGRAM, room, invites=invites, invite=invite)
    assert decision.error == error
    assert decision.remember_invite is remember


def test_direct_room_answers_are_the_same_for_missing_and_foreign() -> None:
    mine = "dm-" + "a" * 32
    missing = decide_join(
        PROGRAM, "dm-" + "b" * 32, invites=frozenset(), invite=None, direct_rooms=frozenset({mine})
    )
    foreign = decide_join(PROGRAM, "dm-" + "c" * 32, invites=frozenset(), invite=None)
    assert (missing.error, missing.detail) == (foreign.error, foreign.detail)
    assert (
        decide_join(
            PROGRAM, mine, invites=frozenset(), invite=None, direct_rooms=frozenset({mine})
        ).error
        is None
    )


def test_a_staff_join_names_the_person_and_their_role() -> None:
    participant, staff = staff_join_texts("Rita", "facilitator", took_alert=True)
    assert participant == "Rita, a facilitator, joined the chat"
    assert staff == "Rita, a facilitator, took the crisis alert and joined the chat"


def test_without_an_alert_everyone_reads_the_same_line() -> None:
    participant, staff = staff_join_texts("Sam", "supporter", took_alert=False)
    assert participant == staff == "Sam, a supporter, joined the chat"
    assert staff_join_texts("Ana", "admin", took_alert=False)[0].startswith("Ana, an admin")
    assert "a staff member" in staff_join_texts("Jo", "unknown", took_alert=False)[0]
