"""The benchmark runner: a private Redis, N Peerline server processes, the load, a report.

    .venv/bin/python -m bench.run                      # the "Core" scenario (see README.md)
    .venv/bin/python -m bench.run --processes 1 --participants 100 --rooms 5

Everything it starts, it stops, on success, error, Ctrl-C or SIGTERM. It never flushes a
Redis: with --redis-url it uses a random key prefix and deletes only that prefix at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/run.py`: make `bench` and `server` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import procs
from bench.load import LoadSpec, Observer, run_load, spec_arguments, spec_from

RESULTS_DIR = Path(__file__).resolve().parent / "results"
P99_TARGET_MS = 100.0  # DESIGN.md: p99 well under 100 ms


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


def room_ids(n: int) -> list[str]:
    return [f"bench-{k:02d}" for k in range(n)]


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
        self.samples["open"]["metrics"] = [s.metrics() for s in self.servers]

    def window_closed(self) -> None:
        self.samples["close"] = self._take()
        self.samples["close"]["memory"] = [procs.memory(s.pid) for s in self.servers]
        self.samples["close"]["metrics"] = [s.metrics() for s in self.servers]


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(b - a, 3)


def run(args: argparse.Namespace) -> dict[str, Any]:
    rooms = room_ids(args.rooms)
    prefix = f"bench{secrets.token_hex(4)}:"
    workdir = Path(tempfile.mkdtemp(prefix="peerline-bench-"))
    (workdir / "program.toml").write_text(program_toml(rooms))
    redis: procs.RedisHandle | None = None
    servers: list[procs.ServerHandle] = []
    keep = args.keep_logs
    report: dict[str, Any] = {
        "bench": "peerline-fanout",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable, "-m", "bench.run", *sys.argv[1:]]),
        "git": procs.git_revision(),
        "machine": procs.machine_info(),
    }
    try:
        if args.redis_url:
            redis = procs.RedisHandle(args.redis_url, private=False)
        else:
            redis = procs.RedisHandle.start_private(args.redis_server)
        from server.crypto import generate_key_line

        env = {
            "PEERLINE_REDIS_URL": redis.url,
            "PEERLINE_DATA_KEYS": generate_key_line(),
            "PEERLINE_REDIS_PREFIX": prefix,
            "PEERLINE_CONFIG": str(workdir / "program.toml"),
            "PEERLINE_RATE_PER_MINUTE": "100000",
            "PEERLINE_RATE_BURST": "10000",
            # Not read by the server today; used if it gains this setting. Sessions are
            # spread over loopback source addresses either way (LoadSpec.per_source).
            "PEERLINE_SESSIONS_PER_ADDRESS_PER_HOUR": "1000000",
            "PEERLINE_LOG_LEVEL": "INFO",
        }
        for _ in range(args.processes):
            servers.append(procs.ServerHandle.start(env, workdir))
        for server in servers:
            server.wait_ready()
        info = redis.info()
        report["redis"] = {
            "version": info.get("redis_version"),
            "private": redis.private,
            "url": redis.url if redis.private else "(external)",
            "prefix": prefix,
        }
        report["versions"] = _versions()
        spec = spec_from(args, [s.ws_url for s in servers], rooms)
        sampler = Sampler(servers, redis)
        load = run_load(spec, sampler)
        report.update(_assemble(spec, load, sampler, servers, redis))
    except BaseException as exc:
        keep = True
        report["failed"] = f"{type(exc).__name__}: {exc}"
        for server in servers if isinstance(exc, Exception) else ():
            print(
                f"--- server {server.port} log tail ({server.log_path}) ---\n{server.log_tail()}",
                file=sys.stderr,
            )
        raise
    finally:
        for server in servers:
            code = server.stop()
            problems = server.log_problems()
            for entry in report.get("servers", []):
                if entry["port"] == server.port:
                    entry["exit_code"] = code
                    entry["clean_shutdown"] = server.shut_down_cleanly()
                    entry["log_problems"] = len(problems)
                    entry["log_problem_sample"] = problems[:5]
        if redis is not None:
            if not redis.private:
                with contextlib.suppress(Exception):
                    report.setdefault("redis", {})["keys_deleted"] = redis.delete_prefix(prefix)
            redis.stop()
        if keep:
            print(f"logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report["findings"] = findings(report)
    return report


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in ("websockets", "uvicorn", "starlette", "redis", "uvloop"):
        try:
            from importlib.metadata import version

            found[name] = version(name)
        except Exception:
            found[name] = None
    return found


def _assemble(
    spec: LoadSpec,
    load: dict[str, Any],
    sampler: Sampler,
    servers: list[procs.ServerHandle],
    redis: procs.RedisHandle,
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
    for k, server in enumerate(servers):
        cpu = _delta(_at(open_, "server_cpu", k), _at(close, "server_cpu", k))
        mem = _at(close, "memory", k) or {}
        before = _at(open_, "metrics", k) or {}
        after = _at(close, "metrics", k) or {}
        server_rows.append(
            {
                "port": server.port,
                "pid": server.pid,
                "cpu_seconds": cpu,
                "cpu_percent_of_core": None if cpu is None else round(100 * cpu / window, 1),
                "rss_mib": mem.get("rss_mib"),
                "peak_rss_mib": mem.get("peak_rss_mib"),
                "messages_stored_in_window": _delta(
                    before.get("messages_stored_total"), after.get("messages_stored_total")
                ),
                "deliveries_in_window": _delta(
                    before.get("deliveries_total"), after.get("deliveries_total")
                ),
                "slow_closes": after.get("slow_closes_total"),
                "store_unavailable": after.get("store_unavailable_total"),
                "sockets": after.get("sockets"),
            }
        )
    out["servers"] = server_rows
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


def _at(sample: dict[str, Any], name: str, k: int) -> Any:
    values = sample.get(name)
    return values[k] if values and k < len(values) else None


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


def findings(report: dict[str, Any]) -> list[str]:
    """Plain-language flags: what in this run needs a look, and where it points."""
    notes: list[str] = []
    res = report.get("results")
    if not res:
        return ["the run did not complete"]
    if res["lost"]:
        notes.append(
            f"LOSS: {res['lost']} of {res['expected_deliveries']} expected deliveries "
            f"({res['lost_same_process']} same-process, {res['lost_cross_process']} "
            f"cross-process; {res['messages_with_loss']} messages affected)"
        )
    if res["duplicates"]:
        notes.append(f"DUPLICATES: {res['duplicates']} deliveries arrived twice on one socket")
    if res["messages_unacked"] or res["send_failures"]:
        notes.append(
            f"{res['messages_unacked']} measured sends never acked, "
            f"{res['send_failures']} sends failed"
        )
    if res["errors"]:
        notes.append(f"server error frames: {res['errors']}")
    if res["unexpected_closes"]:
        notes.append(f"sockets closed by the server during the run: {res['unexpected_closes']}")
    if res["reordered"] or res["id_regressions"]:
        notes.append(
            f"ordering: {res['reordered']} out-of-order per sender, "
            f"{res['id_regressions']} id regressions"
        )
    p99 = res["latency"].get("p99_ms")
    if p99 is not None and p99 >= P99_TARGET_MS:
        notes.append(f"p99 delivery latency {p99} ms is not under the {P99_TARGET_MS:g} ms target")
    gen = res["generator"]
    if gen["loop_lag"].get("p99_ms", 0) > 20 or gen["schedule_lag"].get("p99_ms", 0) > 20:
        notes.append(
            "the load generator's event loops lagged (p99 > 20 ms): latency includes "
            "generator delay; add --workers or lower the load"
        )
    for k, pct in enumerate(gen.get("cpu_percent_of_core") or []):
        if pct is not None and pct > 80:
            notes.append(f"generator worker {k} used {pct}% of a core: it may be the bottleneck")
    for row in report.get("servers", []):
        pct = row.get("cpu_percent_of_core")
        if pct is not None and pct > 85:
            notes.append(f"server :{row['port']} used {pct}% of a core: saturated")
    machine = report.get("machine_window", {})
    if (machine.get("busy_percent_all_cores") or 0) > 90:
        notes.append(
            "the machine was over 90% busy on all cores: servers, Redis and generator "
            "competed for CPU"
        )
    if (machine.get("cores_busy_outside_the_run") or 0) > 0.2:
        notes.append(
            f"other programs used {machine['cores_busy_outside_the_run']} cores during the "
            "window: the machine was shared, numbers may be disturbed"
        )
    if not notes:
        notes.append("no loss, no duplicates, no errors; generator not saturated")
    return notes


# ---- printing -----------------------------------------------------------------------------


def _lat(row: dict[str, Any]) -> str:
    if not row.get("count"):
        return "no samples"
    return (
        f"p50 {row['p50_ms']:.2f}  p90 {row['p90_ms']:.2f}  p99 {row['p99_ms']:.2f}  "
        f"p99.9 {row['p99_9_ms']:.2f}  max {row['max_ms']:.2f} ms  (n={row['count']})"
    )


def _members(counts: list[int]) -> str:
    low, high = min(counts), max(counts)
    return str(low) if low == high else f"{low}-{high}"


def _n(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def format_report(report: dict[str, Any]) -> str:
    m, sc, res = report["machine"], report["scenario"], report["results"]
    mw = report.get("machine_window", {})
    gen = res["generator"]
    lines = [
        "Peerline load benchmark",
        f"  command   {report['command']}",
        f"  when      {report['started_at']}   git {report.get('git')}",
        f"  machine   {m['cores']} cores ({m['cores_usable']} usable), {m['cpu_model']}, "
        f"{m['memory_gib']} GiB, Linux {m['kernel']}, load before {m['load_average_before']}",
        f"  software  Python {m['python']}, Redis {report['redis']['version']} "
        f"({'private' if report['redis']['private'] else 'external, shared'}), "
        + ", ".join(f"{k} {v}" for k, v in report.get("versions", {}).items()),
        "",
        f"Scenario: {sc['participants']} participants in {sc['rooms']} rooms "
        f"({_members(sc['members_per_room'])} per room), {sc['processes']} server "
        f"process(es) on one Redis, {sc['rate_per_participant']} msg/s each ({sc['arrival']}), "
        f"{sc['text_size']}-char texts, warmup {sc['warmup_s']:g} s + {sc['duration_s']:g} s "
        f"measured, {sc['generator_workers']} generator processes",
        "",
        "Throughput (measured window)",
        f"  offered    {res['offered_msgs_per_s']:>9} messages/s   ({res['messages_sent']} sent, "
        f"{res['messages_acked']} acked)",
        f"  delivered  {res['delivered_per_s']:>9} deliveries/s ({res['delivered']} of "
        f"{res['expected_deliveries']} expected)",
        f"  lost {res['lost']} (ratio {res['loss_ratio']}), duplicates {res['duplicates']}, "
        f"reordered {res['reordered']}, id regressions {res['id_regressions']}, "
        f"unacked {res['messages_unacked']}, error frames {res['errors'] or 0}, "
        f"server closes {res['unexpected_closes'] or 0}",
        "",
        "Delivery latency (send -> each member's socket, sender included)",
        f"  all            {_lat(res['latency'])}",
        f"  same process   {_lat(res['latency_same_process'])}",
        f"  cross process  {_lat(res['latency_cross_process'])}",
        f"  ack (send -> ack, measured sends)  {_lat(res['ack_latency'])}",
        "",
        "Servers (measured window)",
    ]
    for row in report["servers"]:
        lines.append(
            f"  :{row['port']} pid {row['pid']}  CPU {row['cpu_seconds']} s "
            f"({row['cpu_percent_of_core']}% of a core)  RSS {row['rss_mib']} MiB "
            f"(peak {row['peak_rss_mib']})  stored {_n(row['messages_stored_in_window'])}  "
            f"deliveries {_n(row['deliveries_in_window'])}  slow closes {_n(row['slow_closes'])}  "
            f"shutdown {'clean' if row.get('clean_shutdown') else 'NOT clean'} "
            f"(exit {row.get('exit_code')})  log warnings {row.get('log_problems')}"
        )
    rw = report["redis_window"]
    top = ", ".join(f"{k} {v}" for k, v in list(rw["commands_in_window"].items())[:8])
    lines += [
        f"  redis  CPU {rw['cpu_seconds']} s ({rw['cpu_percent_of_core']}% of a core)"
        + ("  [shared Redis: includes other clients]" if rw["shared_with_others"] else ""),
        f"  redis commands in window: {top}",
        f"  machine: {mw.get('busy_percent_all_cores')}% of all cores busy "
        f"({mw.get('cores_busy')} cores; outside this run's processes: "
        f"{mw.get('cores_busy_outside_the_run')} cores)",
        "",
        "Generator",
        f"  CPU per worker {gen.get('cpu_seconds_in_window')} s "
        f"({gen.get('cpu_percent_of_core')}% of a core), setup {gen.get('setup_seconds')} s, "
        f"drain {gen['drain_seconds']} s",
        f"  schedule lag   {_lat(gen['schedule_lag'])}",
        f"  loop lag       {_lat(gen['loop_lag'])}",
        "",
        "Findings",
        *[f"  - {note}" for note in report["findings"]],
    ]
    return "\n".join(lines)


# ---- command line -------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Start a private Redis and Peerline servers, run the load, report.",
    )
    p.add_argument("--processes", type=int, default=2, help="server processes (default 2)")
    p.add_argument("--rooms", type=int, default=10, help="open rooms (default 10)")
    spec_arguments(p)
    p.add_argument(
        "--redis-url",
        help="use this Redis (random key prefix, deleted after) instead of a private redis-server",
    )
    p.add_argument("--redis-server", help="path of the redis-server binary to start")
    p.add_argument(
        "--json-out",
        type=Path,
        help="write the JSON report here (default: bench/results/<time>-<scenario>.json)",
    )
    p.add_argument("--keep-logs", action="store_true", help="keep server logs and program file")
    p.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to this long for the machine to be idle (under 15%% busy for 3 s); "
        "for shared machines",
    )
    return p


def wait_for_idle(limit: float, busy_below: float = 0.15, for_seconds: float = 3.0) -> bool:
    """Waits (at most `limit` s) until all cores are under `busy_below` busy for a while."""
    deadline = time.monotonic() + limit
    calm_since: float | None = None
    last = procs.machine_jiffies()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = procs.machine_jiffies()
        busy, total = now[0] - last[0], now[1] - last[1]
        last = now
        if total and busy / total < busy_below:
            calm_since = calm_since or time.monotonic()
            if time.monotonic() - calm_since >= for_seconds:
                return True
        else:
            calm_since = None
    return False


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.processes < 1 or args.rooms < 1:
        print("--processes and --rooms must be at least 1", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    if args.wait_idle > 0:
        idle = wait_for_idle(args.wait_idle)
        print(f"machine idle: {idle}", file=sys.stderr)
    report = run(args)
    text = format_report(report)
    print(text)
    path = args.json_out
    if path is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        sc = report["scenario"]
        path = RESULTS_DIR / (
            f"{stamp}-s{sc['processes']}-p{sc['participants']}"
            f"-r{sc['rooms']}-rate{sc['rate_per_participant']:g}.json"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    report["text"] = text
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nJSON report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
