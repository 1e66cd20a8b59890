"""The flag marks and invitation stores on real Redis (server/store/invites.py): marks per
room with the retention, an invitation answered once and only by its participant, a direct
room like a claim's, and finding the alert a staff member took."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from server.store.escalations import EscalationStore
from server.store.invites import Invitation, InviteStore, MarkStore
from server.store.support import SupportStore

TTL_MS = 60_000


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    redis = Redis.from_url(redis_url)
    yield redis
    await redis.aclose()


async def test_marks_are_per_room_and_expire_with_content(client: Redis, prefix: str) -> None:
    marks = MarkStore(client, prefix)
    assert await marks.marks("general") == {}
    await marks.mark("general", "1-0", "urgent", "overdose", TTL_MS)
    await marks.mark("general", "2-0", "concern", "", TTL_MS)
    await marks.mark("dm-x", "3-0", "urgent", "suicide", TTL_MS)
    assert await marks.marks("general") == {"1-0": ("urgent", "overdose"), "2-0": ("concern", "")}
    assert await marks.marks("dm-x") == {"3-0": ("urgent", "suicide")}
    assert 0 < await client.pttl(f"{prefix}fm:{{general}}") <= TTL_MS
    await marks.forget("general", ["1-0", "9-0"])  # an erasure; 9-0 was never marked
    await marks.forget("general", [])
    assert await marks.marks("general") == {"2-0": ("concern", "")}


async def test_an_invitation_is_taken_once_and_only_by_its_participant(
    client: Redis, prefix: str
) -> None:
    invites = InviteStore(client, prefix)
    invitation = Invitation("i-1", "p1", "s1", "general", "urgent")
    await invites.add(invitation, 900)
    assert 0 < await client.ttl(f"{prefix}inv:i-1") <= 900
    assert await invites.take("i-1", "p2") is None  # not theirs: it stays
    assert await invites.take("i-1", "p1") == invitation
    assert await invites.take("i-1", "p1") is None  # answered
    assert await invites.take("i-unknown", "p1") is None


async def test_an_accepted_invitation_opens_a_direct_room_like_a_claim(
    client: Redis, prefix: str
) -> None:
    await InviteStore(client, prefix).open_direct("dm-new", "p1", "s1", "concern", TTL_MS)
    support = SupportStore(client, prefix)
    room = await support.direct_room("dm-new")
    assert room is not None
    assert (room.pid, room.staff, room.priority, room.ended_ms) == (
        "p1",
        frozenset({"s1"}),
        "concern",
        None,
    )
    assert await support.rooms_of("p1") == ["dm-new"] == await support.rooms_of("s1")
    assert "dm-new" in await support.direct_rooms()


async def test_took_alert_finds_the_taker_of_the_message_alert(client: Redis, prefix: str) -> None:
    invites = InviteStore(client, prefix)
    assert not await invites.took_alert("general", "5-0", "s1")  # no escalations at all
    escalations = EscalationStore(client, prefix, "test")
    await escalations.add("e-1", "general", "5-0", ("k", b"x"), "overdose", 1_000)
    await escalations.add("e-2", "general", "6-0", ("k", b"x"), "suicide", 2_000)
    assert not await invites.took_alert("general", "5-0", "s1")  # raised, not taken
    await escalations.ensure_group()
    assert await escalations.take("e-1", "s1", 3_000)
    assert await invites.took_alert("general", "5-0", "s1")
    assert not await invites.took_alert("general", "5-0", "s2")
    assert not await invites.took_alert("general", "6-0", "s1")
    assert not await invites.took_alert("early-days", "5-0", "s1")
