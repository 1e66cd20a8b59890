"""Crisis alerts: raise, page up the ladder, acknowledge, in the thin asyncio shell.

The ladder's rules are in `ladder.py`; the durable state in `store/escalations.py`. Every
process runs `run()`: it takes new escalations from the consumer group (the first process to
read one owns its ladder), takes over those whose owner went silent (a killed process), and
pages each rung when it is due. Paging is a control event; every process hands the alert to
the consoles of the paged people it holds. An alert leaves the ladder only when a person
clicks to take it, so a dead process or a closed console never buries one (DESIGN promise 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from redis.exceptions import ResponseError

from server.config import Settings
from server.core import frames
from server.core.events import AlertTaken, Paged
from server.core.identity import new_id
from server.core.ladder import AlertState, Online, recipients, step
from server.core.pages import REASON_MESSAGE, silence_due_ms
from server.core.people import Person
from server.core.protocol import AckAlert, ErrorCode, OnCall, Refusal, encode, with_ref
from server.core.rooms import DIRECT_ROOM_PREFIX
from server.core.triage import TOPIC_PLACE
from server.crypto import KeyRing
from server.store import Store, StoreUnavailable
from server.store.accounts import StaffStore
from server.store.escalations import Escalation, EscalationStore
from server.store.pages import PageStore
from server.ws.connection import Connection
from server.ws.hub import Hub

log = logging.getLogger(__name__)

LOOP_MS = 500  # how often deadlines are checked, and how long a read for new ones blocks
EXCERPT_CHARS = 280  # enough to act on; the whole message is in the room for those in it


class Auditor(Protocol):
    async def record(
        self, actor: str, action: str, target: str, reason: str = "", **extra: str
    ) -> Any: ...


class Escalations:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        hub: Hub,
        keys: KeyRing,
        escalations: EscalationStore,
        staff: StaffStore,
        audit: Auditor,
        clock: Callable[[], float],
        add_member: Callable[[str, str], Any],
        pages: PageStore | None = None,
        supporters_of: Callable[[str], Awaitable[frozenset[str]]] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.hub = hub
        self.keys = keys
        self.esc = escalations
        self.staff = staff
        self.audit = audit
        self.clock = clock
        self._add_member = add_member
        self.pages = pages  # silence watches (issue 13)
        self._supporters_of = supporters_of  # a direct room's current supporters
        # Wakes the pager (services/pager.py) when an alert is raised: with no console
        # open anywhere it is paged at once, not at the pager's next pass.
        self.on_raise: Callable[[], None] = lambda: None
        self._roles: dict[str, tuple[str, ...]] = {}
        hub.on(Paged, self._on_page)
        hub.on(AlertTaken, self._on_taken)

    @staticmethod
    def consumer_name() -> str:
        # Unique per process run: a restarted process must not inherit a dead one's entries
        # silently; they come to it (or another) through XAUTOCLAIM like any orphan.
        return f"{os.uname().nodename}-{os.getpid()}-{secrets.token_hex(3)}"

    @property
    def ack_ms(self) -> int:
        return self.settings.program.ack_seconds * 1000

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # ---- raising --------------------------------------------------------------------------

    async def raise_alert(
        self,
        room: str,
        message: str,
        text: str,
        category: str,
        reason: str = REASON_MESSAGE,
        escalation: str | None = None,
    ) -> str:
        escalation = escalation or "e-" + new_id()
        excerpt = text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"
        sealed = self.keys.seal(excerpt.encode(), "esc", escalation)
        await self.esc.add(escalation, room, message, sealed, category, self._now_ms(), reason)
        self.on_raise()
        await self.audit.record(
            "system", "escalation.raised", escalation, room=room, message=message, why=reason
        )
        log.warning("crisis escalation raised (%s, %s)", category or "urgent", reason)
        return escalation

    # ---- silence (issue 13) ---------------------------------------------------------------

    async def watch_silence(self, person: str, room: str, message: str, category: str) -> None:
        """After an urgent or concern flag: if the person then writes nothing in the room
        for `silence_minutes`, and no staff member writes there, the pager raises a
        `silence` alert (services/pager.py). A newer flag starts the watch again."""
        if self.pages is None:
            return
        now = self._now_ms()
        due = silence_due_ms(now, self.settings.program.silence_minutes)
        await self.pages.watch(room, person, message, category, now, due)

    async def forget_silences(self, erased: set[tuple[str, str]]) -> None:
        if self.pages is not None:
            await self.pages.forget_watches(erased)

    async def _supporters(self, room: str) -> frozenset[str]:
        if self._supporters_of is None or not room.startswith(DIRECT_ROOM_PREFIX):
            return frozenset()
        return await self._supporters_of(room)

    # ---- the ladder -----------------------------------------------------------------------

    async def run(self) -> None:
        grouped = False
        while True:
            try:
                if not grouped:
                    # Also after Redis lost its data (the group went with it).
                    await self.esc.ensure_group()
                    grouped = True
                await self.esc.read_new(LOOP_MS)
                await self.esc.claim_orphans()
                mine = await self.esc.mine()
                if mine:
                    roster = await self.roster()
                    for stream_id, escalation in mine.items():
                        await self._advance(stream_id, escalation, roster)
            except StoreUnavailable:
                await asyncio.sleep(1.0)
            except ResponseError as exc:
                grouped = "NOGROUP" not in str(exc)
                if grouped:
                    log.exception("escalation loop failed; retrying")
                await asyncio.sleep(0.1 if not grouped else 1.0)
            except Exception:  # the ladder must outlive any one bad record
                log.exception("escalation loop failed; retrying")
                await asyncio.sleep(1.0)

    async def roster(self) -> list[Online]:
        online = await self.staff.online(self.clock())
        on_call = await self.esc.on_call()
        people = []
        for uid in online:
            roles = self._roles.get(uid)
            if roles is None:
                account = await self.staff.get(uid)
                if account is None or account.disabled:
                    continue
                roles = self._roles[uid] = account.roles
            people.append(Online(uid, roles, uid in on_call))
        return people

    async def _advance(self, stream_id: str, escalation: str, roster: list[Online]) -> None:
        alert = await self.esc.get(escalation)
        if alert is None or alert.taken_by:
            await self.esc.ack_entry(stream_id)  # taken (or gone): nothing left to page
            return
        now = self._now_ms()
        supporters = await self._supporters(alert.room)
        state = AlertState(alert.rung, alert.deadline_ms, False)
        decided = step(state, now, roster, self.ack_ms, supporters)
        if not decided.page:
            return
        await self.esc.set_rung(escalation, decided.rung, decided.deadline_ms)
        await self.store.publish_control(Paged(escalation, sorted(decided.recipients)))
        await self.audit.record(
            "system",
            "escalation.paged",
            escalation,
            rung=str(decided.rung),
            paged=str(len(decided.recipients)),
        )
        # SECURITY.md P6: each disclosure of the excerpt, with its recipient, the discloser
        # (the system), the UTC time (the record's) and the nature (the category).
        for uid in sorted(decided.recipients):
            await self.audit.record(
                "system",
                "escalation.disclosed",
                escalation,
                to=uid,
                nature=alert.category or "urgent",
            )

    def _on_page(self, event: Paged) -> None:
        local = [c for uid in event.to for c in self.hub.people.get(uid, ())]
        if local:
            self.hub.spawn(self._send_alert(event.escalation, local))

    async def _send_alert(self, escalation: str, conns: list[Connection]) -> None:
        with contextlib.suppress(StoreUnavailable):
            alert = await self.esc.get(escalation)
            if alert is None or alert.taken_by:
                return
            frame = self.alert_frame(alert)
            if frame is not None:
                for conn in conns:
                    conn.send(frame)

    def alert_frame(self, alert: Escalation) -> str | None:
        try:
            if not alert.blob:
                excerpt = "(the excerpt has expired with the content; open the room)"
            else:
                excerpt = self.keys.open(alert.key_id, alert.blob, "esc", alert.escalation).decode()
        except (InvalidTag, KeyError, ValueError):
            log.error("an escalation excerpt does not open with the data keys")
            excerpt = "(the excerpt cannot be read: check the data keys; open the room)"
        program_room = self.settings.program.room(alert.room)
        return encode(
            frames.alert(
                alert.escalation,
                alert.room,
                program_room.name if program_room else _place(alert.room),
                excerpt,
                alert.category,
                alert.deadline_ms,
                alert.rung,
                alert.created_ms,
                alert.reason,
                message=alert.message,
            )
        )

    async def open_alerts_for(self, person: Person) -> list[str]:
        """Frames of the alerts still open that the ladder pages this person for now."""
        found = []
        roster = None
        for escalation in await self.esc.open_ids():
            alert = await self.esc.get(escalation)
            if alert is None or alert.taken_by or alert.rung == 0:
                continue
            roster = roster if roster is not None else await self.roster()
            if person.pid in recipients(alert.rung, roster, await self._supporters(alert.room)):
                frame = self.alert_frame(alert)
                if frame is not None:
                    found.append(frame)
        return found

    # ---- people ---------------------------------------------------------------------------

    async def acknowledge(self, conn: Connection, frame: AckAlert) -> None:
        person = conn.person
        alert = await self.esc.get(frame.escalation)
        if alert is None or not await self.esc.take(frame.escalation, person.pid, self._now_ms()):
            raise Refusal(ErrorCode.ALREADY_TAKEN, "already taken, or no such alert")
        taken = frames.alert_taken(frame.escalation, person.name)
        conn.send(encode(with_ref(dict(taken), frame.ref)))
        await self.store.publish_control(AlertTaken(encode(taken), skip=conn.id))
        if alert.room.startswith(DIRECT_ROOM_PREFIX):
            # The person who took it must be able to open the private chat it came from.
            await self._add_member(alert.room, person.pid)
        try:
            await self.audit.record(person.pid, "escalation.acknowledged", frame.escalation)
        except StoreUnavailable:
            # The person has it; an audit outage must not make them doubt that. The
            # escalation hash keeps who took it and when.
            log.error("escalation taken by staff %s but the audit record failed", person.pid)
        log.info("crisis escalation taken by staff %s", person.pid)

    def _on_taken(self, event: AlertTaken) -> None:
        for conns in list(self.hub.people.values()):
            for conn in list(conns):
                if not conn.person.is_participant and conn.id != event.skip:
                    conn.send(event.frame)

    async def on_call(self, conn: Connection, frame: OnCall) -> None:
        await self.esc.set_on_call(conn.person.pid, frame.on)
        conn.send(encode(with_ref(frames.on_call(frame.on), frame.ref)))
        action = "on_call.on" if frame.on else "on_call.off"
        await self.audit.record(conn.person.pid, action, conn.person.pid)


def _place(room: str) -> str:
    return "Private chat" if room else TOPIC_PLACE  # room "": a support request's topic
