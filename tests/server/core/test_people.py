"""The staff rules: roles, session lifetimes and the password policy (the login back-off is
in tests/server/core/test_login_limits.py)."""

from __future__ import annotations

import pytest

from server.core.people import (
    SESSION_ABSOLUTE_SECONDS,
    SESSION_IDLE_SECONDS,
    StaffSession,
    common_passwords,
    default_display_name,
    may_join_group_rooms,
    may_send,
    new_password,
    parse_roles,
    password_problem,
    session_alive,
)


@pytest.mark.parametrize(
    ("roles", "frame", "allowed"),
    [
        (("participant",), "say", True),
        (("participant",), "request_support", True),
        (("participant",), "feedback", True),
        (("participant",), "claim", False),
        (("participant",), "note", False),
        (("participant",), "end", False),
        (("participant",), "transfer", False),
        (("participant",), "on_call", False),
        (("participant",), "ack_alert", False),
        (("participant",), "active", False),
        (("supporter",), "claim", True),
        (("supporter",), "note", True),
        (("supporter",), "end", True),
        (("supporter",), "request_support", False),
        (("supporter",), "feedback", False),
        (("supporter",), "report", False),
        (("supporter",), "on_call", False),
        (("facilitator",), "on_call", True),
        (("facilitator",), "claim", False),
        (("moderator",), "say", False),
        (("moderator",), "join", False),
        (("admin",), "join", False),
        (("admin",), "say", False),
        (("admin",), "ping", True),
        (("admin",), "ack_alert", True),  # rung 3 pages every staff member online
        (("supporter",), "ack_alert", True),
        (("moderator",), "on_call", False),
        (("supporter", "facilitator"), "on_call", True),
        (("supporter", "facilitator"), "claim", True),
        # Invitations to a private chat (issue 13), and the chat such an invitation opens.
        (("participant",), "accept_invite", True),
        (("participant",), "decline_invite", True),
        (("participant",), "invite_direct", False),
        (("supporter",), "invite_direct", True),
        (("facilitator",), "invite_direct", True),
        (("moderator",), "invite_direct", False),
        (("admin",), "invite_direct", False),
        (("supporter",), "accept_invite", False),
        (("facilitator",), "end", True),
        (("facilitator",), "note", True),
        (("facilitator",), "wrapup", True),
    ],
)
def test_role_table(roles: tuple[str, ...], frame: str, allowed: bool) -> None:
    assert may_send(roles, frame) is allowed


def test_only_participants_and_facilitators_join_group_rooms() -> None:
    assert may_join_group_rooms(("participant",))
    assert may_join_group_rooms(("facilitator",))
    assert not may_join_group_rooms(("supporter",))
    assert not may_join_group_rooms(("moderator",))
    assert not may_join_group_rooms(("admin",))


def test_roles_are_validated_and_deduplicated() -> None:
    assert parse_roles(["supporter", "facilitator", "supporter"]) == ("supporter", "facilitator")
    with pytest.raises(ValueError, match="unknown role"):
        parse_roles(["police"])
    with pytest.raises(ValueError, match="at least one"):
        parse_roles([])


def test_default_display_names_are_neutral() -> None:
    name = default_display_name(("supporter",))
    title, number = name.split()
    assert title == "Supporter" and 10 <= int(number) <= 99


def test_session_idle_and_absolute_limits() -> None:
    start = 1_000_000.0
    session = StaffSession("u", created=start, seen=start, csrf="c")
    assert session_alive(session, start + SESSION_IDLE_SECONDS - 1)
    assert not session_alive(session, start + SESSION_IDLE_SECONDS)
    # Activity keeps it alive, but never past the absolute limit.
    busy = StaffSession("u", created=start, seen=start + SESSION_ABSOLUTE_SECONDS - 10, csrf="c")
    assert session_alive(busy, start + SESSION_ABSOLUTE_SECONDS - 1)
    assert not session_alive(busy, start + SESSION_ABSOLUTE_SECONDS)


def test_the_shipped_list_has_the_top_3000() -> None:
    common = common_passwords()
    assert len(common) >= 2_990  # a few entries differ only by case
    assert {"password", "123456", "qwerty", "iloveyou"} <= common


def test_every_common_password_is_refused() -> None:
    refused = [p for p in common_passwords() if password_problem(p) is not None]
    assert len(refused) == len(common_passwords())


@pytest.mark.parametrize(
    "password",
    [
        "x" * 14,
        "aaaaaaaaaaaaaaaaaaaa",  # long, but one character
        "passwordpassword",  # a common password repeated
        "abcabcabcabcabcabc",
        "alice-in-recovery-2026",  # contains the username
    ],
)
def test_weak_passwords_are_refused(password: str) -> None:
    assert password_problem(password, "alice") is not None


@pytest.mark.parametrize(
    "password",
    [
        "harbor lights at dawn",  # 21
        "q7Vv-plum-Orbit-9",  # 17
        "fifteen chars!!",  # exactly 15
        "a quiet morning by the river with coffee and the dog, sixty4 ch!",  # 64
    ],
)
def test_good_passwords_pass(password: str) -> None:
    assert password_problem(password, "alice") is None


def test_generated_passwords_pass_the_policy() -> None:
    for _ in range(50):
        assert password_problem(new_password()) is None
