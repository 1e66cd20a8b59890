"""A small Peerline cluster for the staff and crisis benchmarks: a private Redis, N server
processes on it, and the people who use them (participants on a socket, staff accounts).

`bench.run` keeps its own runner (it also samples CPU and Redis); this module is what
`bench.logins` and `bench.alerts` share. Loopback only; everything stops on exit.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import websockets

from bench.procs import RedisHandle, ServerHandle

PASSWORD = "bench password for staff logins"


@dataclass
class Cluster:
    env: dict[str, str]
    servers: list[ServerHandle]


@contextlib.contextmanager
def cluster(processes: int, name: str, **extra_env: str) -> Iterator[Cluster]:
    from server.crypto import generate_key_line

    redis = RedisHandle.start_private()
    logs = Path(tempfile.mkdtemp(prefix=f"peerline-bench-{name}-"))
    env = {
        "PEERLINE_REDIS_URL": redis.url,
        "PEERLINE_REDIS_PREFIX": f"bench{secrets.token_hex(4)}:",
        "PEERLINE_DATA_KEYS": generate_key_line(),
        "PEERLINE_SESSIONS_PER_ADDRESS_PER_HOUR": "100000",
        "PEERLINE_UPGRADES_PER_ADDRESS_PER_MINUTE": "1000000",
        # Every staff login comes from 127.0.0.1 (bench.logins --flood sets it back).
        "PEERLINE_LOGINS_PER_ADDRESS_PER_MINUTE": "1000000",
        **extra_env,
    }
    servers: list[ServerHandle] = []
    try:
        servers = [ServerHandle.start(env, logs) for _ in range(processes)]
        for server in servers:
            server.wait_ready()
        yield Cluster(env, servers)
    finally:
        for server in servers:
            server.process.terminate()
            with contextlib.suppress(Exception):
                server.process.wait(10)
        redis.stop()


def http(method: str, url: str, body: Any, headers: dict[str, str]) -> tuple[int, Any, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    if data is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=90) as response:
            return response.status, json.loads(response.read() or b"null"), dict(response.headers)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read() or b"null"), dict(exc.headers)


async def participant_socket(server: ServerHandle, room: str) -> Any:
    """A new participant (consent accepted) with a socket that has joined `room`."""
    import asyncio

    base = server.base
    _, info, _ = await asyncio.to_thread(http, "GET", f"{base}/api/info", None, {})
    body = {"consent_version": info["consent"]["version"], "accept": True}
    status, _, headers = await asyncio.to_thread(
        http, "POST", f"{base}/api/session", body, {"origin": base}
    )
    if status != 201:
        raise RuntimeError(f"session refused: {status}")
    cookie = headers["set-cookie"].split(";", 1)[0]
    ws = await websockets.connect(server.ws_url, origin=base, additional_headers={"cookie": cookie})
    await ws.recv()  # hello
    await ws.send(json.dumps({"type": "join", "room": room, "since": None}))
    while json.loads(await ws.recv())["type"] != "joined":
        pass
    return ws


async def make_accounts(
    env: dict[str, str], count: int, roles: tuple[str, ...] = ("supporter",)
) -> list[tuple[str, str]]:
    """Staff accounts made as `peerline staff add` makes them, sharing one argon2 hash of
    PASSWORD (so making many is quick); returns (username, TOTP secret) pairs."""
    import redis.asyncio as aioredis

    from server.core.identity import new_id
    from server.core.totp import new_secret
    from server.crypto import KeyRing
    from server.services.passwords import Passwords
    from server.store.accounts import Account, StaffStore

    keys = KeyRing.parse(env["PEERLINE_DATA_KEYS"])
    stored = Passwords().hash_now(PASSWORD)
    client = aioredis.Redis.from_url(env["PEERLINE_REDIS_URL"])
    store = StaffStore(client, env["PEERLINE_REDIS_PREFIX"])
    accounts = []
    for i in range(count):
        secret, uid = new_secret(), new_id()
        key_id, blob = keys.seal(secret.encode(), "totp", uid)
        name = f"bench{i}-{secrets.token_hex(3)}"
        await store.add(Account(uid, name, f"Staff {i}", roles, stored, key_id, blob))
        accounts.append((name, secret))
    await client.aclose()
    return accounts
