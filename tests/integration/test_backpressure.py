"""Heartbeats, slow readers, and what a process subscribes to."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import socket
import time
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
import websockets

from tests.client import Participant
from tests.integration.conftest import redis_env
from tests.support import RedisServer, ServerProcess, new_participant, start_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fast(redis_server: RedisServer) -> Iterator[ServerProcess]:
    env = redis_env(redis_server, PEERLINE_RATE_PER_MINUTE="600000", PEERLINE_RATE_BURST="10000")
    server = start_server(env)
    yield server
    server.stop()


@pytest.fixture
def impatient(redis_server: RedisServer) -> Iterator[ServerProcess]:
    server = start_server(redis_env(redis_server, PEERLINE_PING_SECONDS="0.5"))
    yield server
    server.stop()


def raw_upgrade(server: ServerProcess, cookie: str) -> socket.socket:
    """A client that completes the handshake and then never reads or answers a ping."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {server.base}\r\nCookie: {cookie}\r\n\r\n"
        ).encode()
    )
    head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 101"), head[:40]
    return sock


async def test_a_silent_peer_is_dropped_by_the_heartbeat(impatient: ServerProcess) -> None:
    sock = raw_upgrade(impatient, new_participant(impatient.base))
    started = time.monotonic()
    sock.settimeout(10)

    def read_until_eof() -> None:
        while sock.recv(65536):
            pass

    await asyncio.to_thread(read_until_eof)
    sock.close()
    # ping every 0.5 s, pong timeout 0.5 s: the server gives up within a couple of seconds.
    assert time.monotonic() - started < 5


async def test_a_reader_that_stops_reading_is_closed_with_4001_and_others_carry_on(
    fast: ServerProcess,
) -> None:
    writer = await Participant(fast, new_participant(fast.base)).connect()
    watcher = await Participant(fast, new_participant(fast.base)).connect()
    # A small receive buffer, so that what the server sends piles up on its side quickly.
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", fast.port))
    slow = await websockets.connect(
        fast.ws_url,
        origin=fast.base,  # type: ignore[arg-type]
        additional_headers={"cookie": new_participant(fast.base)},
        max_queue=1,
        max_size=None,
        sock=raw,
    )
    await slow.recv()  # hello
    await slow.send(json.dumps({"type": "join", "room": "families", "since": None}))
    await writer.join("families")
    await watcher.join("families")
    text = "x" * 3000
    last = None
    for i in range(5000):  # ~15 MB towards a reader that takes nothing
        await writer.send(type="say", room="families", text=text, nonce=f"s{i}")
        if i % 100 == 99:
            last = await writer.expect("ack", nonce=f"s{i}", timeout=10)
    assert last is not None
    got = await watcher.expect("message", id=last["id"], timeout=10)
    assert got["text"] == text
    with contextlib.suppress(websockets.ConnectionClosed):
        async with asyncio.timeout(20):
            while True:
                await slow.recv()
    assert slow.close_code == 4001
    await writer.close()
    await watcher.close()


async def test_a_process_subscribes_only_to_rooms_with_local_members(
    fast: ServerProcess,
    redis_server: RedisServer,
) -> None:
    channel = f"{fast.env['PEERLINE_REDIS_PREFIX']}c:early-days"
    client = aioredis.from_url(redis_server.url)
    try:

        async def subscribers() -> int:
            return int(dict(await client.pubsub_numsub(channel))[channel.encode()])

        assert await subscribers() == 0
        a = await Participant(fast, new_participant(fast.base)).connect()
        await a.join("early-days")
        assert await subscribers() == 1
        await a.send(type="leave", room="early-days")
        await a.expect("left")
        async with asyncio.timeout(5):
            while await subscribers() != 0:
                await asyncio.sleep(0.05)
        await a.close()
    finally:
        await client.aclose()


async def test_nonces_are_remembered_for_at_least_a_day(
    fast: ServerProcess,
    redis_server: RedisServer,
) -> None:
    a = await Participant(fast, new_participant(fast.base)).connect()
    await a.join("general")
    await a.say("general", "hello", secrets.token_hex(6))
    client = aioredis.from_url(redis_server.url)
    try:
        keys = [
            k async for k in client.scan_iter(match=f"{fast.env['PEERLINE_REDIS_PREFIX']}dedup:*")
        ]
        assert keys
        assert min([await client.ttl(k) for k in keys]) >= 86_400 - 60
    finally:
        await client.aclose()
    await a.close()
