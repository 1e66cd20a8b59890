"""Staff session limits with a fake clock (SECURITY.md W14, T13): the app runs in-process
on real Redis, and only time is faked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from server.config import Settings
from tests.integration.conftest import redis_env
from tests.support import RedisServer, StaffCredentials, add_staff, totp_code

pytestmark = pytest.mark.integration

BASE = "https://testserver"  # https, so the client sends the Secure cookie back
MINUTE = 60.0


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def setup(redis_server: RedisServer) -> Iterator[tuple[TestClient, FakeClock, dict[str, str]]]:
    # The test client speaks ws:// even under an https base; name the origin outright.
    env = redis_env(redis_server, PEERLINE_ALLOWED_ORIGINS=BASE)
    clock = FakeClock()
    app = create_app(Settings.from_environ(env), clock=clock)
    with TestClient(app, base_url=BASE) as client:
        yield client, clock, env


def login(client: TestClient, who: StaffCredentials, clock: FakeClock) -> None:
    response = client.post(
        "/api/staff/login",
        json={
            "username": who.username,
            "password": who.password,
            "totp": totp_code(who.secret, clock.now),
        },
        headers={"origin": BASE},
    )
    assert response.status_code == 200, response.text


def staff(env: dict[str, str], name: str) -> StaffCredentials:
    return asyncio.run(add_staff(env, name, "supporter"))


def test_idle_limit_is_fifteen_minutes_of_no_activity(setup: tuple) -> None:  # type: ignore[type-arg]
    client, clock, env = setup
    login(client, staff(env, "idle-one"), clock)
    clock.advance(14 * MINUTE)
    assert client.get("/api/staff/me").status_code == 200  # activity: the timer restarts
    clock.advance(14 * MINUTE)
    assert client.get("/api/staff/me").status_code == 200
    clock.advance(15 * MINUTE + 1)
    assert client.get("/api/staff/me").status_code == 401
    clock.advance(-60 * MINUTE)  # the session is gone for good, not merely outside its window
    assert client.get("/api/staff/me").status_code == 401


def test_absolute_limit_is_eight_hours_however_active(setup: tuple) -> None:  # type: ignore[type-arg]
    client, clock, env = setup
    login(client, staff(env, "absolute-one"), clock)
    for _ in range(47):  # 7 h 50 min of steady activity
        clock.advance(10 * MINUTE)
        assert client.get("/api/staff/me").status_code == 200
    clock.advance(10 * MINUTE)
    assert client.get("/api/staff/me").status_code == 401


def test_an_idle_session_closes_its_socket_within_five_seconds(setup: tuple) -> None:  # type: ignore[type-arg]
    client, clock, env = setup
    login(client, staff(env, "socket-one"), clock)
    cookie = "__Host-peerline-staff=" + client.cookies["__Host-peerline-staff"]
    headers = {"origin": BASE, "cookie": cookie}
    with client.websocket_connect("/ws?as=staff", headers=headers) as ws:
        assert ws.receive_json()["type"] == "hello"
        assert ws.receive_json()["type"] == "queue"
        clock.advance(15 * MINUTE + 1)
        started = time.monotonic()
        message = ws.receive()
        assert message["type"] == "websocket.close" and message["code"] == 1008
        assert time.monotonic() - started <= 6.0  # T13: within 5 s (+1 s slack)
    assert client.get("/api/staff/me").status_code == 401
