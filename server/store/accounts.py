"""Staff accounts, staff sessions and the staff roster, in Redis (the login limits are in
the Store, server/store/redis.py, beside the other per-address counters).

Staff features need Redis: accounts are made by the command line in another process, and
sessions, throttles and TOTP replay must hold across every server process. Secrets kept
here: the argon2id hash and the TOTP secret sealed with the data key (A3); session tokens
only as SHA-256 digests. Keys (P = prefix):

- `P staff:u:<username>` -> account id; `P staff:a:<id>` hash; `P staff:all` set of ids
- `P ss:<sha256(token)>` hash (uid, created, seen, csrf); `P ss:u:<id>` set of digests
- `P staff:on` sorted set id -> expiry ms (a console is open); `P staff:av` hash id -> 0/1
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from server.core.people import (
    SESSION_ABSOLUTE_SECONDS,
    SESSION_IDLE_SECONDS,
    StaffSession,
)
from server.store.keys import KeySpace
from server.store.redis import call

ONLINE_TTL_MS = 90_000  # a console's process refreshes every 30 s; a crashed one drops out


@dataclass(frozen=True, slots=True)
class Account:
    uid: str
    username: str
    name: str
    roles: tuple[str, ...]
    password_hash: str
    totp_key_id: str
    totp_blob: bytes
    disabled: bool = False
    created_ms: int = 0

    def with_(self, **changes: Any) -> Account:
        return replace(self, **changes)


class UsernameTaken(Exception):
    pass


# KEYS: account hash. ARGV: step. Accepts a TOTP step once: only above the last accepted.
ACCEPT_STEP_LUA = """
local last = tonumber(redis.call('HGET', KEYS[1], 'step') or '-1')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('HSET', KEYS[1], 'step', ARGV[1])
return 1
"""


class StaffStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._r = redis
        self._k = KeySpace(prefix)
        self._accept = redis.register_script(ACCEPT_STEP_LUA)

    # ---- accounts -------------------------------------------------------------------------

    def _account(self, uid: str) -> str:
        return self._k.staff_account(uid)

    async def add(self, account: Account) -> None:
        name_key = self._k.staff_name(account.username)
        claimed = await call(self._r.set(name_key, account.uid, nx=True))
        if not claimed:
            raise UsernameTaken(account.username)
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(self._account(account.uid), mapping=_fields(account))
        pipe.sadd(self._k.staff_all, account.uid)
        await call(pipe.execute())

    async def save(self, account: Account) -> None:
        await call(self._r.hset(self._account(account.uid), mapping=_fields(account)))

    async def reset_totp(self, account: Account) -> None:
        """A new secret starts with no accepted step."""
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(self._account(account.uid), mapping=_fields(account))
        pipe.hdel(self._account(account.uid), "step")
        await call(pipe.execute())

    async def by_username(self, username: str) -> Account | None:
        uid = await call(self._r.get(self._k.staff_name(username)))
        return None if uid is None else await self.get(uid.decode())

    async def get(self, uid: str) -> Account | None:
        found = await call(self._r.hgetall(self._account(uid)))
        return _account(uid, found) if found else None

    async def all(self) -> list[Account]:
        uids = sorted(u.decode() for u in await call(self._r.smembers(self._k.staff_all)))
        accounts = [await self.get(uid) for uid in uids]
        return sorted((a for a in accounts if a), key=lambda a: a.username)

    async def accept_step(self, uid: str, step: int) -> bool:
        return bool(await call(self._accept(keys=[self._account(uid)], args=[step])))

    # ---- sessions -------------------------------------------------------------------------

    def _session(self, digest: str) -> str:
        return self._k.staff_session(digest)

    def _sessions_of(self, uid: str) -> str:
        return self._k.staff_sessions_of(uid)

    async def create_session(self, digest: str, session: StaffSession) -> None:
        pipe = self._r.pipeline(transaction=True)
        key = self._session(digest)
        pipe.hset(
            key,
            mapping={
                "uid": session.uid,
                "created": repr(session.created),
                "seen": repr(session.seen),
                "csrf": session.csrf,
            },
        )
        # Redis forgets a session a little after the rules end it; the rules decide.
        pipe.expire(key, SESSION_IDLE_SECONDS + 60)
        pipe.sadd(self._sessions_of(session.uid), digest)
        pipe.expire(self._sessions_of(session.uid), SESSION_ABSOLUTE_SECONDS + 60)
        await call(pipe.execute())

    async def get_session(self, digest: str) -> StaffSession | None:
        found = await call(self._r.hgetall(self._session(digest)))
        if not found or b"uid" not in found:
            return None
        return StaffSession(
            uid=found[b"uid"].decode(),
            created=float(found[b"created"]),
            seen=float(found[b"seen"]),
            csrf=found[b"csrf"].decode(),
        )

    async def touch_session(self, digest: str, now: float) -> None:
        key = self._session(digest)
        pipe = self._r.pipeline(transaction=False)
        # A session deleted meanwhile (logout) comes back at most as a stub without `uid`,
        # which get_session treats as no session, and which expires by itself.
        pipe.hset(key, "seen", repr(now))
        pipe.expire(key, SESSION_IDLE_SECONDS + 60)
        await call(pipe.execute())

    async def delete_session(self, digest: str, uid: str) -> None:
        pipe = self._r.pipeline(transaction=False)
        pipe.delete(self._session(digest))
        pipe.srem(self._sessions_of(uid), digest)
        await call(pipe.execute())

    async def delete_sessions_of(self, uid: str) -> None:
        digests = await call(self._r.smembers(self._sessions_of(uid)))
        pipe = self._r.pipeline(transaction=False)
        for digest in digests:
            pipe.delete(self._session(digest.decode()))
        pipe.delete(self._sessions_of(uid))
        await call(pipe.execute())

    # ---- roster ---------------------------------------------------------------------------

    async def mark_online(self, uids: list[str], now: float) -> None:
        if not uids:
            return
        expiry = int(now * 1000) + ONLINE_TTL_MS
        await call(self._r.zadd(self._k.staff_online, dict.fromkeys(uids, expiry)))

    async def mark_offline(self, uid: str) -> None:
        await call(self._r.zrem(self._k.staff_online, uid))

    async def online(self, now: float) -> list[str]:
        key = self._k.staff_online
        pipe = self._r.pipeline(transaction=False)
        pipe.zremrangebyscore(key, "-inf", int(now * 1000))
        pipe.zrange(key, 0, -1)
        _, uids = await call(pipe.execute())
        return [u.decode() for u in uids]

    async def set_available(self, uid: str, available: bool) -> None:
        await call(self._r.hset(self._k.staff_available, uid, "1" if available else "0"))

    async def available(self, uids: list[str]) -> dict[str, bool]:
        if not uids:
            return {}
        values = await call(self._r.hmget(self._k.staff_available, uids))
        # Someone who never chose is available: a console opens ready to take chats.
        return {uid: v != b"0" for uid, v in zip(uids, values, strict=True)}


def _fields(a: Account) -> dict[FieldT, EncodableT]:
    return {
        "username": a.username,
        "name": a.name,
        "roles": " ".join(a.roles),
        "hash": a.password_hash,
        "tk": a.totp_key_id,
        "td": a.totp_blob,
        "disabled": "1" if a.disabled else "0",
        "created": str(a.created_ms),
    }


def _account(uid: str, found: dict[bytes, bytes]) -> Account:
    return Account(
        uid=uid,
        username=found[b"username"].decode(),
        name=found[b"name"].decode(),
        roles=tuple(found[b"roles"].decode().split()),
        password_hash=found[b"hash"].decode(),
        totp_key_id=found[b"tk"].decode(),
        totp_blob=found[b"td"],
        disabled=found.get(b"disabled") == b"1",
        created_ms=int(found.get(b"created", b"0")),
    )
