"""The benchmark runner: a private Redis, N Peerline server processes, the load, a report.

    .venv/bin/python -m bench.run                      # the "Core" scenario (see README.md)
    .venv/bin/python -m bench.run --processes 1 --participants 100 --rooms 5

Everything it starts, it stops, on success, error, Ctrl-C or SIGTERM. It never flushes a
Redis: with --redis-url it uses a random key prefix and deletes only that prefix at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/run.py`: make `bench` and `server` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import procs
from bench.load import spec_arguments, spec_from
from bench.stack import Stack, report_head, versions

RESULTS_DIR = Path(__file__).resolve().parent / "results"
P99_TARGET_MS = 100.0  # DESIGN.md: p99 well under 100 ms


def room_ids(n: int) -> list[str]:
    return [f"bench-{k:02d}" for k in range(n)]


def run(args: argparse.Namespace) -> dict[str, Any]:
    rooms = room_ids(args.rooms)
    report = report_head("peerline-fanout", "bench.run")
    stack = Stack(
        "peerline",
        args.processes,
        rooms,
        redis_url=args.redis_url,
        redis_server=args.redis_server,
        keep_logs=args.keep_logs,
    )
    try:
        with stack:
            assert stack.redis is not None
            report["redis"] = {
                "version": stack.redis_version(),
                "private": stack.redis.private,
                "url": stack.redis.url if stack.redis.private else "(external)",
                "prefix": stack.prefix,
            }
            report["versions"] = versions()
            report.update(stack.measure(spec_from(args, stack.ws_urls, rooms)))
    except BaseException as exc:
        report["failed"] = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        for entry, down in zip(report.get("servers", []), stack.shutdown, strict=False):
            entry["exit_code"] = down["exit_code"]
            entry["clean_shutdown"] = down["clean_shutdown"]
            entry["log_problems"] = down["log_problem_count"]
            entry["log_problem_sample"] = down["log_problems"]
        if stack.keys_deleted is not None:
            report.setdefault("redis", {})["keys_deleted"] = stack.keys_deleted
    report["findings"] = findings(report)
    return report


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
