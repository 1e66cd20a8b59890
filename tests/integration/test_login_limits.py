"""Issue 11, points 8 and 9, against two real server processes on real Redis: bogus logins
do not starve a real one, a full hashing queue answers at once, and failures from one
address do not lock the owner out from another.

The servers trust 127.0.0.1 as a proxy (PEERLINE_TRUSTED_PROXIES), so each request names its
client address in X-Forwarded-For, and the per-address limit is the default 30 a minute.
"""

from __future__ import annotations

import secrets
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.integration.conftest import redis_env
from tests.support import (
    RedisServer,
    ServerProcess,
    StaffCredentials,
    add_staff,
    http_json,
    start_server,
    totp_code,
)

pytestmark = pytest.mark.integration

Pair = tuple[ServerProcess, ServerProcess]
FLOOD = 100  # bogus logins in flight at once: 12 times what the hashing queue admits
FLOOD_EACH = 20  # at most this many one after another per flooding thread
RESULT_TIMEOUT_SECONDS = 120.0


@pytest.fixture(scope="module")
def proxied(redis_server: RedisServer) -> Iterator[Pair]:
    env = redis_env(
        redis_server,
        PEERLINE_TRUSTED_PROXIES="127.0.0.1",
        PEERLINE_LOGINS_PER_ADDRESS_PER_MINUTE="30",  # the default, lifted by redis_env
    )
    first, second = start_server(env), start_server(env)
    yield first, second
    first.stop()
    second.stop()


_count = 0


async def new_staff(pair: Pair) -> StaffCredentials:
    global _count
    _count += 1
    return await add_staff(pair[0].env, f"limits{_count}", "supporter")


def new_address() -> str:
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


def login_from(
    server: ServerProcess, address: str, username: str, password: str, code: str
) -> tuple[int, dict[str, str], Any, float]:
    """One login attempt as if from `address`; (status, headers, body, seconds)."""
    body = {"username": username, "password": password, "totp": code}
    headers = {"origin": server.base, "x-forwarded-for": address}
    started = time.perf_counter()
    status, got, answer = http_json("POST", f"{server.base}/api/staff/login", body, headers)
    return status, got, answer, time.perf_counter() - started


def bogus(server: ServerProcess, address: str) -> tuple[int, dict[str, str], Any, float]:
    return login_from(server, address, f"nobody-{secrets.token_hex(6)}", "a guess", "000000")


async def test_failures_from_one_address_do_not_lock_the_owner_out_from_another(
    proxied: Pair,
) -> None:
    who = await new_staff(proxied)
    first, second = proxied
    stranger, owner = new_address(), new_address()
    # The stranger knows the username and fails five times (free), then is held. (Each
    # attempt is counted before its ~1 s verify, so the first 1 s back-off may already have
    # passed when the next one comes: a few more tries, bounded, meet the doubled waits.)
    for _ in range(5):
        assert login_from(first, stranger, who.username, "wrong password!", "000000")[0] == 401
    refused = None
    for _ in range(4):
        status, headers, body, _ = login_from(first, stranger, who.username, "x", "000000")
        if status == 429:
            refused = (headers, body)
            break
        assert status == 401
    assert refused is not None, "the stranger's address was never held"
    headers, body = refused
    assert body["error"] == "rate_limited" and int(headers["retry-after"]) >= 1
    # Held on every process, even with the right password (it is the address that is held).
    status, _, body, _ = login_from(
        second, stranger, who.username, who.password, totp_code(who.secret)
    )
    assert (status, body["error"]) == (429, "rate_limited")
    # The owner, from their own address, gets in at once, on either process.
    status, _, body, took = login_from(
        second, owner, who.username, who.password, totp_code(who.secret)
    )
    assert status == 200, body
    assert took < 5.0


async def test_one_address_is_limited_before_any_hashing(proxied: Pair) -> None:
    server = proxied[0]
    address = new_address()
    with ThreadPoolExecutor(40) as pool:
        futures = [pool.submit(bogus, server, address) for _ in range(40)]
        answers = [f.result(timeout=RESULT_TIMEOUT_SECONDS) for f in futures]
    refused = [a for a in answers if a[0] == 429]
    tried = [a for a in answers if a[0] == 401]
    # 30 back to back pass, then one every 2 s: the rest are refused.
    assert len(tried) + len(refused) == 40 and 30 <= len(tried) <= 32
    for _, headers, body, _ in refused:
        assert body["error"] == "rate_limited" and int(headers["retry-after"]) >= 1
    # Refused without the work: well before any attempt that was checked.
    assert max(a[3] for a in refused) < min(a[3] for a in tried)
    # Another address is not affected.
    assert bogus(server, new_address())[0] == 401


async def test_a_real_login_is_quick_while_bogus_logins_are_in_flight(proxied: Pair) -> None:
    server = proxied[0]
    who = await new_staff(proxied)
    stop = threading.Event()

    def keep_flooding() -> list[tuple[int, float, float]]:
        """Bogus logins one after another until told to stop (at most FLOOD_EACH)."""
        done = []
        for _ in range(FLOOD_EACH):
            if stop.is_set():
                break
            began = time.perf_counter()
            status = bogus(server, new_address())[0]
            done.append((status, began, time.perf_counter()))
        return done

    with ThreadPoolExecutor(FLOOD + 1) as pool:
        flood = [pool.submit(keep_flooding) for _ in range(FLOOD)]
        time.sleep(0.5)  # the flood is in the server before the real login starts
        began = time.perf_counter()
        status, _, body, took = pool.submit(
            login_from, server, new_address(), who.username, who.password, totp_code(who.secret)
        ).result(timeout=RESULT_TIMEOUT_SECONDS)
        stop.set()
        answers = [a for f in flood for a in f.result(timeout=RESULT_TIMEOUT_SECONDS)]
    in_flight = sum(start < began < end for _, start, end in answers)
    assert in_flight >= FLOOD // 2, f"only {in_flight} bogus logins were in flight"
    assert status == 200, body
    assert took < 5.0, f"a real login took {took:.1f} s during {in_flight} bogus ones"
    # The bogus ones were all answered as failures, none as a busy queue (they take no slot).
    assert {a[0] for a in answers} == {401}


async def test_a_full_hashing_queue_answers_busy_at_once(proxied: Pair) -> None:
    server = proxied[0]
    victims = [await new_staff(proxied) for _ in range(10)]
    # Known names, wrong passwords, each attempt from its own address: every one that is
    # checked needs a real verify (at most 2 at once per name, so 20 could be checked).
    attempts = [v.username for v in victims for _ in range(4)]
    with ThreadPoolExecutor(len(attempts)) as pool:
        futures = [
            pool.submit(login_from, server, new_address(), name, "no!", "000000")
            for name in attempts
        ]
        answers = [f.result(timeout=RESULT_TIMEOUT_SECONDS) for f in futures]
    busy = [a for a in answers if a[0] == 429 and a[2]["error"] == "busy"]
    checked = [a for a in answers if a[0] == 401]
    assert len(checked) <= 20 and len(busy) >= 8, [a[:3:2] for a in answers]
    for _, headers, body, _ in busy:
        assert int(headers["retry-after"]) >= 1 and body["detail"]
    # At once: faster than any attempt that was checked, and far below a verify's time.
    assert max(a[3] for a in busy) < min(a[3] for a in checked)
    assert statistics.median(a[3] for a in busy) < 0.5
    # The owner, from an address of their own, still logs in once the burst is over.
    owner = victims[0]
    status, _, body, _ = login_from(
        server, new_address(), owner.username, owner.password, totp_code(owner.secret)
    )
    assert status == 200, body


async def test_one_name_is_checked_twice_at_once_known_or_not(proxied: Pair) -> None:
    """More concurrent attempts on one name are refused alike whether it exists or not, so
    they cannot fill the hashing queue to learn from `busy` that it does."""
    server = proxied[0]
    known = (await new_staff(proxied)).username
    unknown = f"nobody-{secrets.token_hex(6)}"
    outcomes = {}
    for name in (known, unknown):
        with ThreadPoolExecutor(6) as pool:
            futures = [
                pool.submit(login_from, server, new_address(), name, "no!", "000000")
                for _ in range(6)
            ]
            answers = [f.result(timeout=RESULT_TIMEOUT_SECONDS) for f in futures]
        refused = [a for a in answers if a[0] == 429]
        for _, headers, body, _ in refused:
            assert body["error"] == "rate_limited" and headers["retry-after"] == "1"
        outcomes[name] = sorted(a[0] for a in answers)
    assert outcomes[known] == outcomes[unknown] == [401, 401, 429, 429, 429, 429]
