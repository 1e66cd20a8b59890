"""The store contract (server/store/__init__.py), held against RedisStore on real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from server.core.events import ControlEvent, Removed
from server.core.login_limits import (
    FAILURE_WINDOW_SECONDS,
    NAME_FREE_FAILURES,
    Failures,
    LoginLimits,
    Refusal,
    decide,
)
from server.core.ratelimit import Rate
from server.store import (
    HISTORY_LATEST,
    HISTORY_PAGE,
    Erasure,
    RateLimited,
    Session,
    StoredMessage,
    parse_id,
)
from server.store.redis import RedisStore

RETENTION = 3600.0


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Recorder:
    messages: list[StoredMessage] = field(default_factory=list)
    signals: list[tuple[str, str, str]] = field(default_factory=list)
    erasures: list[Erasure] = field(default_factory=list)
    controls: list[ControlEvent] = field(default_factory=list)

    def on_message(self, message: StoredMessage) -> None:
        self.messages.append(message)

    def on_signal(self, room: str, skip: str, frame: str) -> None:
        self.signals.append((room, skip, frame))

    def on_erased(self, erasure: Erasure) -> None:
        self.erasures.append(erasure)

    def on_control(self, event: ControlEvent) -> None:
        self.controls.append(event)


async def until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@dataclass
class Harness:
    store: RedisStore
    listener: Recorder
    clock: Clock


@pytest.fixture
async def harness(redis_url: str, prefix: str) -> AsyncIterator[Harness]:
    clock = Clock()
    store = RedisStore(redis_url, prefix, clock)
    listener = Recorder()
    await store.start(listener)
    yield Harness(store, listener, clock)
    await store.aclose()


def sealer(text: str) -> Callable[[str], tuple[str, bytes]]:
    return lambda message_id: ("k1", f"{text}|{message_id}".encode())


async def say(h: Harness, room: str, text: str, author: str = "alice", nonce: str | None = None):
    return await h.store.append(room, author, nonce or text, sealer(text), RETENTION)


async def test_sessions_round_trip_and_expire_unknown(harness: Harness) -> None:
    session = Session("pid1", "Quiet Harbor 41", "v1", frozenset())
    await harness.store.create_session("d1", session, 60)
    assert await harness.store.get_session("d1", 60) == session
    assert await harness.store.get_session("nope", 60) is None
    await harness.store.add_invite("d1", "officers")
    found = await harness.store.get_session("d1", 60)
    assert found is not None and found.invites == frozenset({"officers"})


async def test_append_dedups_by_author_and_nonce(harness: Harness) -> None:
    first = await say(harness, "general", "hello", nonce="n1")
    again = await say(harness, "general", "hello", nonce="n1")
    other_author = await say(harness, "general", "hello", author="bob", nonce="n1")
    assert first.created and not again.created and other_author.created
    assert again.id == first.id and other_author.id != first.id
    history = await harness.store.history("general", None)
    assert [m.id for m in history.messages] == [first.id, other_author.id]


async def test_a_nonce_names_one_message_per_room(harness: Harness) -> None:
    # Regression: a nonce reused in another room was acked with the first room's id and the
    # second message silently dropped.
    here = await say(harness, "general", "one", nonce="n1")
    there = await say(harness, "families", "two", nonce="n1")
    assert here.created and there.created
    assert [m.blob[:3] for m in (await harness.store.history("families", None)).messages] == [
        b"two"
    ]


async def test_reports_expire_with_the_purge(harness: Harness) -> None:
    # Redis stamps report ids with its own clock, so the cut-offs here are far from "now".
    await harness.store.add_report({"room": "general", "message": "1-0", "k": "k1", "d": b"x"})
    await harness.store.add_report({"room": "general", "message": "2-0", "k": "k1", "d": b"y"})
    assert await harness.store.trim_reports("1000-0") == 0
    assert await harness.store.trim_reports("99999999999999-0") == 2


async def test_sealer_sees_the_final_id(harness: Harness) -> None:
    result = await say(harness, "general", "bound")
    (stored,) = (await harness.store.history("general", None)).messages
    assert stored.blob == f"bound|{result.id}".encode()
    assert stored.key_id == "k1"


async def test_ids_increase_even_when_the_clock_stands_still_or_goes_back(
    harness: Harness,
) -> None:
    ids = [parse_id((await say(harness, "general", f"m{i}")).id) for i in range(3)]
    harness.clock.now -= 10
    ids += [parse_id((await say(harness, "general", f"b{i}")).id) for i in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 6


async def test_subscribed_rooms_are_delivered_in_order(harness: Harness) -> None:
    await harness.store.subscribe("general")
    sent = [(await say(harness, "general", f"m{i}")).id for i in range(5)]
    await say(harness, "elsewhere", "not subscribed")
    await until(lambda: len(harness.listener.messages) >= 5)
    await asyncio.sleep(0.05)
    assert [m.id for m in harness.listener.messages] == sent
    await harness.store.unsubscribe("general")
    await say(harness, "general", "after unsubscribe")
    await asyncio.sleep(0.1)
    assert len(harness.listener.messages) == 5


async def test_history_latest_then_pages_with_more(harness: Harness) -> None:
    ids = [(await say(harness, "general", f"m{i}")).id for i in range(HISTORY_PAGE + 30)]
    latest = await harness.store.history("general", None)
    assert [m.id for m in latest.messages] == ids[-HISTORY_LATEST:]
    assert not latest.more and not latest.reset
    page = await harness.store.history("general", ids[4])
    assert [m.id for m in page.messages] == ids[5 : 5 + HISTORY_PAGE]
    assert page.more and not page.reset
    rest = await harness.store.history("general", page.messages[-1].id)
    assert [m.id for m in rest.messages] == ids[5 + HISTORY_PAGE :]
    assert not rest.more
    empty = await harness.store.history("general", ids[-1])
    assert empty.messages == [] and not empty.more and not empty.reset


async def test_since_newer_than_anything_stored_means_reset(harness: Harness) -> None:
    await say(harness, "general", "only")
    result = await harness.store.history("general", "9999999999999-0")
    assert result.reset and [m.blob[:4] for m in result.messages] == [b"only"]
    fresh = await harness.store.history("never-used", "1800000000000-0")
    assert fresh.reset and fresh.messages == []


async def test_trim_removes_old_content_and_marks_reset(harness: Harness) -> None:
    old = [(await say(harness, "general", f"old{i}")).id for i in range(3)]
    harness.clock.now += 100
    new = (await say(harness, "general", "new")).id
    cutoff = f"{int((harness.clock.now - 50) * 1000)}-0"
    assert await harness.store.trim("general", cutoff) == 3
    latest = await harness.store.history("general", None)
    assert [m.id for m in latest.messages] == [new]
    assert await harness.store.message("general", old[0]) is None
    stale = await harness.store.history("general", old[0])
    assert stale.reset and [m.id for m in stale.messages] == [new]
    current = await harness.store.history("general", new)
    assert not current.reset


async def test_erase_removes_messages_session_and_nonces(harness: Harness) -> None:
    await harness.store.create_session("d1", Session("alice", "A", "v1", frozenset()), 60)
    mine = [
        (await say(harness, room, f"{room}-mine", nonce=f"n-{room}")).id
        for room in ("general", "families")
    ]
    theirs = (await say(harness, "general", "theirs", author="bob")).id
    erasure = await harness.store.erase("d1", "alice")
    assert erasure.ids_by_room == {"general": [mine[0]], "families": [mine[1]]}
    assert [m.id for m in (await harness.store.history("general", None)).messages] == [theirs]
    assert (await harness.store.history("families", None)).messages == []
    assert await harness.store.get_session("d1", 60) is None
    again = await say(harness, "general", "general-mine", nonce="n-general")
    assert again.created  # nonces went with the erasure
    await harness.store.subscribe("general")  # erasure events reach every process
    await harness.store.erase("d1", "bob")
    await until(lambda: any(e.pid == "bob" for e in harness.listener.erasures))


async def test_ending_a_session_keeps_the_messages(harness: Harness) -> None:
    await harness.store.create_session("d1", Session("alice", "A", "v1", frozenset()), 60)
    kept = await say(harness, "general", "stays")
    await harness.store.end_session("d1", "alice")
    assert await harness.store.get_session("d1", 60) is None
    assert [m.id for m in (await harness.store.history("general", None)).messages] == [kept.id]
    await until(lambda: any(e.pid == "alice" for e in harness.listener.erasures))


async def test_presence_counts_people_not_sockets_and_signals_changes(harness: Harness) -> None:
    await harness.store.subscribe("general")
    assert await harness.store.presence("general", "alice|c1", True) == 1
    assert await harness.store.presence("general", "alice|c2", True) == 1
    assert await harness.store.presence("general", "bob|c3", True) == 2
    await until(lambda: any('"count":2' in s[2] for s in harness.listener.signals))
    signal = next(s for s in harness.listener.signals if '"count":2' in s[2])
    assert signal[1] == "c3"  # the joiner is told directly, not twice
    assert await harness.store.presence("general", "alice|c1", False) == 2
    assert await harness.store.presence("general", "alice|c2", False) == 1


async def test_presence_outlives_the_expiry_of_a_rooms_messages(harness: Harness) -> None:
    # Regression (once, in an in-memory store): a room whose content expired was rebuilt from scratch,
    # dropping the people in it from the count.
    assert await harness.store.presence("general", "alice|c1", True) == 1
    await harness.store.append("general", "alice", "n-old", sealer("old"), 10)
    harness.clock.now += 11  # past the content's 10 s, well inside presence's 90 s
    await harness.store.append("general", "alice", "n-new", sealer("new"), 10)
    latest = (await harness.store.history("general", None)).messages
    assert latest[-1].blob[:3] == b"new"
    assert await harness.store.presence("general", "bob|c2", True) == 2


async def test_signals_reach_subscribers(harness: Harness) -> None:
    await harness.store.subscribe("general")
    await harness.store.publish_signal("general", "c9", '{"type":"typing"}')
    await until(lambda: ("general", "c9", '{"type":"typing"}') in harness.listener.signals)


async def test_counters_count_within_their_window(harness: Harness) -> None:
    counts = [await harness.store.count_recent("addr:x", 3600) for _ in range(3)]
    assert counts == [1, 2, 3]
    assert await harness.store.count_recent("addr:y", 3600) == 1


async def test_a_shared_key_is_one_key_until_it_expires(harness: Harness) -> None:
    first = await harness.store.shared_key("addr:1", 3600)
    assert len(first) == 32
    assert await harness.store.shared_key("addr:1", 3600) == first
    assert await harness.store.shared_key("addr:2", 3600) != first


async def test_reports_are_stored(harness: Harness) -> None:
    report_id = await harness.store.add_report(
        {"room": "general", "message": "1-0", "k": "k1", "d": b"sealed"}
    )
    assert report_id


async def test_message_lookup(harness: Harness) -> None:
    result = await say(harness, "general", "find me")
    found = await harness.store.message("general", result.id)
    assert found is not None and found.blob.startswith(b"find me")
    assert await harness.store.message("general", "1-0") is None


async def test_append_paces_each_author_whatever_socket_or_process_sends(harness: Harness) -> None:
    rate = Rate(per_minute=60, burst=3)  # one a second, three at once

    async def send(text: str, author: str = "alice", nonce: str | None = None) -> str:
        result = await harness.store.append(
            "general", author, nonce or text, sealer(text), RETENTION, rate
        )
        return result.id

    first = await send("one")
    await send("two")
    await send("three")
    with pytest.raises(RateLimited) as refused:
        await send("four")
    assert 0.9 <= refused.value.retry_after_seconds <= 1.0
    # Nothing was stored for the refused one, and a resend of a stored one is no new message.
    history = await harness.store.history("general", None)
    assert [m.blob.split(b"|")[0] for m in history.messages] == [b"one", b"two", b"three"]
    assert await send("again", nonce="one") == first
    assert await send("hello", author="bob")  # another author has a pace of their own
    harness.clock.now += 1.0
    await send("four")
    with pytest.raises(RateLimited):
        await send("five")
    # Without a rate, nothing is paced (staff tools, imports).
    await harness.store.append("general", "alice", "free", sealer("free"), RETENTION)


async def test_a_removed_message_is_gone_and_every_process_is_told(harness: Harness) -> None:
    kept = await say(harness, "general", "kept")
    doomed = await say(harness, "general", "doomed")
    assert await harness.store.remove("general", doomed.id) is True
    assert await harness.store.message("general", doomed.id) is None
    history = await harness.store.history("general", None)
    assert [m.id for m in history.messages] == [kept.id]
    event = Removed("general", [doomed.id])
    await until(lambda: event in harness.listener.controls)
    assert await harness.store.remove("general", doomed.id) is False


# ---- staff login limits (server/core/login_limits.py) -------------------------------------------

LOGIN_LIMITS = LoginLimits(per_address_per_minute=30, pair_free_failures=5)


async def test_login_address_pace_counts_every_name_across_the_store(harness: Harness) -> None:
    store = harness.store
    for i in range(30):
        assert await store.reserve_login(f"random-{i}", "addr-a", LOGIN_LIMITS) == (None, 0.0)
    refusal, wait = await store.reserve_login("random-x", "addr-a", LOGIN_LIMITS)
    assert refusal is Refusal.ADDRESS and wait == pytest.approx(2.0)
    assert await store.reserve_login("random-x", "addr-b", LOGIN_LIMITS) == (None, 0.0)
    harness.clock.now += 2.0
    assert await store.reserve_login("random-y", "addr-a", LOGIN_LIMITS) == (None, 0.0)


async def test_login_failures_hold_the_pair_not_the_name_elsewhere(harness: Harness) -> None:
    store = harness.store
    for _ in range(5):
        assert await store.reserve_login("sam", "addr-a", LOGIN_LIMITS) == (None, 0.0)
    harness.clock.now += 0.25
    refusal, wait = await store.reserve_login("sam", "addr-a", LOGIN_LIMITS)
    assert refusal is Refusal.FAILURES and wait == pytest.approx(0.75)
    assert await store.reserve_login("sam", "addr-b", LOGIN_LIMITS) == (None, 0.0)
    await store.login_succeeded("sam", "addr-b")
    # A success clears its own pair: five free failures again from there.
    for _ in range(5):
        assert await store.reserve_login("sam", "addr-b", LOGIN_LIMITS) == (None, 0.0)
    harness.clock.now += 0.75
    assert await store.reserve_login("sam", "addr-a", LOGIN_LIMITS) == (None, 0.0)
    refusal, wait = await store.reserve_login("sam", "addr-a", LOGIN_LIMITS)
    assert refusal is Refusal.FAILURES and wait == pytest.approx(2.0)
    # The counts are forgotten an hour after the last failure.
    harness.clock.now += FAILURE_WINDOW_SECONDS + 1
    await _expire_now(store, "sam")
    assert await store.reserve_login("sam", "addr-a", LOGIN_LIMITS) == (None, 0.0)


async def _expire_now(store: RedisStore, username: str) -> None:
    # Redis expires by its own clock, not the harness's: check that each key would end an
    # hour after its last failure, then end it as that hour would.
    keys = store._login_keys(username, "addr-a") + store._login_keys(username, "addr-b")
    for key in dict.fromkeys(keys):
        ttl_ms = await store.client.pttl(key)
        assert FAILURE_WINDOW_SECONDS * 1000 - 60_000 < ttl_ms <= FAILURE_WINDOW_SECONDS * 1000
        await store.client.delete(key)


async def test_login_name_wide_limit_holds_only_addresses_that_failed(harness: Harness) -> None:
    store = harness.store
    for i in range(NAME_FREE_FAILURES):
        assert await store.reserve_login("sam", f"bot-{i}", LOGIN_LIMITS) == (None, 0.0)
    refusal, wait = await store.reserve_login("sam", "bot-0", LOGIN_LIMITS)
    assert refusal is Refusal.FAILURES and wait == pytest.approx(1.0)
    assert await store.reserve_login("sam", "home", LOGIN_LIMITS) == (None, 0.0)
    await store.login_succeeded("sam", "home")
    # The success gave back only its own attempt: the name is still over its count.
    assert (await store.reserve_login("sam", "bot-1", LOGIN_LIMITS))[0] is Refusal.FAILURES
    assert await store.reserve_login("other", "bot-0", LOGIN_LIMITS) == (None, 0.0)


async def test_login_not_tried_gives_the_attempt_back(harness: Harness) -> None:
    store = harness.store
    for _ in range(5):
        assert await store.reserve_login("sam", "addr-a", LOGIN_LIMITS) == (None, 0.0)
    # The fifth was never checked (the hashing queue was full): four failures, no wait.
    await store.login_not_tried("sam", "addr-a", LOGIN_LIMITS)
    assert await store.reserve_login("sam", "addr-a", LOGIN_LIMITS) == (None, 0.0)
    refusal, wait = await store.reserve_login("sam", "addr-a", LOGIN_LIMITS)
    assert refusal is Refusal.FAILURES and wait == pytest.approx(1.0)
    await store.login_not_tried("nobody", "addr-a", LOGIN_LIMITS)  # nothing to give back


async def test_login_limits_match_the_pure_policy(harness: Harness) -> None:
    """The same mixed sequence on the store and on login_limits.decide directly."""
    store, clock = harness.store, harness.clock
    limits = LoginLimits(per_address_per_minute=20, pair_free_failures=3, name_free_failures=6)
    pace: dict[str, int] = {}
    failures: dict[str, Failures] = {}
    steps = [(f"n{i % 2}", f"a{i % 5}", 0.3 * (i % 4)) for i in range(60)]
    for name, address, later in steps:
        clock.now += later
        verdict = decide(
            pace.get(address, 0),
            failures.get(name + "|" + address, Failures()),
            failures.get(name, Failures()),
            clock.now,
            limits,
        )
        pace[address] = verdict.address_tat_ms
        if verdict.refusal is None:
            failures[name + "|" + address], failures[name] = verdict.pair, verdict.name
        refusal, wait = await store.reserve_login(name, address, limits)
        assert refusal == verdict.refusal
        assert wait == pytest.approx(verdict.wait_seconds, abs=0.002)
