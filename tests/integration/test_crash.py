"""Promise 1 under a crash: SIGKILL a server process in the middle of a conversation."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from tests.client import Participant
from tests.integration.conftest import redis_env
from tests.support import RedisServer, ServerProcess, new_participant, start_server

pytestmark = pytest.mark.integration

MESSAGES = 80
KILL_AFTER = 25
SEND_INTERVAL_SECONDS = 0.01


class ResilientSender:
    """What the participant page does: resend unacknowledged says with their nonces after a
    reconnect to whichever server answers, and resume the room with `since`."""

    def __init__(self, servers: list[ServerProcess], cookie: str, room: str) -> None:
        self.servers = servers
        self.cookie = cookie
        self.room = room
        self.unacked: dict[str, str] = {}  # nonce -> text, in send order
        self.acked: dict[str, str] = {}  # nonce -> id
        self.last_id: str | None = None
        self.ws: Any = None
        self.reconnects = 0
        self._connected = asyncio.Event()

    async def run_reader(self) -> None:
        while True:
            for server in self.servers:
                try:
                    self.ws = await websockets.connect(
                        server.ws_url,
                        origin=server.base,
                        additional_headers={"cookie": self.cookie},
                        open_timeout=2,
                    )
                    break
                except (OSError, websockets.InvalidStatus, TimeoutError):
                    continue
            else:
                await asyncio.sleep(0.1)
                continue
            try:
                await self.ws.send(
                    json.dumps({"type": "join", "room": self.room, "since": self.last_id})
                )
                async for raw in self.ws:
                    frame = json.loads(raw)
                    if frame["type"] == "joined":
                        for message in frame["history"]:
                            self.last_id = message["id"]
                        for nonce, text in list(self.unacked.items()):
                            await self.ws.send(
                                json.dumps(
                                    {"type": "say", "room": self.room, "text": text, "nonce": nonce}
                                )
                            )
                        self._connected.set()
                    elif frame["type"] == "ack":
                        self.unacked.pop(frame["nonce"], None)
                        self.acked[frame["nonce"]] = frame["id"]
                    elif frame["type"] == "message":
                        self.last_id = frame["id"]
            except websockets.ConnectionClosed:
                pass
            self._connected.clear()
            self.reconnects += 1

    async def say(self, text: str, nonce: str) -> None:
        self.unacked[nonce] = text
        await self._connected.wait()
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.ws.send(
                json.dumps({"type": "say", "room": self.room, "text": text, "nonce": nonce})
            )


@pytest.fixture
def servers(redis_server: RedisServer) -> Iterator[list[ServerProcess]]:
    env = redis_env(redis_server, PEERLINE_RATE_PER_MINUTE="60000", PEERLINE_RATE_BURST="1000")
    started = [start_server(env), start_server(env)]
    yield started
    for server in started:
        server.stop()


async def test_sigkill_mid_conversation_loses_no_acknowledged_message(
    servers: list[ServerProcess],
) -> None:
    doomed, survivor = servers
    receiver = await Participant(survivor, new_participant(survivor.base)).connect()
    await receiver.join("general")
    sender = ResilientSender([doomed, survivor], new_participant(doomed.base), "general")
    reader = asyncio.create_task(sender.run_reader())
    try:
        for i in range(MESSAGES):
            if i == KILL_AFTER:
                doomed.kill()
            await sender.say(f"message {i:03d}", f"nonce-{i:03d}")
            await asyncio.sleep(SEND_INTERVAL_SECONDS)
        async with asyncio.timeout(15):
            while sender.unacked:
                await asyncio.sleep(0.05)
        last = sender.acked[f"nonce-{MESSAGES - 1:03d}"]
        await receiver.expect("message", id=last, timeout=5)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        if sender.ws is not None:
            await sender.ws.close()
    assert sender.reconnects >= 1, "the kill did not interrupt the sender"
    assert len(sender.acked) == MESSAGES
    got = [m for m in receiver.messages("general")]
    ids = [m["id"] for m in got]
    assert len(ids) == len(set(ids)), "a message was shown twice"
    assert [m["text"] for m in got] == [f"message {i:03d}" for i in range(MESSAGES)]
    assert ids == [sender.acked[f"nonce-{i:03d}"] for i in range(MESSAGES)]
    await receiver.close()
