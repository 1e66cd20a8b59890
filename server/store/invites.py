"""What staff see of flagged messages, and invitations to a private chat, in Redis.

Keys (P = prefix):
- `P fm:{room}` hash: message id -> JSON [label, category] of each flagged message in the
  room, so a staff member who (re)joins sees the marks in history. Expires with content.
- `P inv:<invite>` hash: p (the invited participant), s (the staff member), room (the group
  room), pr (the priority the chat starts with). Expires unanswered after INVITE_SECONDS.
- A direct room opened by an accepted invitation is the same `P dm:<room>` hash, with the
  same `P my:` and `P dms` entries, as one opened by a claimed ticket (store/support.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from redis.asyncio import Redis

from server.store.keys import KeySpace
from server.store.redis import call

# Recent escalations read to find one a staff member took on a message: alerts are rare
# (a handful a day), so the last 500 reach back far beyond any invitation anyone sends.
ALERTS_LOOKED_AT = 500

# KEYS: inv:<invite>. ARGV: the participant answering. The invitation goes (answered) only
# when it is theirs, so a stranger who names it changes nothing.
TAKE_LUA = """
if redis.call('HGET', KEYS[1], 'p') ~= ARGV[1] then return false end
local found = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return found
"""


@dataclass(frozen=True, slots=True)
class Invitation:
    invite: str
    pid: str
    uid: str
    room: str
    priority: str


class MarkStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._r = redis
        self._k = KeySpace(prefix)

    async def mark(self, room: str, message: str, label: str, category: str, ttl_ms: int) -> None:
        key = self._k.flag_marks(room)
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(key, message, json.dumps([label, category]))
        pipe.pexpire(key, ttl_ms)
        await call(pipe.execute())

    async def forget(self, room: str, messages: list[str]) -> None:
        if messages:
            await call(self._r.hdel(self._k.flag_marks(room), *messages))

    async def marks(self, room: str) -> dict[str, tuple[str, str]]:
        found = await call(self._r.hgetall(self._k.flag_marks(room)))
        marks = {}
        for message, value in found.items():
            label, category = json.loads(value)
            marks[message.decode()] = (str(label), str(category))
        return marks


class InviteStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._r = redis
        self._k = KeySpace(prefix)
        self._take = redis.register_script(TAKE_LUA)

    async def add(self, invitation: Invitation, ttl_seconds: int) -> None:
        key = self._k.invitation(invitation.invite)
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(
            key,
            mapping={
                "p": invitation.pid,
                "s": invitation.uid,
                "room": invitation.room,
                "pr": invitation.priority,
            },
        )
        pipe.expire(key, ttl_seconds)
        await call(pipe.execute())

    async def take(self, invite: str, pid: str) -> Invitation | None:
        """The invitation, removed, when it waits for `pid`; None otherwise."""
        found = await call(self._take(keys=[self._k.invitation(invite)], args=[pid]))
        if not found:
            return None
        fields = {found[i].decode(): found[i + 1].decode() for i in range(0, len(found), 2)}
        return Invitation(invite, fields["p"], fields["s"], fields["room"], fields["pr"])

    async def open_direct(self, room: str, pid: str, uid: str, priority: str, ttl_ms: int) -> None:
        """A new direct room of the participant and the staff member, as a claim makes one."""
        key = self._k.direct_room(room)
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(key, mapping={"p": pid, "pr": priority, f"s:{uid}": "1"})
        pipe.pexpire(key, ttl_ms)
        pipe.sadd(self._k.rooms_of(pid), room)
        pipe.sadd(self._k.rooms_of(uid), room)
        pipe.sadd(self._k.direct_rooms, room)
        await call(pipe.execute())

    async def took_alert(self, room: str, message: str, uid: str) -> bool:
        """Whether `uid` took an escalation raised by this message."""
        entries = await call(self._r.xrevrange(self._k.escalations, count=ALERTS_LOOKED_AT))
        if not entries:
            return False
        pipe = self._r.pipeline(transaction=False)
        for _, fields in entries:
            pipe.hmget(self._k.escalation(fields[b"e"].decode()), "room", "msg", "taken")
        wanted = [room.encode(), message.encode(), uid.encode()]
        return any(list(found) == wanted for found in await call(pipe.execute()))
