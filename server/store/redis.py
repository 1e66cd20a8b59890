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
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError

from server.core.events import ControlEvent, to_json
from server.core.ratelimit import Rate
from server.store import (
    DEDUP_SECONDS,
    HISTORY_LATEST,
    HISTORY_PAGE,
    PRESENCE_TTL_MS,
    AppendResult,
    History,
    Listener,
    RateLimited,
    Sealer,
    StoredMessage,
    StoreUnavailable,
    format_id,
    next_id,
    parse_id,
)
from server.store.broker import Subscriptions, stored_message
from server.store.keys import KeySpace
from server.store.lua import SCRIPTS
from server.store.sessions import RedisSessions

log = logging.getLogger(__name__)

BATCH_MAX = 512  # commands per pipeline: big enough to amortise, small enough to stay fair
POOL_CONNECTIONS = 32  # for reads; waits (blocking pool) rather than failing under bursts
POOL_WAIT_SECONDS = 5.0
SOCKET_TIMEOUT_SECONDS = 5.0  # a partitioned Redis turns into an error, not a hang
SUBSCRIBE_WAIT_SECONDS = 5.0
RECONNECT_MAX_SECONDS = 5.0
RECONNECT_RETRIES = 1  # per command, after a dropped connection (see the pool below)
APPEND_RETRIES = 8  # id races with other processes resolve in one retry; 8 means "broken"


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


class RedisStore(RedisSessions):
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
        self._queue: deque[_Op] = deque()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriptions = Subscriptions(self._redis, self._k)
        # The last id this process proposed per room, so its own appends never collide.
        self._proposed: dict[str, tuple[int, int]] = {}

    def describe(self) -> str:
        return "Redis store"

    async def start(self, listener: Listener) -> None:
        self._subscriptions.listener = listener
        with contextlib.suppress(RedisError, OSError):
            await self._load_scripts()
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="redis-writer"),
            asyncio.create_task(self._subscriptions.run(), name="redis-reader"),
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
            return (
                bool(await asyncio.wait_for(self._redis.ping(), 1.0))
                and self._subscriptions.healthy
            )
        except (RedisError, OSError, TimeoutError):
            return False

    async def _load_scripts(self) -> None:
        for name, source in SCRIPTS.items():
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

    async def publish_control(self, event: ControlEvent) -> None:
        await self._call(self._redis.publish(self._k.control, json.dumps(to_json(event))))

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
        floor = max(
            self._proposed.get(room, (0, 0)), self._subscriptions.delivered.get(room, (0, 0))
        )
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
        messages = [stored_message(room, entry) for entry in entries]
        if int(mode) == 0:
            more = len(messages) > HISTORY_PAGE
            return History(messages[:HISTORY_PAGE], more, False)
        messages.reverse()
        return History(messages, False, int(mode) == 1)

    async def subscribe(self, room: str) -> None:
        await self._subscriptions.subscribe(room)

    async def unsubscribe(self, room: str) -> None:
        await self._subscriptions.unsubscribe(room)

    async def message(self, room: str, message_id: str) -> StoredMessage | None:
        entries = await self._call(
            self._redis.xrange(self._k.room_stream(room), message_id, message_id)
        )
        return stored_message(room, entries[0]) if entries else None


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
