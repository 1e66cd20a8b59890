"""Redis going away: no false acks, honest readiness, recovery; and content expiry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis

from tests.client import Participant
from tests.integration.conftest import redis_env
from tests.support import (
    RedisServer,
    ServerProcess,
    http_json,
    new_participant,
    start_private_redis,
    start_server,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = start_private_redis()
    yield server
    server.stop()


async def wait_ready(server: ServerProcess, want: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _, _ = await asyncio.to_thread(http_json, "GET", f"{server.base}/readyz")
        if status == want:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"/readyz never answered {want}")


async def test_sends_while_redis_is_down_get_an_error_never_an_ack(own_redis: RedisServer) -> None:
    port = int(own_redis.url.rsplit(":", 1)[1].split("/")[0])
    server = start_server(redis_env(own_redis))
    try:
        a = await Participant(server, new_participant(server.base)).connect()
        b = await Participant(server, new_participant(server.base)).connect()
        await a.join("general")
        await b.join("general")
        before = await a.say("general", "before the outage", "n-before")
        await b.expect("message", id=before["id"])

        own_redis.kill()
        await wait_ready(server, 503)
        await a.send(type="say", room="general", text="during the outage", nonce="n-during")
        error = await a.expect("error", timeout=12)
        assert error["code"] == "unavailable"
        assert not [f for f in a.frames if f["type"] == "ack" and f["nonce"] == "n-during"]
        status, _, body = http_json("GET", f"{server.base}/readyz")
        assert status == 503 and body["error"] == "unavailable"

        # Redis comes back empty (its data is gone, as after a crash without persistence).
        restarted = start_private_redis(port)
        try:
            await wait_ready(server, 200)
            again = await a.say("general", "during the outage", "n-during")
            got = await b.expect("message", id=again["id"], timeout=10)
            assert got["text"] == "during the outage"
            # Ids keep rising across the loss, so a resume still returns what came after.
            assert again["id"] > before["id"]
            joined = await b.join("general", since=before["id"])
            assert [m["id"] for m in joined["history"]] == [again["id"]]
            # Sessions were lost with the data: a new socket needs consent again.
            status, _, _ = http_json(
                "GET", f"{server.base}/api/session", headers={"cookie": b.cookie}
            )
            assert status == 401
        finally:
            restarted.stop()
        await a.close()
        await b.close()
    finally:
        server.stop()


async def test_content_expires_after_the_retention_period(redis_server: RedisServer) -> None:
    retention_days = 2 / 86_400  # two seconds
    env = redis_env(
        redis_server, PEERLINE_RETENTION_DAYS=str(retention_days), PEERLINE_PURGE_SECONDS="0.5"
    )
    server = start_server(env)
    try:
        a = await Participant(server, new_participant(server.base)).connect()
        await a.join("general")
        old = await a.say("general", "short lived", "n-old")
        b = await Participant(server, new_participant(server.base)).connect()
        assert [m["id"] for m in (await b.join("general"))["history"]] == [old["id"]]
        await asyncio.sleep(3.5)
        c = await Participant(server, new_participant(server.base)).connect()
        assert (await c.join("general"))["history"] == []
        stale = await c.join("general", since=old["id"])
        assert stale["history"] == [] and not stale["more"]
        client = aioredis.from_url(redis_server.url)
        prefix = env["PEERLINE_REDIS_PREFIX"]
        try:
            assert await client.xlen(f"{prefix}room:{{general}}:s") == 0
        finally:
            await client.aclose()
        for p in (a, b, c):
            await p.close()
    finally:
        server.stop()


async def test_a_join_right_after_redis_comes_back_empty_works(own_redis: RedisServer) -> None:
    """Regression: NOSCRIPT was taken for an outage, so after a Redis restart every join
    answered `unavailable` until some message happened to reload the scripts."""
    port = int(own_redis.url.rsplit(":", 1)[1].split("/")[0])
    server = start_server(redis_env(own_redis))
    restarted = None
    try:
        a = await Participant(server, new_participant(server.base)).connect()
        await a.join("general")
        own_redis.kill()
        restarted = start_private_redis(port)
        await wait_ready(server, 200)
        b = await Participant(server, new_participant(server.base)).connect()
        joined = await b.join("families")  # no message has been sent since the restart
        assert joined["history"] == []
        await a.close()
        await b.close()
    finally:
        server.stop()
        if restarted is not None:
            restarted.stop()
