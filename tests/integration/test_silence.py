"""Alerts on silence (issue 13) on real server processes and real Redis: after an urgent or
concern flag, a person who writes nothing more in the room, with no staff member writing
there, raises one `silence` alert through the ladder and the pages; the person or staff
writing ends the watch; the watch and pending pages survive the death of the process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import orjson
import pytest
import redis.asyncio as aioredis

from bench.receivers import MailReceiver, WebhookReceiver
from tests.integration.sockets import console, participant
from tests.integration.test_paging import (
    audit_of,
    nobody_online,
    paging_env,
    paging_program,
    until,
    urgent,
)
from tests.support import RedisServer, ServerProcess, start_server

pytestmark = pytest.mark.integration

Pair = tuple[ServerProcess, ServerProcess]
CONCERN = "some days i wish i was dead"
SILENCE_SECONDS = 3
SILENCE_MINUTES = SILENCE_SECONDS / 60


@pytest.fixture(scope="module")
def silence_pair(
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
    receivers: tuple[WebhookReceiver, MailReceiver],
) -> Iterator[Pair]:
    program = paging_program(
        tmp_path_factory.mktemp("silence"), *receivers, silence_minutes=SILENCE_MINUTES
    )
    env = paging_env(redis_server, program)
    first, second = start_server(env), start_server(env)
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture
async def pair(silence_pair: Pair) -> AsyncIterator[Pair]:
    env = silence_pair[0].env
    client = aioredis.Redis.from_url(env["PEERLINE_REDIS_URL"])
    prefix = env["PEERLINE_REDIS_PREFIX"]
    for escalation in await client.smembers(f"{prefix}esc:open"):
        await client.hset(f"{prefix}e:{escalation.decode()}", "taken", "test-cleanup")
        await client.srem(f"{prefix}esc:open", escalation)
    await client.delete(f"{prefix}oncall", f"{prefix}pg:due", f"{prefix}sil:due")
    await client.aclose()
    yield silence_pair


async def test_a_flagged_person_who_goes_silent_raises_one_silence_alert(pair: Pair) -> None:
    facilitator = await console(pair[1], "facilitator", on_call=True)
    person = await participant(pair[0], "general")
    started = time.monotonic()
    await person.send(type="say", room="general", text=CONCERN, nonce="c1", ref="c1")
    flagged = (await person.expect("ack", ref="c1"))["id"]
    alert = await facilitator.expect("alert", timeout=SILENCE_SECONDS + 3.0)
    assert SILENCE_SECONDS - 0.2 < time.monotonic() - started < SILENCE_SECONDS + 2.0
    assert alert["reason"] == "silence" and alert["room"] == "general"
    assert alert["excerpt"] == CONCERN and alert["rung"] == 1
    await asyncio.sleep(2.0)
    assert [f for f in facilitator.frames if f["type"] == "alert"] == [alert]  # once
    client = aioredis.Redis.from_url(pair[0].env["PEERLINE_REDIS_URL"])
    try:
        prefix = pair[0].env["PEERLINE_REDIS_PREFIX"]
        stored = await client.hgetall(f"{prefix}e:{alert['escalation']}")
        assert stored[b"why"] == b"silence" and stored[b"msg"].decode() == flagged
        assert await client.zrange(f"{prefix}sil:due", 0, -1) == []
    finally:
        await client.aclose()
    raised = [r for r in await audit_of(pair[0], alert["escalation"]) if "raised" in r.action]
    assert [r.extra["why"] for r in raised] == ["silence"]


async def test_the_person_writing_again_ends_the_watch(pair: Pair) -> None:
    facilitator = await console(pair[1], "facilitator", on_call=True)
    person = await participant(pair[0], "general")
    await person.send(type="say", room="general", text=CONCERN, nonce="c2", ref="c2")
    await person.expect("ack", ref="c2")
    await person.send(type="say", room="general", text="thanks, going to a meeting", nonce="o")
    await asyncio.sleep(SILENCE_SECONDS + 2.0)
    assert not [f for f in facilitator.frames if f["type"] == "alert"]


async def test_a_staff_member_writing_in_the_room_ends_the_watch(pair: Pair) -> None:
    facilitator = await console(pair[1], "facilitator", on_call=True)
    person = await participant(pair[0], "general")
    await facilitator.join("general")
    await person.send(type="say", room="general", text=CONCERN, nonce="c3", ref="c3")
    await person.expect("ack", ref="c3")
    await facilitator.send(type="say", room="general", text="I'm here, how are you?", nonce="f")
    await asyncio.sleep(SILENCE_SECONDS + 2.0)
    assert not [f for f in facilitator.frames if f["type"] == "alert"]


async def test_someone_else_writing_does_not_end_the_watch(pair: Pair) -> None:
    facilitator = await console(pair[1], "facilitator", on_call=True)
    person, other = await participant(pair[0], "general"), await participant(pair[1], "general")
    await person.send(type="say", room="general", text=CONCERN, nonce="c4", ref="c4")
    await person.expect("ack", ref="c4")
    await other.send(type="say", room="general", text="hang in there", nonce="x")
    alert = await facilitator.expect("alert", timeout=SILENCE_SECONDS + 3.0)
    assert alert["reason"] == "silence"


async def test_watches_and_pending_pages_survive_the_death_of_the_process(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    hook, mail = WebhookReceiver(status=500).up(), MailReceiver().up()
    program = paging_program(
        tmp_path_factory.mktemp("restart"), hook, mail, silence_minutes=SILENCE_MINUTES
    )
    env = paging_env(redis_server, program)
    first = start_server(env)
    second: ServerProcess | None = None
    try:
        await nobody_online(first)
        person = await participant(first, "general")
        await urgent(person, "u1")  # paged at once: no console; the receiver fails it
        writer = await participant(first, "families")
        await writer.send(type="say", room="families", text=CONCERN, nonce="c5", ref="c5")
        await writer.expect("ack", ref="c5")
        await until(lambda: hook.hooks, 3.0, "a failed webhook")
        await asyncio.sleep(0.5)  # its failure recorded: the retry is due in 2 s, not 30
        first.kill()  # before the silence is due, with a page still to deliver
        hook.status = 200
        second = start_server(env)
        # The urgent message's page, and two silences: an urgent flag starts a watch too.
        await until(lambda: len(hook.delivered()) >= 3, 20.0, "the three pages")
        await asyncio.sleep(1.5)
        reasons = sorted(orjson.loads(h.body)["reason"] for h in hook.delivered())
        assert reasons == ["message", "silence", "silence"]
    finally:
        first.stop()
        if second is not None:
            second.stop()
        hook.down()
        mail.down()
