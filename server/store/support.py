"""The support queue and direct rooms in Redis: tickets, atomic claims, membership, notes,
wrap-ups and feedback.

Keys (P = prefix):
- `P q` sorted set ticket -> priority rank * 1e13 + ms waiting since: urgent, then concern,
  then normal, each oldest first. `P t:<ticket>` hash: pid, since, pr, tk/td (the topic,
  sealed), room (set when a chat went back to the queue). `P tp:<pid>` -> the ticket a
  participant waits on.
- `P dm:<room>` hash: p (participant id), pr (priority), s:<staff id> = 1 current member or
  0 former member, ended (ms), fb (feedback given), w:<staff id> (wrapped up), tt/tk/td
  (the topic, sealed under the ticket id tt), a:<staff id> (their joining was announced),
  x:<staff id> (they came in by taking a crisis alert). `P my:<person id>` set of the person's
  direct rooms that have not ended. `P dms` set of direct rooms (for the purge job).
- `P notes:{room}` stream of staff notes: i (note id), k, d (sealed JSON). Apart from
  messages, so no participant path (history, erase, export) can reach them.
- `P wrapups` stream: topic, outcome, referral. `P feedback` stream: rating, i, k, d (the
  comment, sealed). Neither names a room, a participant or a staff member.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from server.core.rooms import DIRECT_ROOM_PREFIX
from server.store.keys import KeySpace
from server.store.redis import call

PRIORITY_RANK = {"urgent": 0, "concern": 1, "normal": 2}
RANK_SPAN = 10**13  # above any epoch ms for centuries; rank * span + ms stays exact in a double
QUEUE_SHOWN = 200  # a console shows at most this many waiting tickets


@dataclass(frozen=True, slots=True)
class Ticket:
    ticket: str
    pid: str
    since_ms: int
    priority: str
    topic_key: str
    topic_blob: bytes
    room: str


@dataclass(frozen=True, slots=True)
class DirectRoom:
    room: str
    pid: str
    priority: str
    staff: frozenset[str]  # current staff members
    former: frozenset[str]  # staff who were members (transferred away)
    ended_ms: int | None
    feedback_given: bool
    topic: tuple[str, str, bytes] | None = None  # (ticket it was sealed under, key id, blob)

    def has_member(self, person: str) -> bool:
        return person == self.pid or person in self.staff


# KEYS: queue, tp:<pid>, t:<ticket>. ARGV: ticket, pid, since ms, priority, score, tk, td,
# room. One waiting ticket per participant: asking again returns the one that waits.
OPEN_LUA = """
local existing = redis.call('GET', KEYS[2])
if existing and redis.call('ZSCORE', KEYS[1], existing) then return {0, existing} end
redis.call('HSET', KEYS[3], 'pid', ARGV[2], 'since', ARGV[3], 'pr', ARGV[4],
  'tk', ARGV[6], 'td', ARGV[7], 'room', ARGV[8])
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[1])
redis.call('SET', KEYS[2], ARGV[1])
return {1, ARGV[1]}
"""

# KEYS: queue, t:<ticket>. ARGV: prefix, ticket, staff id, new room id, ttl ms.
# ZREM decides the race: exactly one claimer removes the ticket; everyone else gets 0.
CLAIM_LUA = """
if redis.call('ZREM', KEYS[1], ARGV[2]) == 0 then return {0} end
local pid = redis.call('HGET', KEYS[2], 'pid')
if not pid then return {0} end
local room = redis.call('HGET', KEYS[2], 'room')
if not room or room == '' then room = ARGV[4] end
local pr = redis.call('HGET', KEYS[2], 'pr') or 'normal'
local tk = redis.call('HGET', KEYS[2], 'tk') or ''
local td = redis.call('HGET', KEYS[2], 'td') or ''
local tt = ARGV[2]
if td == '' then tk, tt = '', '' end
redis.call('DEL', KEYS[2])
local tp = ARGV[1] .. 'tp:' .. pid
if redis.call('GET', tp) == ARGV[2] then redis.call('DEL', tp) end
local dm = ARGV[1] .. 'dm:' .. room
redis.call('HSET', dm, 'p', pid, 'pr', pr, 's:' .. ARGV[3], '1')
-- The topic stays with the room (sealed under the ticket it came with), so a chat handed
-- back to the queue still says what the person wanted to talk about.
if td ~= '' then redis.call('HSET', dm, 'tt', tt, 'tk', tk, 'td', td) end
redis.call('PEXPIRE', dm, ARGV[5])
redis.call('SADD', ARGV[1] .. 'my:' .. pid, room)
redis.call('SADD', ARGV[1] .. 'my:' .. ARGV[3], room)
redis.call('SADD', ARGV[1] .. 'dms', room)
return {1, room, pid}
"""

# KEYS: queue, tp:<pid>. ARGV: prefix. Returns the cancelled ticket or false.
CANCEL_LUA = """
local ticket = redis.call('GET', KEYS[2])
if not ticket then return false end
redis.call('DEL', KEYS[2])
if redis.call('ZREM', KEYS[1], ticket) == 0 then return false end
redis.call('DEL', ARGV[1] .. 't:' .. ticket)
return ticket
"""


# KEYS: queue, tp:<pid>, my:<pid>. ARGV: prefix, priority, its rank, rank span.
# Lifts the waiting ticket (keeping its age) and the person's open chats; never lowers.
RAISE_LUA = """
local rank = tonumber(ARGV[3])
local ranks = {urgent = 0, concern = 1, normal = 2}
local moved = 0
local ticket = redis.call('GET', KEYS[2])
if ticket then
  local t = ARGV[1] .. 't:' .. ticket
  local pr = redis.call('HGET', t, 'pr')
  if pr and ranks[pr] > rank and redis.call('ZSCORE', KEYS[1], ticket) then
    local since = tonumber(redis.call('HGET', t, 'since'))
    redis.call('HSET', t, 'pr', ARGV[2])
    redis.call('ZADD', KEYS[1], rank * tonumber(ARGV[4]) + since, ticket)
    moved = 1
  end
end
for _, room in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local dm = ARGV[1] .. 'dm:' .. room
  local pr = redis.call('HGET', dm, 'pr')
  if pr and ranks[pr] > rank then redis.call('HSET', dm, 'pr', ARGV[2]) end
end
return moved
"""


class SupportStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._r = redis
        self._p = prefix
        self._k = KeySpace(prefix)
        self._open = redis.register_script(OPEN_LUA)
        self._claim = redis.register_script(CLAIM_LUA)
        self._cancel = redis.register_script(CANCEL_LUA)
        self._raise = redis.register_script(RAISE_LUA)

    @property
    def _queue(self) -> str:
        return self._k.queue

    def _dm(self, room: str) -> str:
        return self._k.direct_room(room)

    def _mine(self, person: str) -> str:
        return self._k.rooms_of(person)

    # ---- tickets --------------------------------------------------------------------------

    async def open_ticket(
        self,
        ticket: str,
        pid: str,
        now_ms: int,
        priority: str,
        topic: tuple[str, bytes] | None,
        room: str = "",
    ) -> tuple[str, bool]:
        """(the participant's waiting ticket, whether it is new)."""
        key_id, blob = topic or ("", b"")
        created, found = await call(
            self._open(
                keys=[self._queue, self._k.ticket_of(pid), self._k.ticket(ticket)],
                args=[
                    ticket,
                    pid,
                    now_ms,
                    priority,
                    PRIORITY_RANK[priority] * RANK_SPAN + now_ms,
                    key_id,
                    blob,
                    room,
                ],
            )
        )
        return found.decode(), bool(created)

    async def cancel_ticket(self, pid: str) -> str | None:
        found = await call(self._cancel(keys=[self._queue, self._k.ticket_of(pid)], args=[self._p]))
        return found.decode() if found else None

    async def waiting(self) -> list[Ticket]:
        tickets = await call(self._r.zrange(self._queue, 0, QUEUE_SHOWN - 1))
        if not tickets:
            return []
        pipe = self._r.pipeline(transaction=False)
        for ticket in tickets:
            pipe.hgetall(self._k.ticket(ticket.decode()))
        found = await call(pipe.execute())
        return [
            Ticket(
                ticket=t.decode(),
                pid=f[b"pid"].decode(),
                since_ms=int(f[b"since"]),
                priority=f[b"pr"].decode(),
                topic_key=f.get(b"tk", b"").decode(),
                topic_blob=f.get(b"td", b""),
                room=f.get(b"room", b"").decode(),
            )
            for t, f in zip(tickets, found, strict=True)
            if f
        ]

    async def claim(
        self, ticket: str, uid: str, new_room: str, ttl_ms: int
    ) -> tuple[str, str] | None:
        """(room, participant id) for the one claimer that won, None for everyone else."""
        result = await call(
            self._claim(
                keys=[self._queue, self._k.ticket(ticket)],
                args=[self._p, ticket, uid, new_room, ttl_ms],
            )
        )
        if not result or result[0] == 0:
            return None
        return result[1].decode(), result[2].decode()

    # ---- direct rooms ---------------------------------------------------------------------

    async def direct_room(self, room: str) -> DirectRoom | None:
        if not room.startswith(DIRECT_ROOM_PREFIX):
            return None  # a group room id, or anything else a client sent: never a lookup
        found = await call(self._r.hgetall(self._dm(room)))
        if not found or b"p" not in found:
            return None
        staff = {k[2:].decode(): v == b"1" for k, v in found.items() if k.startswith(b"s:")}
        ended = found.get(b"ended")
        return DirectRoom(
            room=room,
            pid=found[b"p"].decode(),
            priority=found.get(b"pr", b"normal").decode(),
            staff=frozenset(uid for uid, now in staff.items() if now),
            former=frozenset(uid for uid, now in staff.items() if not now),
            ended_ms=int(ended) if ended else None,
            feedback_given=b"fb" in found,
            topic=(found[b"tt"].decode(), found[b"tk"].decode(), found[b"td"])
            if found.get(b"td")
            else None,
        )

    async def rooms_of(self, person: str) -> list[str]:
        return sorted(r.decode() for r in await call(self._r.smembers(self._mine(person))))

    async def hand_over(self, room: str, from_uid: str, to_uid: str) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(self._dm(room), mapping={f"s:{from_uid}": "0", f"s:{to_uid}": "1"})
        pipe.hdel(self._dm(room), f"a:{from_uid}", f"x:{from_uid}")  # back later: announced
        pipe.srem(self._mine(from_uid), room)
        pipe.sadd(self._mine(to_uid), room)
        await call(pipe.execute())

    async def step_out(self, room: str, uid: str) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(self._dm(room), f"s:{uid}", "0")
        pipe.hdel(self._dm(room), f"a:{uid}", f"x:{uid}")  # back later: announced again
        pipe.srem(self._mine(uid), room)
        await call(pipe.execute())

    async def end(self, room: str, members: list[str], now_ms: int) -> bool:
        """Marks the room ended; False when it already was (a second `end` changes nothing)."""
        first = await call(self._r.hsetnx(self._dm(room), "ended", now_ms))
        if not first:
            return False
        pipe = self._r.pipeline(transaction=False)
        for person in members:
            pipe.srem(self._mine(person), room)
        await call(pipe.execute())
        return True

    async def raise_priority(self, pid: str, priority: str) -> bool:
        """True when a waiting ticket moved up the queue."""
        moved = bool(
            await call(
                self._raise(
                    keys=[self._queue, self._k.ticket_of(pid), self._mine(pid)],
                    args=[self._p, priority, PRIORITY_RANK[priority], RANK_SPAN],
                )
            )
        )
        return moved

    async def add_staff(self, room: str, uid: str, *, via_alert: bool = False) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(self._dm(room), f"s:{uid}", "1")
        if via_alert:
            pipe.hset(self._dm(room), f"x:{uid}", "1")
        pipe.sadd(self._mine(uid), room)
        await call(pipe.execute())

    async def first_join(self, room: str, uid: str) -> tuple[bool, bool]:
        """(whether this is the staff member's first join of the room since they became a
        member, whether a crisis alert brought them). HSETNX decides it once, across every
        socket and process of theirs."""
        pipe = self._r.pipeline(transaction=True)
        pipe.hsetnx(self._dm(room), f"a:{uid}", "1")
        pipe.hexists(self._dm(room), f"x:{uid}")
        first, via_alert = await call(pipe.execute())
        return bool(first), bool(via_alert)

    async def forget_join(self, room: str, uid: str) -> None:
        """The announcement of this join failed: the next join makes it."""
        await call(self._r.hdel(self._dm(room), f"a:{uid}"))

    async def mark_wrapup(self, room: str, uid: str) -> bool:
        """True the first time this staff member wraps this chat up."""
        return bool(await call(self._r.hsetnx(self._dm(room), f"w:{uid}", "1")))

    async def forget_topic(self, room: str) -> None:
        await call(self._r.hdel(self._dm(room), "tt", "tk", "td"))

    async def mark_feedback(self, room: str) -> bool:
        return bool(await call(self._r.hsetnx(self._dm(room), "fb", "1")))

    async def direct_rooms(self) -> list[str]:
        return sorted(r.decode() for r in await call(self._r.smembers(self._k.direct_rooms)))

    async def forget_room(self, room: str) -> None:
        await call(self._r.srem(self._k.direct_rooms, room))

    # ---- notes, wrap-ups, feedback --------------------------------------------------------

    def _notes(self, room: str) -> str:
        return self._k.notes(room)

    async def add_note(
        self, room: str, note_id: str, sealed: tuple[str, bytes], ttl_ms: int
    ) -> int:
        """Stores a note; returns its time (ms) from the stream id Redis gave it."""
        key = self._notes(room)
        pipe = self._r.pipeline(transaction=True)
        pipe.xadd(key, {"i": note_id, "k": sealed[0], "d": sealed[1]})
        pipe.pexpire(key, ttl_ms)
        entry_id, _ = await call(pipe.execute())
        return int(entry_id.decode().partition("-")[0])

    async def notes(self, room: str) -> list[tuple[str, int, str, bytes]]:
        """(note id, ms, key id, blob) oldest first."""
        entries = await call(self._r.xrange(self._notes(room)))
        return [
            (f[b"i"].decode(), int(eid.decode().partition("-")[0]), f[b"k"].decode(), f[b"d"])
            for eid, f in entries
        ]

    async def add_wrapup(self, topic: str, outcome: str, referral: bool) -> None:
        fields = {"topic": topic, "outcome": outcome, "referral": "1" if referral else "0"}
        await call(self._r.xadd(self._k.wrapups, fields))  # type: ignore[arg-type]

    async def add_feedback(self, rating: int, comment: tuple[str, str, bytes] | None) -> None:
        fields: dict[str, str | bytes] = {"rating": str(rating)}
        if comment is not None:
            fields.update(i=comment[0], k=comment[1], d=comment[2])
        await call(self._r.xadd(self._k.feedback, fields))  # type: ignore[arg-type]

    async def trim_notes(self, room: str, min_id: str) -> None:
        await call(self._r.xtrim(self._notes(room), minid=min_id, approximate=False))
