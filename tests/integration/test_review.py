"""Moderator review across two real server processes on real Redis: flagged items with
their context, every action, lexicon changes without a restart, and the audit log."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
import websockets

from tests.client import Participant
from tests.integration.conftest import redis_env
from tests.integration.sockets import connect, console, participant
from tests.support import (
    ROOT,
    RedisServer,
    ServerProcess,
    add_staff,
    http_json,
    staff_session,
    start_server,
)

pytestmark = pytest.mark.integration

Pair = tuple[ServerProcess, ServerProcess]
CONCERN = "some days i wish i was dead"
URGENT = "my friend isnt breathing and his lips are blue"


@pytest.fixture(scope="module")
def review_pair(redis_server: RedisServer) -> Iterator[Pair]:
    env = redis_env(redis_server, PEERLINE_RATE_PER_MINUTE="6000", PEERLINE_RATE_BURST="100")
    first, second = start_server(env), start_server(env)
    yield first, second
    first.stop()
    second.stop()


class Moderator:
    def __init__(self, server: ServerProcess, cookie: str, csrf: str) -> None:
        self.server, self.cookie, self.csrf = server, cookie, csrf

    def get(self, path: str) -> tuple[int, Any]:
        status, _, body = http_json(
            "GET", f"{self.server.base}{path}", headers={"cookie": self.cookie}
        )
        return status, body

    def post(self, path: str, body: dict[str, Any], csrf: bool = True) -> tuple[int, Any]:
        headers = {"cookie": self.cookie, "origin": self.server.base}
        if csrf:
            headers["x-csrf-token"] = self.csrf
        status, _, answer = http_json("POST", f"{self.server.base}{path}", body, headers)
        return status, answer


async def moderator(server: ServerProcess, *roles: str) -> Moderator:
    who = await add_staff(server.env, "m" + secrets.token_hex(6), *(roles or ("moderator",)))
    cookie, csrf = staff_session(server.base, who)
    return Moderator(server, cookie, csrf)


async def writer(server: ServerProcess, room: str = "general") -> Participant:
    return await participant(server, room)


async def flagged(pair: Pair, mod: Moderator, room: str = "families") -> tuple[Participant, str]:
    """A participant who wrote five messages, a worrying one, and five more."""
    person = await writer(pair[1], room)
    for i in range(5):
        await person.say(room, f"before {i}", f"b{i}")
    target = (await person.say(room, CONCERN, "flag"))["id"]
    for i in range(5):
        await person.say(room, f"after {i}", f"a{i}")
    return person, target


def find(mod: Moderator, message: str) -> dict[str, Any]:
    status, body = mod.get("/api/review/items?status=all")
    assert status == 200
    return next(i for i in body["items"] if i["message"] == message)


async def test_a_flagged_message_with_five_before_and_after(review_pair: Pair) -> None:
    mod = await moderator(review_pair[0])
    person, target = await flagged(review_pair, mod)
    item = find(mod, target)
    assert item["kind"] == "flag" and item["label"] == "concern" and item["status"] == "open"
    assert item["category"] == "suicide" and item["room_name"] == "Family and friends"
    status, detail = mod.get(f"/api/review/items/{item['id']}")
    assert status == 200
    texts = [m["text"] for m in detail["context"]]
    assert texts == [*(f"before {i}" for i in range(5)), CONCERN, *(f"after {i}" for i in range(5))]
    assert detail["target"] == target and detail["item"]["evidence"] == ["wish i was dead"]
    assert detail["context"][5]["from"] == {
        "name": person.hello["you"]["name"],
        "role": "participant",
    }


async def test_only_moderators_with_a_token_may_review(review_pair: Pair) -> None:
    base = review_pair[0].base
    assert http_json("GET", f"{base}/api/review/items")[0] == 401
    for role in ("supporter", "facilitator", "admin"):
        other = await moderator(review_pair[0], role)
        assert other.get("/api/review/items")[0] == 403
        assert other.get("/api/review/lexicon")[0] == 403
    mod = await moderator(review_pair[0])
    _, target = await flagged(review_pair, mod)
    item = find(mod, target)
    action = {"action": "dismiss", "reason": "fine"}
    assert mod.post(f"/api/review/items/{item['id']}/action", action, csrf=False)[0] == 403
    assert find(mod, target)["status"] == "open"  # nothing changed
    for bad, why in (
        ({"action": "delete", "reason": "x"}, "action"),
        ({"action": "dismiss"}, "reason"),
        ({"action": "mute", "reason": "x", "minutes": 0}, "minutes"),
        ({"action": "mute", "reason": "x", "minutes": True}, "minutes"),
    ):
        status, body = mod.post(f"/api/review/items/{item['id']}/action", bad)
        assert status == 400 and why in body["detail"]
    assert mod.post("/api/review/items/f-1-0/action", action)[0] == 404
    assert mod.get("/api/review/items/nonsense")[0] == 404
    assert find(mod, target)["status"] == "open"


async def test_warn_mute_and_dismiss(review_pair: Pair) -> None:
    mod = await moderator(review_pair[1])
    person, target = await flagged(review_pair, mod)
    item = find(mod, target)["id"]
    status, body = mod.post(
        f"/api/review/items/{item}/action",
        {"action": "warn", "reason": "checking in", "text": "Please keep it kind."},
    )
    assert (status, body["status"]) == (200, "warned")
    notice = await person.expect("notice")
    assert notice["kind"] == "crisis_resources"  # the flagged message's own notice
    notice = await person.expect("notice")
    assert notice["kind"] == "moderation" and notice["text"] == "Please keep it kind."
    status, body = mod.post(
        f"/api/review/items/{item}/action", {"action": "mute", "reason": "cool-off", "minutes": 5}
    )
    assert (status, body["status"]) == (200, "muted")
    await asyncio.sleep(0.2)
    await person.send(type="say", room="families", text="hello?", nonce="m1", ref="m1")
    error = await person.expect("error", ref="m1")
    assert error["code"] == "muted" and "5 min" in error["detail"]
    # The mute holds on the other process and after a reconnect.
    again = await connect(review_pair[0], person.cookie)
    await again.join("families")
    await again.send(type="say", room="families", text="hello?", nonce="m2", ref="m2")
    assert (await again.expect("error", ref="m2"))["code"] == "muted"
    status, body = mod.post(
        f"/api/review/items/{item}/action", {"action": "dismiss", "reason": "ok"}
    )
    assert (status, body["status"]) == (200, "dismissed")
    dismissed = find(mod, target)
    assert dismissed["status"] == "dismissed" and dismissed["by_name"].startswith("Moderator ")
    _, open_items = mod.get("/api/review/items")
    assert all(i["message"] != target for i in open_items["items"])


async def test_ban_closes_with_4501_and_keeps_them_out(review_pair: Pair) -> None:
    mod = await moderator(review_pair[0])
    person, target = await flagged(review_pair, mod)
    status, _ = mod.post(
        f"/api/review/items/{find(mod, target)['id']}/action",
        {"action": "ban", "reason": "repeated abuse"},
    )
    assert status == 200
    assert await person.closed() == 4501
    for server in review_pair:
        async with websockets.connect(
            server.ws_url, origin=server.base, additional_headers={"cookie": person.cookie}
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4501


async def test_escalate_pages_the_on_call_facilitator(review_pair: Pair) -> None:
    facilitator = await console(review_pair[0], "facilitator", on_call=True)
    mod = await moderator(review_pair[1])
    _, target = await flagged(review_pair, mod)
    status, body = mod.post(
        f"/api/review/items/{find(mod, target)['id']}/action",
        {"action": "escalate", "reason": "reads worse in context"},
    )
    assert (status, body["status"]) == (200, "escalated")
    alert = await facilitator.expect("alert")
    assert alert["excerpt"] == CONCERN and alert["room"] == "families"
    await facilitator.send(type="ack_alert", escalation=alert["escalation"], ref="t")
    await facilitator.expect("alert_taken", ref="t")
    await facilitator.send(type="on_call", on=False, ref="off")
    await facilitator.expect("on_call", ref="off")


async def test_a_report_is_reviewed_with_its_reason(review_pair: Pair) -> None:
    mod = await moderator(review_pair[0])
    a = await writer(review_pair[0], "early-days")
    b = await writer(review_pair[1], "early-days")
    target = (await a.say("early-days", "you people are pathetic", "r1"))["id"]
    await b.expect("message", id=target)
    await b.send(type="report", room="early-days", message=target, reason="rude", ref="rep")
    await b.expect("reported", ref="rep")
    item = find(mod, target)
    assert item["kind"] == "report"
    _, detail = mod.get(f"/api/review/items/{item['id']}")
    assert detail["item"]["reason"] == "rude"
    assert b.hello["you"]["name"] not in json.dumps(detail)  # the reporter is not recorded


async def test_a_moderator_removes_a_message_from_the_room_on_every_process(
    review_pair: Pair,
) -> None:
    mod = await moderator(review_pair[0])
    a = await writer(review_pair[0], "early-days")
    b = await writer(review_pair[1], "early-days")
    target = (await a.say("early-days", "go back to using, nobody wants you here", "r1"))["id"]
    await b.expect("message", id=target)
    await b.send(type="report", room="early-days", message=target, reason="cruel", ref="rep")
    await b.expect("reported", ref="rep")
    item = find(mod, target)["id"]
    status, body = mod.post(f"/api/review/items/{item}/action", {"action": "remove"})
    assert status == 400  # a reason is required, and nothing changed
    assert find(mod, target)["status"] == "open"
    status, body = mod.post(
        f"/api/review/items/{item}/action", {"action": "remove", "reason": "cruel to a member"}
    )
    assert (status, body["status"]) == (200, "removed")
    for person in (a, b):  # both processes tell their sockets in the room
        erased = await person.expect("erased", room="early-days")
        assert erased["ids"] == [target] and erased["by"] == "moderator"
    late = await writer(review_pair[1], "early-days")
    joined = next(f for f in late.frames if f.get("type") == "joined")
    assert target not in [m["id"] for m in joined["history"]]
    status, body = mod.post(
        f"/api/review/items/{item}/action", {"action": "remove", "reason": "again"}
    )
    assert (status, body["error"]) == (400, "bad_request")  # gone already
    tail = cli(review_pair[0].env, "tail", "-n", "20", "--json")
    actions = [json.loads(line) for line in tail.stdout.splitlines()]
    assert [r["action"] for r in actions if r["target"] == item][-1] == "review.remove"


async def test_a_lexicon_entry_changes_scanning_on_every_process(review_pair: Pair) -> None:
    mod = await moderator(review_pair[0])
    phrase = "walking into the lake tonight"
    entry = {
        "id": "local.lake." + secrets.token_hex(3),
        "pattern": "walk* into the lake",
        "category": "suicide",
        "severity": "urgent",
        "language": "en",
        "note": "a program's local phrase",
    }
    before = await writer(review_pair[1])
    await before.say("general", phrase, "l0")
    await asyncio.sleep(0.2)
    assert not [f for f in before.frames if f["type"] == "notice"]
    _, old = mod.get("/api/review/lexicon")
    status, body = mod.post("/api/review/lexicon", {"add": entry, "reason": "seen locally"})
    assert status == 200 and body["version"] != old["version"]
    _, now = mod.get("/api/review/lexicon")
    added = [e for e in now["entries"] if e["id"] == entry["id"]]
    assert added and added[0]["origin"] == "added"
    await asyncio.sleep(0.3)  # the other process reloads on the control event
    for server in review_pair:
        person = await writer(server)
        await person.say("general", phrase, "l1")
        assert (await person.expect("notice"))["kind"] == "crisis_resources"
    for bad, why in (
        ({"add": {**entry}, "reason": "again"}, "exists"),
        ({"add": {**entry, "id": "bad id with spaces"}, "reason": "x"}, "id"),
        ({"add": {**entry, "id": "x.y", "severity": "loud"}, "reason": "x"}, "valid"),
        ({"retire": "no.such.entry", "reason": "x"}, "no entry"),
        ({"retire": entry["id"]}, "reason"),
        (
            {
                "add": {**entry, "id": "x.gaps", "pattern": " ... ".join("abcdefghijklm")},
                "reason": "x",
            },
            "gaps",
        ),
    ):
        status, answer = mod.post("/api/review/lexicon", bad)
        assert status == 400 and why in answer["detail"], answer
    status, body = mod.post("/api/review/lexicon", {"retire": entry["id"], "reason": "done"})
    assert status == 200 and body["version"] == old["version"]  # back to where it was
    await asyncio.sleep(0.3)
    after = await writer(review_pair[1])
    await after.say("general", phrase, "l2")
    await asyncio.sleep(0.2)
    assert not [f for f in after.frames if f["type"] == "notice"]


async def test_every_view_and_action_is_audited_and_the_chain_verifies(
    review_pair: Pair,
) -> None:
    mod = await moderator(review_pair[0])
    _, target = await flagged(review_pair, mod)
    item = find(mod, target)["id"]
    mod.get(f"/api/review/items/{item}")
    mod.post(f"/api/review/items/{item}/action", {"action": "dismiss", "reason": "fine"})
    env = review_pair[0].env
    tail = cli(env, "tail", "-n", "50", "--json")
    records = [json.loads(line) for line in tail.stdout.splitlines()]
    mine = [r for r in records if r["target"] == item]
    assert [r["action"] for r in mine] == ["review.view", "review.dismiss"]
    assert all(r["actor"] == mine[0]["actor"] and r["at"] for r in mine)
    assert CONCERN not in tail.stdout  # who, what, when, why: never content
    verified = cli(env, "verify")
    assert verified.returncode == 0 and verified.stdout.startswith("ok: ")
    # Tamper with one record (rewrite the stream with one reason changed): verify fails.
    client = aioredis.Redis.from_url(env["PEERLINE_REDIS_URL"])
    key = f"{env['PEERLINE_REDIS_PREFIX']}audit"
    entries = await client.xrange(key)
    await client.delete(key)
    for i, (sid, fields) in enumerate(entries):
        if i == len(entries) // 2:
            fields = {**fields, b"reason": b"nothing to see"}
        await client.xadd(key, fields, id=sid)
    await client.aclose()
    tampered = cli(env, "verify")
    assert tampered.returncode == 1 and "FAILED" in tampered.stdout + tampered.stderr


async def test_resolve_marks_a_real_crisis_handled_and_is_audited(review_pair: Pair) -> None:
    mod = await moderator(review_pair[0])
    _, target = await flagged(review_pair, mod)
    item = find(mod, target)["id"]
    status, body = mod.post(
        f"/api/review/items/{item}/action", {"action": "resolve", "reason": "called back"}
    )
    assert (status, body["status"]) == (200, "resolved")
    assert find(mod, target)["status"] == "resolved"
    _, open_items = mod.get("/api/review/items")
    assert all(i["message"] != target for i in open_items["items"])
    status, body = mod.post(f"/api/review/items/{item}/action", {"action": "solve", "reason": "x"})
    assert status == 400 and "resolve" in body["detail"]
    tail = cli(review_pair[0].env, "tail", "-n", "20", "--json")
    records = [json.loads(line) for line in tail.stdout.splitlines()]
    assert [r["action"] for r in records if r["target"] == item] == ["review.resolve"]


async def test_the_item_view_shows_who_took_the_alert_and_whether_it_was_paged(
    review_pair: Pair,
) -> None:
    facilitator = await console(review_pair[0], "facilitator", on_call=True)
    mod = await moderator(review_pair[1])
    person = await writer(review_pair[1], "families")
    target = (await person.say("families", URGENT, "u1"))["id"]
    item = find(mod, target)["id"]
    _, detail = mod.get(f"/api/review/items/{item}")
    [alert] = detail["item"]["alerts"]
    assert alert["taken_by"] is None and alert["taken_at"] is None and alert["paged"] is False
    escalation = (await facilitator.expect("alert", room="families"))["escalation"]
    assert alert["escalation"] == escalation and alert["raised"] >= int(target.split("-")[0])
    await facilitator.send(type="ack_alert", escalation=escalation, ref="t")
    await facilitator.expect("alert_taken", ref="t")
    await facilitator.send(type="on_call", on=False, ref="off")
    await facilitator.expect("on_call", ref="off")
    _, detail = mod.get(f"/api/review/items/{item}")
    [alert] = detail["item"]["alerts"]
    assert alert["taken_by_name"] == facilitator.hello["you"]["name"]
    assert (
        alert["taken_by"] == facilitator.hello["you"]["id"] and alert["taken_at"] >= alert["raised"]
    )
    assert alert["paged"] is False and alert["paged_at"] is None  # no `paged`: not paged
    # Out-of-band paging (server/store/pages.py) writes `paged` on the escalation record; review reads it.
    env = review_pair[0].env
    client = aioredis.Redis.from_url(env["PEERLINE_REDIS_URL"])
    await client.hset(f"{env['PEERLINE_REDIS_PREFIX']}e:{escalation}", "paged", alert["raised"])
    await client.aclose()
    _, detail = mod.get(f"/api/review/items/{item}")
    [alert] = detail["item"]["alerts"]
    assert alert["paged"] is True and alert["paged_at"] == alert["raised"]
    # An item whose message raised no alert has none.
    _, quiet = await flagged(review_pair, mod)
    _, detail = mod.get(f"/api/review/items/{find(mod, quiet)['id']}")
    assert detail["item"]["alerts"] == []


async def test_a_support_topic_is_reviewed_as_a_topic(review_pair: Pair) -> None:
    mod = await moderator(review_pair[0])
    person = await writer(review_pair[1])
    await person.send(type="request_support", topic=CONCERN, ref="ask")
    ticket = (await person.expect("queued", ref="ask"))["ticket"]
    _, listed = mod.get("/api/review/items")
    item = next(i for i in listed["items"] if i.get("ticket") == ticket)
    assert item["kind"] == "topic" and item["label"] == "concern"
    assert item["room"] is None and item["message"] is None
    assert item["room_name"] == "Support request"
    status, detail = mod.get(f"/api/review/items/{item['id']}")
    assert status == 200
    assert detail["item"]["topic"] == CONCERN and detail["item"]["evidence"] == ["wish i was dead"]
    assert detail["context"] == [] and detail["target"] is None
    assert detail["item"]["alerts"] == []  # concern: no alert
    path = f"/api/review/items/{item['id']}/action"
    status, body = mod.post(path, {"action": "remove", "reason": "no"})
    assert status == 400 and "topic" in body["detail"]
    status, body = mod.post(path, {"action": "warn", "reason": "check in", "text": "We see you."})
    assert (status, body["status"]) == (200, "warned")
    while (notice := await person.expect("notice"))["kind"] != "moderation":
        pass
    assert notice["text"] == "We see you."


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", "audit", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
