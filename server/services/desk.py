"""The support desk: tickets, claims, direct rooms, notes, transfer, end, wrap-up, feedback.

The thin asyncio shell over `store/support.py` (Redis) for the one-to-one frames of
PROTOCOL.md. Whatever must reach sockets on other processes (a participant's `assigned`,
`ended`, a changed queue, staff notes) goes through the store's control channel, and each
process's hub hands it to its own sockets with the handlers registered here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag

from server.config import Settings
from server.core import frames
from server.core.events import ChatEnded, LeftChat, NoteAdded, QueueChanged, SendTo
from server.core.identity import new_id
from server.core.people import Person, Role
from server.core.protocol import (
    CancelSupport,
    Claim,
    End,
    ErrorCode,
    Feedback,
    Note,
    Refusal,
    RequestSupport,
    Status,
    Transfer,
    Wrapup,
    encode,
    with_ref,
)
from server.core.rooms import DIRECT_ROOM_PREFIX, staff_join_texts
from server.core.triage import ticket_priority
from server.crypto import KeyRing
from server.store import Store, StoreUnavailable
from server.store.accounts import StaffStore
from server.store.support import DirectRoom, SupportStore
from server.ws.connection import Connection
from server.ws.hub import Hub

if TYPE_CHECKING:
    from server.services.crisis import Crisis

log = logging.getLogger(__name__)

QUEUE_COALESCE_SECONDS = 0.05  # a burst of queue changes becomes one read and one frame
FEEDBACK_TEXT = "Your supporter ended this chat. If you like, tell us how it went."
TRANSFER_TEXT = "Your chat is being passed to another supporter; they will see it here."
LEFT_TEXT = "The participant has left (Quick Exit or erase). You can end this chat."


class Desk:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        hub: Hub,
        keys: KeyRing,
        staff: StaffStore,
        support: SupportStore,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.store = store
        self.hub = hub
        self.keys = keys
        self.staff = staff
        self.support = support
        self.clock = clock
        self._queue_task: asyncio.Task[None] | None = None
        self._queue_dirty = False
        hub.on(QueueChanged, self._on_queue)
        hub.on(SendTo, self._on_to)
        hub.on(ChatEnded, self._on_ended)
        hub.on(LeftChat, self._on_kick)
        hub.on(NoteAdded, self._on_note)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    @property
    def _ttl_ms(self) -> int:
        return int(self.settings.retention_seconds * 1000)

    # ---- who is in which direct room ------------------------------------------------------

    async def rooms_of(self, person: Person) -> list[str]:
        return await self.support.rooms_of(person.pid)

    async def direct_room_for(self, person: Person, room: str) -> DirectRoom:
        """The room, if this person is a current member; one refusal for every other case
        (no such room, not yours), so direct room ids cannot be probed."""
        found = await self.support.direct_room(room)
        if found is None or not found.has_member(person.pid):
            raise Refusal(ErrorCode.FORBIDDEN, "you cannot join this room")
        return found

    # ---- participant frames ---------------------------------------------------------------

    async def request_support(
        self, conn: Connection, frame: RequestSupport, crisis: Crisis
    ) -> None:
        """The topic is read like a message (resources at once, a flag, an alert when
        urgent); it and the person's flags of the last half hour set the ticket's priority."""
        pid, ticket, now_ms = conn.person.pid, "t-" + new_id(), self._now_ms()
        text = frame.topic.strip() if frame.topic else ""
        topic = self.keys.seal(text.encode(), "ticket", ticket) if text else None
        assessment = crisis.assess(text) if text else None
        label = assessment.label if assessment is not None else "none"
        if label != "none":
            conn.send(crisis.notice("", text))  # DESIGN promise 2: before anything else
        priority = ticket_priority(label, await crisis.recent_flags(pid), now_ms)
        found, created = await self.support.open_ticket(ticket, pid, now_ms, priority, topic)
        if assessment is not None and label != "none":
            # Filed under the waiting ticket, once: the page asks again after every
            # reconnect, and a retry after a failure here must still raise it.
            await crisis.topic_stored(pid, found, text, assessment)
        if not created and priority != "normal":
            await self.raise_priority(pid, priority)  # asking again can only lift it
        conn.send(encode(with_ref(frames.queued(found), frame.ref)))
        if created:
            await self.announce_queue()

    async def cancel_support(self, conn: Connection, frame: CancelSupport) -> None:
        ticket = await self.support.cancel_ticket(conn.person.pid)
        conn.send(encode(with_ref(frames.cancelled(ticket), frame.ref)))
        if ticket is not None:
            await self.announce_queue()

    async def raise_priority(self, pid: str, priority: str) -> None:
        """A flagged message lifts the writer's waiting ticket (and their open chats, so a
        hand-back keeps it) to that priority; never lowers it."""
        if await self.support.raise_priority(pid, priority):
            await self.announce_queue()

    async def add_member(self, room: str, uid: str) -> None:
        """The person who took a crisis alert from this direct room becomes a member."""
        await self.support.add_staff(room, uid, via_alert=True)

    async def announce_join(self, person: Person, room: str) -> None:
        """A staff member's first join of a direct room since they became a member: the
        participant is told who joined and in what role, the other staff also whether a
        crisis alert brought them. Once per person and room: another socket, tab or process
        finds the marker set (issue 13: nobody joins a private chat silently)."""
        found = await self.support.direct_room(room)
        if found is None:
            return
        first, via_alert = await self.support.first_join(room, person.pid)
        if not first:
            return
        to_participant, to_staff = staff_join_texts(person.name, person.role, took_alert=via_alert)
        try:
            await self._to(found.pid, self._notice(room, "system", to_participant))
        except StoreUnavailable:
            # Not told: the next join tries again (if Redis answers this at least).
            with contextlib.suppress(StoreUnavailable):
                await self.support.forget_join(room, person.pid)
            raise
        for uid in sorted(found.staff - {person.pid}):
            await self._to(uid, self._notice(room, "system", to_staff))

    async def participant_left(self, pid: str, *, erase: bool = False) -> None:
        """Quick Exit or erase: out of the queue, and their supporters are told; on erase,
        the topic they typed goes too."""
        if await self.support.cancel_ticket(pid) is not None:
            await self.announce_queue()
        for room_id in await self.support.rooms_of(pid):
            if erase:
                await self.support.forget_topic(room_id)
            room = await self.support.direct_room(room_id)
            for uid in sorted(room.staff) if room else ():
                await self._to(uid, self._notice(room_id, "system", LEFT_TEXT))

    async def feedback(self, conn: Connection, frame: Feedback) -> None:
        room = await self.support.direct_room(frame.room)
        if room is None or room.pid != conn.person.pid or room.ended_ms is None:
            raise Refusal(ErrorCode.FORBIDDEN, "feedback is for your one-to-one chat that ended")
        if not await self.support.mark_feedback(frame.room):
            raise Refusal(ErrorCode.FORBIDDEN, "feedback for this chat was already given")
        comment = None
        if frame.comment and frame.comment.strip():
            # Sealed under a fresh id, not the room: nothing links it to the chat or person.
            comment_id = new_id()
            key_id, blob = self.keys.seal(frame.comment.strip().encode(), "feedback", comment_id)
            comment = (comment_id, key_id, blob)
        await self.support.add_feedback(frame.rating, comment)
        conn.send(encode(with_ref(frames.thanks(), frame.ref)))

    # ---- staff frames ---------------------------------------------------------------------

    async def claim(self, conn: Connection, frame: Claim) -> None:
        fresh = DIRECT_ROOM_PREFIX + new_id()
        won = await self.support.claim(frame.ticket, conn.person.pid, fresh, self._ttl_ms)
        if won is None:
            raise Refusal(ErrorCode.ALREADY_CLAIMED, "another supporter has it, or it is gone")
        room, pid = won
        assigned = frames.assigned(room, ticket=frame.ticket)
        conn.send(encode(with_ref(assigned, frame.ref)))
        if room == fresh:
            await self._to(pid, frames.assigned(room))
        # A chat that went back to the queue: the participant is already in it, and learns
        # who took it over when they join (announce_join).
        log.info("ticket claimed by staff %s", conn.person.pid)
        await self.announce_queue()

    async def note(self, conn: Connection, frame: Note) -> None:
        await self._current_staff_room(conn.person, frame.room)
        note_id = new_id()[:16]
        person = conn.person
        payload = json.dumps(
            {"t": frame.text, "n": person.name, "r": person.role, "a": person.pid},
            ensure_ascii=False,
        ).encode()
        sealed = self.keys.seal(payload, "note", frame.room, note_id)
        ts = await self.support.add_note(frame.room, note_id, sealed, self._ttl_ms)
        noted = frames.noted(frame.room, note_id, frame.text, person.name, person.role, ts)
        conn.send(encode(with_ref(dict(noted), frame.ref)))
        await self.store.publish_control(NoteAdded(frame.room, encode(noted), skip=conn.id))

    async def notes_frame(self, room: str) -> str:
        notes = []
        for note_id, ts, key_id, blob in await self.support.notes(room):
            try:
                plain = json.loads(self.keys.open(key_id, blob, "note", room, note_id))
            except (InvalidTag, ValueError, KeyError):
                continue  # counted nowhere and shown to nobody: a record that fails to open
            notes.append(
                {
                    "id": note_id,
                    "text": plain["t"],
                    "from": {"name": plain["n"], "role": plain["r"]},
                    "ts": ts,
                }
            )
        return encode(frames.notes(room, notes))

    async def end(self, conn: Connection, frame: End) -> None:
        room = await self._current_staff_room(conn.person, frame.room)
        members = [room.pid, *sorted(room.staff)]
        if await self.support.end(frame.room, members, self._now_ms()):
            # The topic was for whoever took the chat; nobody needs it once it ended.
            await self.support.forget_topic(frame.room)
            log.info("direct room ended by staff %s", conn.person.pid)
        conn.send(encode(with_ref(frames.ended(frame.room), frame.ref)))
        await self.store.publish_control(
            ChatEnded(
                frame.room,
                members,
                room.pid,
                skip=conn.id,  # it had its `ended` (with ref) above
            )
        )

    async def transfer(self, conn: Connection, frame: Transfer) -> None:
        room = await self._current_staff_room(conn.person, frame.room)
        if room.ended_ms is not None:
            raise Refusal(ErrorCode.FORBIDDEN, "this chat has ended")
        me = conn.person.pid
        if frame.to is not None:
            target = await self.staff.get(frame.to)
            online = await self.staff.online(self.clock())
            if (
                target is None
                or target.disabled
                or Role.SUPPORTER not in target.roles
                or frame.to == me
                or frame.to not in online
            ):
                raise Refusal(ErrorCode.BAD_FRAME, "that supporter is not available")
            await self.support.hand_over(frame.room, me, frame.to)
            await self._to(frame.to, frames.assigned(frame.room, transfer=True))
        else:
            await self.support.step_out(frame.room, me)
            ticket = "t-" + new_id()
            await self.support.open_ticket(
                ticket,
                room.pid,
                self._now_ms(),
                room.priority,
                self._reseal_topic(room, ticket),
                frame.room,
            )
            await self.announce_queue()
        conn.send(encode(with_ref(frames.transferred(frame.room), frame.ref)))
        await self.store.publish_control(
            LeftChat(frame.room, me, encode(frames.transferred(frame.room)), skip=conn.id)
        )
        await self._to(room.pid, self._notice(frame.room, "system", TRANSFER_TEXT))

    def _reseal_topic(self, room: DirectRoom, ticket: str) -> tuple[str, bytes] | None:
        if room.topic is None:
            return None
        old_ticket, key_id, blob = room.topic
        try:
            topic = self.keys.open(key_id, blob, "ticket", old_ticket)
        except (InvalidTag, ValueError, KeyError):
            return None
        return self.keys.seal(topic, "ticket", ticket)

    async def wrapup(self, conn: Connection, frame: Wrapup) -> None:
        program = self.settings.program
        if frame.topic not in program.wrapup_topics:
            raise Refusal(ErrorCode.BAD_FRAME, "topic must be one of the program's topics")
        if frame.outcome not in program.wrapup_outcomes:
            raise Refusal(ErrorCode.BAD_FRAME, "outcome must be one of the program's outcomes")
        room = await self.support.direct_room(frame.room)
        me = conn.person.pid
        if room is None or not (me in room.staff or me in room.former):
            raise Refusal(ErrorCode.FORBIDDEN, "you were not in this chat")
        if await self.support.mark_wrapup(frame.room, me):
            await self.support.add_wrapup(frame.topic, frame.outcome, frame.referral)
        conn.send(encode(with_ref(frames.wrapped(frame.room), frame.ref)))

    async def status(self, conn: Connection, frame: Status) -> None:
        await self.staff.set_available(conn.person.pid, frame.available)
        conn.send(encode(with_ref(frames.status(frame.available), frame.ref)))

    async def _current_staff_room(self, person: Person, room_id: str) -> DirectRoom:
        room = await self.support.direct_room(room_id)
        if room is None or person.pid not in room.staff:
            raise Refusal(ErrorCode.FORBIDDEN, "you are not a supporter in this chat")
        return room

    # ---- the queue ------------------------------------------------------------------------

    async def announce_queue(self) -> None:
        await self.store.publish_control(QueueChanged())

    async def queue_frame(self) -> str:
        waiting = []
        for t in await self.support.waiting():
            topic = None
            if t.topic_blob:
                with contextlib.suppress(InvalidTag, ValueError, KeyError):
                    topic = self.keys.open(t.topic_key, t.topic_blob, "ticket", t.ticket).decode()
            item: dict[str, Any] = {
                "ticket": t.ticket,
                "since": t.since_ms,
                "priority": t.priority,
                "topic": topic,
            }
            if t.room:
                item["transfer"] = True
            waiting.append(item)
        return encode(frames.queue(waiting))

    def _supporters(self) -> list[Connection]:
        return [
            conn
            for conns in self.hub.people.values()
            for conn in conns
            if Role.SUPPORTER in conn.person.roles
        ]

    def _on_queue(self, event: QueueChanged) -> None:
        if self._queue_task is not None and not self._queue_task.done():
            self._queue_dirty = True
            return
        self._queue_task = asyncio.get_running_loop().create_task(self._send_queue())

    async def _send_queue(self) -> None:
        while True:
            self._queue_dirty = False
            await asyncio.sleep(QUEUE_COALESCE_SECONDS)
            supporters = self._supporters()
            if supporters:
                try:
                    frame = await self.queue_frame()
                except StoreUnavailable:
                    return  # the next change, or a reconnect, brings the queue again
                for conn in supporters:
                    conn.send(frame)
            if not self._queue_dirty:
                return

    # ---- control events from any process --------------------------------------------------

    async def _to(self, person: str, frame: dict[str, Any]) -> None:
        await self.store.publish_control(SendTo(person, encode(frame)))

    def _notice(self, room: str, kind: str, text: str) -> dict[str, Any]:
        return frames.notice(room, kind, text)

    def _on_to(self, event: SendTo) -> None:
        for conn in list(self.hub.people.get(event.who, ())):
            conn.send(event.frame)

    def _on_note(self, event: NoteAdded) -> None:
        for conn in list(self.hub.rooms.get(event.room, ())):
            if not conn.person.is_participant and conn.id != event.skip:
                conn.send(event.frame)

    def _on_ended(self, event: ChatEnded) -> None:
        room = event.room
        ended = encode(frames.ended(room))
        notice = encode(self._notice(room, "feedback", FEEDBACK_TEXT))
        for conn in list(self.hub.rooms.get(room, ())):
            view = conn.rooms.get(room)
            if view is not None:
                view.closed = True
        for person in event.members:
            for conn in list(self.hub.people.get(person, ())):
                if conn.id == event.skip:
                    continue
                conn.send(ended)
                if person == event.pid:
                    conn.send(notice)

    def _on_kick(self, event: LeftChat) -> None:
        for conn in list(self.hub.people.get(event.who, ())):
            if conn.id != event.skip:
                conn.send(event.frame)
            self.hub.spawn(self.hub.leave(conn, event.room))
