"""The Redis support and account stores on real Redis: queue order, claims, TOTP steps,
sessions (the login limits are in the store contract, tests/store/test_contract.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from server.core.people import StaffSession
from server.store.accounts import StaffStore
from server.store.support import SupportStore

TTL_MS = 60_000


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    redis = Redis.from_url(redis_url)
    yield redis
    await redis.aclose()


async def test_queue_is_urgent_then_concern_then_normal_each_oldest_first(
    client: Redis, prefix: str
) -> None:
    support = SupportStore(client, prefix)
    opened = [
        ("t-normal-old", "p1", 1_000, "normal"),
        ("t-concern-new", "p2", 5_000, "concern"),
        ("t-urgent-new", "p3", 9_000, "urgent"),
        ("t-normal-new", "p4", 2_000, "normal"),
        ("t-urgent-old", "p5", 3_000, "urgent"),
        ("t-concern-old", "p6", 4_000, "concern"),
    ]
    for ticket, pid, since, priority in opened:
        assert await support.open_ticket(ticket, pid, since, priority, None) == (ticket, True)
    order = [t.ticket for t in await support.waiting()]
    assert order == [
        "t-urgent-old",
        "t-urgent-new",
        "t-concern-old",
        "t-concern-new",
        "t-normal-old",
        "t-normal-new",
    ]


async def test_one_waiting_ticket_per_participant(client: Redis, prefix: str) -> None:
    support = SupportStore(client, prefix)
    assert await support.open_ticket("t-1", "p", 1, "normal", ("k", b"sealed")) == ("t-1", True)
    assert await support.open_ticket("t-2", "p", 2, "normal", None) == ("t-1", False)
    waiting = await support.waiting()
    assert [(t.ticket, t.topic_key, t.topic_blob) for t in waiting] == [("t-1", "k", b"sealed")]
    assert await support.cancel_ticket("p") == "t-1"
    assert await support.cancel_ticket("p") is None
    assert await support.waiting() == []
    assert await support.claim("t-1", "staff", "dm-x", TTL_MS) is None


async def test_many_concurrent_claims_have_one_winner(client: Redis, prefix: str) -> None:
    support = SupportStore(client, prefix)
    await support.open_ticket("t-race", "p", 1, "normal", None)
    results = await asyncio.gather(
        *(support.claim("t-race", f"s{i}", f"dm-{i}", TTL_MS) for i in range(50))
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    room, pid = winners[0]
    assert pid == "p"
    found = await support.direct_room(room)
    assert found is not None and found.pid == "p" and len(found.staff) == 1
    assert await support.rooms_of("p") == [room]


async def test_end_is_once_and_clears_open_rooms(client: Redis, prefix: str) -> None:
    support = SupportStore(client, prefix)
    await support.open_ticket("t", "p", 1, "concern", None)
    claimed = await support.claim("t", "s", "dm-a", TTL_MS)
    assert claimed == ("dm-a", "p")
    assert await support.end("dm-a", ["p", "s"], 5)
    assert not await support.end("dm-a", ["p", "s"], 6)
    room = await support.direct_room("dm-a")
    assert room is not None and room.ended_ms == 5 and room.priority == "concern"
    assert await support.rooms_of("p") == [] and await support.rooms_of("s") == []
    assert await support.mark_feedback("dm-a") and not await support.mark_feedback("dm-a")


async def test_a_totp_step_is_accepted_once_and_never_an_older_one(
    client: Redis, prefix: str
) -> None:
    staff = StaffStore(client, prefix)
    key = f"{prefix}staff:a:u1"
    await client.hset(key, "username", "x")
    assert await staff.accept_step("u1", 100)
    assert not await staff.accept_step("u1", 100)
    assert not await staff.accept_step("u1", 99)
    assert await staff.accept_step("u1", 101)


async def test_sessions_of_an_account_end_together(client: Redis, prefix: str) -> None:
    staff = StaffStore(client, prefix)
    for digest in ("d1", "d2"):
        await staff.create_session(digest, StaffSession("u", 1.0, 1.0, "csrf"))
    assert (await staff.get_session("d1")) == StaffSession("u", 1.0, 1.0, "csrf")
    await staff.delete_sessions_of("u")
    assert await staff.get_session("d1") is None and await staff.get_session("d2") is None
    await staff.touch_session("d1", 5.0)  # a touch after logout does not revive it
    assert await staff.get_session("d1") is None


async def test_a_staff_join_is_first_once_until_they_leave_the_chat(
    client: Redis, prefix: str
) -> None:
    support = SupportStore(client, prefix)
    await support.open_ticket("t-j", "p-j", 1, "normal", None)
    room, _ = await support.claim("t-j", "s1", "dm-j", TTL_MS) or ("", "")
    # Ten sockets of the same person joining at once: exactly one announces.
    firsts = await asyncio.gather(*(support.first_join(room, "s1") for _ in range(10)))
    assert sorted(firsts) == [(False, False)] * 9 + [(True, False)]
    await support.add_staff(room, "f1", via_alert=True)
    assert await support.first_join(room, "f1") == (True, True)
    assert await support.first_join(room, "f1") == (False, True)
    # Handed over and back: announced again, and no longer as the alert's taker.
    await support.hand_over(room, "f1", "s2")
    await support.add_staff(room, "f1")
    assert await support.first_join(room, "f1") == (True, False)
    await support.forget_join(room, "f1")  # its announcement failed: the next join makes it
    assert await support.first_join(room, "f1") == (True, False)
    await support.step_out(room, "s1")
    await support.add_staff(room, "s1")
    assert (await support.first_join(room, "s1"))[0] is True
    found = await support.direct_room(room)
    assert found is not None and found.staff == {"s1", "s2", "f1"}  # markers are no members
