"""The audit log on real Redis (SECURITY.md L1, T24): 200 accesses of 6 kinds carry every
required field and no content; concurrent appenders keep one chain; tampering in storage
makes `verify` and `peerline audit verify` fail."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from server.cli import audit as audit_cli
from server.core.audit import (
    BROKEN_LINK,
    GENESIS,
    HASH_MISMATCH,
    HEAD_MISMATCH,
    MALFORMED,
    MISSING,
    AuditFieldError,
    format_head,
    make_record,
)
from server.store import StoreUnavailable
from server.store.audit import VERIFY_PAGE, AuditLog

pytestmark = pytest.mark.integration

STAFF = ("a1" * 16, "b2" * 16, "c3" * 16)
# Six kinds of staff access (T24), each with the pseudonymous id it points at.
ACCESSES = (
    ("room.open", "room"),
    ("transcript.view", "room"),
    ("escalation.view", "esc"),
    ("escalation.ack", "esc"),
    ("flag.view", "flag"),
    ("lexicon.retire", "lex"),
)
REQUIRED = {"v", "seq", "at", "actor", "action", "target", "reason", "prev", "hash"}
# Chat text the session has "seen": none of it may reach the log.
CONTENT = "I took everything in the cabinet and I can't feel my hands"


class Clock:
    def __init__(self) -> None:
        self.now = 1_760_000_000.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    redis = Redis.from_url(redis_url)
    yield redis
    await redis.aclose()


async def read_stream(client: Redis, key: str) -> list[tuple[str, dict[str, str]]]:
    raw: Any = await client.xrange(key)
    return [(i.decode(), {k.decode(): v.decode() for k, v in f.items()}) for i, f in raw]


def cli(args: list[str], env: Mapping[str, str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="peerline")
    audit_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    out = io.StringIO()
    code = audit_cli.run(parser.parse_args(["audit", *args]), env, io.StringIO(), out)
    return code, out.getvalue()


async def run_cli(args: list[str], redis_url: str, prefix: str) -> tuple[int, str]:
    # run() owns its event loop (asyncio.run), so it runs beside the test's loop.
    env = {"PEERLINE_REDIS_URL": redis_url, "PEERLINE_REDIS_PREFIX": prefix}
    return await asyncio.to_thread(cli, args, env)


async def staff_session(log: AuditLog, n: int) -> None:
    for i in range(n):
        action, kind = ACCESSES[i % len(ACCESSES)]
        extra = {"rung": str(i % 3)} if action == "escalation.ack" else {}
        reason = "" if i % 5 == 0 else f"review #{i}"
        await log.record(STAFF[i % 2], action, f"{kind}-{i:032x}", reason, **extra)


async def test_200_accesses_of_6_kinds_carry_every_field_and_verify(
    client: Redis, prefix: str, redis_url: str
) -> None:
    clock = Clock()
    log = AuditLog(client, prefix, clock)
    await staff_session(log, 200)

    stored = await read_stream(client, f"{prefix}audit")
    assert len(stored) == 200
    seen_actions = set()
    for i, (_, entry) in enumerate(stored):
        assert set(entry) >= REQUIRED, entry
        assert entry["seq"] == str(i + 1) and entry["actor"] in STAFF
        assert int(entry["at"]) > 1_760_000_000_000
        assert entry["target"].startswith(ACCESSES[i % 6][1] + "-")
        assert CONTENT not in json.dumps(entry)
        seen_actions.add(entry["action"])
    assert seen_actions == {a for a, _ in ACCESSES}

    head: Any = await client.get(f"{prefix}audit:head")
    result = await log.verify()
    assert result.ok and result.count == 200 and head.decode() == format_head(200, result.head)
    assert await client.ttl(f"{prefix}audit") == -1  # never expires: retention is the operator's

    code, out = await run_cli(["verify"], redis_url, prefix)
    assert code == 0 and out == f"ok: 200 records, head {result.head}\n"
    code, out = await run_cli(["verify", "--expect", f"200:{result.head}"], redis_url, prefix)
    assert code == 0, out

    tail = await log.tail(5)
    assert [r.seq for r in tail] == [196, 197, 198, 199, 200]
    code, out = await run_cli(["tail", "-n", "3", "--json"], redis_url, prefix)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["seq"] for r in rows] == [198, 199, 200]
    assert rows[-1]["hash"] == result.head and rows[-1]["actor"] in STAFF
    code, out = await run_cli(["tail", "-n", "6"], redis_url, prefix)
    assert code == 0 and len(out.splitlines()) == 6
    assert "escalation.ack" in out and "rung=" in out and "reason: review #" in out


async def test_concurrent_appenders_on_separate_clients_keep_one_chain(
    redis_url: str, prefix: str
) -> None:
    clients = [Redis.from_url(redis_url) for _ in range(3)]
    try:
        logs = [AuditLog(c, prefix, Clock()) for c in clients]

        async def appender(log: AuditLog, who: str, n: int) -> list[int]:
            # Several tasks per client too: the same process appending from many requests.
            done = await asyncio.gather(
                *(log.record(who, "room.open", f"room-{who[:4]}-{i}") for i in range(n))
            )
            return [r.seq for r in done]

        seqs = await asyncio.gather(*(appender(log, STAFF[i], 40) for i, log in enumerate(logs)))
        assert sorted(s for part in seqs for s in part) == list(range(1, 121))
        result = await logs[0].verify()
        assert result.ok and result.count == 120
    finally:
        for c in clients:
            await c.aclose()


async def test_verify_pages_through_a_log_longer_than_a_page(client: Redis, prefix: str) -> None:
    log = AuditLog(client, prefix, Clock())
    n = VERIFY_PAGE + 7
    pipe = client.pipeline(transaction=False)
    seq, prev = 0, GENESIS
    for i in range(n):  # written directly: a thousand round trips would only slow the suite
        record = make_record(seq, prev, 1 + i, STAFF[0], "room.open", f"room-{i}")
        pipe.xadd(f"{prefix}audit", record.fields())  # type: ignore[arg-type]
        seq, prev = record.seq, record.hash
    pipe.set(f"{prefix}audit:head", format_head(seq, prev))
    await pipe.execute()
    result = await log.verify()
    assert result.ok and result.count == n
    await log.record(STAFF[1], "room.open", "one-more")
    assert (await log.verify()).count == n + 1


async def rewrite(client: Redis, prefix: str, change: Mapping[int, Mapping[str, str]]) -> None:
    """Tamper as someone with write access to Redis would: stream entries are immutable,
    so delete the stream and add every entry back under its old id, some fields changed."""
    stream = f"{prefix}audit"
    entries = await read_stream(client, stream)
    pipe = client.pipeline(transaction=True)
    pipe.delete(stream)
    for index, (entry_id, fields) in enumerate(entries):
        new: dict[Any, Any] = {**fields, **change.get(index, {})}
        pipe.xadd(stream, new, id=entry_id)
    await pipe.execute()


async def test_editing_one_field_of_one_entry_in_redis_is_found(
    client: Redis, prefix: str, redis_url: str
) -> None:
    log = AuditLog(client, prefix, Clock())
    await staff_session(log, 200)
    edited_id = (await read_stream(client, f"{prefix}audit"))[120][0]

    await rewrite(client, prefix, {120: {"actor": STAFF[2]}})
    result = await log.verify()
    assert not result.ok and result.why == HASH_MISMATCH
    assert result.bad_seq == 121 and result.bad_id == edited_id and result.count == 120
    code, out = await run_cli(["verify"], redis_url, prefix)
    assert code == 1 and HASH_MISMATCH in out and "seq 121" in out and edited_id in out
    code, out = await run_cli(["verify", "--json"], redis_url, prefix)
    assert code == 1 and json.loads(out)["why"] == HASH_MISMATCH


async def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(
    client: Redis, prefix: str, redis_url: str
) -> None:
    log = AuditLog(client, prefix, Clock())
    await staff_session(log, 20)
    fields = (await read_stream(client, f"{prefix}audit"))[8][1]
    assert not any(k.startswith("x.") for k in fields)  # so the forgery replaces every field
    forged = make_record(8, fields["prev"], int(fields["at"]), STAFF[2], "room.open", "elsewhere")
    await rewrite(client, prefix, {8: forged.fields()})
    result = await log.verify()
    assert not result.ok and result.why == BROKEN_LINK and result.bad_seq == 10
    assert (await run_cli(["verify"], redis_url, prefix))[0] == 1


async def test_deleting_a_middle_entry_or_the_newest_is_found(
    client: Redis, prefix: str, redis_url: str
) -> None:
    log = AuditLog(client, prefix, Clock())
    await staff_session(log, 30)
    entries = await read_stream(client, f"{prefix}audit")
    await client.xdel(f"{prefix}audit", entries[14][0])
    result = await log.verify()
    assert not result.ok and result.why == MISSING and result.bad_seq == 15
    assert (await run_cli(["verify"], redis_url, prefix))[0] == 1

    other = AuditLog(client, prefix + "cut:", Clock())
    await staff_session(other, 30)
    last = (await read_stream(client, f"{prefix}cut:audit"))[-2:]
    await client.xdel(f"{prefix}cut:audit", *(entry_id for entry_id, _ in last))
    result = await other.verify()
    assert not result.ok and result.why == HEAD_MISMATCH and result.bad_seq == 29
    code, out = await run_cli(["verify"], redis_url, prefix + "cut:")
    assert code == 1 and HEAD_MISMATCH in out


async def test_a_rebuilt_chain_is_found_against_a_head_kept_off_the_host(
    client: Redis, prefix: str, redis_url: str
) -> None:
    log = AuditLog(client, prefix, Clock())
    await staff_session(log, 10)
    written_down = (await log.verify()).head
    # Someone with write access deletes everything and writes a consistent chain of their own.
    await client.delete(f"{prefix}audit", f"{prefix}audit:head")
    await staff_session(log, 12)
    assert (await log.verify()).ok  # the chain alone cannot tell
    code, out = await run_cli(["verify", "--expect", f"10:{written_down}"], redis_url, prefix)
    assert code == 1 and "anchor mismatch" in out


async def test_a_log_replaced_by_another_type_fails_verify_without_a_traceback(
    client: Redis, prefix: str, redis_url: str
) -> None:
    await client.set(f"{prefix}audit", "gone")
    result = await AuditLog(client, prefix, Clock()).verify()
    assert not result.ok and result.why == MALFORMED and result.bad_seq == 1
    code, out = await run_cli(["verify"], redis_url, prefix)
    assert code == 1 and MALFORMED in out


async def test_a_forged_head_stops_appends_rather_than_burying_the_evidence(
    client: Redis, prefix: str
) -> None:
    log = AuditLog(client, prefix, Clock())
    await log.record(STAFF[0], "room.open", "room-1")
    await client.set(f"{prefix}audit:head", "not a head")
    with pytest.raises(StoreUnavailable):
        await log.record(STAFF[0], "room.open", "room-2")
    await client.delete(f"{prefix}audit:head")
    with pytest.raises(StoreUnavailable):
        await log.record(STAFF[0], "room.open", "room-3")
    assert len(await read_stream(client, f"{prefix}audit")) == 1


async def test_fields_that_could_carry_content_are_refused_and_nothing_is_written(
    client: Redis, prefix: str
) -> None:
    log = AuditLog(client, prefix, Clock())
    with pytest.raises(AuditFieldError):
        await log.record(STAFF[0], "room.open", CONTENT)
    with pytest.raises(AuditFieldError):
        await log.record(STAFF[0], "room.open", "room-1", "x" * 501)
    assert await client.exists(f"{prefix}audit", f"{prefix}audit:head") == 0
    empty = await log.verify()
    assert empty.ok and empty.count == 0 and empty.head == GENESIS


async def test_the_cli_exits_2_when_the_log_cannot_be_read(prefix: str, tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the data folder should be")
    no_folder = {"PEERLINE_DATA_DIR": str(tmp_path / "data")}  # the embedded Redis cannot start
    code, out = await asyncio.to_thread(cli, ["verify"], no_folder)
    assert code == 2 and out == ""
    unreachable = {"PEERLINE_REDIS_URL": "redis://127.0.0.1:1/0", "PEERLINE_REDIS_PREFIX": prefix}
    assert (await asyncio.to_thread(cli, ["verify"], unreachable))[0] == 2
    assert (await asyncio.to_thread(cli, ["tail"], unreachable))[0] == 2
    bad_anchor = ["verify", "--expect", "nonsense"]
    assert (await asyncio.to_thread(cli, bad_anchor, unreachable))[0] == 2


async def test_an_unreachable_redis_is_store_unavailable() -> None:
    redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    try:
        log = AuditLog(redis, "x:", Clock())
        with pytest.raises(StoreUnavailable):
            await log.record(STAFF[0], "room.open", "room-1")
        with pytest.raises(StoreUnavailable):
            await log.verify()
    finally:
        await redis.aclose()
