"""Peer: python-socketio with AsyncRedisManager, the minimal server for Peerline's job.

`join` (a room name) puts the socket in the room and answers `joined`; `say`
({"room", "text", "nonce"}) emits `message` {"text"} to the whole room, the sender
included, on every server process (the manager relays emits through one Redis channel).
No storage, no encryption, no auth, no acknowledgement.

    PEERLINE_REDIS_URL=redis://127.0.0.1:6379/0 python -m bench.peers.socketio_app --port 8001
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import socketio
from redis import asyncio as aioredis
from redis.exceptions import ResponseError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bench.peers.serve import redis_client, redis_url, serve

# The heartbeat is Engine.IO's, kept at python-engineio's defaults: the server pings every
# 25 s (ping_interval) and drops a client whose pong has not come 20 s later (ping_timeout).
# This is the idle scenario's cost. BENCH_SIO_PING_SECONDS sets both, for tests only.
PING_SECONDS_ENV = "BENCH_SIO_PING_SECONDS"
# The manager subscribes a moment after it starts; startup waits for Redis to confirm it.
SUBSCRIBE_TIMEOUT_SECONDS = 10.0
SUBSCRIBE_POLL_SECONDS = 0.01


class _RedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """The stock manager on a waiting connection pool (see bench.peers.serve)."""

    def _redis_connect(self) -> None:
        self.redis = redis_client(self.redis_url, **self.redis_options)
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.connected = True


def create_app(url: str, ping_seconds: float | None = None) -> socketio.ASGIApp:
    # Named, so startup can find this process's subscriber connection in CLIENT LIST.
    client_name = f"bench-sio-{uuid.uuid4().hex[:12]}"
    manager = _RedisManager(url, redis_options={"client_name": client_name})
    heartbeat = (
        {}
        if ping_seconds is None
        else {"ping_interval": ping_seconds, "ping_timeout": ping_seconds}
    )
    sio = socketio.AsyncServer(
        async_mode="asgi",
        client_manager=manager,
        cors_allowed_origins="*",
        logger=False,
        engineio_logger=False,
        # Left at its default (async_handlers=True): each event runs in a task of its own,
        # so under load one sender's messages can overtake each other; the bench reports
        # that as `reordered` rather than the peer hiding it.
        **heartbeat,
    )

    @sio.on("join")
    async def join(sid: str, room: str) -> None:
        await sio.enter_room(sid, room)  # local: the manager relays emits, not membership
        await sio.emit("joined", room, to=sid)

    @sio.on("say")
    async def say(sid: str, data: dict[str, Any]) -> None:
        await sio.emit("message", {"text": data["text"]}, room=data["room"])

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # python-socketio starts the manager's Redis listener at the first connection, so a
        # process whose first client has just joined may not hear other processes yet.
        # Starting it here and waiting for Redis to list the subscription makes /readyz
        # (served only after startup) mean "hears every process".
        sio.manager_initialized = True
        manager.initialize()
        await _until_subscribed(url, client_name)
        try:
            yield
        finally:
            await sio.shutdown()
            manager.thread.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await manager.thread
            for conn in (manager.pubsub, manager.redis):
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.aclose()

    async def readyz(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    site = Starlette(routes=[Route("/readyz", readyz)], lifespan=lifespan)
    return socketio.ASGIApp(sio, other_asgi_app=site)


async def _until_subscribed(url: str, client_name: str) -> None:
    """Until Redis lists our named connection with a channel subscription (`sub=1`)."""
    probe = aioredis.Redis.from_url(url)
    try:
        async with asyncio.timeout(SUBSCRIBE_TIMEOUT_SECONDS):
            while True:
                try:
                    clients = await probe.client_list(_type="pubsub")
                except ResponseError as exc:  # CLIENT is refused on some managed Redis
                    print(
                        f"cannot confirm the subscription ({exc}); serving anyway", file=sys.stderr
                    )
                    return
                if any(c.get("name") == client_name and int(c.get("sub", 0)) > 0 for c in clients):
                    return
                await asyncio.sleep(SUBSCRIBE_POLL_SECONDS)
    finally:
        await probe.aclose()


def main() -> None:
    ping = os.environ.get(PING_SECONDS_ENV)
    serve(create_app(redis_url(), float(ping) if ping else None), __doc__ or "")


if __name__ == "__main__":
    main()
