"""The Redis store: streams for history, pub/sub for live fan-out, one batching writer.

Rules this module keeps (DESIGN.md, SECURITY.md R1-R3):
- A message is deduplicated, appended and published by one Lua script in one round trip;
  the caller acks only after that script returned, so an ack means Redis has it.
- Every append of this process goes through one writer task that pipelines whatever is
  queued; redis-py's pool raises instead of waiting when it runs dry, so bursts must not
  each take a connection.
- Pub/sub is only a wake-up: after any reconnect the reader replays each subscribed room's
  stream from the last id it delivered, so a dropped subscription loses nothing.
- Message ids are chosen here, before the script runs, because the id is bound into the
  ciphertext's associated data; a stale guess is refused by XADD and retried with a new id.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError

from server.core.login_limits import (
    BACKOFF_CAP_SECONDS,
    BACKOFF_FIRST_SECONDS,
    FAILURE_WINDOW_SECONDS,
    FAILURES_PER_HOUR,
    LoginLimits,
    Refusal,
)
from server.core.ratelimit import Rate
from server.store import (
    DEDUP_SECONDS,
    HISTORY_LATEST,
    HISTORY_PAGE,
    PRESENCE_TTL_MS,
    AppendResult,
    Erasure,
    History,
    Listener,
    RateLimited,
    Sealer,
    Session,
    StoredMessage,
    StoreUnavailable,
    format_id,
    next_id,
    parse_id,
)
from server.store.keys import KeySpace

log = logging.getLogger(__name__)

BATCH_MAX = 512  # commands per pipeline: big enough to amortise, small enough to stay fair
POOL_CONNECTIONS = 32  # for reads; waits (blocking pool) rather than failing under bursts
POOL_WAIT_SECONDS = 5.0
SOCKET_TIMEOUT_SECONDS = 5.0  # a partitioned Redis turns into an error, not a hang
SUBSCRIBE_WAIT_SECONDS = 5.0
RECONNECT_MAX_SECONDS = 5.0
RECONNECT_RETRIES = 1  # per command, after a dropped connection (see the pool below)
APPEND_RETRIES = 8  # id races with other processes resolve in one retry; 8 means "broken"

_ID_CMP = """
local function cmp(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  if am ~= bm then if am < bm then return -1 else return 1 end end
  if as ~= bs then if as < bs then return -1 else return 1 end end
  return 0
end
local function last_generated(key)
  if redis.call('EXISTS', key) == 0 then return '0-0' end
  local info = redis.call('XINFO', 'STREAM', key)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then return info[i + 1] end
  end
  return '0-0'
end
"""

# KEYS: stream, dedup hash, author index, author's pace. ARGV: id, nonce, key id, blob,
# retention ms, dedup ms, channel, room, now ms, interval ms, tolerance ms (interval 0: no
# rate). Returns {1, id} stored, {0, id} duplicate, {2, last} id too low, {3, ms} over the
# rate: wait ms. The pace is server.core.ratelimit.gcra, in the same round trip as the append.
APPEND_LUA = (
    _ID_CMP
    + """
local prior = redis.call('HGET', KEYS[2], ARGV[2])
if prior then return {0, prior} end
local now, interval, tolerance = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local pace = 0
if interval > 0 then
  local start = math.max(tonumber(redis.call('GET', KEYS[4]) or '0'), now)
  if start - now > tolerance then return {3, tostring(start - now - tolerance)} end
  pace = start + interval
end
local last = last_generated(KEYS[1])
if cmp(ARGV[1], last) <= 0 then return {2, last} end
if interval > 0 then
  redis.call('SET', KEYS[4], pace, 'PX', pace - now)
end
redis.call('XADD', KEYS[1], ARGV[1], 'k', ARGV[3], 'd', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('RPUSH', KEYS[3], ARGV[8] .. ' ' .. ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
redis.call('PUBLISH', ARGV[7], 'm' .. ARGV[1] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4])
return {1, ARGV[1]}
"""
)

# KEYS: stream, floor. ARGV: since ('' for none), latest count, page size.
# Returns {mode, entries}: 0 a forward page after since; 1 reset (since is older than what
# is kept, or newer than anything stored: the store lost data) with the latest entries in
# reverse; 2 the latest entries in reverse.
HISTORY_LUA = (
    _ID_CMP
    + """
local since = ARGV[1]
if since ~= '' then
  local floor = redis.call('GET', KEYS[2])
  local stale = (floor and cmp(since, floor) < 0) or cmp(since, last_generated(KEYS[1])) > 0
  if not stale then
    return {0, redis.call('XRANGE', KEYS[1], '(' .. since, '+', 'COUNT', tonumber(ARGV[3]) + 1)}
  end
  return {1, redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[2])}
end
return {2, redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[2])}
"""
)

# KEYS: presence zset. ARGV: member, '1' here / '0' gone, now ms, expiry ms, channel, room,
# key ttl ms, the connection that already knows (skipped by the signal). Counts distinct
# people (the part of a member before '|'); publishes a presence signal when it changed.
PRESENCE_LUA = """
local function count()
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
  local seen, n = {}, 0
  for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local pid = string.match(m, '^([^|]*)')
    if not seen[pid] then seen[pid] = true; n = n + 1 end
  end
  return n
end
local before = count()
if ARGV[2] == '1' then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[7])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
local after = count()
if after ~= before then
  redis.call('PUBLISH', ARGV[5],
    's' .. ARGV[8] .. '\\n{"type":"presence","room":"' .. ARGV[6] .. '","count":' .. after .. '}')
end
return after
"""

# KEYS: the address's pace, the (username, address) failures, the username's failures.
# ARGV: now ms, interval ms, tolerance ms, pair free, name free, first ms, cap ms, hard,
# window ms. Returns {0, 0} go ahead (counted as a failure of the pair and the name), {1, ms}
# the address is over its pace, {2, ms} failures make it wait. Mirrors
# server/login_limits.decide, which the memory store runs and the contract tests compare.
LOGIN_LUA = """
local now = tonumber(ARGV[1])
local interval, tolerance = tonumber(ARGV[2]), tonumber(ARGV[3])
local start = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
if start - now > tolerance then return {1, start - now - tolerance} end
redis.call('SET', KEYS[1], start + interval, 'PX', start + interval - now)
local pn = tonumber(redis.call('HGET', KEYS[2], 'n') or '0')
local pu = tonumber(redis.call('HGET', KEYS[2], 'u') or '0')
local nn = tonumber(redis.call('HGET', KEYS[3], 'n') or '0')
local nu = tonumber(redis.call('HGET', KEYS[3], 'u') or '0')
local pfree, nfree = tonumber(ARGV[4]), tonumber(ARGV[5])
local wait = math.max(0, pu - now)
if pn > 0 and nn >= nfree then wait = math.max(wait, nu - now) end
if wait > 0 then return {2, wait} end
local first, cap = tonumber(ARGV[6]), tonumber(ARGV[7])
local hard, window = tonumber(ARGV[8]), tonumber(ARGV[9])
local function backoff(n, free)
  if n >= hard then return window end
  if n < free then return 0 end
  return math.min(cap, first * 2 ^ (n - free))
end
pn, nn = pn + 1, nn + 1
redis.call('HSET', KEYS[2], 'n', pn, 'u', now + backoff(pn, pfree))
redis.call('PEXPIRE', KEYS[2], window)
redis.call('HSET', KEYS[3], 'n', nn, 'u', now + backoff(nn, nfree))
redis.call('PEXPIRE', KEYS[3], window)
return {0, 0}
"""

# KEYS: the pair's failures, the username's. A good login: the pair starts afresh and the
# name gives back the failure counted in advance (server/login_limits.succeeded).
LOGIN_SUCCEEDED_LUA = """
redis.call('DEL', KEYS[1])
local n = tonumber(redis.call('HGET', KEYS[2], 'n') or '0')
if n > 0 then redis.call('HSET', KEYS[2], 'n', n - 1) end
return 0
"""

# KEYS: the pair's failures, the username's. ARGV: now ms, pair free, name free, first ms,
# cap ms, hard, window ms. An attempt never checked (the hashing queue was full): one
# failure fewer for each, the wait recomputed from now (server/login_limits.not_tried).
LOGIN_NOT_TRIED_LUA = """
local now = tonumber(ARGV[1])
local first, cap = tonumber(ARGV[4]), tonumber(ARGV[5])
local hard, window = tonumber(ARGV[6]), tonumber(ARGV[7])
local function backoff(n, free)
  if n >= hard then return window end
  if n < free then return 0 end
  return math.min(cap, first * 2 ^ (n - free))
end
for i = 1, 2 do
  local n = tonumber(redis.call('HGET', KEYS[i], 'n') or '0')
  if n > 1 then
    redis.call('HSET', KEYS[i], 'n', n - 1, 'u', now + backoff(n - 1, tonumber(ARGV[i + 1])))
  elseif n == 1 then
    redis.call('HSET', KEYS[i], 'n', 0, 'u', 0)
  end
end
return 0
"""

_SCRIPTS = {
    "append": APPEND_LUA,
    "history": HISTORY_LUA,
    "presence": PRESENCE_LUA,
    "login": LOGIN_LUA,
    "login_ok": LOGIN_SUCCEEDED_LUA,
    "login_not_tried": LOGIN_NOT_TRIED_LUA,
}


class _Op:
    """One queued write: makes its command (the arguments of one Redis command), then
    takes the reply."""

    __slots__ = ("add", "done", "future")

    def __init__(
        self,
        add: Callable[[], tuple[Any, ...]],
        done: Callable[[Any], Any],
        future: asyncio.Future[Any] | None,
    ) -> None:
        self.add = add
        self.done = done
        self.future = future


class RedisStore:
    def __init__(self, url: str, prefix: str = "pl:", clock: Callable[[], float] = time.time):
        self._url = url
        self._p = prefix
        self._k = KeySpace(prefix)
        self._clock = clock
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=POOL_CONNECTIONS,
            timeout=POOL_WAIT_SECONDS,
            socket_timeout=SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
            # A pooled connection to a Redis that restarted fails on first use; one retry on
            # a fresh connection hides that from people. Only ConnectionError is retried: a
            # timeout may mean the command ran, and must surface as `unavailable`.
            retry=Retry(NoBackoff(), RECONNECT_RETRIES, supported_errors=(RedisConnectionError,)),
        )
        self._pool = pool
        self._redis = Redis(connection_pool=pool)
        # The writer's own connection, outside the pool. A redis-py pipeline per batch (pool
        # checkout, health check, a read timer per reply, release) cost about as much as
        # the batch's own work in bench/profile.py; one timeout covers a whole batch here.
        self._writer_conn = pool.connection_class(
            **{**pool.connection_kwargs, "socket_timeout": None}
        )
        self._sha: dict[str, str] = {}
        self._listener: Listener | None = None
        self._queue: deque[_Op] = deque()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._pubsub: PubSub | None = None
        # room -> a future that resolves when Redis confirmed the subscription; concurrent
        # joins of one room all wait for the same confirmation before reading history.
        self._rooms: dict[str, asyncio.Future[None]] = {}
        self._waiting: dict[bytes, asyncio.Future[None]] = {}
        # The highest id handed to the listener per room: the replay cursor after a pub/sub
        # reconnect, and what makes a replayed or repeated message drop out here.
        self._delivered: dict[str, tuple[int, int]] = {}
        # The last id this process proposed per room, so its own appends never collide.
        self._proposed: dict[str, tuple[int, int]] = {}
        self._connected = asyncio.Event()
        self.healthy = False

    def describe(self) -> str:
        return "Redis store"

    async def start(self, listener: Listener) -> None:
        self._listener = listener
        with contextlib.suppress(RedisError, OSError):
            await self._load_scripts()
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="redis-writer"),
            asyncio.create_task(self._read_loop(), name="redis-reader"),
        ]

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, RedisError, OSError):
                await task
        for op in self._queue:
            if op.future is not None and not op.future.done():
                op.future.set_exception(StoreUnavailable("store closed"))
        self._queue.clear()
        await self._writer_conn.disconnect()
        await self._redis.aclose()
        # A pool passed in is not closed by the client's aclose().
        await self._pool.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self._redis.ping(), 1.0)) and self.healthy
        except (RedisError, OSError, TimeoutError):
            return False

    async def _load_scripts(self) -> None:
        for name, source in _SCRIPTS.items():
            self._sha[name] = await self._redis.script_load(source)

    async def _call(self, awaitable: Awaitable[Any]) -> Any:
        return await call(awaitable)

    @property
    def client(self) -> Redis:
        """The shared client, for the staff and support stores that live beside this one."""
        return self._redis

    @property
    def prefix(self) -> str:
        return self._p

    async def publish_control(self, event: dict[str, Any]) -> None:
        await self._call(self._redis.publish(self._k.control, json.dumps(event)))

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        for _ in range(2):
            if name not in self._sha:
                await self._call(self._load_scripts())
            try:
                return await self._call(
                    self._redis.evalsha(self._sha[name], len(keys), *keys, *args)
                )
            except StoreUnavailable:
                raise
            except NoScriptError:  # Redis restarted and forgot the scripts
                self._sha.clear()
        raise StoreUnavailable("scripts could not be loaded")

    # ---- the writer ------------------------------------------------------------------------

    def _enqueue(self, op: _Op) -> None:
        self._queue.append(op)
        self._wake.set()

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(BATCH_MAX, len(self._queue)))]
                await self._run_batch(batch)

    async def _run_batch(self, batch: list[_Op]) -> None:
        commands: list[tuple[Any, ...]] = []
        live: list[_Op] = []
        try:
            if not self._sha:
                await self._load_scripts()
            for op in batch:
                try:
                    commands.append(op.add())
                    live.append(op)
                except Exception as exc:  # a sealer failing must fail its own op only
                    _fail(op, exc)
            try:
                replies = await self._send_batch(commands)
            except RedisConnectionError:
                # A connection to a Redis that restarted fails on first use; one retry on a
                # fresh one hides that. Appends are idempotent (the nonce), and a repeated
                # publish is dropped by the listener's per-room cursor.
                replies = await self._send_batch(commands)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("redis write failed: %s", type(exc).__name__)
            for op in batch:
                _fail(op, StoreUnavailable(type(exc).__name__))
            return
        for op, reply in zip(live, replies, strict=True):
            if isinstance(reply, NoScriptError):
                self._sha.clear()
                self._queue.appendleft(op)
                self._wake.set()
            elif isinstance(reply, Exception):
                _fail(op, StoreUnavailable(type(reply).__name__))
            else:
                try:
                    result = op.done(reply)
                except Exception as exc:
                    _fail(op, exc)
                    continue
                if op.future is not None and not op.future.done() and result is not _RETRY:
                    op.future.set_result(result)

    async def _send_batch(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """All commands in one write, then every reply; an error reply is returned, not
        raised, so each op learns its own outcome."""
        conn = self._writer_conn
        try:
            async with asyncio.timeout(SOCKET_TIMEOUT_SECONDS):
                await conn.send_packed_command(conn.pack_commands(commands), check_health=False)
                replies: list[Any] = []
                for _ in commands:
                    try:
                        replies.append(await conn.read_response())
                    except ResponseError as exc:
                        replies.append(exc)
                return replies
        except BaseException:
            # Replies may be half read: the connection cannot be trusted for the next batch.
            await conn.disconnect(nowait=True)
            raise

    def _proposal(self, room: str) -> tuple[int, int]:
        floor = max(self._proposed.get(room, (0, 0)), self._delivered.get(room, (0, 0)))
        proposed = next_id(floor, int(self._clock() * 1000))
        self._proposed[room] = proposed
        return proposed

    async def append(
        self,
        room: str,
        author: str,
        nonce: str,
        seal: Sealer,
        retention_seconds: float,
        rate: Rate | None = None,
    ) -> AppendResult:
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        attempts = 0
        retention_ms = int(retention_seconds * 1000)
        interval, tolerance = (rate.interval_ms, rate.tolerance_ms) if rate else (0, 0)

        def add() -> tuple[Any, ...]:
            message_id = format_id(self._proposal(room))
            key_id, blob = seal(message_id)
            return (
                "EVALSHA",
                self._sha["append"],
                4,
                self._k.room_stream(room),
                self._k.dedup(author),
                self._k.by_person(author),
                self._k.pace(author),
                message_id,
                f"{room} {nonce}",  # a nonce names one message in one room
                key_id,
                blob,
                retention_ms,
                DEDUP_SECONDS * 1000,
                self._k.room_channel(room),
                room,
                int(self._clock() * 1000),
                interval,
                tolerance,
            )

        def done(reply: Any) -> Any:
            nonlocal attempts
            status, value = int(reply[0]), reply[1].decode()
            if status == 3:
                raise RateLimited(int(value) / 1000)
            if status == 2:
                attempts += 1
                if attempts >= APPEND_RETRIES:
                    raise StoreUnavailable("could not find a free message id")
                self._proposed[room] = max(self._proposed.get(room, (0, 0)), parse_id(value))
                self._enqueue(op)
                return _RETRY
            return AppendResult(value, created=status == 1)

        op = _Op(add, done, future)
        self._enqueue(op)
        return await future

    async def publish_signal(self, room: str, skip: str, frame: str) -> None:
        payload = f"s{skip}\n{frame}"
        self._enqueue(_Op(lambda: ("PUBLISH", self._k.room_channel(room), payload), _ignore, None))

    async def presence(self, room: str, member: str, here: bool) -> int:
        now_ms = int(self._clock() * 1000)
        result = await self._script(
            "presence",
            [self._k.room_here(room)],
            [
                member,
                "1" if here else "0",
                now_ms,
                now_ms + PRESENCE_TTL_MS,
                self._k.room_channel(room),
                room,
                PRESENCE_TTL_MS * 2,
                member.partition("|")[2],
            ],
        )
        return int(result)

    async def refresh_presence(self, entries: list[tuple[str, str]]) -> None:
        expiry = int(self._clock() * 1000) + PRESENCE_TTL_MS
        pipe = self._redis.pipeline(transaction=False)
        for room, member in entries:
            pipe.zadd(self._k.room_here(room), {member: expiry})
            pipe.pexpire(self._k.room_here(room), PRESENCE_TTL_MS * 2)
        await self._call(pipe.execute())

    # ---- reads -------------------------------------------------------------------------------

    async def history(self, room: str, since: str | None) -> History:
        mode, entries = await self._script(
            "history",
            [self._k.room_stream(room), self._k.room_floor(room)],
            [since or "", HISTORY_LATEST, HISTORY_PAGE],
        )
        messages = [self._entry(room, entry) for entry in entries]
        if int(mode) == 0:
            more = len(messages) > HISTORY_PAGE
            return History(messages[:HISTORY_PAGE], more, False)
        messages.reverse()
        return History(messages, False, int(mode) == 1)

    @staticmethod
    def _entry(room: str, entry: Any) -> StoredMessage:
        raw_id, fields = entry
        if isinstance(fields, list):  # RESP2 gives a flat list
            fields = dict(zip(fields[::2], fields[1::2], strict=True))
        return StoredMessage(room, raw_id.decode(), fields[b"k"].decode(), fields[b"d"])

    async def message(self, room: str, message_id: str) -> StoredMessage | None:
        entries = await self._call(
            self._redis.xrange(self._k.room_stream(room), message_id, message_id)
        )
        return self._entry(room, entries[0]) if entries else None

    # ---- sessions ----------------------------------------------------------------------------

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
        pipe.publish(self._k.control, json.dumps({"op": "erase", "pid": pid, "ids": ids_by_room}))
        await self._call(pipe.execute())
        return Erasure(pid, ids_by_room)

    async def remove(self, room: str, message_id: str) -> bool:
        event = {"op": "removed", "room": room, "ids": [message_id]}
        pipe = self._redis.pipeline(transaction=False)
        pipe.xdel(self._k.room_stream(room), message_id)
        pipe.publish(self._k.control, json.dumps(event))
        removed, _ = await self._call(pipe.execute())
        return bool(removed)

    async def end_session(self, digest: str, pid: str) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.delete(self._k.session(digest))
        # An erasure with nothing erased: every process closes the person's sockets.
        pipe.publish(self._k.control, json.dumps({"op": "erase", "pid": pid, "ids": {}}))
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

    # ---- subscriptions -----------------------------------------------------------------------

    async def subscribe(self, room: str) -> None:
        confirmed = self._rooms.get(room)
        if confirmed is None:
            confirmed = asyncio.get_running_loop().create_future()
            self._rooms[room] = confirmed
            try:
                await asyncio.wait_for(self._connected.wait(), SUBSCRIBE_WAIT_SECONDS)
                self._delivered[room] = await self._last_generated(room)
                self._waiting[self._k.room_channel(room).encode()] = confirmed
                assert self._pubsub is not None
                await self._pubsub.subscribe(self._k.room_channel(room))
            except (RedisError, OSError, TimeoutError) as exc:
                self._forget(room)
                if not confirmed.done():
                    confirmed.set_exception(StoreUnavailable(type(exc).__name__))
                    confirmed.exception()  # retrieved here; waiters get it below
        try:
            await asyncio.wait_for(asyncio.shield(confirmed), SUBSCRIBE_WAIT_SECONDS)
        except (TimeoutError, StoreUnavailable):
            self._forget(room)
            raise StoreUnavailable("subscription not confirmed") from None

    def _forget(self, room: str) -> None:
        self._rooms.pop(room, None)
        self._delivered.pop(room, None)
        self._waiting.pop(self._k.room_channel(room).encode(), None)

    async def unsubscribe(self, room: str) -> None:
        if room not in self._rooms:
            return
        self._forget(room)
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(self._k.room_channel(room))

    async def _last_generated(self, room: str) -> tuple[int, int]:
        try:
            info = await self._redis.xinfo_stream(self._k.room_stream(room))
        except ResponseError:  # no such stream yet
            return (0, 0)
        return parse_id(info["last-generated-id"].decode())

    async def _read_loop(self) -> None:
        backoff = 0.1
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(
                    self._k.control, *(self._k.room_channel(r) for r in self._rooms)
                )
                self._pubsub = pubsub
                await self._replay_gaps()
                self.healthy = True
                self._connected.set()
                backoff = 0.1
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._dispatch(message)
            except (RedisError, OSError, TimeoutError) as exc:
                if self.healthy:
                    log.warning("redis subscription lost: %s", type(exc).__name__)
                self.healthy = False
                self._connected.clear()
            finally:
                self._pubsub = None
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    await asyncio.shield(pubsub.aclose())
            await asyncio.sleep(backoff)
            backoff = min(RECONNECT_MAX_SECONDS, backoff * 2)

    async def _replay_gaps(self) -> None:
        """Pub/sub is at most once: after (re)subscribing, read what may have been missed."""
        for room in list(self._rooms):
            cursor = self._delivered.get(room)
            if cursor is None:
                continue
            entries = await self._redis.xrange(
                self._k.room_stream(room), f"({format_id(cursor)}", "+"
            )
            for entry in entries or ():
                self._deliver(self._entry(room, entry))

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        channel: bytes = message["channel"]
        if kind == "subscribe":
            waiter = self._waiting.pop(channel, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            return
        if kind != "message" or self._listener is None:
            return
        data: bytes = message["data"]
        if channel == self._k.control.encode():
            self._control_message(data)
            return
        room = channel.decode().removeprefix(self._k.channel_prefix)
        if data[:1] == b"m":
            message_id, key_id, blob = data[1:].split(b" ", 2)
            self._deliver(StoredMessage(room, message_id.decode(), key_id.decode(), blob))
        elif data[:1] == b"s":
            skip, _, frame = data[1:].decode().partition("\n")
            self._listener.on_signal(room, skip, frame)

    def _deliver(self, message: StoredMessage) -> None:
        assert self._listener is not None
        cursor = self._delivered.get(message.room)
        position = parse_id(message.id)
        if cursor is None or position <= cursor:
            return  # not subscribed any more, or already delivered (a replay overlap)
        self._delivered[message.room] = position
        self._listener.on_message(message)

    def _control_message(self, data: bytes) -> None:
        try:
            event = json.loads(data)
        except ValueError:
            return
        if self._listener is None or not isinstance(event, dict):
            return
        if event.get("op") == "erase":
            self._listener.on_erased(Erasure(event["pid"], event["ids"]))
        else:
            self._listener.on_control(event)


async def call(awaitable: Awaitable[Any]) -> Any:
    """Await a Redis call; an unreachable Redis becomes StoreUnavailable. An error reply
    stays what it is: a command error is a bug, not an outage, and NOSCRIPT (Redis
    restarted and forgot the scripts) is for the caller to answer by loading them again."""
    try:
        return await awaitable
    except ResponseError:
        raise
    except (RedisError, OSError, TimeoutError) as exc:
        raise StoreUnavailable(type(exc).__name__) from None


class _Retry:
    pass


_RETRY = _Retry()


def _ignore(_reply: Any) -> None:
    return None


def _fail(op: _Op, exc: BaseException) -> None:
    if op.future is not None and not op.future.done():
        op.future.set_exception(exc)
