"""Crisis care (issue 13) across two real server processes on real Redis: nobody joins a
private chat silently, and a support request's topic is read like a message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.client import Participant
from tests.integration.sockets import connect, console, participant
from tests.integration.test_crisis import CONCERN, URGENT, crisis_env, quiet_ladder
from tests.support import RedisServer, ServerProcess, http_json, start_server

pytestmark = pytest.mark.integration

Pair = tuple[ServerProcess, ServerProcess]


@pytest.fixture(scope="module")
def care_pair(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    env = crisis_env(redis_server, tmp_path_factory.mktemp("care"))
    first, second = start_server(env), start_server(env)
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture(autouse=True)
async def quiet(care_pair: Pair) -> AsyncIterator[None]:
    await quiet_ladder(care_pair)
    yield


async def ask(person: Participant, topic: str | None) -> str:
    await person.send(type="request_support", topic=topic, ref="ask")
    return str((await person.expect("queued", ref="ask"))["ticket"])


async def queued_item(supporter: Participant, ticket: str) -> dict[str, Any]:
    while True:
        frame = await supporter.expect("queue")
        for item in frame["waiting"]:
            if item["ticket"] == ticket:
                return dict(item)


async def direct_chat(pair: Pair) -> tuple[Participant, Participant, str]:
    """A participant on the second process, the supporter who claimed them on the first."""
    supporter = await console(pair[0])
    person = await participant(pair[1])
    ticket = await ask(person, "cravings tonight")
    await queued_item(supporter, ticket)
    await supporter.send(type="claim", ticket=ticket, ref="c")
    room = str((await supporter.expect("assigned", ref="c"))["room"])
    await person.expect("assigned", room=room)
    await person.join(room)
    await supporter.join(room)
    return person, supporter, room


async def system_notice(who: Participant, room: str) -> dict[str, Any]:
    """The next `system` notice of the room (crisis resources and the like are passed over)."""
    while True:
        notice = await who.expect("notice", room=room)
        if notice["kind"] == "system":
            return notice


def notices(who: Participant, room: str) -> list[str]:
    return [
        f["text"]
        for f in who.frames
        if f["type"] == "notice" and f["room"] == room and f["kind"] == "system"
    ]


async def test_the_supporter_who_claims_is_announced_to_the_participant_once(
    care_pair: Pair,
) -> None:
    person, supporter, room = await direct_chat(care_pair)
    name = supporter.hello["you"]["name"]
    notice = await system_notice(person, room)
    assert notice["text"] == f"{name}, a supporter, joined the chat"
    # A second tab on the other process, and a reconnect, say nothing more.
    tab = await connect(care_pair[1], supporter.cookie, staff=True)
    await tab.join(room)
    await supporter.close()
    again = await connect(care_pair[0], supporter.cookie, staff=True)
    await again.join(room)
    await asyncio.sleep(0.5)
    assert notices(person, room) == [f"{name}, a supporter, joined the chat"]
    assert notices(tab, room) == notices(again, room) == []  # never told of themselves


async def test_a_facilitator_who_took_the_alert_is_named_to_everyone_in_the_chat(
    care_pair: Pair,
) -> None:
    person, supporter, room = await direct_chat(care_pair)
    await system_notice(person, room)  # the supporter's own join
    facilitator = await console(care_pair[1], "facilitator", on_call=True)
    name = facilitator.hello["you"]["name"]
    await person.say(room, URGENT, "u1")
    alert = await facilitator.expect("alert", room=room)
    await asyncio.sleep(0.3)
    assert len(notices(person, room)) == 1  # taking an alert is not joining
    await facilitator.send(type="ack_alert", escalation=alert["escalation"], ref="take")
    await facilitator.expect("alert_taken", ref="take")
    await facilitator.join(room)
    told = await system_notice(person, room)
    assert told["text"] == f"{name}, a facilitator, joined the chat"
    staff = await system_notice(supporter, room)
    assert staff["text"] == f"{name}, a facilitator, took the crisis alert and joined the chat"
    # Two more sockets of the facilitator, on both processes, joining at once: nothing more.
    tabs = [await connect(care_pair[i], facilitator.cookie, staff=True) for i in (0, 1)]
    await asyncio.gather(*(tab.join(room) for tab in tabs))
    await asyncio.sleep(0.5)
    assert len(notices(person, room)) == 2 and len(notices(supporter, room)) == 1
    assert notices(facilitator, room) == []


async def test_a_supporter_handed_a_chat_back_is_announced_again_when_they_return(
    care_pair: Pair,
) -> None:
    person, first, room = await direct_chat(care_pair)
    await system_notice(person, room)
    second = await console(care_pair[1])
    await first.send(type="transfer", room=room, to=second.hello["you"]["id"], ref="t")
    await first.expect("transferred", ref="t")
    await second.expect("assigned", room=room)
    await second.join(room)
    moved = await system_notice(person, room)
    assert "passed to another supporter" in moved["text"]
    told = await system_notice(person, room)
    assert told["text"] == f"{second.hello['you']['name']}, a supporter, joined the chat"
    # Only the supporters who are in the chat now hear of a join: the first is out of it.
    assert notices(first, room) == []


async def test_an_urgent_topic_gives_resources_pages_and_heads_the_queue(
    care_pair: Pair,
) -> None:
    supporter = await console(care_pair[0])
    facilitator = await console(care_pair[0], "facilitator", on_call=True)
    calm = await participant(care_pair[1])
    calm_ticket = await ask(calm, "cravings")
    person = await participant(care_pair[1])
    await person.send(type="request_support", topic=URGENT, ref="ask")
    notice = await person.expect("notice")
    queued = await person.expect("queued", ref="ask")
    assert person.frames.index(notice) < person.frames.index(queued)  # resources first
    assert notice["resources"]
    ticket = queued["ticket"]
    item = await queued_item(supporter, ticket)
    assert item["priority"] == "urgent" and item["topic"] == URGENT
    while True:  # the queue orders by priority, then age: the urgent one is first
        frame = await supporter.expect("queue")
        tickets = [i["ticket"] for i in frame["waiting"]]
        if calm_ticket in tickets and ticket in tickets:
            assert tickets.index(ticket) < tickets.index(calm_ticket)
            break
    alert = await facilitator.expect("alert")
    assert alert["excerpt"] == URGENT and alert["room"] == ""
    assert alert["room_name"] == "Support request"
    # The calm topic raised nothing.
    assert not [f for f in calm.frames if f["type"] == "notice"]


async def test_a_concern_topic_is_flagged_without_an_alert(care_pair: Pair) -> None:
    supporter = await console(care_pair[0])
    facilitator = await console(care_pair[1], "facilitator", on_call=True)
    person = await participant(care_pair[0])
    await person.send(type="request_support", topic=CONCERN, ref="ask")
    assert (await person.expect("notice"))["kind"] == "crisis_resources"
    ticket = (await person.expect("queued", ref="ask"))["ticket"]
    assert (await queued_item(supporter, ticket))["priority"] == "concern"
    await asyncio.sleep(0.8)
    assert not [f for f in facilitator.frames if f["type"] == "alert"]
    env = care_pair[0].env
    client = aioredis.Redis.from_url(env["PEERLINE_REDIS_URL"])
    flags = await client.xrange(f"{env['PEERLINE_REDIS_PREFIX']}flags")
    await client.aclose()
    mine = [f for _, f in flags if f[b"msg"] == ticket.encode()]
    assert len(mine) == 1 and mine[0][b"kind"] == b"topic" and mine[0][b"room"] == b""
    assert CONCERN.encode() not in repr(mine).encode()  # sealed


async def test_asking_again_with_an_urgent_topic_lifts_the_waiting_ticket(
    care_pair: Pair,
) -> None:
    supporter = await console(care_pair[0])
    person = await participant(care_pair[1])
    ticket = await ask(person, "just want to talk")
    assert (await queued_item(supporter, ticket))["priority"] == "normal"
    assert await ask(person, URGENT) == ticket  # the same ticket waits
    while (await queued_item(supporter, ticket))["priority"] != "urgent":
        pass
    # The page asks again after every reconnect: the topic is filed and raised once.
    facilitator = await console(care_pair[0], "facilitator", on_call=True)
    again = await connect(care_pair[0], person.cookie)
    assert await ask(again, URGENT) == ticket
    assert (await again.expect("notice"))["kind"] == "crisis_resources"
    await facilitator.expect("alert")  # the first request's alert
    await asyncio.sleep(0.8)
    # (One alert: it may come again as the ladder repeats it, never as a second alert.)
    assert len({f["escalation"] for f in facilitator.frames if f["type"] == "alert"}) == 1
    env = care_pair[0].env
    client = aioredis.Redis.from_url(env["PEERLINE_REDIS_URL"])
    flags = await client.xrange(f"{env['PEERLINE_REDIS_PREFIX']}flags")
    await client.aclose()
    assert len([f for _, f in flags if f[b"msg"] == ticket.encode()]) == 1


async def test_a_flag_in_the_half_hour_before_asking_sets_the_tickets_priority(
    care_pair: Pair,
) -> None:
    supporter = await console(care_pair[0])
    person = await participant(care_pair[1], "general")
    await person.say("general", CONCERN, "c1")
    ticket = await ask(person, None)  # no topic: the earlier message speaks for it
    assert (await queued_item(supporter, ticket))["priority"] == "concern"
    await person.send(type="cancel_support", ref="x")
    await person.expect("cancelled", ref="x")
    # The time is kept in Redis: another process, and a new socket, know it too.
    again = await connect(care_pair[0], person.cookie)
    other = await ask(again, "hello")
    assert (await queued_item(supporter, other))["priority"] == "concern"
    # Someone with no recent flag asks with a calm topic: normal.
    calm = await participant(care_pair[0])
    assert (await queued_item(supporter, await ask(calm, "hello")))["priority"] == "normal"


async def test_erasure_takes_the_topic_flag_and_its_alert_excerpt(care_pair: Pair) -> None:
    person = await participant(care_pair[1], "general")
    await person.say("general", CONCERN, "e1")  # a flag time is kept for the next half hour
    ticket = await ask(person, URGENT)
    env = care_pair[0].env
    prefix = env["PEERLINE_REDIS_PREFIX"]
    client = aioredis.Redis.from_url(env["PEERLINE_REDIS_URL"])

    async def traces() -> tuple[int, int, bool]:
        entries = await client.xrange(f"{prefix}flags")
        flags = [f for _, f in entries if f[b"msg"] == ticket.encode()]
        alerts = [e.decode() for e in await client.smembers(f"{prefix}e:m:{{}}:{ticket}")]
        excerpts = [await client.hexists(f"{prefix}e:{e}", "d") for e in alerts]
        return len(flags), len(alerts), any(excerpts)

    assert await traces() == (1, 1, True)
    recent_before = set(await client.keys(f"{prefix}rf:*"))
    base = care_pair[1].base
    status, _, _ = http_json(
        "DELETE", f"{base}/api/session", headers={"origin": base, "cookie": person.cookie}
    )
    assert status == 204
    assert await traces() == (0, 1, False)  # the alert's record stays, without the words
    assert len(recent_before - set(await client.keys(f"{prefix}rf:*"))) == 1
    await client.aclose()
