"""What staff see beyond what participants see, and invitations to a private chat, across
two real server processes on real Redis: the `flagged` frame and the `flag` mark in history
(never to a participant), the topic of a direct room again on every staff join, and
`invite_direct` / `invited` / `accept_invite` / `decline_invite` with every refusal."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.client import Participant
from tests.integration.conftest import redis_env
from tests.integration.sockets import connect, console, participant
from tests.support import RedisServer, ServerProcess

pytestmark = pytest.mark.integration

Pair = tuple[ServerProcess, ServerProcess]
URGENT = "I have the pills counted out and I'm taking them tonight"
CONCERN = "some days i wish i was dead"


@pytest.fixture(scope="module")
def view_pair(redis_server: RedisServer) -> Iterator[Pair]:
    from tests.support import start_server

    env = redis_env(redis_server, PEERLINE_RATE_PER_MINUTE="6000", PEERLINE_RATE_BURST="100")
    first, second = start_server(env), start_server(env)
    yield first, second
    first.stop()
    second.stop()


async def direct_chat(pair: Pair, topic: str | None) -> tuple[Participant, Participant, str]:
    """A participant on one process and the supporter who claimed them on the other."""
    supporter = await console(pair[0])
    person = await participant(pair[1])
    await person.send(type="request_support", topic=topic, ref="ask")
    ticket = (await person.expect("queued", ref="ask"))["ticket"]
    while not any(i["ticket"] == ticket for i in (await supporter.expect("queue"))["waiting"]):
        pass
    await supporter.send(type="claim", ticket=ticket, ref="c")
    room = str((await supporter.expect("assigned", ref="c"))["room"])
    await person.expect("assigned")
    await supporter.join(room)
    await person.join(room)
    return person, supporter, room


def no_flag_anywhere(frames: list[dict[str, Any]]) -> None:
    assert not [f for f in frames if f["type"] == "flagged"]
    for f in frames:
        assert "flag" not in f, f
        for message in f.get("history", []):
            assert "flag" not in message, message


async def test_a_flagged_message_is_marked_for_the_supporter_live_and_in_history(
    view_pair: Pair,
) -> None:
    person, supporter, room = await direct_chat(view_pair, "a bad week")
    urgent = await person.say(room, URGENT, "u1")
    flagged = await supporter.expect("flagged", message=urgent["id"])
    assert flagged == {
        "type": "flagged",
        "room": room,
        "message": urgent["id"],
        "label": "urgent",
        "category": flagged["category"],
    }
    assert flagged["category"]  # the kind of danger, for the console's words
    concern = await person.say(room, CONCERN, "c1")
    assert (await supporter.expect("flagged", message=concern["id"]))["label"] == "concern"
    plain = await person.say(room, "thanks for listening", "p1")
    await supporter.expect("message", id=plain["id"])
    # A second staff socket of the supporter, on the other process, joining now: the marks
    # come with the history, on the flagged messages only.
    again = await connect(view_pair[1], supporter.cookie, staff=True)
    joined = await again.join(room)
    marks = {m["id"]: m.get("flag") for m in joined["history"]}
    assert marks[urgent["id"]] == {"label": "urgent", "category": flagged["category"]}
    assert marks[concern["id"]]["label"] == "concern"
    assert marks[plain["id"]] is None
    # A resume after a cursor (a page of the gap) marks too.
    resumed = await again.join(room, since=urgent["id"])
    assert [m.get("flag", {}).get("label") for m in resumed["history"]] == ["concern", None]
    # The participant never sees a mark: not live, not in history, on any socket.
    other = await connect(view_pair[0], person.cookie)
    rejoined = await other.join(room)
    assert {m["id"] for m in rejoined["history"]} >= {urgent["id"], concern["id"]}
    await asyncio.sleep(0.3)
    for frames in (person.frames, other.frames):
        no_flag_anywhere(frames)


async def test_a_flag_in_a_group_room_marks_it_for_the_facilitators_in_it(
    view_pair: Pair,
) -> None:
    facilitator = await console(view_pair[0], "facilitator")
    await facilitator.join("general")
    person = await participant(view_pair[1], "general")
    bystander = await participant(view_pair[0], "general")
    ack = await person.say("general", CONCERN, "g1")
    assert (await facilitator.expect("flagged", message=ack["id"]))["room"] == "general"
    joined = await facilitator.join("general")
    assert next(m for m in joined["history"] if m["id"] == ack["id"])["flag"]["label"] == "concern"
    await asyncio.sleep(0.3)
    no_flag_anywhere(person.frames + bystander.frames)


async def test_the_topic_comes_back_on_every_staff_join(view_pair: Pair) -> None:
    person, supporter, room = await direct_chat(view_pair, "  my sponsor moved away  ")
    first = next(f for f in supporter.frames if f["type"] == "joined" and f["room"] == room)
    assert first["topic"] == "my sponsor moved away" and first["priority"] == "normal"
    # A reload: a new socket, and the room from `hello`.
    again = await connect(view_pair[1], supporter.cookie, staff=True)
    assert again.hello["rooms"] == [room]
    joined = await again.join(room)
    assert joined["topic"] == "my sponsor moved away"
    # An urgent message lifts the chat's priority, which a later join shows.
    await person.say(room, URGENT, "u2")
    await supporter.expect("flagged")
    assert (await again.join(room))["priority"] == "urgent"
    # The participant's own joins carry neither.
    for f in person.frames:
        if f["type"] == "joined":
            assert "topic" not in f and "priority" not in f
    # No topic given: null, not missing.
    _, other, room2 = await direct_chat(view_pair, None)
    joined2 = next(f for f in other.frames if f["type"] == "joined" and f["room"] == room2)
    assert "topic" in joined2 and joined2["topic"] is None


async def invite(staff: Participant, room: str, message: str, ref: str = "inv") -> dict[str, Any]:
    await staff.send(type="invite_direct", room=room, message=message, ref=ref)
    return await staff.answer(ref)


async def test_a_facilitator_invites_a_participant_who_accepts(view_pair: Pair) -> None:
    facilitator = await console(view_pair[0], "facilitator")
    await facilitator.join("general")
    person = await participant(view_pair[1], "general")
    ack = await person.say("general", URGENT, "i1")
    sent = await invite(facilitator, "general", ack["id"])
    assert sent["type"] == "invite_sent" and sent["message"] == ack["id"]
    invited = await person.expect("invited")
    assert invited == {
        "type": "invited",
        "invite": sent["invite"],
        "room": "general",
        "room_name": "General recovery",
        "from": {"name": facilitator.hello["you"]["name"], "role": "facilitator"},
    }
    # Staff learn nothing of the person but what the room shows: no id in any frame.
    author = person.hello["you"]
    assert "id" not in author
    await person.send(type="accept_invite", invite=sent["invite"], ref="yes")
    mine = await person.answer("yes")
    assert mine["type"] == "assigned" and mine["room"].startswith("dm-")
    theirs = await facilitator.expect("assigned", invite=sent["invite"])
    assert theirs["room"] == mine["room"]
    room = mine["room"]
    joined = await facilitator.join(room)
    assert joined["priority"] == "urgent" and joined["topic"] is None
    await person.join(room)
    said = await facilitator.say(room, "I saw what you wrote. I'm here.", "f1")
    assert (await person.expect("message", id=said["id"]))["from"]["role"] == "facilitator"
    reply = await person.say(room, "ok", "p2")
    await facilitator.expect("message", id=reply["id"])
    # The room is theirs alone, and is listed for both after a reconnect.
    again = await connect(view_pair[0], person.cookie)
    assert room in again.hello["rooms"]
    # Answering twice does nothing more.
    await person.send(type="accept_invite", invite=sent["invite"], ref="twice")
    assert (await person.answer("twice"))["code"] == "forbidden"


async def test_a_declined_invitation_tells_the_staff_member(view_pair: Pair) -> None:
    facilitator = await console(view_pair[1], "facilitator")
    person = await participant(view_pair[0], "general")
    ack = await person.say("general", "rough day but I'm ok", "d1")
    sent = await invite(facilitator, "general", ack["id"])
    invited = await person.expect("invited")
    # Another participant cannot answer it, and trying leaves it for the right person.
    stranger = await participant(view_pair[1])
    for kind in ("accept_invite", "decline_invite"):
        await stranger.send(type=kind, invite=invited["invite"], ref="s")
        error = await stranger.answer("s")
        assert error["code"] == "forbidden" and "no such invitation" in error["detail"]
    await person.send(type="decline_invite", invite=invited["invite"], ref="no")
    assert await person.answer("no") == {"type": "declined", "invite": sent["invite"], "ref": "no"}
    assert (await facilitator.expect("invite_declined"))["invite"] == sent["invite"]
    assert not [f for f in facilitator.frames if f["type"] == "assigned"]
    await person.send(type="accept_invite", invite=invited["invite"], ref="late")
    assert (await person.answer("late"))["code"] == "forbidden"
    await person.send(type="accept_invite", invite="i-" + secrets.token_hex(16), ref="unknown")
    assert (await person.answer("unknown"))["code"] == "forbidden"


async def test_invitation_refusals(view_pair: Pair) -> None:
    facilitator = await console(view_pair[0], "facilitator")
    supporter = await console(view_pair[1])
    moderator = await console(view_pair[0], "moderator")
    person = await participant(view_pair[1], "general")
    ack = await person.say("general", "hello all", "r1")
    await facilitator.join("general")
    own = await facilitator.say("general", "welcome, everyone", "r2")
    cases = [
        (person, "general", ack["id"], "forbidden"),  # a participant invites nobody
        (moderator, "general", ack["id"], "forbidden"),  # nor does a moderator
        (supporter, "general", ack["id"], "forbidden"),  # a supporter without the alert
        (facilitator, "nowhere", ack["id"], "no_such_room"),
        (facilitator, "dm-" + secrets.token_hex(16), ack["id"], "no_such_room"),
        (facilitator, "general", "1-0", "bad_frame"),  # no such message
        (facilitator, "officers", ack["id"], "bad_frame"),  # not in that room
        (facilitator, "general", own["id"], "bad_frame"),  # staff are not invited
    ]
    for who, room, message, code in cases:
        answer = await invite(who, room, message, ref=f"x{secrets.token_hex(2)}")
        assert answer["type"] == "error" and answer["code"] == code, (room, message, answer)
    await facilitator.send(type="invite_direct", room="general", message="yesterday", ref="b")
    assert (await facilitator.answer("b"))["code"] == "bad_frame"
    await person.send(type="accept_invite", ref="empty")
    assert (await person.answer("empty"))["code"] == "bad_frame"
    await asyncio.sleep(0.3)
    assert not [f for f in person.frames if f["type"] == "invited"]


async def test_a_supporter_who_took_the_alert_may_invite(view_pair: Pair) -> None:
    supporter = await console(view_pair[0])
    person = await participant(view_pair[1], "general")
    ack = await person.say("general", URGENT, "a1")
    env = view_pair[0].env
    client = aioredis.Redis.from_url(env["PEERLINE_REDIS_URL"])
    prefix = env["PEERLINE_REDIS_PREFIX"]
    escalation = ""
    for _ in range(50):
        for e in await client.smembers(f"{prefix}esc:open"):
            if await client.hget(f"{prefix}e:{e.decode()}", "msg") == ack["id"].encode():
                escalation = e.decode()
        if escalation:
            break
        await asyncio.sleep(0.1)
    await client.aclose()
    assert escalation
    before = await invite(supporter, "general", ack["id"], ref="before")
    assert before["code"] == "forbidden"
    await supporter.send(type="ack_alert", escalation=escalation, ref="take")
    assert (await supporter.answer("take"))["type"] == "alert_taken"
    sent = await invite(supporter, "general", ack["id"], ref="after")
    assert sent["type"] == "invite_sent"
    assert (await person.expect("invited"))["from"]["role"] == "supporter"


async def test_an_erasure_takes_the_marks_with_the_messages(view_pair: Pair) -> None:
    from tests.support import http_json

    person, supporter, room = await direct_chat(view_pair, None)
    urgent = await person.say(room, URGENT, "e1")
    await supporter.expect("flagged", message=urgent["id"])
    env = view_pair[0].env
    client = aioredis.Redis.from_url(env["PEERLINE_REDIS_URL"])
    key = f"{env['PEERLINE_REDIS_PREFIX']}fm:{{{room}}}"
    try:
        assert await client.hexists(key, urgent["id"])
        base = view_pair[1].base
        status, _, _ = http_json(
            "DELETE", f"{base}/api/session", headers={"origin": base, "cookie": person.cookie}
        )
        assert status == 204
        assert not await client.hexists(key, urgent["id"])
    finally:
        await client.aclose()
    await supporter.expect("erased", room=room)
