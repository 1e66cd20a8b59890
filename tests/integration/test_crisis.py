"""Crisis safety across two real server processes on real Redis: resources at once, alerts
up the ladder, acknowledgement exactly once, survival of a killed process, the hourly cap."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.client import Participant
from tests.integration.conftest import redis_env
from tests.integration.sockets import connect, console, participant
from tests.support import (
    ROOT,
    RedisServer,
    ServerProcess,
    add_staff,
    http_json,
    staff_session,
    start_private_redis,
    start_server,
)

pytestmark = pytest.mark.integration

Pair = tuple[ServerProcess, ServerProcess]
URGENT = "my friend isnt breathing and his lips are blue"
CONCERN = "some days i wish i was dead"
ACK_SECONDS = 2


def program_file(tmp: Path, ack_seconds: int) -> str:
    demo = (ROOT / "server" / "demo_program.toml").read_text()
    path = tmp / "program.toml"
    path.write_text(demo.replace("ack_seconds = 60", f"ack_seconds = {ack_seconds}"))
    return str(path)


def crisis_env(redis: RedisServer, tmp: Path) -> dict[str, str]:
    return redis_env(redis, PEERLINE_CONFIG=program_file(tmp, ACK_SECONDS))


@pytest.fixture(scope="module")
def crisis_pair(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    env = crisis_env(redis_server, tmp_path_factory.mktemp("crisis"))
    first, second = start_server(env), start_server(env)
    yield first, second
    first.stop()
    second.stop()


async def writer(server: ServerProcess, room: str = "general") -> Participant:
    return await participant(server, room)


async def quiet_ladder(pair: Pair) -> None:
    """Take every open alert, so one test's alerts do not page the next test's consoles."""
    env = pair[0].env
    client = aioredis.Redis.from_url(env["PEERLINE_REDIS_URL"])
    prefix = env["PEERLINE_REDIS_PREFIX"]
    for escalation in await client.smembers(f"{prefix}esc:open"):
        key = f"{prefix}e:{escalation.decode()}"
        await client.hset(key, "taken", "test-cleanup")
        await client.srem(f"{prefix}esc:open", escalation)
    await client.delete(f"{prefix}oncall")
    await client.aclose()


@pytest.fixture(autouse=True)
async def fresh_ladder(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    if "crisis_pair" in request.fixturenames:
        await quiet_ladder(request.getfixturevalue("crisis_pair"))
    yield


async def test_urgent_gives_resources_at_once_and_pages_the_on_call_facilitator(
    crisis_pair: Pair,
) -> None:
    on_call = await console(crisis_pair[0], "facilitator", on_call=True)
    off_call = await console(crisis_pair[1], "facilitator")
    person = await writer(crisis_pair[1])
    started = time.monotonic()
    await person.send(type="say", room="general", text=URGENT, nonce="u1", ref="u1")
    notice = await person.expect("notice", timeout=1.0)
    assert notice["kind"] == "crisis_resources" and notice["room"] == "general"
    assert {r["name"] for r in notice["resources"]} >= {"988 Suicide & Crisis Lifeline"}
    ack = await person.expect("ack", ref="u1")
    assert person.frames.index(notice) < person.frames.index(ack)  # before the ack
    alert = await on_call.expect("alert", timeout=1.0)
    assert time.monotonic() - started < 1.0
    assert alert["room"] == "general" and alert["level"] == "urgent" and alert["rung"] == 1
    assert alert["excerpt"] == URGENT and alert["room_name"] == "General recovery"
    assert alert["deadline"] >= alert["since"] + ACK_SECONDS * 1000
    # Rung 1 is the on-call facilitator only: the other is paged after ack_seconds.
    await asyncio.sleep(0.5)
    assert not [f for f in off_call.frames if f["type"] == "alert"]
    # Nobody else in the room learns anything.
    other = await writer(crisis_pair[0])
    await asyncio.sleep(0.3)
    assert not [f for f in other.frames if f["type"] in ("notice", "alert")]


async def test_concern_gives_resources_but_no_alert(crisis_pair: Pair) -> None:
    on_call = await console(crisis_pair[0], "facilitator", on_call=True)
    person = await writer(crisis_pair[1])
    ack = await person.say("general", CONCERN, "c1")
    assert ack["id"]
    assert (await person.expect("notice"))["kind"] == "crisis_resources"
    await asyncio.sleep(0.8)
    assert not [f for f in on_call.frames if f["type"] == "alert"]
    ordinary = await person.say("general", "picked up my 90 day chip today!", "c2")
    assert ordinary["id"]
    await asyncio.sleep(0.2)
    assert len([f for f in person.frames if f["type"] == "notice"]) == 1


async def test_one_acknowledgement_wins_and_every_console_hears(crisis_pair: Pair) -> None:
    a = await console(crisis_pair[0], "facilitator", on_call=True)
    b = await console(crisis_pair[1], "facilitator", on_call=True)
    person = await writer(crisis_pair[0])
    await person.say("general", URGENT, "t1")
    alert_a, alert_b = await a.expect("alert"), await b.expect("alert")
    assert alert_a["escalation"] == alert_b["escalation"]
    escalation = alert_a["escalation"]
    await asyncio.gather(
        a.send(type="ack_alert", escalation=escalation, ref="mine"),
        b.send(type="ack_alert", escalation=escalation, ref="mine"),
    )
    answers = [await a.answer("mine"), await b.answer("mine")]
    assert sorted(x["type"] for x in answers) == ["alert_taken", "error"]
    assert next(x for x in answers if x["type"] == "error")["code"] == "already_taken"
    winner = a if answers[0]["type"] == "alert_taken" else b
    loser = b if winner is a else a
    taken = await loser.expect("alert_taken", escalation=escalation)
    assert taken["by"] == winner.hello["you"]["name"]
    await asyncio.sleep(ACK_SECONDS + 0.7)  # taken: the ladder stops
    assert len([f for f in a.frames + b.frames if f["type"] == "alert"]) == 2


async def test_nobody_acknowledges_so_the_next_rungs_are_paged(crisis_pair: Pair) -> None:
    on_call = await console(crisis_pair[0], "facilitator", on_call=True)
    off_call = await console(crisis_pair[1], "facilitator")
    supporter = await console(crisis_pair[0], "supporter")
    person = await writer(crisis_pair[1])
    await person.say("general", URGENT, "l1")
    first = await on_call.expect("alert")
    assert first["rung"] == 1
    second = await off_call.expect("alert", timeout=ACK_SECONDS + 2)
    assert second["rung"] == 2 and second["escalation"] == first["escalation"]
    again = await on_call.expect("alert", rung=2)  # earlier rungs stay paged
    assert again["escalation"] == first["escalation"]
    third = await supporter.expect("alert", timeout=ACK_SECONDS + 2)
    assert third["rung"] == 3
    repeat = await supporter.expect("alert", rung=3, timeout=ACK_SECONDS + 2)  # repeats
    assert repeat["deadline"] > third["deadline"]
    # Anyone paged may take it, a supporter included.
    await supporter.send(type="ack_alert", escalation=first["escalation"], ref="s")
    await supporter.expect("alert_taken", ref="s")
    await on_call.expect("alert_taken", escalation=first["escalation"])


async def test_a_closed_console_gets_the_open_alert_when_it_comes_back(crisis_pair: Pair) -> None:
    who = await add_staff(crisis_pair[0].env, "back" + secrets.token_hex(4), "facilitator")
    cookie, _ = staff_session(crisis_pair[0].base, who)
    c = await connect(crisis_pair[0], cookie, staff=True)
    await c.send(type="on_call", on=True, ref="oc")
    await c.expect("on_call", ref="oc")
    person = await writer(crisis_pair[1])
    await person.say("general", URGENT, "b1")
    escalation = (await c.expect("alert"))["escalation"]
    await c.close()
    again = await connect(crisis_pair[1], cookie, staff=True)
    alert = await again.expect("alert", escalation=escalation)
    await again.send(type="ack_alert", escalation=escalation, ref="k")
    await again.expect("alert_taken", ref="k")
    assert alert["excerpt"] == URGENT


async def test_more_than_five_alerts_an_hour_are_held_for_a_moderator(crisis_pair: Pair) -> None:
    on_call = await console(crisis_pair[0], "facilitator", on_call=True)
    person = await writer(crisis_pair[1])
    for i in range(7):
        await person.say("general", f"{URGENT} {i}", f"h{i}")
    await asyncio.sleep(1.0)
    alerts = {f["escalation"] for f in on_call.frames if f["type"] == "alert"}
    assert len(alerts) == 5
    env = crisis_pair[0].env
    client = aioredis.Redis.from_url(env["PEERLINE_REDIS_URL"])
    flags = await client.xrange(f"{env['PEERLINE_REDIS_PREFIX']}flags")
    await client.aclose()
    kinds = [f[b"kind"] for _, f in flags[-7:]]
    assert kinds.count(b"held") == 2 and kinds.count(b"flag") == 5
    # The writer still got the resources every time.
    assert len([f for f in person.frames if f.get("kind") == "crisis_resources"]) == 7


async def test_a_flagged_message_lifts_the_writers_ticket(crisis_pair: Pair) -> None:
    supporter = await console(crisis_pair[0], "supporter")
    person = await writer(crisis_pair[1])
    await person.send(type="request_support", topic=None, ref="q")
    ticket = (await person.expect("queued", ref="q"))["ticket"]
    await person.say("general", CONCERN, "p1")
    while True:
        frame = await supporter.expect("queue")
        mine = [i for i in frame["waiting"] if i["ticket"] == ticket]
        if mine and mine[0]["priority"] == "concern":
            break
    await person.say("general", URGENT, "p2")
    while True:
        frame = await supporter.expect("queue")
        if frame["waiting"] and frame["waiting"][0]["ticket"] == ticket:
            assert frame["waiting"][0]["priority"] == "urgent"
            break


async def test_an_alert_survives_the_death_of_the_process_that_raised_it(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    env = crisis_env(redis_server, tmp_path)
    raiser = start_server(env)
    survivor = None
    try:
        person = await writer(raiser)
        await person.say("general", URGENT, "k1")
        await asyncio.sleep(1.0)  # the raiser's ladder loop has taken it from the group
        raiser.kill()  # SIGKILL: no goodbye, no cleanup; its pending entry is orphaned
        survivor = start_server(env)  # only XAUTOCLAIM can hand it to this one
        # Nobody was online when it was raised; a facilitator comes to the survivor.
        c = await console(survivor, "facilitator", on_call=True)
        alert = await c.expect("alert", timeout=10.0)
        # The ladder goes on without the raiser: the survivor owns it (it read it first, or
        # claimed it from the dead one) and pages again when the deadline passes.
        repeat = await c.expect("alert", escalation=alert["escalation"], timeout=10.0)
        assert repeat["deadline"] > alert["deadline"]
        await c.send(type="ack_alert", escalation=alert["escalation"], ref="k")
        await c.expect("alert_taken", ref="k")
        await c.send(type="ack_alert", escalation=alert["escalation"], ref="again")
        assert (await c.expect("error", ref="again"))["code"] == "already_taken"
        client = aioredis.Redis.from_url(env["PEERLINE_REDIS_URL"])
        prefix = env["PEERLINE_REDIS_PREFIX"]
        pending = await client.xpending(f"{prefix}esc", "facilitators")
        taken = await client.hget(f"{prefix}e:{alert['escalation']}", "taken")
        await client.aclose()
        assert pending["pending"] == 0  # acknowledged exactly once, nothing left pending
        assert taken and taken.decode() == c.hello["you"]["id"]
        seen = len([f for f in c.frames if f["type"] == "alert"])
        await asyncio.sleep(ACK_SECONDS + 0.7)
        assert len([f for f in c.frames if f["type"] == "alert"]) == seen  # taken: no repeats
    finally:
        raiser.stop()
        if survivor is not None:
            survivor.stop()


async def test_retention_removes_excerpts_and_flags_but_keeps_the_record(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    env = {
        **crisis_env(redis_server, tmp_path),
        "PEERLINE_RETENTION_DAYS": "0.00002",  # 1.7 s
        "PEERLINE_PURGE_SECONDS": "0.5",
    }
    server = start_server(env)
    try:
        person = await writer(server)
        await person.say("general", URGENT, "r1")
        client = aioredis.Redis.from_url(env["PEERLINE_REDIS_URL"])
        prefix = env["PEERLINE_REDIS_PREFIX"]
        escalation = (await client.smembers(f"{prefix}esc:open")).pop().decode()
        assert await client.hexists(f"{prefix}e:{escalation}", "d")
        await asyncio.sleep(3.0)
        record = await client.hgetall(f"{prefix}e:{escalation}")
        flags = await client.xlen(f"{prefix}flags")
        pending = (await client.xpending(f"{prefix}esc", "facilitators"))["pending"]
        await client.aclose()
        assert b"d" not in record and b"k" not in record  # the excerpt is gone
        assert record[b"room"] == b"general" and record[b"cat"]  # the metadata stays
        assert flags == 0
        assert pending == 1  # still open, still on the ladder: never trimmed away
    finally:
        server.stop()


async def test_twenty_alerts_nobody_takes_reach_the_next_facilitator_and_are_taken_once(
    crisis_pair: Pair,
) -> None:
    """SECURITY.md T31 at a CI-sized scale: facilitator A (on call) never acknowledges;
    every alert reaches facilitator B within ack_seconds + 5 s, and B takes each once."""
    a = await console(crisis_pair[0], "facilitator", on_call=True)
    b = await console(crisis_pair[1], "facilitator")
    writers = [await writer(crisis_pair[i % 2]) for i in range(4)]
    raised_at = asyncio.get_running_loop().time()
    for i in range(20):
        await writers[i % 4].say("general", f"{URGENT} #{i}", f"t31-{i}")
    deadline = raised_at + ACK_SECONDS + 5
    seen: dict[str, float] = {}
    while len(seen) < 20:
        left = deadline - asyncio.get_running_loop().time()
        assert left > 0, f"only {len(seen)} of 20 alerts reached B in time"
        alert = await b.expect("alert", timeout=left)
        seen.setdefault(alert["escalation"], asyncio.get_running_loop().time())
    assert {f["escalation"] for f in a.frames if f["type"] == "alert"} == set(seen)
    for escalation in seen:
        await b.send(type="ack_alert", escalation=escalation, ref=escalation)
        assert (await b.answer(escalation))["type"] == "alert_taken"
    for escalation in seen:  # a second take of any of them is refused
        await a.send(type="ack_alert", escalation=escalation, ref="late-" + escalation)
        assert (await a.answer("late-" + escalation))["code"] == "already_taken"
    env = crisis_pair[0].env
    client = aioredis.Redis.from_url(env["PEERLINE_REDIS_URL"])
    pending = await client.xpending(f"{env['PEERLINE_REDIS_PREFIX']}esc", "facilitators")
    await client.aclose()
    assert pending["pending"] == 0


async def test_an_alert_survives_redis_and_the_app_killed_together(
    tmp_path: Path,
) -> None:
    """SECURITY.md T32 in small: with AOF and fsync always, SIGKILL of Redis and of the
    process that raised the alert loses nothing; the alert is delivered and taken once."""
    redis = start_private_redis(durable=True)
    port = int(redis.url.rsplit(":", 1)[1].split("/")[0])
    env = crisis_env(redis, tmp_path)
    raiser, survivor = start_server(env), start_server(env)
    restarted = None
    try:
        person = await writer(raiser)
        await person.say("general", URGENT, "d1")
        await asyncio.sleep(0.7)
        redis.kill()
        raiser.kill()
        restarted = start_private_redis(port, redis.directory, durable=True)
        c = await console(survivor, "facilitator", on_call=True)
        alert = await c.expect("alert", timeout=15.0)
        assert alert["excerpt"] == URGENT
        await c.send(type="ack_alert", escalation=alert["escalation"], ref="t")
        await c.expect("alert_taken", ref="t")
        client = aioredis.Redis.from_url(env["PEERLINE_REDIS_URL"])
        pending = await client.xpending(f"{env['PEERLINE_REDIS_PREFIX']}esc", "facilitators")
        await client.aclose()
        assert pending["pending"] == 0
    finally:
        raiser.stop()
        survivor.stop()
        if restarted is not None:
            restarted.stop()
        redis.directory = None  # the restarted one owns (and removes) the directory
        redis.stop()


async def test_alerts_still_work_after_redis_comes_back_empty(tmp_path: Path) -> None:
    """Redis lost everything (no persistence): the consumer group is made again, so a new
    urgent message still pages someone."""
    redis = start_private_redis()
    port = int(redis.url.rsplit(":", 1)[1].split("/")[0])
    env = crisis_env(redis, tmp_path)
    server = start_server(env)
    restarted = None
    try:
        await writer(server)  # the server is up and its ladder loop has made the group
        redis.kill()
        restarted = start_private_redis(port)
        for _ in range(100):  # bounded: the server reconnects within a few seconds
            status, _, _ = await asyncio.to_thread(http_json, "GET", f"{server.base}/readyz")
            if status == 200:
                break
            await asyncio.sleep(0.1)
        # Pooled connections to the dead Redis reconnect on first use, unseen by people.
        c = await console(server, "facilitator", on_call=True)
        person = await writer(server)
        await person.say("general", URGENT, "e1")
        alert = await c.expect("alert", timeout=5.0)
        assert alert["excerpt"] == URGENT
    finally:
        server.stop()
        if restarted is not None:
            restarted.stop()
        redis.stop()


async def test_erasure_takes_the_flags_excerpts_and_topic_with_the_words(
    crisis_pair: Pair,
) -> None:
    supporter = await console(crisis_pair[0], "supporter")
    person = await writer(crisis_pair[1])
    await person.send(type="request_support", topic="my brother", ref="q")
    ticket = (await person.expect("queued", ref="q"))["ticket"]
    message = (await person.say("general", URGENT, "x1"))["id"]
    await supporter.send(type="claim", ticket=ticket, ref="c")
    room = (await supporter.expect("assigned", ref="c"))["room"]
    env = crisis_pair[0].env
    prefix = env["PEERLINE_REDIS_PREFIX"]
    client = aioredis.Redis.from_url(env["PEERLINE_REDIS_URL"])

    async def traces() -> tuple[int, bool, bool]:
        flags = [
            f for _, f in await client.xrange(f"{prefix}flags") if f[b"msg"] == message.encode()
        ]
        excerpts = False
        for _, f in await client.xrange(f"{prefix}esc"):
            alert = await client.hgetall(f"{prefix}e:{f[b'e'].decode()}")
            excerpts |= alert.get(b"msg") == message.encode() and b"d" in alert
        topic = await client.hexists(f"{prefix}dm:{room}", "td")
        return len(flags), excerpts, topic

    assert await traces() == (1, True, True)
    base = crisis_pair[1].base
    status, _, _ = http_json(
        "DELETE", f"{base}/api/session", headers={"origin": base, "cookie": person.cookie}
    )
    assert status == 204
    assert await traces() == (0, False, False)
    await client.aclose()
