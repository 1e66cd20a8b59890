"""Sockets the integration tests open, closed after each test (tests/integration/conftest.py),
and the people they stand for: participants, and staff consoles logged in with TOTP."""

from __future__ import annotations

import secrets

from tests.client import Participant
from tests.support import ServerProcess, add_staff, new_participant, staff_session

_opened: list[Participant] = []


async def connect(server: ServerProcess, cookie: str, *, staff: bool = False) -> Participant:
    client = await Participant(server, cookie, staff=staff).connect()
    _opened.append(client)
    return client


async def participant(server: ServerProcess, room: str | None = None) -> Participant:
    """A new participant (consent accepted), in `room` when one is given."""
    person = await connect(server, new_participant(server.base))
    if room is not None:
        await person.join(room)
    return person


async def console(server: ServerProcess, *roles: str, on_call: bool = False) -> Participant:
    """A new staff account with `roles` (default supporter), logged in, its socket open."""
    who = await add_staff(server.env, "s" + secrets.token_hex(6), *(roles or ("supporter",)))
    cookie, _ = staff_session(server.base, who)
    c = await connect(server, cookie, staff=True)
    if on_call:
        await c.send(type="on_call", on=True, ref="on-call")
        assert (await c.expect("on_call", ref="on-call"))["on"] is True
    return c


async def close_all() -> None:
    while _opened:
        await _opened.pop().close()
