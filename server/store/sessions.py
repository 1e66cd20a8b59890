"""Participant sessions, erasure, reports, abuse counters and staff login limits in Redis.

A part of RedisStore (server/store/redis.py), kept apart because none of it touches the
writer or the subscriptions: each call is one command, pipeline or script.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from server.core.events import Erased, Removed, to_json
from server.core.login_limits import (
    BACKOFF_CAP_SECONDS,
    BACKOFF_FIRST_SECONDS,
    FAILURE_WINDOW_SECONDS,
    FAILURES_PER_HOUR,
    LoginLimits,
    Refusal,
)
from server.store import Erasure, Session
from server.store.keys import KeySpace


class RedisSessions:
    # Set by RedisStore, which this class is a part of.
    _redis: Redis
    _k: KeySpace
    _clock: Callable[[], float]
    _call: Callable[[Awaitable[Any]], Awaitable[Any]]
    _script: Callable[[str, list[str], list[Any]], Awaitable[Any]]

    async def create_session(self, digest: str, session: Session, ttl_seconds: float) -> None:
        key = self._k.session(digest)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(
            key,
            mapping={
                "pid": session.pid,
                "name": session.name,
                "consent": session.consent_version,
                "inv": " ".join(sorted(session.invites)),
            },
        )
        pipe.pexpire(key, int(ttl_seconds * 1000))
        await self._call(pipe.execute())

    async def get_session(self, digest: str, ttl_seconds: float) -> Session | None:
        key = self._k.session(digest)
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(key)
        pipe.pexpire(key, int(ttl_seconds * 1000))
        found, _ = await self._call(pipe.execute())
        if not found or b"pid" not in found:
            return None
        return Session(
            pid=found[b"pid"].decode(),
            name=found[b"name"].decode(),
            consent_version=found[b"consent"].decode(),
            invites=frozenset(found.get(b"inv", b"").decode().split()),
        )

    async def add_invite(self, digest: str, room: str) -> None:
        key = self._k.session(digest)
        current = await self._call(self._redis.hget(key, "inv"))
        if current is None:
            return  # no such session (or it has no invite field: not one of ours)
        rooms = " ".join(sorted(set(current.decode().split()) | {room}))
        # A plain HSET keeps the key's TTL (HSETEX is not on Redis 7.0).
        await self._call(self._redis.hset(key, "inv", rooms))

    async def erase(self, digest: str, pid: str) -> Erasure:
        by_key = self._k.by_person(pid)
        authored = await self._call(self._redis.lrange(by_key, 0, -1))
        ids_by_room: dict[str, list[str]] = {}
        for item in authored:
            room, _, message_id = item.decode().partition(" ")
            ids_by_room.setdefault(room, []).append(message_id)
        pipe = self._redis.pipeline(transaction=False)
        for room, ids in ids_by_room.items():
            pipe.xdel(self._k.room_stream(room), *ids)
        pipe.delete(by_key, self._k.dedup(pid), self._k.session(digest))
        pipe.publish(self._k.control, json.dumps(to_json(Erased(pid, ids_by_room))))
        await self._call(pipe.execute())
        return Erasure(pid, ids_by_room)

    async def remove(self, room: str, message_id: str) -> bool:
        pipe = self._redis.pipeline(transaction=False)
        pipe.xdel(self._k.room_stream(room), message_id)
        pipe.publish(self._k.control, json.dumps(to_json(Removed(room, [message_id]))))
        removed, _ = await self._call(pipe.execute())
        return bool(removed)

    async def end_session(self, digest: str, pid: str) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.delete(self._k.session(digest))
        # An erasure with nothing erased: every process closes the person's sockets.
        pipe.publish(self._k.control, json.dumps(to_json(Erased(pid))))
        await self._call(pipe.execute())

    async def trim(self, room: str, min_id: str) -> int:
        pipe = self._redis.pipeline(transaction=False)
        pipe.xtrim(self._k.room_stream(room), minid=min_id, approximate=False)
        pipe.set(self._k.room_floor(room), min_id)
        trimmed, _ = await self._call(pipe.execute())
        return int(trimmed)

    async def trim_reports(self, min_id: str) -> int:
        trimmed = await self._call(
            self._redis.xtrim(self._k.reports, minid=min_id, approximate=False)
        )
        return int(trimmed)

    async def add_report(self, fields: dict[str, str | bytes]) -> str:
        report_id = await self._call(
            self._redis.xadd(self._k.reports, fields)  # type: ignore[arg-type]
        )
        return str(report_id.decode())

    async def count_recent(self, key: str, window_seconds: int) -> int:
        full = self._k.counter(key)
        pipe = self._redis.pipeline(transaction=False)
        # SET NX EX then INCR: the window starts at the first event (EXPIRE NX needs 7.0).
        pipe.set(full, 0, ex=window_seconds, nx=True)
        pipe.incr(full)
        _, count = await self._call(pipe.execute())
        return int(count)

    async def shared_key(self, name: str, ttl_seconds: int) -> bytes:
        full = self._k.shared_key(name)
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(full, secrets.token_bytes(32), ex=ttl_seconds, nx=True)
        pipe.get(full)
        _, value = await self._call(pipe.execute())
        return bytes(value)

    # ---- staff login limits ----------------------------------------------------------------

    def _login_keys(self, username: str, address: str) -> tuple[str, str]:
        # The name typed, known or not, only as its SHA-256 (throttling says nothing of
        # existence); the address only as its keyed hash.
        name = hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()
        return self._k.login_failures(name, address)

    async def reserve_login(
        self, username: str, address: str, limits: LoginLimits
    ) -> tuple[Refusal | None, float]:
        pair, name = self._login_keys(username, address)
        rate = limits.address_rate
        which, wait_ms = await self._script(
            "login",
            [self._k.login_attempts(address), pair, name],
            [
                int(self._clock() * 1000),
                rate.interval_ms,
                rate.tolerance_ms,
                limits.pair_free_failures,
                limits.name_free_failures,
                int(BACKOFF_FIRST_SECONDS * 1000),
                int(BACKOFF_CAP_SECONDS * 1000),
                FAILURES_PER_HOUR,
                FAILURE_WINDOW_SECONDS * 1000,
            ],
        )
        refusal = {0: None, 1: Refusal.ADDRESS, 2: Refusal.FAILURES}[int(which)]
        return refusal, int(wait_ms) / 1000

    async def login_succeeded(self, username: str, address: str) -> None:
        await self._script("login_ok", list(self._login_keys(username, address)), [])

    async def login_not_tried(self, username: str, address: str, limits: LoginLimits) -> None:
        await self._script(
            "login_not_tried",
            list(self._login_keys(username, address)),
            [
                int(self._clock() * 1000),
                limits.pair_free_failures,
                limits.name_free_failures,
                int(BACKOFF_FIRST_SECONDS * 1000),
                int(BACKOFF_CAP_SECONDS * 1000),
                FAILURES_PER_HOUR,
                FAILURE_WINDOW_SECONDS * 1000,
            ],
        )
