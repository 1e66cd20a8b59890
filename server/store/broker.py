"""Live fan-out from Redis pub/sub: which rooms this process listens to, and the reader.

Pub/sub is only a wake-up: after any reconnect the reader replays each subscribed room's
stream from the last id it delivered, so a dropped subscription loses nothing, and an id at
or below that cursor is dropped, so a replay never delivers twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError, ResponseError

from server.core.events import Erased, from_json
from server.store import Erasure, Listener, StoredMessage, StoreUnavailable, format_id, parse_id
from server.store.keys import KeySpace

log = logging.getLogger(__name__)

SUBSCRIBE_WAIT_SECONDS = 5.0
RECONNECT_MAX_SECONDS = 5.0


def stored_message(room: str, entry: Any) -> StoredMessage:
    raw_id, fields = entry
    if isinstance(fields, list):  # RESP2 gives a flat list
        fields = dict(zip(fields[::2], fields[1::2], strict=True))
    return StoredMessage(room, raw_id.decode(), fields[b"k"].decode(), fields[b"d"])


class Subscriptions:
    def __init__(self, redis: Redis, keys: KeySpace) -> None:
        self._redis = redis
        self._k = keys
        self.listener: Listener | None = None
        self._pubsub: PubSub | None = None
        # room -> a future that resolves when Redis confirmed the subscription; concurrent
        # joins of one room all wait for the same confirmation before reading history.
        self._rooms: dict[str, asyncio.Future[None]] = {}
        self._waiting: dict[bytes, asyncio.Future[None]] = {}
        # The highest id handed to the listener per room: the replay cursor after a pub/sub
        # reconnect, and what makes a replayed or repeated message drop out here.
        self.delivered: dict[str, tuple[int, int]] = {}
        self._connected = asyncio.Event()
        self.healthy = False

    async def subscribe(self, room: str) -> None:
        confirmed = self._rooms.get(room)
        if confirmed is None:
            confirmed = asyncio.get_running_loop().create_future()
            self._rooms[room] = confirmed
            try:
                await asyncio.wait_for(self._connected.wait(), SUBSCRIBE_WAIT_SECONDS)
                self.delivered[room] = await self._last_generated(room)
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
        self.delivered.pop(room, None)
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

    async def run(self) -> None:
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
            cursor = self.delivered.get(room)
            if cursor is None:
                continue
            entries = await self._redis.xrange(
                self._k.room_stream(room), f"({format_id(cursor)}", "+"
            )
            for entry in entries or ():
                self._deliver(stored_message(room, entry))

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        channel: bytes = message["channel"]
        if kind == "subscribe":
            waiter = self._waiting.pop(channel, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            return
        if kind != "message" or self.listener is None:
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
            self.listener.on_signal(room, skip, frame)

    def _deliver(self, message: StoredMessage) -> None:
        assert self.listener is not None
        cursor = self.delivered.get(message.room)
        position = parse_id(message.id)
        if cursor is None or position <= cursor:
            return  # not subscribed any more, or already delivered (a replay overlap)
        self.delivered[message.room] = position
        self.listener.on_message(message)

    def _control_message(self, data: bytes) -> None:
        try:
            event = from_json(json.loads(data))
        except ValueError:
            return
        if self.listener is None or event is None:
            return  # not JSON, malformed, or of a kind this version does not know
        if isinstance(event, Erased):
            self.listener.on_erased(Erasure(event.pid, event.ids))
        else:
            self.listener.on_control(event)
