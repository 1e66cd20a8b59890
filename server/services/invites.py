"""Invitations to a private chat: a facilitator or supporter, from a group room (typically
from a crisis alert there), invites the author of one message; the person accepts or not.

The staff member names a message, never a person: the server finds its author, and staff
learn nothing about them beyond the pseudonym already shown in the room. An accepted
invitation opens a direct room of the two, as a claimed ticket would.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag

from server.config import Settings
from server.core import frames
from server.core.events import SendTo
from server.core.identity import new_id
from server.core.messages import unpack
from server.core.people import Role
from server.core.protocol import (
    AcceptInvite,
    DeclineInvite,
    ErrorCode,
    InviteDirect,
    Refusal,
    encode,
    with_ref,
)
from server.core.rooms import DIRECT_ROOM_PREFIX
from server.crypto import KeyRing
from server.store import Store
from server.store.invites import Invitation, InviteStore, MarkStore
from server.ws.connection import Connection

log = logging.getLogger(__name__)

# An invitation nobody answered within 15 minutes belongs to a moment that has passed; the
# staff member can send another one.
INVITE_SECONDS = 15 * 60
NOT_YOURS = "no such invitation: it expired, was answered, or is not yours"


class Auditor(Protocol):
    async def record(
        self, actor: str, action: str, target: str, reason: str = "", **extra: str
    ) -> Any: ...


class Invites:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        keys: KeyRing,
        invites: InviteStore,
        marks: MarkStore,
        audit: Auditor,
    ) -> None:
        self.settings = settings
        self.store = store
        self.keys = keys
        self.invites = invites
        self.marks = marks
        self.audit = audit

    async def invite(self, conn: Connection, frame: InviteDirect) -> None:
        person = conn.person
        program_room = self.settings.program.room(frame.room)
        if program_room is None:
            raise Refusal(ErrorCode.NO_SUCH_ROOM, "invitations are made from a group room")
        stored = await self.store.message(frame.room, frame.message)
        try:
            plain = (
                unpack(self.keys.open(stored.key_id, stored.blob, frame.room, frame.message))
                if stored is not None
                else None
            )
        except (InvalidTag, ValueError, KeyError):
            plain = None
        if plain is None:
            raise Refusal(ErrorCode.BAD_FRAME, "no such message in this room")
        if plain.role != "participant":
            raise Refusal(ErrorCode.BAD_FRAME, "only a participant's message can be answered so")
        # Facilitators run every group room; a supporter only answers an alert they took.
        if Role.FACILITATOR not in person.roles and not await self.invites.took_alert(
            frame.room, frame.message, person.pid
        ):
            raise Refusal(ErrorCode.FORBIDDEN, "take the alert on this message first")
        await self.audit.record(
            person.pid, "invite.sent", frame.message, room=frame.room, message=frame.message
        )
        mark = (await self.marks.marks(frame.room)).get(frame.message)
        invite = "i-" + new_id()
        priority = mark[0] if mark else "normal"
        await self.invites.add(
            Invitation(invite, plain.author, person.pid, frame.room, priority), INVITE_SECONDS
        )
        conn.send(
            encode(with_ref(frames.invite_sent(invite, frame.room, frame.message), frame.ref))
        )
        invited = frames.invited(invite, frame.room, program_room.name, person.name, person.role)
        await self.store.publish_control(SendTo(plain.author, encode(invited)))
        log.info("private chat invitation sent by staff %s", person.pid)

    async def accept(self, conn: Connection, frame: AcceptInvite) -> None:
        found = await self.invites.take(frame.invite, conn.person.pid)
        if found is None:
            raise Refusal(ErrorCode.FORBIDDEN, NOT_YOURS)
        room = DIRECT_ROOM_PREFIX + new_id()
        ttl_ms = int(self.settings.retention_seconds * 1000)
        await self.invites.open_direct(room, found.pid, found.uid, found.priority, ttl_ms)
        assigned = frames.assigned(room, invite=found.invite)
        conn.send(encode(with_ref(dict(assigned), frame.ref)))
        await self.store.publish_control(SendTo(found.uid, encode(assigned)))
        log.info("private chat invitation accepted")

    async def decline(self, conn: Connection, frame: DeclineInvite) -> None:
        found = await self.invites.take(frame.invite, conn.person.pid)
        if found is None:
            raise Refusal(ErrorCode.FORBIDDEN, NOT_YOURS)
        conn.send(encode(with_ref(frames.declined(found.invite), frame.ref)))
        await self.store.publish_control(
            SendTo(found.uid, encode(frames.invite_declined(found.invite)))
        )
