"""Crisis escalations in Redis: a stream read by a consumer group, one hash per alert.

Keys (P = prefix):
- `P esc` stream, consumer group `facilitators`: one entry per escalation (`e` = its id).
  The process that reads an entry owns its ladder; its pending entry is re-claimed by itself
  every loop (XCLAIM JUSTID resets the idle time), so an entry idle for longer than
  CLAIM_IDLE_MS means its owner died, and another process takes it with XAUTOCLAIM.
  Entries leave the pending list only when a person acknowledges (XACK); the app never
  trims this stream (SECURITY.md R4: pending entries are never trimmed).
- `P e:<id>` hash: room, msg, k/d (the excerpt, sealed), cat, created, rung, deadline,
  sid (stream id), taken (staff id), taken_at, why (reason: message or silence); paged,
  paged_why and pg:<n>:* (the out-of-band pages, server/store/pages.py). Kept: escalation
  metadata is a record.
- `P esc:open` set of escalations not yet taken.
- `P oncall` set of facilitators on call.
- `P e:m:{room}:<msg>` set of the escalations raised for one message (room "" and a ticket
  id for a support topic), so review can show what became of each (issue 13).
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from server.store.keys import KeySpace
from server.store.redis import call

GROUP = "facilitators"
CLAIM_IDLE_MS = 3_000  # an owner re-claims every 0.5 s; 3 s of silence means it died

# KEYS: alert hash, open set. ARGV: staff id, now ms, escalation id. Exactly one
# acknowledgement wins; it gets the stream id to XACK.
TAKE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local taken = redis.call('HGET', KEYS[1], 'taken')
if taken and taken ~= '' then return false end
redis.call('HSET', KEYS[1], 'taken', ARGV[1], 'taken_at', ARGV[2])
redis.call('SREM', KEYS[2], ARGV[3])
return redis.call('HGET', KEYS[1], 'sid')
"""


@dataclass(frozen=True, slots=True)
class Escalation:
    escalation: str
    room: str
    message: str
    key_id: str
    blob: bytes
    category: str
    created_ms: int
    rung: int
    deadline_ms: int
    stream_id: str
    taken_by: str
    reason: str = "message"  # issue 13: "message" or "silence"


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    escalation: str
    created_ms: int
    taken_by: str  # staff id, "" while nobody took it
    taken_ms: int  # 0 while nobody took it
    paged_ms: int  # 0: not paged out of band


def _ms(raw: bytes | None) -> int:
    """A time field read defensively: absent, empty or not a number counts as 0."""
    try:
        return int(raw) if raw else 0
    except ValueError:
        return 0


class EscalationStore:
    def __init__(self, redis: Redis, prefix: str, consumer: str) -> None:
        self._r = redis
        self._k = KeySpace(prefix)
        self.consumer = consumer
        self._take = redis.register_script(TAKE_LUA)

    @property
    def _stream(self) -> str:
        return self._k.escalations

    def _alert(self, escalation: str) -> str:
        return self._k.escalation(escalation)

    async def ensure_group(self) -> None:
        try:
            await call(self._r.xgroup_create(self._stream, GROUP, id="0", mkstream=True))
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def add(
        self,
        escalation: str,
        room: str,
        message: str,
        sealed: tuple[str, bytes],
        category: str,
        now_ms: int,
        reason: str = "message",
    ) -> None:
        key = self._alert(escalation)
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(
            key,
            mapping={
                "room": room,
                "msg": message,
                "k": sealed[0],
                "d": sealed[1],
                "cat": category,
                "created": now_ms,
                "rung": 0,
                "deadline": now_ms,
                "taken": "",
                "why": reason,
            },
        )
        pipe.sadd(self._k.open_escalations, escalation)
        pipe.sadd(self._k.escalations_of(room, message), escalation)
        pipe.xadd(self._stream, {"e": escalation})
        results = await call(pipe.execute())
        await call(self._r.hset(key, "sid", results[-1]))

    async def get(self, escalation: str) -> Escalation | None:
        found = await call(self._r.hgetall(self._alert(escalation)))
        if not found or b"room" not in found:
            return None
        return Escalation(
            escalation=escalation,
            room=found[b"room"].decode(),
            message=found[b"msg"].decode(),
            key_id=found.get(b"k", b"").decode(),
            blob=found.get(b"d", b""),  # empty once retention removed the excerpt
            category=found.get(b"cat", b"").decode(),
            created_ms=int(found[b"created"]),
            rung=int(found[b"rung"]),
            deadline_ms=int(found[b"deadline"]),
            stream_id=found.get(b"sid", b"").decode(),
            taken_by=found.get(b"taken", b"").decode(),
            reason=found.get(b"why", b"message").decode(),
        )

    async def set_rung(self, escalation: str, rung: int, deadline_ms: int) -> None:
        await call(
            self._r.hset(self._alert(escalation), mapping={"rung": rung, "deadline": deadline_ms})
        )

    async def open_ids(self) -> list[str]:
        return sorted(e.decode() for e in await call(self._r.smembers(self._k.open_escalations)))

    async def take(self, escalation: str, uid: str, now_ms: int) -> bool:
        """True for the one acknowledgement that wins; the entry leaves the pending list."""
        stream_id = await call(
            self._take(
                keys=[self._alert(escalation), self._k.open_escalations],
                args=[uid, now_ms, escalation],
            )
        )
        if not stream_id:
            return False
        await call(self._r.xack(self._stream, GROUP, stream_id))
        return True

    async def forget_excerpts_of(self, erased: set[tuple[str, str]]) -> int:
        """Escalations raised by erased messages keep their record, not the excerpt."""
        entries = await call(self._r.xrange(self._stream))
        removed = 0
        for _, fields in entries:
            key = self._alert(fields[b"e"].decode())
            room, message = await call(self._r.hmget(key, "room", "msg"))
            # room "" is a support topic's alert (issue 13): falsy, yet erasable.
            if room is not None and message and (room.decode(), message.decode()) in erased:
                removed += int(await call(self._r.hdel(key, "k", "d")))
        return removed

    async def forget_excerpts(self, min_id: str) -> int:
        """Escalations raised before `min_id` keep their record but lose the excerpt (P3:
        escalation records keep metadata, not content). Never trims the stream: pending
        entries must stay (R4)."""
        entries = await call(self._r.xrange(self._stream, "-", f"({min_id}", count=10_000))
        pipe = self._r.pipeline(transaction=False)
        for _, fields in entries:
            pipe.hdel(self._alert(fields[b"e"].decode()), "k", "d")
        removed = await call(pipe.execute()) if entries else []
        return sum(1 for r in removed if r)

    # ---- outcomes, for review (issue 13) -------------------------------------------------

    async def outcomes_of(self, room: str, message: str) -> list[AlertOutcome]:
        """What became of each alert raised for this message, oldest first. `paged` (ms)
        is set by server/store/pages.py when the alert's out-of-band pages are scheduled; a
        record without it was not paged out of band."""
        ids = sorted(
            e.decode() for e in await call(self._r.smembers(self._k.escalations_of(room, message)))
        )
        if not ids:
            return []
        pipe = self._r.pipeline(transaction=False)
        for escalation in ids:
            pipe.hmget(self._alert(escalation), "created", "taken", "taken_at", "paged")
        found = await call(pipe.execute())
        outcomes = [
            AlertOutcome(
                escalation=escalation,
                created_ms=_ms(created),
                taken_by=taken.decode() if taken else "",
                taken_ms=_ms(taken_at),
                paged_ms=_ms(paged),
            )
            for escalation, (created, taken, taken_at, paged) in zip(ids, found, strict=True)
            if created is not None
        ]
        return sorted(outcomes, key=lambda o: o.created_ms)

    # ---- the consumer group ---------------------------------------------------------------

    async def read_new(self, block_ms: int) -> list[str]:
        """Escalations nobody owns yet; they become this process's."""
        found = await call(
            self._r.xreadgroup(GROUP, self.consumer, {self._stream: ">"}, count=100, block=block_ms)
        )
        return [f[b"e"].decode() for _, entries in found or () for _, f in entries if f]

    async def claim_orphans(self) -> list[str]:
        """Escalations whose owner went silent (a dead process); they become this one's."""
        _, claimed, *_ = await call(
            self._r.xautoclaim(self._stream, GROUP, self.consumer, CLAIM_IDLE_MS, "0-0", count=100)
        )
        return [f[b"e"].decode() for _, f in claimed if f]

    async def mine(self) -> dict[str, str]:
        """This process's pending escalations: stream id -> escalation id, idle time reset."""
        pending = await call(
            self._r.xpending_range(
                self._stream, GROUP, min="-", max="+", count=1000, consumername=self.consumer
            )
        )
        ids = [p["message_id"] for p in pending]
        if not ids:
            return {}
        await call(self._r.xclaim(self._stream, GROUP, self.consumer, 0, ids, justid=True))
        mine: dict[str, str] = {}
        for stream_id in ids:
            entries = await call(self._r.xrange(self._stream, stream_id, stream_id))
            for sid, fields in entries:
                mine[sid.decode()] = fields[b"e"].decode()
        return mine

    async def ack_entry(self, stream_id: str) -> None:
        await call(self._r.xack(self._stream, GROUP, stream_id))

    # ---- on call --------------------------------------------------------------------------

    async def set_on_call(self, uid: str, on: bool) -> None:
        key = self._k.on_call
        await call(self._r.sadd(key, uid) if on else self._r.srem(key, uid))

    async def on_call(self) -> set[str]:
        return {u.decode() for u in await call(self._r.smembers(self._k.on_call))}
