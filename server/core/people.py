"""Who is on a socket (`Person`), and staff rules as pure functions: roles and what each
may do, session lifetimes and the password policy (the login limits are in
server/core/login_limits.py). No I/O and no clock reads; times are passed in.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

SESSION_IDLE_SECONDS = 15 * 60  # W14: a documented deviation from OWASP's 2-5 min
SESSION_ABSOLUTE_SECONDS = 8 * 3600  # W14: one shift, then log in again
# Activity is written to Redis at most this often per socket, so a busy console does not
# turn every keystroke into a write; the idle limit is therefore exact to within a minute.
ACTIVITY_WRITE_SECONDS = 60.0

PASSWORD_MIN_CHARS = 15  # A4
PASSWORD_MAX_CHARS = 1024  # A4 asks to allow at least 64; beyond 1 KiB is not a password
COMMON_PASSWORDS = Path(__file__).resolve().parents[1] / "data" / "common-passwords.txt"


@dataclass(frozen=True, slots=True)
class Person:
    pid: str  # a random id; for participants never linked to anything outside this session
    name: str
    role: str
    roles: tuple[str, ...]
    digest: str  # the stored digest of the session token, for erase and re-validation

    @property
    def is_participant(self) -> bool:
        return self.role == "participant"


class Role(StrEnum):
    SUPPORTER = "supporter"
    FACILITATOR = "facilitator"
    MODERATOR = "moderator"
    ADMIN = "admin"


ROLE_TITLES = {
    Role.SUPPORTER: "Supporter",
    Role.FACILITATOR: "Facilitator",
    Role.MODERATOR: "Moderator",
    Role.ADMIN: "Admin",
}

# A5: what each role may send on the socket. Participants are listed too, so one table
# answers "may this person send this frame" for everyone.
_PARTICIPANT_FRAMES = frozenset(
    {"join", "leave", "say", "typing", "report", "ping"}
    | {"request_support", "cancel_support", "feedback"}
    | {"accept_invite", "decline_invite"}
)
# Every staff member may take an alert: the ladder's top rung pages everyone online.
_STAFF_COMMON = frozenset({"ping", "active", "leave", "ack_alert"})
_ROLE_FRAMES: dict[str, frozenset[str]] = {
    "participant": _PARTICIPANT_FRAMES,
    Role.SUPPORTER: _STAFF_COMMON
    | {"join", "say", "typing", "claim", "note", "end", "transfer", "wrapup", "status"}
    | {"invite_direct"},
    # A facilitator in a direct room (an alert taken there, an invitation accepted) looks
    # after it as a supporter would: notes, transfer, end, wrap-up. Membership is checked
    # per room (desk.py), and claiming from the queue stays with supporters.
    Role.FACILITATOR: _STAFF_COMMON
    | {"join", "say", "typing", "on_call", "invite_direct"}
    | {"note", "end", "transfer", "wrapup"},
    Role.MODERATOR: _STAFF_COMMON,
    Role.ADMIN: _STAFF_COMMON,
}


def may_send(roles: tuple[str, ...], frame_type: str) -> bool:
    return frame_type in _frames_of(roles)


@functools.cache  # a handful of role combinations; asked on every frame
def _frames_of(roles: tuple[str, ...]) -> frozenset[str]:
    return frozenset().union(*(_ROLE_FRAMES.get(role, frozenset()) for role in roles))


def may_join_group_rooms(roles: tuple[str, ...]) -> bool:
    """Participants by the room's rules; facilitators run group rooms; nobody else."""
    return "participant" in roles or Role.FACILITATOR in roles


def parse_roles(values: list[str]) -> tuple[str, ...]:
    """Validated, de-duplicated roles in the order given (the first is the shown role)."""
    roles: list[str] = []
    for value in values:
        try:
            role = Role(value)
        except ValueError:
            names = ", ".join(r.value for r in Role)
            raise ValueError(f"unknown role {value!r}; roles are {names}") from None
        if role not in roles:
            roles.append(role)
    if not roles:
        raise ValueError("a staff account needs at least one role")
    return tuple(roles)


def default_display_name(roles: tuple[str, ...]) -> str:
    """A neutral name such as "Supporter 7": staff are never shown by username."""
    return f"{ROLE_TITLES[Role(roles[0])]} {secrets.randbelow(90) + 10}"


# ---- sessions ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StaffSession:
    uid: str
    created: float  # epoch seconds
    seen: float  # epoch seconds of the last activity
    csrf: str


def session_alive(session: StaffSession, now: float) -> bool:
    return (
        now - session.seen < SESSION_IDLE_SECONDS
        and now - session.created < SESSION_ABSOLUTE_SECONDS
    )


def session_expires_at(session: StaffSession) -> float:
    return min(session.seen + SESSION_IDLE_SECONDS, session.created + SESSION_ABSOLUTE_SECONDS)


# ---- password policy --------------------------------------------------------------------------


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line and not line.startswith("#"))


def password_problem(password: str, username: str = "") -> str | None:
    """Why a password is refused, or None (A4: length and a common-password list; no
    composition rules)."""
    if len(password) < PASSWORD_MIN_CHARS:
        return f"a password has at least {PASSWORD_MIN_CHARS} characters"
    if len(password) > PASSWORD_MAX_CHARS:
        return f"a password has at most {PASSWORD_MAX_CHARS} characters"
    lowered = password.lower()
    common = common_passwords()
    if lowered in common or _repeats_common(lowered, common):
        return "that password is on the list of common passwords"
    if len(set(password)) < 4:
        return "a password needs more than a few distinct characters"
    if username and username.lower() in lowered:
        return "a password must not contain the username"
    return None


def _repeats_common(lowered: str, common: frozenset[str]) -> bool:
    # "passwordpassword" is as guessable as "password".
    for size in range(1, len(lowered) // 2 + 1):
        if len(lowered) % size == 0 and lowered[:size] * (len(lowered) // size) == lowered:
            return lowered[:size] in common or size < 4
    return False


def new_password() -> str:
    """A first password: 20 characters from a CSPRNG, no look-alike characters."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(20))
