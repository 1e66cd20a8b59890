"""The escalation store on real Redis: what review reads of each alert's outcome."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from server.store.escalations import AlertOutcome, EscalationStore
from server.store.keys import KeySpace


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    redis = Redis.from_url(redis_url)
    yield redis
    await redis.aclose()


async def test_outcomes_of_a_message_say_who_took_each_alert_and_whether_it_was_paged(
    client: Redis, prefix: str
) -> None:
    store = EscalationStore(client, prefix, "test-consumer")
    await store.ensure_group()
    await store.add("e-1", "general", "1-0", ("k", b"sealed"), "overdose", 1_000)
    await store.add("e-2", "general", "1-0", ("k", b"sealed"), "overdose", 2_000)
    await store.add("e-3", "general", "2-0", ("k", b"sealed"), "overdose", 3_000)
    await store.add("e-t", "", "t-ticket", ("k", b"sealed"), "suicide", 4_000)
    assert await store.take("e-1", "staff-a", 1_500)
    assert await store.outcomes_of("general", "1-0") == [
        AlertOutcome("e-1", 1_000, "staff-a", 1_500, 0),
        AlertOutcome("e-2", 2_000, "", 0, 0),
    ]
    # Out-of-band paging writes `paged`; a value that is no number reads as not paged.
    key = KeySpace(prefix).escalation
    await client.hset(key("e-2"), "paged", 2_100)
    await client.hset(key("e-1"), "paged", "soon")
    assert [o.paged_ms for o in await store.outcomes_of("general", "1-0")] == [0, 2_100]
    assert [o.escalation for o in await store.outcomes_of("", "t-ticket")] == ["e-t"]
    assert await store.outcomes_of("general", "9-0") == []
