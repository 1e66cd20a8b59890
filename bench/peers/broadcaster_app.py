"""Peer: Starlette with broadcaster's Redis backend, the minimal server for Peerline's job.

One WebSocket at `/ws` speaking JSON text frames: {"type": "join", "room"} answers
{"type": "joined", "room"} once the room's Redis subscription is live, and then relays
every message published in the room; {"type": "say", "room", "text", "nonce"} publishes
{"type": "message", "text"} to the room, the sender included. A bare baseline: it neither
stores, encrypts, scans nor acknowledges.

    PEERLINE_REDIS_URL=redis://127.0.0.1:6379/0 python -m bench.peers.broadcaster_app --port 8002
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

from broadcaster import Broadcast
from broadcaster._backends.redis import RedisBackend
from broadcaster._base import Subscriber
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bench.peers.serve import redis_client, redis_url, serve

# broadcaster 0.3.1 with redis-py 8, as shipped, loses messages in two ways (the first made
# every join of the first bench run time out); the fixes are the smallest that keep its API:
# 1. RedisBackend.subscribe wakes its listener before redis-py has recorded the channel
#    (PubSub.subscribe yields to the loop before it does), so the listener sees no
#    subscription, stops listening and sleeps until the process subscribes another channel:
#    a process's first room hears nothing. _RedisBackend wakes it after the subscribe.
# 2. Broadcast.subscribe checks for existing subscribers, awaits the backend, then *sets*
#    the channel's subscriber set, so two first joins of one room at once keep only one of
#    the two queues (the other socket hears nothing, and its exit raises KeyError). First
#    subscriptions are taken one at a time.
#
# And Broadcast.subscribe returns once SUBSCRIBE is written, not when Redis has done it
# (redis-py does not wait for the confirmation, and broadcaster's listener drops it), so a
# message published right after could miss us. Each join publishes a probe to its room and
# answers `joined` when the probe comes back through its own subscriber; every relay drops
# probes. A probe can itself be published too early, so it is repeated until it arrives.
PROBE_HEAD = '{"type": "probe"'  # how json.dumps starts a probe, checked before anything else
PROBE_REPEAT_SECONDS = 0.1  # a live subscription on loopback answers in well under 1 ms
JOIN_TIMEOUT_SECONDS = 10.0  # then the room is not reachable: close rather than hang


class _RedisBackend(RedisBackend):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        # Replaced before first use (nothing connected yet): the peers' waiting pool.
        self._conn = redis_client(url)
        self._pubsub = self._conn.pubsub()

    async def subscribe(self, channel: str) -> None:
        await self._pubsub.subscribe(channel)
        self._ready.set()  # only now does the listener find a channel to listen on


def create_app(url: str) -> Starlette:
    broadcast = Broadcast(backend=_RedisBackend(url))
    first_subscribe = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def subscribed(room: str) -> AsyncIterator[Subscriber]:
        async with contextlib.AsyncExitStack() as stack:
            async with first_subscribe:
                subscriber = await stack.enter_async_context(broadcast.subscribe(channel=room))
            yield subscriber

    async def relay(ws: WebSocket, room: str) -> None:
        probe = json.dumps({"type": "probe", "token": secrets.token_hex(8)})
        async with subscribed(room) as subscriber:
            try:
                async with asyncio.timeout(JOIN_TIMEOUT_SECONDS):
                    await broadcast.publish(channel=room, message=probe)
                    while True:
                        try:
                            async with asyncio.timeout(PROBE_REPEAT_SECONDS):
                                event = await subscriber.get()
                        except TimeoutError:
                            await broadcast.publish(channel=room, message=probe)
                            continue
                        if event.message == probe:
                            break
                        if not event.message.startswith(PROBE_HEAD):
                            await ws.send_text(event.message)
            except TimeoutError:
                await ws.close(code=1011, reason="room unreachable")
                return
            await ws.send_text(json.dumps({"type": "joined", "room": room}))
            while True:  # until cancelled: the socket closed
                event = await subscriber.get()
                if not event.message.startswith(PROBE_HEAD):
                    await ws.send_text(event.message)

    async def chat(ws: WebSocket) -> None:
        await ws.accept()
        relays: dict[str, asyncio.Task[None]] = {}
        try:
            while True:
                raw = await ws.receive_text()
                try:
                    frame: dict[str, Any] = json.loads(raw)
                    kind, room = frame["type"], str(frame["room"])
                except (ValueError, KeyError, TypeError):
                    continue  # not a frame of this protocol
                if kind == "say":
                    message = json.dumps({"type": "message", "text": frame.get("text", "")})
                    await broadcast.publish(channel=room, message=message)
                elif kind == "join" and room not in relays:
                    relays[room] = asyncio.create_task(relay(ws, room))
        except WebSocketDisconnect:
            pass
        finally:
            for task in relays.values():
                task.cancel()
            # A relay may also have ended on its own (a send to the closed socket failed).
            await asyncio.gather(*relays.values(), return_exceptions=True)

    async def readyz(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await broadcast.connect()
        try:
            yield
        finally:
            await broadcast.disconnect()

    return Starlette(
        routes=[Route("/readyz", readyz), WebSocketRoute("/ws", chat)],
        lifespan=lifespan,
    )


def main() -> None:
    serve(create_app(redis_url()), __doc__ or "")


if __name__ == "__main__":
    main()
