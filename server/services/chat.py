"""One socket's conversation: each client frame decoded, authorised, applied and answered.

Every refusal is an `error` frame with a protocol code, the frame's `ref`, and no change to
anything; only the codes PROTOCOL.md marks as closing (1003, 1008, 1009, 4001) end a socket.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from server.config import Settings
from server.core import frames
from server.core.messages import Plain, pack
from server.core.metrics import Metrics
from server.core.people import ACTIVITY_WRITE_SECONDS, may_join_group_rooms, may_send
from server.core.protocol import (
    PROTOCOL_VERSION,
    AcceptInvite,
    AckAlert,
    Active,
    CancelSupport,
    Claim,
    ClientFrame,
    DeclineInvite,
    End,
    ErrorCode,
    Feedback,
    FrameError,
    InviteDirect,
    Join,
    Leave,
    Note,
    OnCall,
    Ping,
    Refusal,
    Report,
    RequestSupport,
    Say,
    Status,
    Transfer,
    Typing,
    Wrapup,
    decode,
    encode,
    error_frame,
    frame_type,
    with_ref,
)
from server.core.ratelimit import Rate
from server.core.rooms import DIRECT_ROOM_PREFIX, decide_join, tries_invite
from server.crypto import KeyRing
from server.store import RateLimited, Store, StoreUnavailable, parse_id
from server.ws.connection import Connection
from server.ws.hub import Hub
from server.ws.paging import bound_history, history_budget

if TYPE_CHECKING:
    from server.services.crisis import Crisis
    from server.services.desk import Desk
    from server.services.escalation import Escalations
    from server.services.invites import Invites
    from server.services.staffview import StaffView

log = logging.getLogger(__name__)


TYPING_INTERVAL_SECONDS = 1.0  # PROTOCOL.md: at most one typing signal a second a sender
# Any frame, not only `say`, costs a token from a second, looser bucket, so a flood of joins
# or pings cannot be used to keep the process busy.
FRAME_RATE_FACTOR = 10
INVITE_WINDOW_SECONDS = 60  # PEERLINE_INVITE_ATTEMPTS_PER_MINUTE counts a minute


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    store: Store
    hub: Hub
    keys: KeyRing
    metrics: Metrics
    clock: Callable[[], float]
    desk: Desk  # one-to-one support and staff
    crisis: Crisis
    escalations: Escalations  # crisis alerts
    staff_view: StaffView  # flag marks and topics, for staff only
    invites: Invites  # invitations from a group room to a private chat


class Conversation:
    def __init__(self, ctx: Context, conn: Connection) -> None:
        self.ctx = ctx
        self.conn = conn
        now = ctx.clock()
        s = ctx.settings
        # `say` is paced per person across every socket and process, by the store;
        # frames per person on this process, by the hub (both survive a reconnect).
        self.say_rate = Rate(s.rate_per_minute, s.rate_burst)
        self.frame_bucket = ctx.hub.frame_bucket(
            conn.person.pid,
            s.rate_per_minute * FRAME_RATE_FACTOR,
            s.rate_burst * FRAME_RATE_FACTOR,
            now,
        )
        self.invites: frozenset[str] = frozenset()
        self.address = ""  # the keyed hash of the client's address, for per-address limits
        # For staff: records activity for the idle limit (W14), at most once a minute.
        self.touch: Callable[[], Awaitable[None]] | None = None
        self.touched = now

    def hello(self, direct_rooms: list[str]) -> str:
        return encode(frames.hello(PROTOCOL_VERSION, self.you(), direct_rooms))

    def you(self) -> dict[str, Any]:
        person = self.conn.person
        you: dict[str, Any] = {
            "name": person.name,
            "role": person.role,
            "roles": list(person.roles),
        }
        if not person.is_participant:
            you["id"] = person.pid  # staff ids are random; used to pick a transfer target
        return you

    def refuse(self, code: ErrorCode, detail: str, ref: str | None) -> None:
        self.ctx.metrics.errors[code.value] += 1
        self.conn.send(error_frame(code, detail, ref))

    async def receive(self, raw: str) -> None:
        # Every frame pays, garbage included, before any work is spent on it.
        limited = not self.frame_bucket.allow(self.ctx.clock())
        try:
            frame = decode(raw)
        except FrameError as exc:
            if limited:
                self.refuse(ErrorCode.RATE_LIMITED, "too many frames; slow down", exc.ref)
            else:
                self.refuse(exc.code, exc.detail, exc.ref)
            return
        if limited:
            self.refuse(ErrorCode.RATE_LIMITED, "too many frames; slow down", frame.ref)
            return
        if not may_send(self.conn.person.roles, frame_type(frame)):
            self.refuse(ErrorCode.FORBIDDEN, "this frame is not for your role", frame.ref)
            return
        self._activity(frame)
        try:
            await self.apply(frame)
        except Refusal as exc:
            self.refuse(exc.code, exc.detail, frame.ref)
        except StoreUnavailable:
            self.ctx.metrics.store_unavailable += 1
            self.refuse(ErrorCode.UNAVAILABLE, "storage is unavailable; retry shortly", frame.ref)
        except Exception:
            # Last resort (W8): the frame is refused, the socket and the process stay up.
            log.exception("frame handler failed for a %s frame", type(frame).__name__)
            self.refuse(ErrorCode.INTERNAL, "internal error", frame.ref)

    def _activity(self, frame: ClientFrame) -> None:
        if self.touch is None or isinstance(frame, Ping):
            return
        now = self.ctx.clock()
        if now - self.touched >= ACTIVITY_WRITE_SECONDS:
            self.touched = now
            self._spawn(self.touch())

    async def apply(self, frame: ClientFrame) -> None:
        desk = self.ctx.desk
        match frame:
            case Say():
                await self.say(frame)
            case Join():
                await self.join(frame)
            case Leave():
                await self.ctx.hub.leave(self.conn, frame.room)
                self.conn.send(encode(with_ref(frames.left(frame.room), frame.ref)))
            case Typing():
                self.typing(frame)
            case Ping():
                self.conn.send(encode(with_ref(frames.pong(), frame.ref)))
            case Report():
                await self.report(frame)
            case Active():
                pass  # activity is recorded above; nothing to answer
            case AckAlert():
                await self.ctx.escalations.acknowledge(self.conn, frame)
            case OnCall():
                await self.ctx.escalations.on_call(self.conn, frame)
            case RequestSupport():
                await desk.request_support(self.conn, frame, self.ctx.crisis)
            case CancelSupport():
                await desk.cancel_support(self.conn, frame)
            case Feedback():
                await desk.feedback(self.conn, frame)
            case Claim():
                await desk.claim(self.conn, frame)
            case Note():
                await desk.note(self.conn, frame)
            case End():
                await desk.end(self.conn, frame)
            case Transfer():
                await desk.transfer(self.conn, frame)
            case Wrapup():
                await desk.wrapup(self.conn, frame)
            case Status():
                await desk.status(self.conn, frame)
            case InviteDirect():
                await self.ctx.invites.invite(self.conn, frame)
            case AcceptInvite():
                await self.ctx.invites.accept(self.conn, frame)
            case DeclineInvite():
                await self.ctx.invites.decline(self.conn, frame)

    async def join(self, frame: Join) -> None:
        person = self.conn.person
        room = frame.room
        closed = direct = False
        chat: tuple[str | None, str] | None = None
        if room.startswith(DIRECT_ROOM_PREFIX):
            found = await self.ctx.desk.direct_room_for(person, room)
            closed, direct = found.ended_ms is not None, True
            if not person.is_participant:  # what they asked about, again after a reload
                chat = (self.ctx.staff_view.topic_of(found), found.priority)
        elif not await self._may_join_group(frame):
            return
        if not person.is_participant:
            # L1: every staff content access is audited before the content is shown.
            await self.ctx.escalations.audit.record(person.pid, "room.open", room)
        self.conn.begin_join(room)
        try:
            await self.ctx.hub.enter(self.conn, room)
            history = await self.ctx.store.history(room, frame.since)
            rendered = [self.ctx.hub.render(m) for m in history.messages]
            if not person.is_participant and rendered:  # staff see which ones were flagged
                ids = [m.id for m in history.messages]
                await self.ctx.staff_view.mark_history(room, rendered, ids)
        except BaseException:
            await self.ctx.hub.leave(self.conn, room)
            raise
        cursor = parse_id(frame.since) if frame.since and not history.reset else (0, 0)
        page = bound_history(
            [(parse_id(m.id), text) for m, text in zip(history.messages, rendered, strict=True)],
            forward=bool(frame.since) and not history.reset,
            budget=history_budget(self.conn.outbox_chars),
        )
        if page.cursor is not None:
            cursor = page.cursor
        more = history.more or page.cut
        raw = [_Raw(text) for text in page.messages]
        program_room = self.ctx.settings.program.room(room)
        name = program_room.name if program_room else "Private chat"
        joined = with_ref(frames.joined(room, name, raw, more, history.reset, chat=chat), frame.ref)
        self.conn.send(_encode_with_raw(joined))
        self.conn.finish_join(room, cursor, live=not more)
        view = self.conn.rooms.get(room)
        if view is not None:
            view.closed = closed
        if direct and not person.is_participant:
            self.conn.send(await self.ctx.desk.notes_frame(room))
            if not closed:
                await self._announce(room)
        # The join has happened; a presence count that cannot be had now is not an error
        # for it (the next change, or the 30 s refresh, brings the count).
        try:
            count = await self.ctx.store.presence(room, f"{person.pid}|{self.conn.id}", True)
        except StoreUnavailable:
            return
        self.conn.send(encode(frames.presence(room, count)))

    async def _announce(self, room: str) -> None:
        # Issue 13: the participant learns who joined. The join itself has happened, so an
        # outage here is logged, not answered as an error of the join.
        try:
            await self.ctx.desk.announce_join(self.conn.person, room)
        except StoreUnavailable:
            log.error("could not announce staff %s joining a direct room", self.conn.person.pid)

    async def _may_join_group(self, frame: Join) -> bool:
        person = self.conn.person
        program = self.ctx.settings.program
        if not may_join_group_rooms(person.roles):
            self.refuse(ErrorCode.FORBIDDEN, "your role does not join group rooms", frame.ref)
            return False
        if not person.is_participant:
            # Facilitators run every group room, invite-only ones included.
            if program.room(frame.room) is None:
                self.refuse(ErrorCode.NO_SUCH_ROOM, "there is no such room", frame.ref)
                return False
            return True
        if tries_invite(program, frame.room, invites=self.invites, invite=frame.invite):
            limit = self.ctx.settings.invite_attempts_per_minute
            store = self.ctx.store
            tries = (
                await store.count_recent(f"inv:s:{person.pid}", INVITE_WINDOW_SECONDS),
                await store.count_recent(f"inv:a:{self.address}", INVITE_WINDOW_SECONDS),
            )
            if max(tries) > limit:
                raise Refusal(ErrorCode.RATE_LIMITED, "too many invite codes tried; wait a minute")
        decision = decide_join(program, frame.room, invites=self.invites, invite=frame.invite)
        if decision.error is not None:
            self.refuse(decision.error, decision.detail, frame.ref)
            return False
        if decision.remember_invite:
            self.invites = self.invites | {frame.room}
            await self.ctx.store.add_invite(person.digest, frame.room)
        return True

    async def say(self, frame: Say) -> None:
        view = self.conn.rooms.get(frame.room)
        if view is None:
            self.refuse(ErrorCode.NOT_MEMBER, "join the room first", frame.ref)
            return
        if view.closed:
            self.refuse(ErrorCode.FORBIDDEN, "this chat has ended", frame.ref)
            return
        now = self.ctx.clock()
        if self.conn.muted_until > now * 1000:
            minutes = max(1, round((self.conn.muted_until - now * 1000) / 60_000))
            detail = f"a moderator paused your messages; you can write again in {minutes} min"
            self.refuse(ErrorCode.MUTED, detail, frame.ref)
            return
        person = self.conn.person
        crisis = self.ctx.crisis if person.is_participant else None
        assessment = crisis.assess(frame.text) if crisis is not None else None
        flagged = assessment is not None and assessment.label != "none"
        if flagged:
            assert crisis is not None
            # DESIGN promise 2: resources at once, before anything else can go wrong.
            self.conn.send(crisis.notice(frame.room, frame.text))
        payload = pack(Plain(frame.text, person.name, person.role, person.pid))
        keys, room = self.ctx.keys, frame.room

        def seal(message_id: str) -> tuple[str, bytes]:
            return keys.seal(payload, room, message_id)

        self.conn.hold()
        try:
            try:
                result = await self.ctx.store.append(
                    room,
                    person.pid,
                    frame.nonce,
                    seal,
                    self.ctx.settings.retention_seconds,
                    self.say_rate,
                )
            except RateLimited as exc:
                wait = max(0.1, exc.retry_after_seconds)
                raise Refusal(
                    ErrorCode.RATE_LIMITED, f"too many messages; wait {wait:.1f} s"
                ) from None
            if result.created:
                self.ctx.metrics.messages_stored += 1
            if flagged:
                # Also for a resent duplicate: if the first attempt stored the message but
                # failed before its alert was raised, the retry raises it (once: see stored).
                assert crisis is not None and assessment is not None
                await crisis.stored(person.pid, room, result.id, frame.text, assessment)
            ack = frames.ack(room, frame.nonce, result.id)
            self.conn.send(encode(with_ref(ack, frame.ref)))
        finally:
            self.conn.release()

    def typing(self, frame: Typing) -> None:
        view = self.conn.rooms.get(frame.room)
        if view is None:
            self.refuse(ErrorCode.NOT_MEMBER, "join the room first", frame.ref)
            return
        now = self.ctx.clock()
        if now - view.last_typing < TYPING_INTERVAL_SECONDS:
            return  # dropped quietly: typing is a hint, not a message
        view.last_typing = now
        signal = encode(frames.typing(frame.room, self.conn.person.name))
        # Fire and forget through the store's writer: a lost typing hint harms nobody.
        self._spawn(self.ctx.store.publish_signal(frame.room, self.conn.person.pid, signal))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        task.add_done_callback(_swallow)

    async def report(self, frame: Report) -> None:
        if frame.room not in self.conn.rooms:
            self.refuse(ErrorCode.NOT_MEMBER, "join the room first", frame.ref)
            return
        if await self.ctx.store.message(frame.room, frame.message) is None:
            self.refuse(ErrorCode.BAD_FRAME, "no such message in this room", frame.ref)
            return
        key_id, sealed = self.ctx.keys.seal(
            frame.reason.encode(), "report", frame.room, frame.message
        )
        # The reporter is not recorded: the reported person must never learn who it was.
        await self.ctx.store.add_report(
            {"room": frame.room, "message": frame.message, "k": key_id, "d": sealed}
        )
        self.conn.send(encode(with_ref(frames.reported(frame.message), frame.ref)))


def _swallow(task: Any) -> None:
    if not task.cancelled():
        task.exception()


class _Raw(str):
    """An already-encoded JSON value to splice into a frame without decoding it again."""


def _encode_with_raw(frame: dict[str, Any]) -> str:
    history: list[_Raw] = frame.pop("history")
    head = encode(frame)
    return head[:-1] + ',"history":[' + ",".join(history) + "]}"
