"""server/store/pages.py on real Redis: an alert's pages are scheduled once, each due
delivery is claimed by exactly one of several processes, a late answer after the lease
changes nothing, and silence watches start again on a newer flag and end once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from server.store.escalations import EscalationStore
from server.store.pages import PageStore

LEASE = 30_000


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    redis = Redis.from_url(redis_url)
    yield redis
    await redis.aclose()


async def raise_one(client: Redis, prefix: str, escalation: str, now: int = 1_000) -> None:
    store = EscalationStore(client, prefix, "c1")
    await store.add(escalation, "general", "1-0", ("k1", b"sealed"), "overdose", now, "message")


async def test_an_alert_is_scheduled_once_however_many_processes_try(
    client: Redis, prefix: str
) -> None:
    await raise_one(client, prefix, "e-1")
    stores = [PageStore(client, prefix) for _ in range(8)]
    won = await asyncio.gather(*(s.schedule("e-1", 2, "no_console", 1_000) for s in stores))
    assert sorted(won) == [False] * 7 + [True]
    assert await stores[0].pending() == {"e-1 0": 1_000, "e-1 1": 1_000}
    checks = await stores[0].checks()
    assert [(c.escalation, c.paged, c.taken) for c in checks] == [("e-1", True, False)]


async def test_a_taken_or_unknown_alert_is_not_scheduled(client: Redis, prefix: str) -> None:
    await raise_one(client, prefix, "e-2")
    assert await EscalationStore(client, prefix, "c1").take("e-2", "staff-1", 2_000)
    pages = PageStore(client, prefix)
    assert not await pages.schedule("e-2", 1, "not_taken", 3_000)
    assert not await pages.schedule("e-missing", 1, "no_console", 3_000)
    assert await pages.pending() == {}
    assert await pages.checks() == []  # taken alerts leave the open set


async def test_each_due_delivery_goes_to_exactly_one_claimer(client: Redis, prefix: str) -> None:
    pages = PageStore(client, prefix)
    for i in range(20):
        await raise_one(client, prefix, f"e-{i}")
        assert await pages.schedule(f"e-{i}", 2, "no_console", 1_000)
    claimers = [PageStore(client, prefix) for _ in range(6)]
    claimed = await asyncio.gather(*(c.claim(1_000, LEASE, 100) for c in claimers))
    every = [member for batch in claimed for member in batch]
    assert len(every) == 40 and len(set(every)) == 40
    # Until the lease runs out nobody gets them again; then they are due once more.
    assert await pages.claim(1_000 + LEASE - 1, LEASE, 100) == []
    assert len(await pages.claim(1_000 + LEASE, LEASE, 100)) == 40


async def test_only_the_current_attempt_may_finish_a_delivery(client: Redis, prefix: str) -> None:
    await raise_one(client, prefix, "e-3")
    pages = PageStore(client, prefix)
    await pages.schedule("e-3", 1, "no_console", 1_000)
    assert await pages.claim(1_000, LEASE, 10) == ["e-3 0"]
    first = await pages.begin("e-3", 0)
    assert await pages.finish("e-3", 0, first, "retry", 3_000)
    assert await pages.state("e-3", 0) == ("retry", 1)
    assert await pages.claim(2_999, LEASE, 10) == []
    assert await pages.claim(3_000, LEASE, 10) == ["e-3 0"]
    second = await pages.begin("e-3", 0)
    # The first attempt's late answer (its lease ran out) changes nothing.
    assert not await pages.finish("e-3", 0, first, "sent", 4_000)
    assert await pages.pending() == {"e-3 0": 3_000 + LEASE}
    assert await pages.finish("e-3", 0, second, "sent", 4_000)
    assert await pages.state("e-3", 0) == ("sent", 2)
    assert await pages.pending() == {}


async def test_a_newer_flag_restarts_the_watch_and_the_old_one_cannot_end_it(
    client: Redis, prefix: str
) -> None:
    pages = PageStore(client, prefix)
    await pages.watch("general", "p1", "1-0", "suicide", 1_000, 601_000)
    await pages.watch("general", "p1", "2-0", "suicide", 2_000, 602_000)
    assert await pages.watches() == {"general p1": 602_000}
    assert await pages.claim_watches(601_000, LEASE, 10) == []
    assert await pages.claim_watches(602_000, LEASE, 10) == ["general p1"]
    watch = await pages.get_watch("general p1")
    assert watch is not None and (watch.message, watch.flag_ms, watch.fired) == ("2-0", 2_000, "")
    assert not await pages.end_watch("general p1", "1-0")
    first = await pages.fire_id(watch, "e-a")
    assert first == "e-a" and await pages.fire_id(watch, "e-b") == "e-a"  # fired once
    assert await pages.end_watch("general p1", "2-0")
    assert await pages.watches() == {} and await pages.get_watch("general p1") is None


async def test_an_erasure_ends_the_watches_of_its_messages(client: Redis, prefix: str) -> None:
    pages = PageStore(client, prefix)
    await pages.watch("general", "p1", "1-0", "", 1_000, 9_000)
    await pages.watch("families", "p2", "5-0", "", 1_000, 9_000)
    assert await pages.forget_watches({("general", "1-0")}) == 1
    assert await pages.watches() == {"families p2": 9_000}
