"""One deployment under test: a Redis and N server processes of one kind, kept up for one
or more loads, then stopped.

A kind is Peerline or one of the peers it is compared with (`procs.KINDS`). Peerline gets a
generated program file with the run's rooms open, a fresh key ring, a random key prefix and
limits raised so the load, not an abuse limit, decides the outcome; the peers get only the
Redis URL. Everything started here stops on exit, also on errors and signals.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from bench import procs
from bench.load import LoadSpec, Observer, run_load


def program_toml(rooms: list[str]) -> str:
    """A program file with `rooms` open rooms, for PEERLINE_CONFIG."""
    parts = [
        'name = "Peerline benchmark"',
        "",
        "[consent]",
        'version = "bench-1"',
        'text = "A benchmark run: synthetic participants, synthetic messages."',
        "",
        "[[resources]]",
        'name = "988 Suicide & Crisis Lifeline"',
        'contact = "Call or text 988"',
        'note = "24/7"',
    ]
    for room in rooms:
        parts += [
            "",
            "[[rooms]]",
            f'id = "{room}"',
            f'name = "Bench {room}"',
            'description = "benchmark room"',
            'access = "open"',
        ]
    return "\n".join(parts) + "\n"


class Sampler(Observer):
    """Reads the servers, Redis and the machine at the edges of the measured window."""

    def __init__(self, servers: list[procs.ServerHandle], redis: procs.RedisHandle) -> None:
        self.servers = servers
        self.redis = redis
        self.samples: dict[str, dict[str, Any]] = {}

    def _take(self) -> dict[str, Any]:
        sample: dict[str, Any] = {
            "wall": time.monotonic(),
            "jiffies": procs.machine_jiffies(),
            "server_cpu": [procs.cpu_seconds(s.pid) for s in self.servers],
            "redis_proc_cpu": procs.cpu_seconds(self.redis.pid) if self.redis.pid else None,
        }
        with contextlib.suppress(Exception), contextlib.closing(self.redis.client()) as r:
            cpu = r.info("cpu")
            sample["redis_info_cpu"] = float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
            sample["redis_commands"] = {
                name.removeprefix("cmdstat_"): int(stats["calls"])
                for name, stats in r.info("commandstats").items()
            }
        return sample

    def window_opened(self) -> None:
        self.samples["open"] = self._take()
        self.samples["open"]["memory"] = [procs.memory(s.pid) for s in self.servers]
        self.samples["open"]["metrics"] = [s.metrics() for s in self.servers]

    def window_closed(self) -> None:
        self.samples["close"] = self._take()
        self.samples["close"]["memory"] = [procs.memory(s.pid) for s in self.servers]
        self.samples["close"]["metrics"] = [s.metrics() for s in self.servers]


class Stack:
    """`with Stack("peerline", 2, rooms) as stack: stack.measure(spec_for(stack.ws_urls))`."""

    def __init__(
        self,
        kind: str,
        processes: int,
        rooms: list[str],
        redis_url: str | None = None,
        redis_server: str | None = None,
        keep_logs: bool = False,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        if kind not in procs.KINDS:
            raise ValueError(f"unknown server kind {kind!r}; known: {sorted(procs.KINDS)}")
        if processes < 1:
            raise ValueError("at least one server process")
        self.kind = kind
        self.processes = processes
        self.rooms = rooms
        self.redis_url = redis_url
        self.redis_server = redis_server
        self.keep_logs = keep_logs
        self.extra_env = extra_env or {}
        self.prefix = f"bench{secrets.token_hex(4)}:"
        self.workdir = Path(tempfile.mkdtemp(prefix=f"peerline-bench-{kind}-"))
        self.redis: procs.RedisHandle | None = None
        self.servers: list[procs.ServerHandle] = []
        self.baseline_rss_mib: list[float | None] = []
        self.shutdown: list[dict[str, Any]] = []
        self.keys_deleted: int | None = None

    @property
    def ws_urls(self) -> list[str]:
        return [s.ws_url for s in self.servers]

    def __enter__(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.keep_logs = True
            self._stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.keep_logs = True
            if isinstance(exc, Exception):
                for server in self.servers:
                    print(
                        f"--- {server.kind} :{server.port} log tail ({server.log_path}) ---\n"
                        f"{server.log_tail()}",
                        file=sys.stderr,
                    )
        self._stop()

    def _start(self) -> None:
        if self.redis_url:
            self.redis = procs.RedisHandle(self.redis_url, private=False)
        else:
            self.redis = procs.RedisHandle.start_private(self.redis_server)
        env = {"PEERLINE_REDIS_URL": self.redis.url, "PEERLINE_LOG_LEVEL": "INFO"}
        if self.kind == "peerline":
            from server.crypto import generate_key_line

            (self.workdir / "program.toml").write_text(program_toml(self.rooms))
            env |= {
                "PEERLINE_DATA_KEYS": generate_key_line(),
                "PEERLINE_REDIS_PREFIX": self.prefix,
                "PEERLINE_CONFIG": str(self.workdir / "program.toml"),
                # The limits that guard people from floods and identity minting would
                # otherwise be what a load test measures.
                "PEERLINE_RATE_PER_MINUTE": "1000000",
                "PEERLINE_RATE_BURST": "100000",
                "PEERLINE_SESSIONS_PER_ADDRESS_PER_HOUR": "1000000",
                "PEERLINE_UPGRADES_PER_ADDRESS_PER_MINUTE": "1000000",
            }
        env |= self.extra_env
        for _ in range(self.processes):
            self.servers.append(procs.ServerHandle.start(env, self.workdir, kind=self.kind))
        for server in self.servers:
            server.wait_ready()
        self.baseline_rss_mib = [procs.memory(s.pid)["rss_mib"] for s in self.servers]

    def _stop(self) -> None:
        for server in self.servers:
            code = server.stop()
            problems = server.log_problems()
            self.shutdown.append(
                {
                    "port": server.port,
                    "exit_code": code,
                    "clean_shutdown": server.shut_down_cleanly(),
                    "log_problem_count": len(problems),
                    "log_problems": problems[:5],
                }
            )
        self.servers = []
        if self.redis is not None:
            if not self.redis.private and self.kind == "peerline":
                with contextlib.suppress(Exception):
                    self.keys_deleted = self.redis.delete_prefix(self.prefix)
            self.redis.stop()
            self.redis = None
        if self.keep_logs:
            print(f"logs kept in {self.workdir}", file=sys.stderr)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def redis_version(self) -> str | None:
        assert self.redis is not None
        version: str | None = self.redis.info().get("redis_version")
        return version

    def measure(self, spec: LoadSpec) -> dict[str, Any]:
        """Runs one load against this stack: the load's results plus what each process cost."""
        assert self.redis is not None
        sampler = Sampler(self.servers, self.redis)
        load = run_load(spec, sampler)
        return assemble(spec, load, sampler, self.servers, self.redis, self.baseline_rss_mib)


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(b - a, 3)


def _at(sample: dict[str, Any], name: str, k: int) -> Any:
    values = sample.get(name)
    return values[k] if values and k < len(values) else None


def assemble(
    spec: LoadSpec,
    load: dict[str, Any],
    sampler: Sampler,
    servers: list[procs.ServerHandle],
    redis: procs.RedisHandle,
    baseline_rss_mib: list[float | None] | None = None,
) -> dict[str, Any]:
    open_, close = sampler.samples.get("open", {}), sampler.samples.get("close", {})
    window = spec.duration
    out: dict[str, Any] = {
        "scenario": {
            "processes": len(servers),
            "participants": spec.participants,
            "rooms": len(spec.rooms),
            "members_per_room": load["spec"]["members_per_room"],
            "rate_per_participant": spec.rate,
            "idle": spec.idle,
            "arrival": spec.arrival,
            "text_size": spec.text_size,
            "warmup_s": spec.warmup,
            "duration_s": spec.duration,
            "generator_workers": spec.workers,
            "fan_out": round(spec.participants / len(spec.rooms), 1),
        }
    }
    load = dict(load)
    load.pop("spec", None)
    out["results"] = load
    server_rows = []
    sockets_each = spec.participants / len(servers)
    for k, server in enumerate(servers):
        cpu = _delta(_at(open_, "server_cpu", k), _at(close, "server_cpu", k))
        mem = _at(close, "memory", k) or {}
        before = _at(open_, "metrics", k) or {}
        after = _at(close, "metrics", k) or {}
        base = (baseline_rss_mib or [None] * len(servers))[k]
        rss = mem.get("rss_mib")
        server_rows.append(
            {
                "kind": server.kind,
                "port": server.port,
                "pid": server.pid,
                "cpu_seconds": cpu,
                "cpu_percent_of_core": None if cpu is None else round(100 * cpu / window, 1),
                "rss_mib": rss,
                "peak_rss_mib": mem.get("peak_rss_mib"),
                "rss_before_sockets_mib": base,
                "sockets": sockets_each,
                # What holding the sockets costs, on top of the process before any arrived.
                "rss_mib_per_1000_sockets": (
                    None
                    if rss is None or base is None
                    else round((rss - base) * 1000 / sockets_each, 1)
                ),
                "messages_stored_in_window": _delta(
                    before.get("messages_stored_total"), after.get("messages_stored_total")
                ),
                "deliveries_in_window": _delta(
                    before.get("deliveries_total"), after.get("deliveries_total")
                ),
                "slow_closes": after.get("slow_closes_total"),
            }
        )
    out["servers"] = server_rows
    delivered = load["delivered"]
    total_cpu = [row["cpu_seconds"] for row in server_rows]
    if delivered and all(c is not None for c in total_cpu):
        out["server_cpu_us_per_delivery"] = round(1e6 * sum(total_cpu) / delivered, 2)
    redis_row = dict(report_redis_window(open_, close, window, redis))
    out["redis_window"] = redis_row
    if "jiffies" in open_ and "jiffies" in close:
        busy = close["jiffies"][0] - open_["jiffies"][0]
        total = close["jiffies"][1] - open_["jiffies"][1]
        cores = os.cpu_count() or 1
        cores_busy = cores * busy / total if total else None
        ours: list[float | None] = [row["cpu_seconds"] for row in server_rows]
        ours += load["generator"].get("cpu_seconds_in_window") or []
        if redis.private:
            ours.append(redis_row["cpu_seconds"])
        known = [c for c in ours if c is not None]
        others = None
        if cores_busy is not None and len(known) == len(ours):
            others = round(max(0.0, cores_busy - sum(known) / window), 2)
        out["machine_window"] = {
            "busy_percent_all_cores": round(100 * busy / total, 1) if total else None,
            "cores_busy": None if cores_busy is None else round(cores_busy, 2),
            # What the rest of the machine used (the runner itself, other programs): on a
            # shared machine this is what disturbed the numbers.
            "cores_busy_outside_the_run": others,
        }
    return out


def report_redis_window(
    open_: dict[str, Any], close: dict[str, Any], window: float, redis: procs.RedisHandle
) -> dict[str, Any]:
    cpu = _delta(open_.get("redis_proc_cpu"), close.get("redis_proc_cpu"))
    if cpu is None:  # external Redis: its own INFO (which also counts its other clients)
        cpu = _delta(open_.get("redis_info_cpu"), close.get("redis_info_cpu"))
    calls: dict[str, int] = {}
    before = open_.get("redis_commands", {})
    for name, n in close.get("redis_commands", {}).items():
        d = n - before.get(name, 0)
        if d:
            calls[name] = d
    return {
        "cpu_seconds": cpu,
        "cpu_percent_of_core": None if cpu is None else round(100 * cpu / window, 1),
        "commands_in_window": dict(sorted(calls.items(), key=lambda kv: -kv[1])),
        "shared_with_others": not redis.private,
    }


def report_head(bench: str, module: str) -> dict[str, Any]:
    """What every report starts with: when, the exact command, the code and the machine."""
    return {
        "bench": bench,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable, "-m", module, *sys.argv[1:]]),
        "git": procs.git_revision(),
        "machine": procs.machine_info(),
    }


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for name in (
        "websockets",
        "uvicorn",
        "starlette",
        "redis",
        "uvloop",
        "httptools",
        "hiredis",
        "python-socketio",
        "python-engineio",
        "broadcaster",
    ):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found
