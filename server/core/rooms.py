"""Who may join which room: pure rules over the program and the person, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from server.config import Program
from server.core.protocol import ErrorCode

DIRECT_ROOM_PREFIX = "dm-"  # direct rooms are "dm-" + 128 random bits; never configured


@dataclass(frozen=True, slots=True)
class JoinDecision:
    error: ErrorCode | None = None
    detail: str = ""
    remember_invite: bool = False


def tries_invite(
    program: Program, room_id: str, *, invites: frozenset[str], invite: str | None
) -> bool:
    """Whether this join tries an invite code (and so counts against the attempt limit):
    an invite-only room this session has not been let into, with a code."""
    room = program.room(room_id)
    return (
        invite is not None and room is not None and room.access != "open" and room_id not in invites
    )


def decide_join(
    program: Program,
    room_id: str,
    *,
    invites: frozenset[str],
    invite: str | None,
    direct_rooms: frozenset[str] = frozenset(),
) -> JoinDecision:
    if room_id.startswith(DIRECT_ROOM_PREFIX):
        # One answer for "does not exist" and "not yours", so direct room ids cannot be probed.
        if room_id in direct_rooms:
            return JoinDecision()
        return JoinDecision(ErrorCode.FORBIDDEN, "you cannot join this room")
    room = program.room(room_id)
    if room is None:
        return JoinDecision(ErrorCode.NO_SUCH_ROOM, "there is no such room")
    if room.access == "open" or room_id in invites:
        return JoinDecision()
    if invite is None:
        return JoinDecision(ErrorCode.INVITE_REQUIRED, "this room needs an invite code")
    if not room.accepts_invite(invite):
        return JoinDecision(ErrorCode.INVITE_REQUIRED, "that invite code is not valid")
    return JoinDecision(remember_invite=True)


# ---- staff joining a direct room (issue 13: nobody joins a private chat silently) ----------

_ROLE_NOUNS = {
    "supporter": "a supporter",
    "facilitator": "a facilitator",
    "moderator": "a moderator",
    "admin": "an admin",
}


def staff_join_texts(name: str, role: str, *, took_alert: bool) -> tuple[str, str]:
    """What the participant and what the other staff of a direct room read when a staff
    member joins it for the first time: (participant text, staff text). Only the staff
    learn that an alert brought them; the participant learns who they are and their role."""
    who = f"{name}, {_ROLE_NOUNS.get(role, 'a staff member')},"
    joined = f"{who} joined the chat"
    staff = f"{who} took the crisis alert and joined the chat" if took_alert else joined
    return joined, staff
