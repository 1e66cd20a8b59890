"""The benchmark's peers (bench/peers/) do the job they stand in for, and their clients count it.

Each peer runs as two server processes on the test Redis; every message said must reach
every member of its room once, across processes. Never asserts a timing beyond generous
deadlines: this machine's speed is not what these tests are about.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.load import LoadSpec, run_load
from bench.peer_clients import BroadcasterClient, SocketIOClient
from bench.procs import ServerHandle
from tests.support import RedisServer

PEERS = ("socketio", "broadcaster")
# Engine.IO heartbeat for the ping test: every 1 s, and 1 s more to answer.
PING_SECONDS = 1.0


def _rooms() -> tuple[str, str]:
    """Plain channel names on a Redis that may be shared: a token keeps runs apart."""
    token = f"t{secrets.token_hex(3)}"
    return f"{token}-r1", f"{token}-r2"


@contextlib.contextmanager
def _servers(
    kind: str, redis: RedisServer, log_dir: Path, count: int, **env: str
) -> Iterator[list[ServerHandle]]:
    servers: list[ServerHandle] = []
    try:
        for _ in range(count):
            servers.append(
                ServerHandle.start({"PEERLINE_REDIS_URL": redis.url, **env}, log_dir, kind=kind)
            )
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()


def _assert_stopped_cleanly(servers: list[ServerHandle]) -> None:
    for server in servers:
        log = server.log_text()
        assert server.shut_down_cleanly(), log
        assert "Traceback" not in log and "ERROR" not in log, log


@pytest.mark.integration
@pytest.mark.timeout(90)
@pytest.mark.parametrize("kind", PEERS)
def test_every_message_reaches_every_member_once_across_processes(
    kind: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    with _servers(kind, redis_server, tmp_path, 2) as servers:
        result = run_load(
            LoadSpec(
                servers=tuple(s.ws_url for s in servers),
                client=kind,
                participants=10,
                rooms=_rooms(),
                rate=2,
                warmup=1,
                duration=3,
                quiet=1,
                workers=2,
            )
        )
    assert result["messages_acked"] == result["messages_sent"] > 0
    assert result["send_failures"] == 0 and result["messages_unacked"] == 0
    assert result["expected_deliveries"] > 0
    assert result["delivered"] == result["expected_deliveries"]
    assert result["lost"] == 0
    assert result["duplicates"] == 0
    assert result["foreign_messages"] == 0
    assert result["errors"] == {} and result["unexpected_closes"] == {}
    _assert_stopped_cleanly(servers)


@pytest.mark.integration
@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", PEERS)
def test_a_peer_stops_cleanly_on_sigterm_with_a_member_connected(
    kind: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    room = _rooms()[0]

    async def talk(server: ServerHandle) -> None:
        spec = LoadSpec(servers=(server.ws_url,), client=kind, participants=1, workers=1)
        client = (SocketIOClient if kind == "socketio" else BroadcasterClient)(spec)
        ws = await client.open(0, server.ws_url, room, None)
        try:
            await ws.send(client.say(room, "hello", "n1"))
            async with asyncio.timeout(10):
                while client.parse(await ws.recv())[:2] != ("message", "hello"):
                    pass
            stopping = asyncio.create_task(asyncio.to_thread(server.stop))
            with pytest.raises(ConnectionClosed):  # the server closes the socket, then exits
                async with asyncio.timeout(15):
                    while True:
                        await ws.recv()
            await stopping
        finally:
            await ws.close()

    with _servers(kind, redis_server, tmp_path, 1) as servers:
        asyncio.run(talk(servers[0]))
    _assert_stopped_cleanly(servers)


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_the_socketio_client_answers_pings_and_a_silent_one_is_dropped(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    room = _rooms()[0]

    async def answering(url: str) -> int:
        """Joined through the load client, answering as the generator does; >3 intervals."""
        client = SocketIOClient(LoadSpec(servers=(url,), client="socketio", workers=1))
        ws = await client.open(0, url, room, None)
        pings = 0
        try:
            loop = asyncio.get_running_loop()
            until = loop.time() + 3.5 * PING_SECONDS
            while (left := until - loop.time()) > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        kind, frame, _ = client.parse(await ws.recv())
                        if kind == "reply":
                            await ws.send(frame)
                            pings += 1
            # Still connected, and still in its room.
            await ws.send(client.say(room, "still here", "n1"))
            async with asyncio.timeout(5):
                while client.parse(await ws.recv())[:2] != ("message", "still here"):
                    pass
        finally:
            await ws.close()
        return pings

    async def silent(url: str) -> float:
        """Connects to the namespace and never answers a ping: the server must drop it."""
        async with connect(url, proxy=None, ping_interval=None) as ws:
            opened = json.loads(str(await ws.recv())[1:])
            assert opened["pingInterval"] == PING_SECONDS * 1000
            await ws.send("40")
            loop = asyncio.get_running_loop()
            began = loop.time()
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(10 * PING_SECONDS):
                    while True:
                        await ws.recv()
            return loop.time() - began

    async def both(url: str) -> tuple[int, float]:
        return await asyncio.gather(answering(url), silent(url))

    ping = {"BENCH_SIO_PING_SECONDS": str(PING_SECONDS)}
    with _servers("socketio", redis_server, tmp_path, 1, **ping) as servers:
        pings, dropped_after = asyncio.run(both(servers[0].ws_url))
    assert pings >= 3
    # Dropped once a ping went unanswered for ping_timeout: after about 2 s here.
    assert 1.5 * PING_SECONDS <= dropped_after < 6 * PING_SECONDS
    _assert_stopped_cleanly(servers)


# ---- the clients' framing, without servers -------------------------------------------------


def test_the_socketio_client_reads_engine_io_and_socket_io_frames() -> None:
    client = SocketIOClient(LoadSpec(servers=("ws://x/socket.io/",), client="socketio"))
    assert client.parse('42["message",{"text":"hi \\"you\\""}]') == ("message", 'hi "you"', None)
    assert client.parse('42[ "message", {"text": "spaced"}]') == ("message", "spaced", None)
    assert client.parse("2") == ("reply", "3", None)
    for other in ('42["joined","r"]', "3", '40{"sid":"a"}', "6", b"\x04bin"):
        assert client.parse(other) == ("other", None, None)
    said = client.say("r", "text", "n")
    assert said.startswith("42") and json.loads(said[2:]) == [
        "say",
        {"room": "r", "text": "text", "nonce": "n"},
    ]


def test_the_broadcaster_client_reads_message_frames() -> None:
    client = BroadcasterClient(LoadSpec(servers=("ws://x/ws",), client="broadcaster"))
    as_written = json.dumps({"type": "message", "text": "hi"})  # the peer's own json.dumps
    assert client.parse(as_written) == ("message", "hi", None)
    assert client.parse('{"text":"compact","type":"message"}') == ("message", "compact", None)
    assert client.parse('{"type": "joined", "room": "r"}') == ("other", None, None)
    assert json.loads(client.say("r", "t", "n")) == {
        "type": "say",
        "room": "r",
        "text": "t",
        "nonce": "n",
    }
