"""Staff login, sessions, CSRF and logout against two real server processes on real Redis."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
import websockets
from argon2 import PasswordHasher, extract_parameters

from tests.client import Participant
from tests.integration.conftest import redis_env
from tests.support import (
    ROOT,
    RedisServer,
    ServerProcess,
    StaffCredentials,
    add_staff,
    http_json,
    new_participant,
    staff_login,
    staff_session,
    start_server,
    totp_code,
)

pytestmark = pytest.mark.integration

Pair = tuple[ServerProcess, ServerProcess]
BAD = {"error": "bad_credentials", "detail": "wrong username, password or code"}


@pytest.fixture(scope="module")
def staff_pair(redis_server: RedisServer) -> Iterator[Pair]:
    env = redis_env(redis_server)
    first, second = start_server(env), start_server(env)
    yield first, second
    first.stop()
    second.stop()


_count = 0


async def new_staff(pair: Pair, *roles: str) -> StaffCredentials:
    global _count
    _count += 1
    return await add_staff(pair[0].env, f"staff{_count}", *(roles or ("supporter",)))


def me(server: ServerProcess, cookie: str) -> int:
    status, _, _ = http_json("GET", f"{server.base}/api/staff/me", headers={"cookie": cookie})
    return status


def logout(server: ServerProcess, cookie: str, csrf: str | None, **headers: str) -> int:
    sent = {"cookie": cookie, "origin": server.base, **headers}
    if csrf is not None:
        sent["x-csrf-token"] = csrf
    status, _, _ = http_json("POST", f"{server.base}/api/staff/logout", {}, sent)
    return status


async def test_login_with_password_and_totp(staff_pair: Pair) -> None:
    who = await new_staff(staff_pair, "supporter", "facilitator")
    status, headers, body = staff_login(staff_pair[0].base, who)
    assert status == 200
    assert body["roles"] == ["supporter", "facilitator"] and len(body["csrf"]) >= 43
    assert body["idle_seconds"] == 900 and body["name"] and body["id"] == who.uid
    assert who.username not in json.dumps(body)
    cookie = headers["set-cookie"]
    assert cookie.startswith("__Host-peerline-staff=")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite=strict", "path=/"} <= attributes
    assert not any(a.startswith("domain") for a in attributes)
    session = cookie.split(";", 1)[0]
    # The session is in Redis: the other process knows it too.
    assert me(staff_pair[1], session) == 200


async def test_every_failure_is_the_same_answer(staff_pair: Pair) -> None:
    who = await new_staff(staff_pair)
    base = staff_pair[0].base
    wrong_code = str((int(totp_code(who.secret)) + 1) % 1_000_000).zfill(6)
    answers = [
        staff_login(base, who, password="not the password at all"),
        staff_login(base, who, totp=wrong_code),
        staff_login(base, who, totp="abc"),
        staff_login(base, StaffCredentials("nobody-here", who.password, who.secret, "x")),
    ]
    for status, headers, body in answers:
        assert (status, body) == (401, BAD)
        assert "set-cookie" not in headers


async def test_a_code_is_accepted_once(staff_pair: Pair) -> None:
    who = await new_staff(staff_pair)
    code = totp_code(who.secret)
    assert staff_login(staff_pair[0].base, who, totp=code)[0] == 200
    # The same code again, even on the other process: refused.
    assert staff_login(staff_pair[1].base, who, totp=code)[:3:2] == (401, BAD)


async def test_previous_step_accepted_older_and_future_refused(staff_pair: Pair) -> None:
    older, future, previous = [await new_staff(staff_pair) for _ in range(3)]
    if time.time() % 30 > 25:  # keep the three logins inside one step
        await asyncio.sleep(30 - time.time() % 30 + 0.1)
    now = time.time()
    base = staff_pair[0].base
    assert staff_login(base, older, totp=totp_code(older.secret, now - 60))[0] == 401
    assert staff_login(base, future, totp=totp_code(future.secret, now + 30))[0] == 401
    assert staff_login(base, previous, totp=totp_code(previous.secret, now - 30))[0] == 200


async def test_a_disabled_account_cannot_log_in(staff_pair: Pair) -> None:
    who = await new_staff(staff_pair)
    assert cli(staff_pair[0], "disable", who.username).returncode == 0
    assert staff_login(staff_pair[0].base, who)[:3:2] == (401, BAD)


async def test_failures_are_throttled_per_account_known_or_not(staff_pair: Pair) -> None:
    who = await new_staff(staff_pair)
    base = staff_pair[0].base
    ghost = StaffCredentials("ghost-account", who.password, who.secret, "x")
    free_until = 0.0
    for account in (who, ghost):
        for _ in range(5):
            assert staff_login(base, account, password="wrong password, again")[0] == 401
        # Each attempt is counted before its verify (about a second on a busy machine), so
        # the first 1 s back-off may be over when the next attempt comes: a few more tries,
        # bounded, meet the doubled waits.
        for _ in range(4):
            status, headers, body = staff_login(base, account, password="wrong again")
            if status != 401:
                break
        assert status == 429 and body["error"] == "rate_limited"
        assert int(headers["retry-after"]) >= 1
        if account is who:
            free_until = time.monotonic() + int(headers["retry-after"])
    # Throttling is per account (and address): another person is not affected.
    other = await new_staff(staff_pair)
    assert staff_login(staff_pair[1].base, other)[0] == 200
    # When the back-off has passed, the real person gets in.
    await asyncio.sleep(max(0.0, free_until - time.monotonic()) + 0.1)
    assert staff_login(base, who)[0] == 200


async def test_login_needs_an_allowed_origin_and_a_well_formed_body(staff_pair: Pair) -> None:
    who = await new_staff(staff_pair)
    base = staff_pair[0].base
    body = {"username": who.username, "password": who.password, "totp": totp_code(who.secret)}
    url = f"{base}/api/staff/login"
    assert http_json("POST", url, body)[0] == 403
    assert http_json("POST", url, body, {"origin": "https://evil.example"})[0] == 403
    status, _, answer = http_json("POST", url, {"username": who.username}, {"origin": base})
    assert (status, answer["error"]) == (400, "bad_request")  # type: ignore[index]
    assert http_json("POST", url, body, {"origin": base})[0] == 200  # nothing was used up


async def test_csrf_refusals_change_nothing(staff_pair: Pair) -> None:
    who = await new_staff(staff_pair)
    server = staff_pair[0]
    cookie, csrf = staff_session(server.base, who)
    assert logout(server, cookie, None) == 403
    assert logout(server, cookie, "x" * len(csrf)) == 403
    assert logout(server, cookie, csrf, origin="https://evil.example") == 403
    assert logout(server, cookie, csrf, **{"sec-fetch-site": "cross-site"}) == 403
    status, _, _ = http_json("GET", f"{server.base}/api/staff/logout", headers={"cookie": cookie})
    assert status == 405
    assert me(server, cookie) == 200  # still logged in: none of those changed anything
    assert logout(server, cookie, csrf, **{"sec-fetch-site": "same-origin"}) == 204
    assert me(server, cookie) == 401
    assert me(staff_pair[1], cookie) == 401


async def test_login_issues_a_new_session_and_ends_a_planted_one(staff_pair: Pair) -> None:
    who = await new_staff(staff_pair)
    base = staff_pair[0].base
    first, _ = staff_session(base, who)
    await asyncio.sleep(30 - time.time() % 30 + 0.1)  # a new code for the second login
    status, headers, _ = http_json(
        "POST",
        f"{base}/api/staff/login",
        {"username": who.username, "password": who.password, "totp": totp_code(who.secret)},
        {"origin": base, "cookie": first},
    )
    assert status == 200
    second = headers["set-cookie"].split(";", 1)[0]
    assert second != first
    assert me(staff_pair[0], first) == 401  # the old id stopped working
    assert me(staff_pair[0], second) == 200
    planted = "__Host-peerline-staff=" + "A" * 43
    assert me(staff_pair[0], planted) == 401


async def test_staff_socket_needs_the_staff_cookie(staff_pair: Pair) -> None:
    server = staff_pair[0]
    participant = new_participant(server.base)
    who = await new_staff(staff_pair)
    cookie, _ = staff_session(server.base, who)
    for url, sent in (
        (server.ws_url + "?as=staff", ""),
        (server.ws_url + "?as=staff", participant),
        (server.ws_url, cookie),  # a staff cookie is not a participant session
    ):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(
                url,
                origin=server.base,  # type: ignore[arg-type]
                additional_headers={"cookie": sent} if sent else {},
            )
        assert refused.value.response.status_code == 403
    console = await Participant(server, cookie, staff=True).connect()
    assert console.hello["you"]["role"] == "supporter" and console.hello["you"]["id"] == who.uid
    await console.close()


async def test_logout_closes_every_socket_of_the_session_within_a_second(
    staff_pair: Pair,
) -> None:
    who = await new_staff(staff_pair)
    cookie, csrf = staff_session(staff_pair[0].base, who)
    consoles = [
        await Participant(server, cookie, staff=True).connect()
        for server in staff_pair
        for _ in range(3)
    ]
    started = time.monotonic()
    assert logout(staff_pair[1], cookie, csrf) == 204
    codes = await asyncio.gather(*(c.closed(timeout=1.0) for c in consoles))
    assert codes == [1008] * 6
    assert time.monotonic() - started < 1.0


async def test_disable_closes_sockets_within_a_second(staff_pair: Pair) -> None:
    who = await new_staff(staff_pair)
    cookie, _ = staff_session(staff_pair[0].base, who)
    consoles = [await Participant(s, cookie, staff=True).connect() for s in staff_pair]
    result = cli(staff_pair[0], "disable", who.username)
    assert result.returncode == 0, result.stderr
    codes = await asyncio.gather(*(c.closed(timeout=1.0) for c in consoles))
    assert codes == [1008, 1008]
    assert me(staff_pair[0], cookie) == 401


async def test_old_hash_parameters_are_upgraded_at_login(staff_pair: Pair) -> None:
    who = await new_staff(staff_pair)
    env = staff_pair[0].env
    client = aioredis.Redis.from_url(env["PEERLINE_REDIS_URL"])
    key = f"{env['PEERLINE_REDIS_PREFIX']}staff:a:{who.uid}"
    weak = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1).hash(who.password)
    await client.hset(key, "hash", weak)
    assert staff_login(staff_pair[0].base, who)[0] == 200
    upgraded = (await client.hget(key, "hash")).decode()
    await client.aclose()
    assert upgraded != weak
    params = extract_parameters(upgraded)
    assert (params.time_cost, params.memory_cost, params.parallelism) == (3, 65_536, 4)


async def test_roster_and_me_need_a_session_and_the_role(staff_pair: Pair) -> None:
    base = staff_pair[0].base
    assert http_json("GET", f"{base}/api/staff/me")[0] == 401
    admin = await new_staff(staff_pair, "admin")
    cookie, _ = staff_session(base, admin)
    status, _, body = http_json("GET", f"{base}/api/staff/me", headers={"cookie": cookie})
    assert status == 200 and body["roles"] == ["admin"]  # type: ignore[index]
    assert http_json("GET", f"{base}/api/staff/roster", headers={"cookie": cookie})[0] == 403


def cli(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", "staff", *args],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
