"""This process's registry of live sockets by room and by person, and the store's listener.

A message that arrives from the store is decrypted and encoded once, then handed to every
local member's connection; a room is subscribed while it has at least one local member.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

from cryptography.exceptions import InvalidTag

from server.core import frames
from server.core.events import Close, ControlEvent, Removed
from server.core.messages import message_text, unpack
from server.core.metrics import Metrics
from server.core.protocol import CloseCode, encode
from server.core.ratelimit import TokenBucket
from server.crypto import KeyRing
from server.store import Erasure, Store, StoredMessage, parse_id
from server.ws.connection import Connection

log = logging.getLogger(__name__)
E = TypeVar("E")


class Hub:
    def __init__(self, store: Store, keys: KeyRing, metrics: Metrics) -> None:
        self._store = store
        self._keys = keys
        self._metrics = metrics
        self.rooms: dict[str, set[Connection]] = {}
        self.people: dict[str, set[Connection]] = {}
        # A room's lock, and how many tasks hold or wait for it: the entry goes when the last
        # one is done, so no per-room state outlives its use (a `leave` of 300,000 random
        # room ids once kept 300,000 locks, 104 MiB, for good).
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}
        # Control events by kind (server/core/events.py); services register their own.
        self._handlers: dict[type[Any], Callable[[Any], None]] = {}
        self.on(Close, self._on_close)
        self.on(Removed, self._on_removed)
        self._tasks: set[asyncio.Task[Any]] = set()
        # Frames a person may still send on this process, one bucket shared by all their
        # sockets here, so closing and reopening a socket does not refill it. A frame costs
        # this process's CPU, so this process's count is the one that protects it; `say`
        # is also counted across processes, in the store. Kept after the last socket closes
        # until the bucket is full again (forget_idle_paces).
        self.paces: dict[str, TokenBucket] = {}

    # ---- registry ---------------------------------------------------------------------------

    def connect(self, conn: Connection) -> None:
        self.people.setdefault(conn.person.pid, set()).add(conn)
        self._metrics.sockets += 1

    async def disconnect(self, conn: Connection) -> None:
        for room in list(conn.rooms):
            await self.leave(conn, room)
        mine = self.people.get(conn.person.pid)
        if mine is not None:
            mine.discard(conn)
            if not mine:
                del self.people[conn.person.pid]
        self._metrics.sockets -= 1

    def close_stalled(self, now: float) -> int:
        """R6: closes sockets whose writes have hung past the send timeout; returns how many."""
        return sum(1 for conns in list(self.people.values()) for c in list(conns) if c.stalled(now))

    def frame_bucket(self, pid: str, per_minute: float, burst: float, now: float) -> TokenBucket:
        bucket = self.paces.get(pid)
        if bucket is None:
            bucket = self.paces[pid] = TokenBucket.full(per_minute, burst, now)
        return bucket

    def forget_idle_paces(self, now: float) -> None:
        """Drops the buckets of people with no socket here that have refilled completely:
        forgetting them changes nothing, and a stranger's reconnects cannot pile them up."""
        for pid, bucket in list(self.paces.items()):
            if pid not in self.people and bucket.level(now) >= bucket.burst:
                del self.paces[pid]

    def sockets_of(self, pid: str) -> int:
        return len(self.people.get(pid, ()))

    async def enter(self, conn: Connection, room: str) -> None:
        """Add a connection to a room; returns once the room's subscription is live."""
        async with self._locked(room):
            members = self.rooms.setdefault(room, set())
            first = not members
            members.add(conn)
            if first:
                try:
                    await self._store.subscribe(room)
                except BaseException:
                    members.discard(conn)
                    if not members:
                        del self.rooms[room]
                    raise

    async def leave(self, conn: Connection, room: str) -> None:
        conn.rooms.pop(room, None)
        async with self._locked(room):
            members = self.rooms.get(room)
            if members is None or conn not in members:
                return
            members.discard(conn)
            if not members:
                del self.rooms[room]
                await self._store.unsubscribe(room)
        try:
            await self._store.presence(room, f"{conn.person.pid}|{conn.id}", False)
        except Exception:  # presence is advisory; an expired entry drops out by itself
            log.debug("presence update failed")

    @contextlib.asynccontextmanager
    async def _locked(self, room: str) -> AsyncIterator[None]:
        entry = self._locks.get(room)
        if entry is None:
            entry = self._locks[room] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._locks[room]

    def room_state_count(self) -> int:
        """Rooms with any per-room state here (members or a lock): for tests and metrics."""
        return len(self.rooms.keys() | self._locks.keys())

    def memberships(self) -> list[tuple[str, str]]:
        return [
            (room, f"{conn.person.pid}|{conn.id}")
            for room, members in self.rooms.items()
            for conn in members
        ]

    def close_all(self, code: int, reason: str) -> None:
        for conns in list(self.people.values()):
            for conn in list(conns):
                conn.close(code, reason)

    # ---- the store's listener ---------------------------------------------------------------

    def on_message(self, message: StoredMessage) -> None:
        members = self.rooms.get(message.room)
        if not members:
            return
        text = self.render(message)
        if text is None:
            return
        position = parse_id(message.id)
        for conn in list(members):
            conn.deliver(message.room, position, text)
        self._metrics.deliveries += len(members)

    def render(self, message: StoredMessage) -> str | None:
        try:
            plain = unpack(self._keys.open(message.key_id, message.blob, message.room, message.id))
        except (InvalidTag, ValueError, KeyError):
            # A record that fails authentication is never shown; it is counted, not logged
            # with content, so an operator can see that keys or data are wrong.
            self._metrics.undecryptable += 1
            return None
        return message_text(message.room, message.id, plain)

    def on_signal(self, room: str, skip: str, frame: str) -> None:
        # `skip` names a socket (presence: the joiner was told directly) or a person (typing:
        # none of the typer's own sockets is told).
        for conn in list(self.rooms.get(room, ())):
            if skip not in (conn.id, conn.person.pid):
                conn.send(frame)

    def on(self, kind: type[E], handler: Callable[[E], None]) -> None:
        """Runs `handler` for each control event of this kind, from any process."""
        self._handlers[kind] = handler

    def on_control(self, event: ControlEvent) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _on_close(self, event: Close) -> None:
        """Staff logout (one session) or account disabled (every session of the person)."""
        session, who = event.session, event.who
        for conns in list(self.people.values()):
            for conn in list(conns):
                if (session and conn.person.digest == session) or (who and conn.person.pid == who):
                    conn.close(CloseCode.POLICY, "session ended")

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a coroutine from a synchronous handler, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_removed(self, event: Removed) -> None:
        """A moderator removed messages: every socket in the room drops them."""
        members = self.rooms.get(event.room)
        if members:
            frame = encode(frames.erased(event.room, event.ids, by_moderator=True))
            for conn in list(members):
                conn.send(frame)

    def on_erased(self, erasure: Erasure) -> None:
        for conn in list(self.people.get(erasure.pid, ())):
            conn.close(CloseCode.POLICY, "session erased", flush=True)
        for room, ids in erasure.ids_by_room.items():
            members = self.rooms.get(room)
            if members:
                frame = encode(frames.erased(room, ids))
                for conn in list(members):
                    conn.send(frame)
