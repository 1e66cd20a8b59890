"""Paging out of band (issue 13) across two real server processes on real Redis, to a real
HTTP receiver and a real SMTP server on 127.0.0.1: signed pages without words, names or
rooms; paged at once with no console open, after page_after_seconds when nobody takes it,
not at all when taken in time; retries until the receiver is back, nothing lost, nothing
sent twice across processes; every page audited. Supporters of a direct room on rung 1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from bench.receivers import Hook, MailReceiver, WebhookReceiver
from bench.receivers import paging_program as receivers_program
from server.core.audit import AuditRecord
from server.core.pages import verify
from server.store.audit import AuditLog
from tests.client import Participant
from tests.integration.conftest import redis_env
from tests.integration.sockets import console, participant
from tests.support import RedisServer, ServerProcess, start_server

pytestmark = pytest.mark.integration

Pair = tuple[ServerProcess, ServerProcess]
URGENT = "my friend isnt breathing and his lips are blue"
SECRET = "test-page-secret-1234"
PAGE_AFTER_SECONDS = 3
PAYLOAD_KEYS = {
    "type", "escalation", "level", "category", "reason", "rung", "since", "program",
    "console_url",
}  # fmt: skip


def paging_program(
    tmp: Path, hook: WebhookReceiver, mail: MailReceiver, silence_minutes: float = 60
) -> str:
    return receivers_program(
        tmp,
        hook,
        mail,
        ack_seconds=2,
        page_after_seconds=PAGE_AFTER_SECONDS,
        silence_minutes=silence_minutes,
    )


def paging_env(redis: RedisServer, program: str) -> dict[str, str]:
    return redis_env(
        redis,
        PEERLINE_CONFIG=program,
        PAGE_SECRET=SECRET,
        PEERLINE_PUBLIC_URL="https://chat.example.org",
    )


@pytest.fixture(scope="module")
def paging_pair(
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
    receivers: tuple[WebhookReceiver, MailReceiver],
) -> Iterator[Pair]:
    program = paging_program(tmp_path_factory.mktemp("paging"), *receivers)
    env = paging_env(redis_server, program)
    first, second = start_server(env), start_server(env)
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture
async def pair(
    paging_pair: Pair, receivers: tuple[WebhookReceiver, MailReceiver]
) -> AsyncIterator[Pair]:
    """The module's pair with no open alert, no pending page, and empty receivers."""
    env = paging_pair[0].env
    client = aioredis.Redis.from_url(env["PEERLINE_REDIS_URL"])
    prefix = env["PEERLINE_REDIS_PREFIX"]
    for escalation in await client.smembers(f"{prefix}esc:open"):
        await client.hset(f"{prefix}e:{escalation.decode()}", "taken", "test-cleanup")
        await client.srem(f"{prefix}esc:open", escalation)
    await client.delete(f"{prefix}oncall", f"{prefix}pg:due")
    await client.aclose()
    hook, mail = receivers
    hook.status = 200
    hook.clear()
    mail.clear()
    yield paging_pair


async def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def hooks_for(hook: WebhookReceiver, escalation: str) -> list[Hook]:
    return [h for h in hook.delivered() if orjson.loads(h.body)["escalation"] == escalation]


async def audit_of(server: ServerProcess, escalation: str) -> list[AuditRecord]:
    client = aioredis.Redis.from_url(server.env["PEERLINE_REDIS_URL"])
    try:
        log = AuditLog(client, server.env["PEERLINE_REDIS_PREFIX"], time.time)
        return [r for r in await log.tail(1000) if r.target == escalation]
    finally:
        await client.aclose()


async def nobody_online(server: ServerProcess) -> None:
    """Consoles closed by the previous test leave the roster as their sockets end."""
    client = aioredis.Redis.from_url(server.env["PEERLINE_REDIS_URL"])
    key = server.env["PEERLINE_REDIS_PREFIX"] + "staff:on"
    try:
        for _ in range(100):
            if not await client.zrange(key, 0, -1):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("a staff console stayed online")
    finally:
        await client.aclose()


async def urgent(person: Participant, nonce: str, room: str = "general") -> str:
    await person.send(type="say", room=room, text=URGENT, nonce=nonce, ref=nonce)
    return str((await person.expect("ack", ref=nonce))["id"])


async def test_with_no_console_open_a_signed_page_without_content_goes_out_at_once(
    pair: Pair, receivers: tuple[WebhookReceiver, MailReceiver]
) -> None:
    hook, mail = receivers
    await nobody_online(pair[0])
    person = await participant(pair[0], "general")
    started = time.perf_counter()
    message = await urgent(person, "n1")
    first = await until(hook.delivered, 3.0, "the webhook")
    assert first[0].at - started < 2.0
    body = first[0].body
    # The signature is HMAC-SHA256 of the exact bytes received, with the shared secret.
    assert verify(SECRET, body, first[0].headers["x-peerline-signature"])
    assert first[0].headers["content-type"] == "application/json"
    page = orjson.loads(body)
    assert set(page) == PAYLOAD_KEYS
    assert page["type"] == "alert" and page["level"] == "urgent" and page["reason"] == "message"
    assert page["program"] == "Peerline Demo Program" and page["category"]
    assert page["console_url"] == "https://chat.example.org/console"
    assert page["since"] <= time.time() * 1000 and page["rung"] >= 0
    letter = (await until(lambda: mail.inbox, 3.0, "the email"))[0]
    assert letter.recipients == ("oncall@example.org",)
    assert page["escalation"] in letter.text and "https://chat.example.org/console" in letter.text
    # Never the words, the pseudonym, the person's id or the room id, in any page.
    secrets = [URGENT, "isnt breathing", person.hello["you"]["name"]]
    secrets += ["general", "General recovery", message]
    for sent in (body.decode(), letter.raw.decode(errors="replace")):
        for secret in secrets:
            assert secret not in sent, secret
    records = {r.action: r for r in await audit_of(pair[0], page["escalation"])}
    assert records["escalation.page_due"].extra["why"] == "no_console"
    await until(lambda: len(hooks_for(hook, page["escalation"])) == 1, 1.0, "one webhook")
    sent = [r for r in await audit_of(pair[0], page["escalation"]) if "page_sent" in r.action]
    assert sorted(r.extra["to"] for r in sent) == ["email-1", "webhook-0"]
    assert all(URGENT not in str(r.extra) and r.reason == "" for r in sent)


async def test_with_consoles_open_an_alert_nobody_takes_is_paged_after_page_after_seconds(
    pair: Pair, receivers: tuple[WebhookReceiver, MailReceiver]
) -> None:
    hook, mail = receivers
    facilitator = await console(pair[1], "facilitator", on_call=True)
    person = await participant(pair[0], "general")
    started = time.perf_counter()
    await urgent(person, "n2")
    alert = await facilitator.expect("alert")
    assert alert["reason"] == "message"
    await asyncio.sleep(PAGE_AFTER_SECONDS - 1.0)
    assert hooks_for(hook, alert["escalation"]) == [] and mail.inbox == []
    arrived = await until(lambda: hooks_for(hook, alert["escalation"]), 3.0, "the page")
    assert PAGE_AFTER_SECONDS - 0.2 < arrived[0].at - started < PAGE_AFTER_SECONDS + 1.5
    assert orjson.loads(arrived[0].body)["rung"] >= 1
    await until(lambda: mail.inbox, 3.0, "the email")
    why = [r.extra.get("why") for r in await audit_of(pair[0], alert["escalation"])]
    assert "not_taken" in why


async def test_an_alert_taken_in_time_is_never_paged(
    pair: Pair, receivers: tuple[WebhookReceiver, MailReceiver]
) -> None:
    hook, mail = receivers
    facilitator = await console(pair[1], "facilitator", on_call=True)
    person = await participant(pair[0], "general")
    await urgent(person, "n3")
    alert = await facilitator.expect("alert")
    await facilitator.send(type="ack_alert", escalation=alert["escalation"], ref="take")
    await facilitator.expect("alert_taken", ref="take")
    await asyncio.sleep(PAGE_AFTER_SECONDS + 1.5)
    assert hook.hooks == [] and mail.inbox == []
    actions = [r.action for r in await audit_of(pair[0], alert["escalation"])]
    assert "escalation.acknowledged" in actions
    assert not [a for a in actions if a.startswith("escalation.page_")]


async def test_failed_deliveries_are_retried_until_the_receivers_are_back_and_none_is_lost(
    pair: Pair, receivers: tuple[WebhookReceiver, MailReceiver]
) -> None:
    hook, mail = receivers
    await nobody_online(pair[0])
    hook.status = 500
    mail.down()
    try:
        person = await participant(pair[1], "general")
        await urgent(person, "n4")
        await until(lambda: len(hook.hooks) >= 2, 6.0, "two failed webhooks")
        escalation = orjson.loads(hook.hooks[0].body)["escalation"]
        failed = [r for r in await audit_of(pair[0], escalation) if "failed" in r.action]
        assert {"http_500", "ConnectionRefusedError"} <= {r.extra["error"] for r in failed}
        assert {r.extra["to"] for r in failed} == {"webhook-0", "email-1"}
    finally:
        hook.status = 200
        mail.up()
    await until(lambda: hook.delivered(), 10.0, "the webhook after the outage")
    await until(lambda: mail.inbox, 10.0, "the email after the outage")
    await asyncio.sleep(2.5)  # anything sent twice would arrive by now
    assert len(hook.delivered()) == 1 and len(mail.inbox) == 1
    attempts = [orjson.loads(h.body)["escalation"] for h in hook.hooks]
    assert set(attempts) == {escalation} and len(attempts) >= 3
    records = await audit_of(pair[0], escalation)
    sent = {r.extra["to"]: int(r.extra["attempt"]) for r in records if "sent" in r.action}
    assert sent["webhook-0"] == len(attempts) and sent["email-1"] >= 2
    client = aioredis.Redis.from_url(pair[0].env["PEERLINE_REDIS_URL"])
    try:
        prefix = pair[0].env["PEERLINE_REDIS_PREFIX"]
        assert await client.zrange(f"{prefix}pg:due", 0, -1) == []
        states = await client.hmget(f"{prefix}e:{escalation}", "pg:0:s", "pg:1:s")
        assert states == [b"sent", b"sent"]
    finally:
        await client.aclose()


async def test_two_processes_send_each_page_exactly_once(
    pair: Pair, receivers: tuple[WebhookReceiver, MailReceiver]
) -> None:
    hook, mail = receivers
    await nobody_online(pair[0])
    people = [await participant(pair[i % 2], "general") for i in range(2)]
    for i in range(10):
        await urgent(people[i % 2], f"m{i}")
    await until(lambda: len(hook.delivered()) >= 10, 10.0, "ten webhooks")
    await until(lambda: len(mail.inbox) >= 10, 10.0, "ten emails")
    await asyncio.sleep(1.5)
    ids = [orjson.loads(h.body)["escalation"] for h in hook.delivered()]
    assert len(ids) == 10 and len(set(ids)) == 10
    mailed = [e for e in ids for m in mail.inbox if e in m.text]
    assert sorted(mailed) == sorted(ids)


async def test_a_direct_rooms_supporter_is_paged_on_rung_one(pair: Pair) -> None:
    supporter = await console(pair[0])
    on_call = await console(pair[1], "facilitator", on_call=True)
    person = await participant(pair[1])
    await person.send(type="request_support", topic="cravings", ref="ask")
    ticket = (await person.expect("queued", ref="ask"))["ticket"]
    await supporter.send(type="claim", ticket=ticket, ref="c")
    room = (await supporter.expect("assigned", ref="c"))["room"]
    await person.expect("assigned")
    await person.join(room)
    await supporter.join(room)
    await urgent(person, "d1", room)
    for staff in (supporter, on_call):
        alert = await staff.expect("alert", timeout=3.0)
        assert alert["rung"] == 1 and alert["room"] == room
