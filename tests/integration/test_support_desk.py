"""One-to-one support across two real server processes on real Redis: the queue, the
twenty-way claim race, direct rooms, notes, transfer, end, wrap-up and feedback."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis

from tests.client import Participant
from tests.integration.conftest import redis_env
from tests.integration.sockets import connect, console, participant
from tests.support import (
    RedisServer,
    ServerProcess,
    http_json,
    start_server,
)

pytestmark = pytest.mark.integration

Pair = tuple[ServerProcess, ServerProcess]


@pytest.fixture(scope="module")
def desk_pair(redis_server: RedisServer) -> Iterator[Pair]:
    env = redis_env(redis_server, PEERLINE_RATE_PER_MINUTE="6000", PEERLINE_RATE_BURST="100")
    first, second = start_server(env), start_server(env)
    yield first, second
    first.stop()
    second.stop()


async def ask(p: Participant, topic: str | None = "cravings tonight") -> str:
    await p.send(type="request_support", topic=topic, ref="ask")
    return str((await p.expect("queued", ref="ask"))["ticket"])


async def wait_for_ticket(c: Participant, ticket: str) -> dict[str, object]:
    while True:
        frame = await c.expect("queue")
        for item in frame["waiting"]:
            if item["ticket"] == ticket:
                return dict(item)


async def chat(pair: Pair) -> tuple[Participant, Participant, str]:
    """A participant on one process and the supporter who claimed them on the other."""
    supporter = await console(pair[0])
    person = await participant(pair[1])
    ticket = await ask(person)
    await wait_for_ticket(supporter, ticket)
    await supporter.send(type="claim", ticket=ticket, ref="c")
    room = (await supporter.expect("assigned", ref="c"))["room"]
    assert (await person.expect("assigned"))["room"] == room
    await supporter.join(room)
    await person.join(room)
    return person, supporter, room


async def test_queue_reaches_every_supporter_and_no_participant(desk_pair: Pair) -> None:
    consoles = [await console(s) for s in desk_pair]
    for c in consoles:
        assert "waiting" in await c.expect("queue")  # sent on connect
    person = await participant(desk_pair[0])
    ticket = await ask(person, "  my sponsor moved away  ")
    for c in consoles:
        item = await wait_for_ticket(c, ticket)
        assert item["priority"] == "normal" and item["topic"] == "my sponsor moved away"
        assert isinstance(item["since"], int)
    # Asking again while waiting gives the same ticket, not a second one.
    assert await ask(person) == ticket
    await person.send(type="cancel_support", ref="x")
    assert (await person.expect("cancelled", ref="x"))["ticket"] == ticket
    for c in consoles:
        while True:
            frame = await c.expect("queue")
            if all(i["ticket"] != ticket for i in frame["waiting"]):
                break
    assert not [f for f in person.frames if f["type"] == "queue"]


async def test_twenty_supporters_claim_one_ticket_once(desk_pair: Pair) -> None:
    consoles = [await console(desk_pair[i % 2]) for i in range(20)]
    person = await participant(desk_pair[0])
    ticket = await ask(person)
    await asyncio.gather(*(wait_for_ticket(c, ticket) for c in consoles))
    await asyncio.gather(*(c.send(type="claim", ticket=ticket, ref="race") for c in consoles))
    answers = await asyncio.gather(*(c.answer("race") for c in consoles))
    kinds = [a["type"] for a in answers]
    assert kinds.count("assigned") == 1
    assert [a["code"] for a in answers if a["type"] == "error"] == ["already_claimed"] * 19
    room = next(a["room"] for a in answers if a["type"] == "assigned")
    assert (await person.expect("assigned"))["room"] == room
    await asyncio.sleep(0.3)
    assert len([f for f in person.frames if f["type"] == "assigned"]) == 1


async def test_a_conversation_with_notes_that_never_reach_the_participant(
    desk_pair: Pair,
) -> None:
    person, supporter, room = await chat(desk_pair)
    assert supporter.hello["rooms"] == [] and (await supporter.expect("notes"))["notes"] == []
    ack = await supporter.say(room, "Hi, I'm here with you.", "s1")
    got = await person.expect("message", id=ack["id"])
    assert got["from"] == {"name": supporter.hello["you"]["name"], "role": "supporter"}
    reply = await person.say(room, "thank you, it's been a hard night", "p1")
    assert (await supporter.expect("message", id=reply["id"]))["from"]["role"] == "participant"

    canary = "NOTE-CANARY-" + secrets.token_hex(4)
    await supporter.send(type="note", room=room, text=f"{canary} sounds tired", ref="n")
    noted = await supporter.expect("noted", ref="n")
    assert noted["text"].startswith(canary) and noted["from"]["role"] == "supporter"
    # Another staff member in the room gets it; the participant never does, live or in
    # history, on any socket.
    await asyncio.sleep(0.3)
    again = await connect(desk_pair[0], person.cookie)
    assert again.hello["rooms"] == [room]
    joined = await again.join(room)
    assert [m["text"] for m in joined["history"]] == [
        "Hi, I'm here with you.",
        "thank you, it's been a hard night",
    ]
    for frames in (person.frames, again.frames):
        assert canary not in repr(frames)
    # Notes are not in the room's message stream.
    env = desk_pair[0].env
    client = aioredis.Redis.from_url(env["PEERLINE_REDIS_URL"])
    prefix = env["PEERLINE_REDIS_PREFIX"]
    entries = await client.xrange(f"{prefix}room:{{{room}}}:s")
    notes = await client.xrange(f"{prefix}notes:{{{room}}}")
    await client.aclose()
    assert len(entries) == 2 and len(notes) == 1
    assert canary.encode() not in repr(notes).encode()  # stored sealed
    await again.close()


async def test_direct_rooms_are_only_for_their_members(desk_pair: Pair) -> None:
    _, _, room = await chat(desk_pair)
    stranger = await participant(desk_pair[0])
    other_supporter = await console(desk_pair[1])
    facilitator = await console(desk_pair[0], "facilitator")
    admin = await console(desk_pair[1], "admin")
    for who in (stranger, other_supporter, facilitator):
        for target in (room, "dm-" + secrets.token_hex(16)):
            await who.send(type="join", room=target, ref="j")
            error = await who.expect("error", ref="j")
            assert error["code"] == "forbidden"
            assert error["detail"] == "you cannot join this room"  # one answer for both
    await admin.send(type="join", room=room, ref="j")
    assert (await admin.expect("error", ref="j"))["code"] == "forbidden"
    for frame in (
        {"type": "note", "room": room, "text": "x"},
        {"type": "end", "room": room},
        {"type": "transfer", "room": room, "to": None},
        {"type": "say", "room": room, "text": "x", "nonce": "n"},
    ):
        await other_supporter.send(**frame, ref="f")
        error = await other_supporter.expect("error", ref="f")
        assert error["code"] in {"forbidden", "not_member"}


async def test_roles_are_checked_on_every_frame(desk_pair: Pair) -> None:
    person = await participant(desk_pair[0])
    supporter = await console(desk_pair[1])
    facilitator = await console(desk_pair[0], "facilitator")
    for frame in (
        {"type": "claim", "ticket": "t-1"},
        {"type": "note", "room": "general", "text": "x"},
        {"type": "end", "room": "general"},
        {"type": "transfer", "room": "general", "to": None},
        {"type": "wrapup", "room": "general", "topic": "o", "outcome": "o", "referral": False},
        {"type": "status", "available": False},
        {"type": "active"},
    ):
        await person.send(**frame, ref="p")
        assert (await person.expect("error", ref="p"))["code"] == "forbidden"
    for frame in (
        {"type": "request_support", "topic": None},
        {"type": "feedback", "room": "dm-x", "rating": 5},
        {"type": "join", "room": "general"},
        {"type": "report", "room": "general", "message": "1-0"},
    ):
        await supporter.send(**frame, ref="s")
        assert (await supporter.expect("error", ref="s"))["code"] == "forbidden"
    # Facilitators run group rooms, invite-only ones included, but take no tickets.
    assert (await facilitator.join("officers"))["name"] == "Officers in recovery"
    await facilitator.send(type="claim", ticket="t-1", ref="f")
    assert (await facilitator.expect("error", ref="f"))["code"] == "forbidden"
    assert not [f for f in facilitator.frames if f["type"] == "queue"]


async def test_end_feedback_and_wrapup(desk_pair: Pair) -> None:
    person, supporter, room = await chat(desk_pair)
    await person.send(type="feedback", room=room, rating=4, ref="early")
    assert (await person.expect("error", ref="early"))["code"] == "forbidden"  # not ended yet
    await supporter.send(type="end", room=room, ref="e")
    await supporter.expect("ended", ref="e")
    await asyncio.sleep(0.2)
    assert len([f for f in supporter.frames if f["type"] == "ended"]) == 1  # not twice
    await person.expect("ended", room=room)
    joined = await person.expect("notice", room=room)  # who joined the chat (issue 13)
    assert joined["kind"] == "system" and joined["text"].endswith(", a supporter, joined the chat")
    notice = await person.expect("notice", room=room)
    assert notice["kind"] == "feedback" and notice["text"]
    await person.send(type="say", room=room, text="are you there?", nonce="late", ref="l")
    assert (await person.expect("error", ref="l"))["code"] == "forbidden"
    await supporter.send(type="say", room=room, text="bye", nonce="late", ref="l")
    assert (await supporter.expect("error", ref="l"))["code"] == "forbidden"

    comment = "FEEDBACK-CANARY it helped"
    await person.send(type="feedback", room=room, rating=5, comment=comment, ref="fb")
    await person.expect("thanks", ref="fb")
    await person.send(type="feedback", room=room, rating=1, ref="again")
    assert (await person.expect("error", ref="again"))["code"] == "forbidden"

    await supporter.send(
        type="wrapup", room=room, topic="nope", outcome="other", referral=True, ref="w0"
    )
    assert (await supporter.expect("error", ref="w0"))["code"] == "bad_frame"
    await supporter.send(
        type="wrapup", room=room, topic="cravings", outcome="other", referral=True, ref="w"
    )
    await supporter.expect("wrapped", ref="w")

    env = desk_pair[0].env
    client = aioredis.Redis.from_url(env["PEERLINE_REDIS_URL"])
    prefix = env["PEERLINE_REDIS_PREFIX"]
    feedback = await client.xrange(f"{prefix}feedback")
    wrapups = await client.xrange(f"{prefix}wrapups")
    await client.aclose()
    mine = [f for _, f in feedback if f[b"rating"] == b"5"]
    assert mine and set(mine[-1]) == {b"rating", b"i", b"k", b"d"}  # no room, no person
    assert b"FEEDBACK-CANARY" not in repr(feedback).encode()
    assert person.hello["you"]["name"].encode() not in repr(feedback).encode()
    assert {b"topic": b"cravings", b"outcome": b"other", b"referral": b"1"} in [
        f for _, f in wrapups
    ]
    # After the end, neither side lists the room as an open chat.
    later = await connect(desk_pair[0], person.cookie)
    assert later.hello["rooms"] == []


async def test_transfer_back_to_the_queue_keeps_room_and_notes(desk_pair: Pair) -> None:
    person, first, room = await chat(desk_pair)
    await first.send(type="note", room=room, text="warm handover: prefers short messages")
    await first.expect("noted")
    second = await console(desk_pair[0])
    await first.send(type="transfer", room=room, to=None, ref="t")
    await first.expect("transferred", ref="t")
    ticket = None
    while ticket is None:
        frame = await second.expect("queue")
        item = next((i for i in frame["waiting"] if i.get("transfer")), None)
        ticket = item["ticket"] if item else None
    assert item is not None and item["topic"] == "cravings tonight"  # kept for the next one
    await second.send(type="claim", ticket=ticket, ref="c")
    assert (await second.expect("assigned", ref="c"))["room"] == room
    await second.join(room)
    notes = await second.expect("notes", room=room)
    assert [n["text"] for n in notes["notes"]] == ["warm handover: prefers short messages"]
    ack = await second.say(room, "Hi, I'm taking over from my colleague.", "t2")
    await person.expect("message", id=ack["id"])
    assert any(f.get("kind") == "system" for f in person.frames if f["type"] == "notice")
    # The first supporter is out: no frames of the room, no writing, no joining.
    await first.send(type="say", room=room, text="still here?", nonce="x", ref="x")
    assert (await first.expect("error", ref="x"))["code"] == "not_member"
    await first.send(type="join", room=room, ref="j")
    assert (await first.expect("error", ref="j"))["code"] == "forbidden"


async def test_transfer_to_a_named_supporter(desk_pair: Pair) -> None:
    person, first, room = await chat(desk_pair)
    second = await console(desk_pair[1])
    status, _, body = http_json(
        "GET", f"{desk_pair[0].base}/api/staff/roster", headers={"cookie": first.cookie}
    )
    assert status == 200
    ids = [s["id"] for s in body["staff"]]  # type: ignore[index]
    target = second.hello["you"]["id"]
    assert target in ids and first.hello["you"]["id"] not in ids
    await first.send(type="transfer", room=room, to="not-a-supporter", ref="bad")
    assert (await first.expect("error", ref="bad"))["code"] == "bad_frame"
    await first.send(type="transfer", room=room, to=target, ref="t")
    await first.expect("transferred", ref="t")
    assigned = await second.expect("assigned", room=room)
    assert assigned["transfer"] is True
    await second.join(room)
    ack = await person.say(room, "hello again", "p2")
    await second.expect("message", id=ack["id"])


async def test_status_away_and_back(desk_pair: Pair) -> None:
    supporter = await console(desk_pair[0])
    await supporter.send(type="status", available=False, ref="a")
    assert (await supporter.expect("status", ref="a"))["available"] is False
    status, _, body = http_json(
        "GET", f"{desk_pair[1].base}/api/staff/me", headers={"cookie": supporter.cookie}
    )
    assert status == 200 and body["available"] is False  # type: ignore[index]


async def test_the_supporter_is_told_when_the_participant_leaves(desk_pair: Pair) -> None:
    person, supporter, room = await chat(desk_pair)
    base = desk_pair[1].base
    status, _, _ = http_json(
        "DELETE", f"{base}/api/session", headers={"origin": base, "cookie": person.cookie}
    )
    assert status == 204
    notice = await supporter.expect("notice", room=room)
    assert notice["kind"] == "system" and "left" in notice["text"]


async def test_quick_exit_takes_the_person_out_of_the_queue(desk_pair: Pair) -> None:
    supporter = await console(desk_pair[0])
    person = await participant(desk_pair[1])
    ticket = await ask(person)
    await wait_for_ticket(supporter, ticket)
    base = desk_pair[1].base
    status, _, _ = http_json(
        "POST", f"{base}/api/session/end", {}, {"origin": base, "cookie": person.cookie}
    )
    assert status == 204
    await supporter.send(type="claim", ticket=ticket, ref="c")
    assert (await supporter.expect("error", ref="c"))["code"] == "already_claimed"
