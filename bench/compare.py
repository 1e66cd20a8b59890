"""Peerline against its peers, side by side, in one run on one machine.

    .venv/bin/python -m bench.compare                    # every scenario, every server
    .venv/bin/python -m bench.compare --scenarios pairs,ramp-pairs --servers peerline,socketio
    .venv/bin/python -m bench.compare --smoke            # seconds, small load (CI)
    .venv/bin/python -m bench.compare --scenarios ramp-pairs --processes 4   # scaling

Servers (bench/peers/ and `procs.KINDS`): `peerline` (stores, encrypts and scans every
message), `socketio` (python-socketio's AsyncServer with AsyncRedisManager under uvicorn) and
`broadcaster` (Starlette with broadcaster's Redis backend: a bare baseline). Each gets its own
private Redis and N processes; every message goes to every member of its room, across
processes, through Redis.

Scenarios (see SCENARIOS): fixed loads (`pairs`, `groups`, both again on 2 processes), idle
sockets (`idle-2000`, `idle-5000`, `idle-10000`), and ramps that raise the offered rate step
by step until p99 delivery passes 100 ms or anything is lost (`ramp-*`); the highest clean
step is the saturation point. Drift on the machine hits every server alike: the order of the
servers rotates from one scenario (and one ramp step) to the next.

Writes the JSON report, a Markdown table and, for ramps, a PNG chart of delivered rate
against p99 to bench/results/ (or --out).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/compare.py`
    import os

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import procs
from bench.load import LoadError, LoadSpec
from bench.run import wait_for_idle
from bench.stack import Stack, report_head, versions

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SERVERS = ("peerline", "socketio", "broadcaster")
P99_LIMIT_MS = 100.0  # DESIGN.md: delivery p99 well under 100 ms; past it a step is not clean
# A step whose generator could not keep its schedule measures the generator, not the server.
GENERATOR_LAG_LIMIT_MS = 50.0
# Before each ramp step: wait (at most this long) until the machine is this idle for 1 s.
QUIET_WAIT_SECONDS = 20.0
QUIET_BUSY_SHARE = 0.25
# Server processes one run may start: one a core on the largest machine measured (16 cores),
# with room to oversubscribe on purpose.
MAX_PROCESSES = 32


@dataclass(frozen=True)
class Scenario:
    name: str
    sockets: int
    rooms: int
    rate: float  # messages a second per socket (ignored when idle)
    processes: int = 1
    idle: bool = False
    ramp: bool = False
    # Ramp: first step's offered deliveries a second; each next step multiplies it.
    ramp_start: float = 1000.0

    @property
    def fan_out(self) -> float:
        return self.sockets / self.rooms

    def deliveries_per_s(self, rate: float) -> float:
        return self.sockets * rate * self.fan_out


def _scenarios() -> dict[str, Scenario]:
    pairs = Scenario("pairs", sockets=500, rooms=250, rate=5.0)
    groups = Scenario("groups", sockets=500, rooms=20, rate=1.0)
    found = {
        "pairs": pairs,
        "groups": groups,
        "pairs-2p": replace(pairs, name="pairs-2p", processes=2),
        "groups-2p": replace(groups, name="groups-2p", processes=2),
        # Ramps start well below where any of the three servers strains on 2 cores, so
        # every curve has a clean beginning; steps of 1.25x then find the knee.
        "ramp-pairs": replace(pairs, name="ramp-pairs", ramp=True, ramp_start=2000.0),
        "ramp-groups": replace(groups, name="ramp-groups", ramp=True, ramp_start=5000.0),
        "ramp-pairs-2p": replace(
            pairs, name="ramp-pairs-2p", processes=2, ramp=True, ramp_start=2000.0
        ),
        "ramp-groups-2p": replace(
            groups, name="ramp-groups-2p", processes=2, ramp=True, ramp_start=5000.0
        ),
    }
    for n in (2000, 5000, 10000):
        # Rooms of 25 as in `groups`: a socket that joined, as a group member would.
        found[f"idle-{n}"] = Scenario(f"idle-{n}", sockets=n, rooms=n // 25, rate=1.0, idle=True)
    return found


SCENARIOS = _scenarios()
SMOKE = {
    # A few seconds each, every kind of scenario, tiny: proves the runner works end to end.
    "pairs": Scenario("pairs", sockets=20, rooms=10, rate=2.0),
    "groups-2p": Scenario("groups-2p", sockets=20, rooms=2, rate=1.0, processes=2),
    "idle-40": Scenario("idle-40", sockets=40, rooms=4, rate=1.0, idle=True),
    "ramp-pairs": Scenario("ramp-pairs", sockets=20, rooms=10, rate=1.0, ramp=True, ramp_start=40),
}


def room_names(scenario: Scenario) -> list[str]:
    return [f"{scenario.name}-{k:04d}" for k in range(scenario.rooms)]


def rotated(servers: list[str], k: int) -> list[str]:
    k %= len(servers)
    return servers[k:] + servers[:k]


def step_is_clean(result: dict[str, Any]) -> tuple[bool, str]:
    """Whether a ramp step stayed within bounds, and if not, what broke first."""
    res = result["results"]
    if res["lost"]:
        return False, f"lost {res['lost']} of {res['expected_deliveries']}"
    if res["messages_unacked"] or res["send_failures"]:
        return False, f"{res['messages_unacked']} unacked, {res['send_failures']} failed sends"
    if res["errors"] or res["unexpected_closes"]:
        return False, f"errors {res['errors']}, closes {res['unexpected_closes']}"
    p99 = res["latency"].get("p99_ms")
    if p99 is None or p99 >= P99_LIMIT_MS:
        return False, f"p99 {p99} ms"
    return True, "clean"


@dataclass
class Options:
    servers: list[str]
    duration: float
    warmup: float
    ramp_duration: float
    ramp_factor: float
    ramp_max_steps: int
    workers: int
    redis_server: str | None = None
    keep_logs: bool = False
    ramp_refine: int = 2
    quiet_wait: float = QUIET_WAIT_SECONDS


def spec_for(
    scenario: Scenario, kind: str, urls: list[str], rate: float, duration: float, o: Options
) -> LoadSpec:
    return LoadSpec(
        servers=tuple(urls),
        participants=scenario.sockets,
        rooms=tuple(room_names(scenario)),
        rate=rate,
        duration=duration,
        warmup=o.warmup,
        workers=o.workers,
        client=kind,
        idle=scenario.idle,
        quiet=1.0,
        drain=10.0,
        setup_timeout=180.0,
        # Peerline's per-address session limit is raised for the bench (Stack), so sessions
        # need not be spread over many loopback addresses.
        per_source=1000,
        connect_concurrency=64,
    )


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The row a table shows for one measured load."""
    res, servers = result["results"], result["servers"]
    lat = res["latency"]
    cpu = [s["cpu_percent_of_core"] for s in servers]
    return {
        "offered_msgs_per_s": res["offered_msgs_per_s"],
        "offered_deliveries_per_s": round(
            res["offered_msgs_per_s"] * result["scenario"]["fan_out"], 1
        ),
        "delivered_per_s": res["delivered_per_s"],
        "lost": res["lost"],
        "loss_ratio": res["loss_ratio"],
        "unacked": res["messages_unacked"],
        "p50_ms": lat.get("p50_ms"),
        "p90_ms": lat.get("p90_ms"),
        "p99_ms": lat.get("p99_ms"),
        "max_ms": lat.get("max_ms"),
        "server_cpu_percent": cpu,
        "server_cpu_us_per_delivery": result.get("server_cpu_us_per_delivery"),
        "rss_mib": [s["rss_mib"] for s in servers],
        "rss_mib_per_1000_sockets": [s["rss_mib_per_1000_sockets"] for s in servers],
        "redis_cpu_percent": result["redis_window"]["cpu_percent_of_core"],
        "generator_cpu_percent": res["generator"].get("cpu_percent_of_core"),
        "generator_schedule_lag_p99_ms": res["generator"]["schedule_lag"].get("p99_ms"),
        "machine_busy_percent": result.get("machine_window", {}).get("busy_percent_all_cores"),
    }


def _log(text: str) -> None:
    print(f"[{datetime.now(UTC).strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _quiet(o: Options) -> None:
    if o.quiet_wait > 0:
        wait_for_idle(o.quiet_wait, busy_below=QUIET_BUSY_SHARE, for_seconds=1.0)


def _stack(kind: str, scenario: Scenario, o: Options) -> Stack:
    return Stack(
        kind,
        scenario.processes,
        room_names(scenario),
        redis_server=o.redis_server,
        keep_logs=o.keep_logs,
    )


def run_fixed(scenario: Scenario, order: list[str], o: Options) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for kind in order:
        _quiet(o)
        _log(f"{scenario.name}: {kind}")
        with _stack(kind, scenario, o) as stack:
            spec = spec_for(scenario, kind, stack.ws_urls, scenario.rate, o.duration, o)
            result = stack.measure(spec)
        rows[kind] = {
            "summary": summary(result),
            "clean": step_is_clean(result)[1],
            "shutdown": stack.shutdown,
            "detail": result,
        }
        _log(f"  {kind}: {_brief(rows[kind]['summary'])}")
    return {"scenario": scenario.__dict__, "order": order, "servers": rows}


def run_ramp(scenario: Scenario, order: list[str], o: Options) -> dict[str, Any]:
    """Every server's stack stays up between its clean steps; step k runs each still-clean
    server, order rotating.

    After a server's first step that is not clean, `o.ramp_refine` bisection steps (at the
    geometric middle of its last clean and first failed rate) narrow its saturation point
    from the ramp's 1.25x grid to about 6%.
    """
    steps: dict[str, list[dict[str, Any]]] = {kind: [] for kind in order}
    stopped: dict[str, str] = {}
    bounds: dict[str, tuple[float, float]] = {}  # kind -> (last clean, first failed) target
    stacks: dict[str, Stack] = {}

    def stop(kind: str) -> None:
        """After a failed step a server may go on working off its backlog at full CPU,
        which would load the next server's step: stopping it ends that at once. A later
        step of the same server starts it afresh."""
        stacks.pop(kind).__exit__(None, None, None)

    def step(kind: str, target: float, label: str) -> bool:
        if kind not in stacks:
            stacks[kind] = _stack(kind, scenario, o).__enter__()
        # Every step starts on a quiet machine (what the last one left has settled).
        _quiet(o)
        rate = target / (scenario.sockets * scenario.fan_out)
        spec = spec_for(scenario, kind, stacks[kind].ws_urls, rate, o.ramp_duration, o)
        row: dict[str, Any] = {"target_deliveries_per_s": round(target), "step": label}
        try:
            result = stacks[kind].measure(spec)
        except LoadError as exc:  # e.g. sockets refused at setup under overload
            steps[kind].append(row | {"error": str(exc), "clean": False})
            stopped.setdefault(kind, f"load failed: {str(exc)[:200]}")
            stop(kind)
            return False
        clean, why = step_is_clean(result)
        row |= {"rate_per_socket": rate} | summary(result) | {"clean": clean, "why": why}
        steps[kind].append(row)
        _log(f"{scenario.name} step {label} {kind}: {_brief(row)} {why}")
        if not clean:
            stopped.setdefault(kind, why)
            stop(kind)
        return clean

    try:
        last_clean: dict[str, float] = {}
        for k in range(o.ramp_max_steps):
            target = scenario.ramp_start * o.ramp_factor**k
            live = [kind for kind in rotated(order, k) if kind not in stopped]
            if not live:
                break
            for kind in live:
                if step(kind, target, str(k)):
                    last_clean[kind] = target
                    lag = steps[kind][-1]["generator_schedule_lag_p99_ms"] or 0
                    if lag > GENERATOR_LAG_LIMIT_MS:
                        stopped[kind] = f"generator lagged {lag} ms: the machine, not the server"
                elif kind in last_clean:
                    bounds[kind] = (last_clean[kind], target)
        for r in range(o.ramp_refine):
            for kind in rotated(order, r):
                if kind not in bounds:
                    continue
                low, high = bounds[kind]
                middle = (low * high) ** 0.5
                bounds[kind] = (middle, high) if step(kind, middle, f"r{r}") else (low, middle)
    finally:
        for stack in stacks.values():
            stack.__exit__(None, None, None)
    out: dict[str, Any] = {"scenario": scenario.__dict__, "order": order, "servers": {}}
    for kind in order:
        clean_steps = [s for s in steps[kind] if s.get("clean")]
        best = max(clean_steps, key=lambda s: s["delivered_per_s"], default=None)
        out["servers"][kind] = {
            "saturation_deliveries_per_s": best["delivered_per_s"] if best else None,
            "saturation_step": best,
            "stopped_because": stopped.get(kind, f"reached the last step ({o.ramp_max_steps})"),
            "steps": steps[kind],
        }
    return out


def _brief(row: dict[str, Any]) -> str:
    return (
        f"delivered {row['delivered_per_s']}/s lost {row['lost']} p99 {row['p99_ms']} ms "
        f"cpu {row['server_cpu_percent']}% rss {row['rss_mib']} MiB"
    )


# ---- ratios and tables --------------------------------------------------------------------


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 2)


def ratios(runs: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets as ratios within this one run (None where a side is missing)."""

    def sat(name: str, kind: str) -> float | None:
        value = runs.get(name, {}).get("servers", {}).get(kind, {})
        got: float | None = value.get("saturation_deliveries_per_s")
        return got

    def fixed(name: str, kind: str, key: str) -> Any:
        return runs.get(name, {}).get("servers", {}).get(kind, {}).get("summary", {}).get(key)

    out: dict[str, Any] = {
        "pairs_saturation_vs_socketio": _ratio(
            sat("ramp-pairs", "peerline"), sat("ramp-pairs", "socketio")
        ),
        "pairs_saturation_vs_broadcaster": _ratio(
            sat("ramp-pairs", "peerline"), sat("ramp-pairs", "broadcaster")
        ),
        "groups_saturation_vs_socketio": _ratio(
            sat("ramp-groups", "peerline"), sat("ramp-groups", "socketio")
        ),
        "second_process_gain_pairs": _ratio(
            sat("ramp-pairs-2p", "peerline"), sat("ramp-pairs", "peerline")
        ),
        "second_process_gain_groups": _ratio(
            sat("ramp-groups-2p", "peerline"), sat("ramp-groups", "peerline")
        ),
    }
    for name in ("pairs", "groups"):
        out[f"{name}_cpu_per_delivery_vs_broadcaster"] = _ratio(
            fixed(name, "peerline", "server_cpu_us_per_delivery"),
            fixed(name, "broadcaster", "server_cpu_us_per_delivery"),
        )
    idle = runs.get("idle-10000", {}).get("servers", {}).get("peerline", {}).get("summary")
    if idle:
        out["idle_10000_peerline_rss_mib"] = idle["rss_mib"][0]
        out["idle_10000_peerline_cpu_percent"] = idle["server_cpu_percent"][0]
    return out


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return " + ".join(_cell(v) for v in value)
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def header(report: dict[str, Any]) -> list[str]:
    m, v = report["machine"], report["versions"]
    return [
        f"Command: `{report['command']}`  ",
        f"Machine: {m['cores']} cores ({m['cpu_model']}), {m['memory_gib']} GiB, "
        f"Linux {m['kernel']}; Python {m['python']}, Redis {report['redis_version']}  ",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val) + "  ",
        f"Started {report['started_at']}, git {report['git']}, took {report['seconds']} s",
        "",
    ]


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| scenario | server | offered msg/s | delivered/s | lost | p50 / p90 / p99 / max ms "
        "| server CPU % of a core | CPU µs per delivery | RSS MiB | MiB per 1k sockets |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in report["runs"].items():
        if run["scenario"]["ramp"]:
            continue
        for kind, row in run["servers"].items():
            s = row["summary"]
            lat = " / ".join(_cell(s[k]) for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms"))
            if run["scenario"]["idle"]:
                lat = "(idle)"
            lines.append(
                f"| {name} | {kind} | {_cell(s['offered_msgs_per_s'])} "
                f"| {_cell(s['delivered_per_s'])} | {_cell(s['lost'])} | {lat} "
                f"| {_cell(s['server_cpu_percent'])} | {_cell(s['server_cpu_us_per_delivery'])} "
                f"| {_cell(s['rss_mib'])} | {_cell(s['rss_mib_per_1000_sockets'])} |"
            )
    ramps = [(n, r) for n, r in report["runs"].items() if r["scenario"]["ramp"]]
    if ramps:
        lines += [
            "",
            "| ramp | server | saturation (deliveries/s, clean) | p99 there ms "
            "| server CPU % there | steps | stopped because |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, run in ramps:
            for kind, row in run["servers"].items():
                best = row["saturation_step"] or {}
                lines.append(
                    f"| {name} | {kind} | {_cell(row['saturation_deliveries_per_s'])} "
                    f"| {_cell(best.get('p99_ms'))} | {_cell(best.get('server_cpu_percent'))} "
                    f"| {len(row['steps'])} | {row['stopped_because']} |"
                )
    if report.get("ratios"):
        lines += ["", "| ratio (this run) | value |", "|---|---|"]
        for key, value in report["ratios"].items():
            lines.append(f"| {key} | {_cell(value)} |")
    return "\n".join(lines)


def chart(report: dict[str, Any], path: Path) -> bool:
    """Delivered rate against p99 for every ramp step, one line per server and ramp."""
    ramps = [(n, r) for n, r in report["runs"].items() if r["scenario"]["ramp"]]
    if not ramps:
        return False
    import matplotlib

    matplotlib.use("Agg")  # files only; no screen here
    import matplotlib.pyplot as plt

    cols = min(2, len(ramps))
    rows = -(-len(ramps) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, 4.8 * rows), squeeze=False)
    for ax in axes.flat[len(ramps) :]:
        ax.set_visible(False)
    colours = {"peerline": "#1b7f5b", "socketio": "#b5452b", "broadcaster": "#3b5bab"}
    for ax, (name, run) in zip(axes.flat, ramps, strict=False):
        marked = False
        for kind, row in run["servers"].items():
            # In order of offered rate: bisection steps come last in time but belong between.
            points = sorted(
                (s for s in row["steps"] if "delivered_per_s" in s and s.get("p99_ms")),
                key=lambda s: s["target_deliveries_per_s"],
            )
            if not points:
                continue
            xs = [s["delivered_per_s"] for s in points]
            ys = [s["p99_ms"] for s in points]
            ax.plot(xs, ys, marker="o", label=kind, color=colours.get(kind))
            lossy = [s for s in points if s["lost"]]
            ax.scatter(
                [s["delivered_per_s"] for s in lossy],
                [s["p99_ms"] for s in lossy],
                marker="x",
                s=80,
                color="black",
                zorder=3,
                label="lost messages" if lossy and not marked else None,
            )
            marked = marked or bool(lossy)
        ax.axhline(P99_LIMIT_MS, color="grey", linestyle="--", linewidth=1)
        ax.set_yscale("log")
        ax.set_xlabel("delivered messages per second")
        ax.set_ylabel("p99 delivery latency (ms, log)")
        procs_n = run["scenario"]["processes"]
        ax.set_title(f"{name} ({procs_n} server process{'es' if procs_n > 1 else ''})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    m = report["machine"]
    fig.suptitle(f"{m['cores']} cores, {m['cpu_model']}; dashed: {P99_LIMIT_MS:g} ms", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ---- command line -------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n")[0])
    p.add_argument("--scenarios", help=f"comma-separated; default all: {','.join(SCENARIOS)}")
    p.add_argument("--servers", default=",".join(SERVERS), help="comma-separated server kinds")
    p.add_argument("--duration", type=float, default=20.0, help="measured s per fixed load")
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured s before each window")
    p.add_argument("--ramp-duration", type=float, default=8.0, help="measured s per ramp step")
    p.add_argument("--ramp-factor", type=float, default=1.25, help="rate multiplier per step")
    p.add_argument("--ramp-max-steps", type=int, default=24)
    p.add_argument(
        "--ramp-refine",
        type=int,
        default=2,
        help="bisection steps after a server's first failed step (default %(default)s)",
    )
    p.add_argument(
        "--ramp-start",
        type=float,
        help="first ramp step's offered deliveries/s (default: the scenario's own)",
    )
    p.add_argument(
        "--processes",
        type=int,
        help="run every chosen scenario on this many server processes (rooms keep their size)",
    )
    p.add_argument("--workers", type=int, default=2, help="load-generator processes")
    p.add_argument("--redis-server", help="path of the redis-server binary to start")
    p.add_argument("--out", type=Path, help="directory for the report (default bench/results)")
    p.add_argument("--smoke", action="store_true", help="tiny and short: checks the runner")
    p.add_argument("--keep-logs", action="store_true", help="keep the servers' logs")
    p.add_argument(
        "--replot",
        type=Path,
        metavar="REPORT_JSON",
        help="only redraw the chart and tables of an earlier report, beside it",
    )
    return p


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.replot:
        report = json.loads(args.replot.read_text())
        chart(report, args.replot.with_name(args.replot.stem + "-ramp.png"))
        text = "\n".join(header(report)) + "\n" + markdown(report)
        args.replot.with_suffix(".md").write_text(text + "\n")
        print(text)
        return 0
    table = SMOKE if args.smoke else SCENARIOS
    names = args.scenarios.split(",") if args.scenarios else list(table)
    servers = [s for s in args.servers.split(",") if s]
    unknown = [n for n in names if n not in table] + [s for s in servers if s not in SERVERS]
    if unknown or not servers or not names:
        print(f"unknown scenario or server: {unknown}; scenarios: {list(table)}", file=sys.stderr)
        return 2
    if args.processes is not None and not 1 <= args.processes <= MAX_PROCESSES:
        print(f"--processes must be 1 to {MAX_PROCESSES}", file=sys.stderr)
        return 2
    if args.ramp_factor <= 1 or args.duration <= 0 or args.ramp_duration <= 0:
        print("--ramp-factor must be > 1 and durations > 0", file=sys.stderr)
        return 2
    if args.smoke:
        args.duration, args.warmup, args.ramp_duration = 2.0, 0.5, 1.5
        args.ramp_max_steps = min(args.ramp_max_steps, 2)
        args.ramp_refine = min(args.ramp_refine, 1)
    signal.signal(signal.SIGTERM, _terminate)
    o = Options(
        servers=servers,
        duration=args.duration,
        warmup=args.warmup,
        ramp_duration=args.ramp_duration,
        ramp_factor=args.ramp_factor,
        ramp_max_steps=args.ramp_max_steps,
        ramp_refine=args.ramp_refine,
        # The smoke run checks the runner, not the machine: no waiting for quiet.
        quiet_wait=0.0 if args.smoke else QUIET_WAIT_SECONDS,
        workers=args.workers,
        redis_server=args.redis_server,
        keep_logs=args.keep_logs,
    )
    began = time.monotonic()
    report: dict[str, Any] = report_head("peerline-compare", "bench.compare") | {
        "versions": versions(),
        "redis_version": _redis_version(args.redis_server),
        "runs": {},
    }
    for k, name in enumerate(names):
        scenario = table[name]
        if scenario.ramp and args.ramp_start:
            scenario = replace(scenario, ramp_start=args.ramp_start)
        if args.processes:
            scenario = replace(scenario, processes=args.processes)
        order = rotated(servers, k)
        run = run_ramp if scenario.ramp else run_fixed
        report["runs"][name] = run(scenario, order, o)
    report["ratios"] = ratios(report["runs"])
    report["seconds"] = round(time.monotonic() - began, 1)
    out = args.out or RESULTS_DIR
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    text = "\n".join(header(report)) + "\n" + markdown(report)
    png = out / f"compare-{stamp}-ramp.png"
    if chart(report, png):
        report["chart"] = str(png)
    (out / f"compare-{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"compare-{stamp}.md").write_text(text + "\n")
    print(text)
    print(
        f"\nreport: {out / f'compare-{stamp}.json'}"
        + (f"\nchart: {png}" if "chart" in report else "")
    )
    return 0


def _redis_version(binary: str | None) -> str | None:
    redis = procs.RedisHandle.start_private(binary)
    try:
        version: str | None = redis.info().get("redis_version")
        return version
    finally:
        redis.stop()


if __name__ == "__main__":
    sys.exit(main())
