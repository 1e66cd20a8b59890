"""Out-of-band pages and silence watches in Redis, shared by every process.

Keys (P = prefix):
- `P e:<id>` (the escalation's hash, server/store/escalations.py) also keeps its pages:
  `paged` (ms, set once: exactly one process schedules the pages), `paged_why`
  (no_console or not_taken), and for each page target n: `pg:<n>:n` (attempts so far),
  `pg:<n>:s` (pending, retry, sent, cancelled), `pg:<n>:at` (ms it ended).
- `P pg:due` sorted set "<escalation> <n>" -> ms the next attempt is due. A process claims a
  due delivery by moving it a lease ahead (one Lua call: exactly one process gets each
  attempt); it leaves the set only when sent or cancelled, so nothing is lost to a crash.
- `P sil:due` sorted set "<room> <person>" -> ms the person's silence becomes an alert.
- `P sil:{room}:<person>` hash: msg (the flagged message id), cat, at (flag ms), esc (the
  silence alert's id once fired). Expires a day after it is due.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from server.core.pages import PageCheck, delivery_member
from server.store.keys import KeySpace
from server.store.redis import call

WATCH_KEEP_MS = 86_400_000  # a watch nobody could fire (every process down) goes in a day
SCAN_MAX = 1000  # open escalations looked at per pass; more than any program has at once

# KEYS: escalation hash, due set. ARGV: now ms, why, number of targets, escalation id.
# Schedules every target once; 0 when taken, gone or already paged.
SCHEDULE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local taken = redis.call('HGET', KEYS[1], 'taken')
if taken and taken ~= '' then return 0 end
if redis.call('HSETNX', KEYS[1], 'paged', ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'paged_why', ARGV[2])
for i = 0, tonumber(ARGV[3]) - 1 do
  redis.call('HSET', KEYS[1], 'pg:' .. i .. ':n', 0, 'pg:' .. i .. ':s', 'pending')
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[4] .. ' ' .. i)
end
return 1
"""

# KEYS: a due set. ARGV: now ms, lease ms, count. The due members, each moved a lease ahead
# in the same call, so no other process gets them until the lease runs out.
CLAIM_LUA = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local until_ms = tonumber(ARGV[1]) + tonumber(ARGV[2])
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', until_ms, member) end
return due
"""

# KEYS: escalation hash, due set. ARGV: target, attempt, member, outcome (sent, cancelled or
# retry), ms (when it ended, or when the retry is due). Only the holder of the attempt may
# finish it: a late answer after the lease ran out changes nothing.
FINISH_LUA = """
local field = 'pg:' .. ARGV[1]
if redis.call('HGET', KEYS[1], field .. ':n') ~= ARGV[2] then return 0 end
if ARGV[4] == 'retry' then
  redis.call('ZADD', KEYS[2], 'XX', ARGV[5], ARGV[3])
  redis.call('HSET', KEYS[1], field .. ':s', 'retry')
else
  redis.call('ZREM', KEYS[2], ARGV[3])
  redis.call('HSET', KEYS[1], field .. ':s', ARGV[4], field .. ':at', ARGV[5])
end
return 1
"""

# KEYS: watch hash, due set. ARGV: the flagged message id, member. Ends the watch unless a
# newer flag replaced it.
END_WATCH_LUA = """
local msg = redis.call('HGET', KEYS[1], 'msg')
if msg and msg ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
"""


@dataclass(frozen=True, slots=True)
class Watch:
    room: str
    person: str
    message: str
    category: str
    flag_ms: int
    fired: str  # the silence alert's id, "" until it fires


@dataclass(frozen=True, slots=True)
class Sealed:
    """A message record as stored: its id and sealed payload (server/crypto.py)."""

    id: str
    key_id: str
    blob: bytes


class PageStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._r = redis
        self._k = KeySpace(prefix)
        self._schedule = redis.register_script(SCHEDULE_LUA)
        self._claim = redis.register_script(CLAIM_LUA)
        self._finish = redis.register_script(FINISH_LUA)
        self._end_watch = redis.register_script(END_WATCH_LUA)

    # ---- pages ----------------------------------------------------------------------------

    async def checks(self) -> list[PageCheck]:
        """The open escalations, with what the paging decision needs."""
        found = await call(self._r.srandmember(self._k.open_escalations, SCAN_MAX))
        ids = sorted(e.decode() for e in found or ())
        if not ids:
            return []
        pipe = self._r.pipeline(transaction=False)
        for escalation in ids:
            pipe.hmget(self._k.escalation(escalation), "created", "taken", "paged")
        rows = await call(pipe.execute())
        checks = []
        for escalation, (created, taken, paged) in zip(ids, rows, strict=True):
            if created is None:
                continue
            checks.append(PageCheck(escalation, int(created), bool(taken), bool(paged)))
        return checks

    async def schedule(self, escalation: str, targets: int, why: str, now_ms: int) -> bool:
        """True for the one process that schedules this alert's pages."""
        done = await call(
            self._schedule(
                keys=[self._k.escalation(escalation), self._k.page_due],
                args=[now_ms, why, targets, escalation],
            )
        )
        return bool(done)

    async def claim(self, now_ms: int, lease_ms: int, count: int) -> list[str]:
        due = await call(self._claim(keys=[self._k.page_due], args=[now_ms, lease_ms, count]))
        return [m.decode() for m in due]

    async def begin(self, escalation: str, target: int) -> int:
        """The number of the attempt this claim makes (1 for the first)."""
        field = f"pg:{target}:n"
        return int(await call(self._r.hincrby(self._k.escalation(escalation), field, 1)))

    async def finish(
        self, escalation: str, target: int, attempt: int, outcome: str, at_ms: int
    ) -> bool:
        keys = [self._k.escalation(escalation), self._k.page_due]
        member = delivery_member(escalation, target)
        args: list[str | int] = [target, attempt, member, outcome, at_ms]
        return bool(await call(self._finish(keys=keys, args=args)))

    async def drop(self, member: str) -> None:
        """A delivery whose escalation is gone (Redis lost it): nothing left to send."""
        await call(self._r.zrem(self._k.page_due, member))

    async def state(self, escalation: str, target: int) -> tuple[str, int]:
        """(state, attempts) of one delivery: for tests, benchmarks and operators."""
        s, n = await call(
            self._r.hmget(self._k.escalation(escalation), f"pg:{target}:s", f"pg:{target}:n")
        )
        return (s or b"").decode(), int(n or 0)

    async def pending(self) -> dict[str, int]:
        found = await call(self._r.zrange(self._k.page_due, 0, -1, withscores=True))
        return {m.decode(): int(score) for m, score in found}

    # ---- silence watches ------------------------------------------------------------------

    async def watch(
        self, room: str, person: str, message: str, category: str, now_ms: int, due_ms: int
    ) -> None:
        key = self._k.silence_watch(room, person)
        pipe = self._r.pipeline(transaction=True)
        pipe.delete(key)  # a newer flag starts the watch again, unfired
        pipe.hset(key, mapping={"msg": message, "cat": category, "at": now_ms})
        pipe.pexpire(key, due_ms - now_ms + WATCH_KEEP_MS)
        pipe.zadd(self._k.silence_due, {f"{room} {person}": due_ms})
        await call(pipe.execute())

    async def claim_watches(self, now_ms: int, lease_ms: int, count: int) -> list[str]:
        due = await call(self._claim(keys=[self._k.silence_due], args=[now_ms, lease_ms, count]))
        return [m.decode() for m in due]

    async def get_watch(self, member: str) -> Watch | None:
        room, _, person = member.partition(" ")
        found = await call(self._r.hgetall(self._k.silence_watch(room, person)))
        if not found or b"msg" not in found:
            return None
        return Watch(
            room=room,
            person=person,
            message=found[b"msg"].decode(),
            category=found.get(b"cat", b"").decode(),
            flag_ms=int(found.get(b"at", b"0")),
            fired=found.get(b"esc", b"").decode(),
        )

    async def fire_id(self, watch: Watch, new_id: str) -> str:
        """The silence alert's id: the first process to fire the watch names it, so a
        process killed between raising and ending the watch cannot raise it twice."""
        key = self._k.silence_watch(watch.room, watch.person)
        pipe = self._r.pipeline(transaction=True)
        pipe.hsetnx(key, "esc", new_id)
        pipe.hget(key, "esc")
        _, fired = await call(pipe.execute())
        return str(fired.decode()) if fired else new_id

    async def end_watch(self, member: str, message: str) -> bool:
        room, _, person = member.partition(" ")
        keys = [self._k.silence_watch(room, person), self._k.silence_due]
        return bool(await call(self._end_watch(keys=keys, args=[message, member])))

    async def watches(self) -> dict[str, int]:
        found = await call(self._r.zrange(self._k.silence_due, 0, -1, withscores=True))
        return {m.decode(): int(score) for m, score in found}

    async def forget_watches(self, erased: set[tuple[str, str]]) -> int:
        """An erasure ends the watches its messages started."""
        ended = 0
        for member in await self.watches():
            watch = await self.get_watch(member)
            if watch is not None and (watch.room, watch.message) in erased:
                ended += int(await self.end_watch(member, watch.message))
        return ended

    async def written_after(self, room: str, message: str, count: int) -> list[Sealed]:
        """The room's messages after `message`, oldest first, at most `count`."""
        entries = await call(
            self._r.xrange(self._k.room_stream(room), f"({message}", "+", count=count)
        )
        return [Sealed(i.decode(), f[b"k"].decode(), f[b"d"]) for i, f in entries]

    async def message(self, room: str, message: str) -> Sealed | None:
        entries = await call(self._r.xrange(self._k.room_stream(room), message, message))
        return (
            Sealed(entries[0][0].decode(), entries[0][1][b"k"].decode(), entries[0][1][b"d"])
            if entries
            else None
        )
