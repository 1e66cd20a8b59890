"""The socket handler in-process on the test Redis, with a store that fails on purpose
(faults by wrapping)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from server.app import create_app
from server.config import Settings
from server.core.metrics import Metrics
from server.crypto import KeyRing
from server.store import History, StoreUnavailable
from server.store.redis import RedisStore
from server.ws.hub import Hub

BASE = "http://testserver"


class FailingStore(RedisStore):
    def __init__(self, url: str, prefix: str) -> None:
        super().__init__(url, prefix)
        self.fail_history: type[BaseException] | None = None
        self.fail_append = False
        # Sessions vanish, as when one expires or is erased behind a socket's back.
        self.sessions_ended = False

    async def get_session(self, digest: str, ttl_seconds: float) -> Any:
        if self.sessions_ended:
            return None
        return await super().get_session(digest, ttl_seconds)

    async def history(self, room: str, since: str | None) -> History:
        if self.fail_history is not None:
            raise self.fail_history("boom")
        return await super().history(room, since)

    async def append(self, *args: Any, **kwargs: Any) -> Any:
        if self.fail_append:
            raise StoreUnavailable("down")
        return await super().append(*args, **kwargs)


@pytest.fixture
def setup(app_env: dict[str, str]) -> Iterator[tuple[TestClient, FailingStore]]:
    store = FailingStore(app_env["PEERLINE_REDIS_URL"], app_env["PEERLINE_REDIS_PREFIX"])
    app = create_app(Settings.from_environ(app_env), store=store)
    with TestClient(app, base_url=BASE) as client:
        yield client, store


def cookie(client: TestClient) -> str:
    response = client.post(
        "/api/session",
        json={"consent_version": "2026-11-01", "accept": True},
        headers={"origin": BASE},
    )
    return response.headers["set-cookie"].split(";")[0]


def connect(client: TestClient) -> Any:
    return client.websocket_connect("/ws", headers={"origin": BASE, "cookie": cookie(client)})


def test_an_unexpected_failure_answers_internal_and_keeps_the_socket(
    setup: tuple[TestClient, FailingStore],
) -> None:
    client, store = setup
    with connect(client) as ws:
        assert ws.receive_json()["type"] == "hello"
        store.fail_history = RuntimeError
        ws.send_json({"type": "join", "room": "general", "ref": "j1"})
        assert ws.receive_json() == {
            "type": "error",
            "code": "internal",
            "detail": "internal error",
            "ref": "j1",
        }
        store.fail_history = None
        ws.send_json({"type": "ping", "ref": "p"})
        assert ws.receive_json() == {"type": "pong", "ref": "p"}


def test_an_unreachable_store_answers_unavailable_and_never_acks(
    setup: tuple[TestClient, FailingStore],
) -> None:
    client, store = setup
    with connect(client) as ws:
        ws.receive_json()
        ws.send_json({"type": "join", "room": "general"})
        assert ws.receive_json()["type"] == "joined"
        assert ws.receive_json()["type"] == "presence"
        store.fail_append = True
        ws.send_json({"type": "say", "room": "general", "text": "hi", "nonce": "n1"})
        reply = ws.receive_json()
        assert reply["type"] == "error" and reply["code"] == "unavailable"
        store.fail_append = False
        ws.send_json({"type": "say", "room": "general", "text": "hi", "nonce": "n1"})
        assert ws.receive_json()["type"] == "ack"


def test_upgrade_without_origin_or_cookie_is_refused(
    setup: tuple[TestClient, FailingStore],
) -> None:
    client, _ = setup
    for headers in (
        {},
        {"origin": BASE},
        {"origin": "https://evil.example", "cookie": cookie(client)},
    ):
        with (
            pytest.raises(WebSocketDisconnect) as caught,
            client.websocket_connect("/ws", headers=headers),
        ):
            pass
        assert caught.value.code == 1008


def test_garbage_frames_pay_for_the_rate_limit_too(setup: tuple[TestClient, FailingStore]) -> None:
    client, _ = setup
    with connect(client) as ws:
        ws.receive_json()
        codes = []
        for _ in range(120):  # the frame bucket holds 10 x the say burst (100)
            ws.send_text("{garbage")
            codes.append(ws.receive_json()["code"])
        assert codes[:100] == ["bad_json"] * 100
        assert "rate_limited" in codes[100:]


def test_the_frame_pace_is_the_persons_not_the_sockets(
    setup: tuple[TestClient, FailingStore],
) -> None:
    client, _ = setup
    headers = {"origin": BASE, "cookie": cookie(client)}
    codes = []
    # A new socket of the same person, again and again, once refilled the bucket each time.
    for _ in range(4):
        with client.websocket_connect("/ws", headers=headers) as ws:
            ws.receive_json()
            for n in range(40):
                ws.send_json({"type": "ping", "ref": str(n)})
                codes.append(ws.receive_json()["type"])
    assert codes[:100] == ["pong"] * 100
    assert codes[100:].count("error") >= 55  # a few refill while the test runs


def test_a_persons_frame_pace_is_forgotten_only_once_refilled(redis_url: str, prefix: str) -> None:
    hub = Hub(RedisStore(redis_url, prefix), KeyRing.ephemeral(), Metrics())  # never started
    bucket = hub.frame_bucket("p1", per_minute=60, burst=2, now=0.0)
    assert bucket.allow(0.0) and bucket.allow(0.0) and not bucket.allow(0.0)
    hub.forget_idle_paces(1.0)  # one token back of two: still limiting
    assert hub.frame_bucket("p1", 60, 2, 1.0) is bucket
    hub.forget_idle_paces(2.5)
    assert "p1" not in hub.paces


def test_invite_codes_are_rate_limited_per_session_and_per_address(
    setup: tuple[TestClient, FailingStore],
) -> None:
    client, _ = setup
    answers = []
    with connect(client) as ws:
        ws.receive_json()
        for n in range(12):
            ws.send_json({"type": "join", "room": "officers", "invite": f"GUESS-{n}", "ref": "j"})
            answers.append(ws.receive_json()["code"])
        # Joining an open room is not an invite attempt and is not held up.
        ws.send_json({"type": "join", "room": "general", "ref": "g"})
        assert ws.receive_json()["type"] == "joined"
    assert answers[:10] == ["invite_required"] * 10
    assert answers[10:] == ["rate_limited"] * 2
    # A fresh session from the same address is still held back: 4,700 guesses a second once
    # came from one address over many sessions.
    with connect(client) as ws:
        ws.receive_json()
        ws.send_json({"type": "join", "room": "officers", "invite": "GUESS-X", "ref": "j"})
        assert ws.receive_json()["code"] == "rate_limited"


def test_a_participant_can_ask_for_a_supporter(setup: tuple[TestClient, FailingStore]) -> None:
    # One store: every server offers one-to-one support (there is no store without it).
    client, _ = setup
    assert client.get("/api/info").json()["support"] is True
    with connect(client) as ws:
        assert ws.receive_json()["rooms"] == []
        ws.send_json({"type": "request_support", "topic": None, "ref": "r"})
        queued = ws.receive_json()
        assert queued["type"] == "queued" and queued["ticket"]


def test_crisis_resources_come_before_the_ack(
    setup: tuple[TestClient, FailingStore],
) -> None:
    client, _ = setup
    with connect(client) as ws:
        ws.receive_json()
        ws.send_json({"type": "join", "room": "general"})
        assert ws.receive_json()["type"] == "joined"
        assert ws.receive_json()["type"] == "presence"
        ws.send_json({"type": "say", "room": "general", "text": "he's not breathing", "nonce": "u"})
        notice = ws.receive_json()
        assert notice["type"] == "notice" and notice["kind"] == "crisis_resources"
        assert notice["resources"] and all(r["contact"] for r in notice["resources"])
        assert ws.receive_json()["type"] == "ack"
        assert ws.receive_json()["type"] == "message"
        ws.send_json({"type": "ack_alert", "escalation": "e-1", "ref": "a"})
        assert ws.receive_json()["code"] == "forbidden"  # a participant never takes alerts


def test_crisis_resources_come_in_the_language_of_the_message(
    setup: tuple[TestClient, FailingStore],
) -> None:
    client, _ = setup
    with connect(client) as ws:
        ws.receive_json()
        ws.send_json({"type": "join", "room": "general"})
        assert ws.receive_json()["type"] == "joined"
        assert ws.receive_json()["type"] == "presence"
        text = "mi amigo no respira y tiene los labios morados"
        ws.send_json({"type": "say", "room": "general", "text": text, "nonce": "es"})
        notice = ws.receive_json()
        assert notice["kind"] == "crisis_resources" and notice["lang"] == "es"
        assert notice["text"].startswith("Gratis y confidencial")
        assert {r["lang"] for r in notice["resources"]} == {"es"}
        assert any("oprime 2" in r["contact"] for r in notice["resources"])
        assert ws.receive_json()["type"] == "ack"
        assert ws.receive_json()["type"] == "message"
        ws.send_json(
            {"type": "say", "room": "general", "text": "he's not breathing", "nonce": "en"}
        )
        notice = ws.receive_json()
        assert notice["lang"] == "en"
        assert {r["lang"] for r in notice["resources"]} == {"en"}
        assert [r["chat"] for r in notice["resources"] if r["chat"]] == [
            "https://988lifeline.org/chat/"
        ]
        # Both said and stored before the socket closes (an alert is raised on the way).
        assert ws.receive_json()["type"] == "ack"
        assert ws.receive_json()["type"] == "message"


def test_the_session_sweep_closes_sockets_whose_session_ended(
    monkeypatch: pytest.MonkeyPatch, app_env: dict[str, str]
) -> None:
    """W7: one sweep per process re-validates every participant socket's session."""
    import server.web.socket

    monkeypatch.setattr(server.web.socket, "SESSION_RECHECK_SECONDS", 0.05)
    store = FailingStore(app_env["PEERLINE_REDIS_URL"], app_env["PEERLINE_REDIS_PREFIX"])
    app = create_app(Settings.from_environ(app_env), store=store)
    with TestClient(app, base_url=BASE) as client, connect(client) as ws:
        assert ws.receive_json()["type"] == "hello"
        for ref in ("a", "b", "c"):  # several sweeps pass: a live session keeps its socket
            time.sleep(0.06)
            ws.send_json({"type": "ping", "ref": ref})
            assert ws.receive_json() == {"type": "pong", "ref": ref}
        store.sessions_ended = True
        with pytest.raises(WebSocketDisconnect) as closed:
            for _ in range(100):
                ws.receive_json()
        assert closed.value.code == 1008


def test_leaving_rooms_never_joined_leaves_no_state_behind(
    setup: tuple[TestClient, FailingStore],
) -> None:
    client, _ = setup
    hub = client.app.app.app.state.ctx.hub  # type: ignore[attr-defined]  # headers, sockets
    with connect(client) as ws:
        assert ws.receive_json()["type"] == "hello"
        ws.send_json({"type": "join", "room": "general", "ref": "j"})
        while ws.receive_json().get("type") != "joined":
            pass
        for i in range(80):  # within the frame burst (10 x PEERLINE_RATE_BURST)
            ws.send_json({"type": "leave", "room": f"nowhere-{i}", "ref": f"l{i}"})
            while ws.receive_json()["type"] != "left":  # presence frames come between
                pass
        assert hub.room_state_count() == 1  # "general" alone: a member, no idle locks
        ws.send_json({"type": "leave", "room": "general", "ref": "lg"})
        while ws.receive_json()["type"] != "left":
            pass
        assert hub.room_state_count() == 0
