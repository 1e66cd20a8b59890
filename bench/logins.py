"""Staff logins: how long one takes, and whether a burst of them stalls chat delivery.

    .venv/bin/python -m bench.logins [--logins 20] [--rounds 3] [--rate 50] [--members 20]
    .venv/bin/python -m bench.logins --flood [--bogus 200] [--rounds 3]

Starts a private redis-server and one Peerline server process, creates staff accounts with
real argon2id hashes (argon2-cffi defaults), then:

1. times sequential logins over HTTP (each is one argon2 verify plus a few Redis calls) and,
   in this process, bare `Passwords.verify` calls;
2. runs a chat probe: one sender at `--rate` messages a second into a room of `--members`
   sockets, each message stamped with its send time; the latency from send to arrival is
   measured at every member. For `--quiet` seconds nothing else happens; then `--logins`
   logins are fired at once (`--rounds` times, a few seconds apart). The report compares
   p50/p99/max delivery latency in the quiet window with the windows during the logins,
   and the server's peak RSS while they ran (SECURITY.md T14: at most 300 MiB).

With `--flood` it measures issue 11's starvation instead: the server trusts 127.0.0.1 as a
proxy, and `--bogus` clients send logins with random usernames, each one after another (at
most 20 each) until the real login has its answer, so that many are in flight all along:
from one address, then each client from its own address (X-Forwarded-For). Half a second in,
one real staff login, from an address of its own, is timed. The report gives that login's
time per round, and how many bogus ones were sent, were in flight when it started, and how
they were answered.

Loopback only; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import secrets
import statistics
import sys
import threading
import time
from typing import Any

import pyotp
import websockets

from bench.cluster import PASSWORD, cluster, http, make_accounts, participant_socket
from bench.procs import ServerHandle, machine_info, memory
from bench.stats import percentile

ROOM = "general"


def failed_login(base: str, name: str) -> float:
    """One wrong-password attempt (each name once, so throttling never answers instead)."""
    body = {"username": name, "password": "not the password", "totp": "000000"}
    started = time.perf_counter()
    status, _, _ = http("POST", f"{base}/api/staff/login", body, {"origin": base})
    elapsed = time.perf_counter() - started
    if status != 401:
        raise RuntimeError(f"expected 401, got {status}")
    return elapsed


def login(base: str, account: tuple[str, str]) -> float:
    name, secret = account
    body = {"username": name, "password": PASSWORD, "totp": pyotp.TOTP(secret).now()}
    started = time.perf_counter()
    status, answer, _ = http("POST", f"{base}/api/staff/login", body, {"origin": base})
    elapsed = time.perf_counter() - started
    if status != 200:
        raise RuntimeError(f"login failed: {status} {answer}")
    return elapsed


REAL_ADDRESS = "203.0.113.9"  # the staff member's own address (TEST-NET-3)
ONE_ADDRESS = "198.51.100.7"  # the flood from one address (TEST-NET-2)
FLOOD_HEAD_START_SECONDS = 0.5  # the bogus logins are queued before the real one starts
FLOOD_EACH = 20  # bogus logins one flooding client sends at most, one after another


def bogus_login(base: str, address: str) -> tuple[int, float]:
    body = {"username": f"nobody-{secrets.token_hex(6)}", "password": "guess", "totp": "000000"}
    headers = {"origin": base, "x-forwarded-for": address}
    started = time.perf_counter()
    status = _status(base, body, headers)
    return status, time.perf_counter() - started


def _status(base: str, body: dict[str, str], headers: dict[str, str]) -> int:
    """The answer's status; 0 when none came within the client's timeout (90 s)."""
    try:
        return http("POST", f"{base}/api/staff/login", body, headers)[0]
    except OSError:  # a timeout, or the connection refused or reset
        return 0


def real_login(base: str, account: tuple[str, str]) -> tuple[int, float]:
    name, secret = account
    body = {"username": name, "password": PASSWORD, "totp": pyotp.TOTP(secret).now()}
    headers = {"origin": base, "x-forwarded-for": REAL_ADDRESS}
    started = time.perf_counter()
    status = _status(base, body, headers)
    return status, time.perf_counter() - started


class Flood:
    """`clients` senders of bogus logins, each one after another until told to stop (at
    most FLOOD_EACH each), so that many are in flight for as long as the real login takes."""

    def __init__(self, base: str, addresses: list[str]) -> None:
        self.base = base
        self.addresses = addresses
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.answers: list[tuple[int, float]] = []

    def client(self, address: str) -> None:
        for _ in range(FLOOD_EACH):
            if self.stop.is_set():
                return
            with self.lock:
                self.in_flight += 1
            answer = bogus_login(self.base, address)
            with self.lock:
                self.in_flight -= 1
                self.answers.append(answer)


def flood_round(
    base: str, account: tuple[str, str], bogus: int, many: bool, round_no: int
) -> dict[str, Any]:
    addresses = [
        f"10.{round_no}.{i // 250}.{i % 250 + 1}" if many else ONE_ADDRESS for i in range(bogus)
    ]
    flood = Flood(base, addresses)
    with concurrent.futures.ThreadPoolExecutor(bogus + 1) as pool:
        begin = time.perf_counter()
        clients = [pool.submit(flood.client, address) for address in addresses]
        time.sleep(FLOOD_HEAD_START_SECONDS)
        in_flight = flood.in_flight
        status, real_s = pool.submit(real_login, base, account).result(timeout=200)
        flood.stop.set()
        for c in clients:
            c.result(timeout=200)
        wall = time.perf_counter() - begin
    answers = flood.answers
    statuses: dict[str, int] = {}
    for code, _ in answers:
        statuses[str(code)] = statuses.get(str(code), 0) + 1
    return {
        "real_login_status": status,
        "real_login_s": round(real_s, 3),
        "bogus_in_flight_when_real_started": in_flight,
        "bogus_sent": len(answers),
        "bogus_statuses": statuses,
        "bogus_median_s": round(statistics.median(t for _, t in answers), 3),
        "bogus_max_s": round(max(t for _, t in answers), 3),
        "wall_s": round(wall, 3),
    }


def flood(args: argparse.Namespace, argv: list[str] | None) -> dict[str, Any]:
    extra = {
        "PEERLINE_TRUSTED_PROXIES": "127.0.0.1",
        "PEERLINE_LOG_LEVEL": "WARNING",
        "PEERLINE_LOGINS_PER_ADDRESS_PER_MINUTE": "30",  # the default: the flood meets it
    }
    with cluster(1, "logins-flood", **extra) as running:
        base = running.servers[0].base
        accounts = asyncio.run(make_accounts(running.env, 2 * args.rounds))
        report: dict[str, Any] = {
            "command": "python -m bench.logins " + " ".join(argv or sys.argv[1:]),
            "machine": machine_info(),
        }
        for label, many in (("one_address", False), ("many_addresses", True)):
            rounds = []
            for r in range(args.rounds):
                account = accounts[(2 * r) + (1 if many else 0)]
                rounds.append(flood_round(base, account, args.bogus, many, r))
                time.sleep(2.0)  # the dummy work of the last round ends
            times = [x["real_login_s"] for x in rounds]
            report[label] = {
                "real_login_s": times,
                "real_login_max_s": max(times),
                "rounds": rounds,
            }
        return report


async def verify_in_process(rounds: int) -> list[float]:
    from server.services.passwords import Passwords

    passwords = Passwords()
    stored = passwords.hash_now(PASSWORD)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        assert await passwords.verify(stored, PASSWORD)
        times.append(time.perf_counter() - started)
    passwords.close()
    return times


class Probe:
    """One sender and `members` receivers in one room; latencies by arrival time."""

    def __init__(self, server: ServerHandle, members: int, rate: float) -> None:
        self.server = server
        self.members = members
        self.rate = rate
        self.arrivals: list[tuple[float, float]] = []  # (arrival wall time, latency s)
        self.sent = 0

    async def _receive(self, ws: Any, until: float) -> None:
        with contextlib.suppress(TimeoutError, websockets.ConnectionClosed):
            async with asyncio.timeout(max(0.0, until - time.time()) + 2):
                async for raw in ws:
                    frame = json.loads(raw)
                    if frame.get("type") == "message" and frame["text"].startswith("t="):
                        now = time.time()
                        self.arrivals.append((now, now - float(frame["text"][2:])))

    async def run(self, seconds: float, started: asyncio.Event) -> None:
        sockets = [await participant_socket(self.server, ROOM) for _ in range(self.members)]
        sender = sockets[0]
        until = time.time() + seconds
        readers = [asyncio.create_task(self._receive(ws, until)) for ws in sockets]
        started.set()
        interval = 1.0 / self.rate
        next_at = time.time()
        while time.time() < until:
            stamp = f"t={time.time():.6f}"
            say = {"type": "say", "room": ROOM, "text": stamp, "nonce": str(self.sent)}
            await sender.send(json.dumps(say))
            self.sent += 1
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.time()))
        await asyncio.gather(*readers)
        for ws in sockets:
            await ws.close()

    def window(self, start: float, end: float) -> dict[str, Any]:
        got = sorted(int(lat * 1e6) for at, lat in self.arrivals if start <= at < end)
        if not got:
            return {"deliveries": 0}
        return {
            "deliveries": len(got),
            "p50_ms": percentile(got, 50) / 1000,
            "p99_ms": percentile(got, 99) / 1000,
            "max_ms": got[-1] / 1000,
        }


async def burst_phase(
    server: ServerHandle, accounts: list[tuple[str, str]], args: argparse.Namespace
) -> dict[str, Any]:
    probe = Probe(server, args.members, args.rate)
    gap = 4.0
    total = args.quiet + args.rounds * gap + 2
    started = asyncio.Event()
    probe_task = asyncio.create_task(probe.run(total, started))
    await started.wait()
    t0 = time.time()
    baseline_rss = memory(server.pid).get("rss_mib") or 0.0
    await asyncio.sleep(args.quiet)
    quiet = (t0, time.time())
    windows, burst_times, peak_rss = [], [], 0.0
    pool = concurrent.futures.ThreadPoolExecutor(args.logins)
    for r in range(args.rounds):
        chunk = accounts[r * args.logins : (r + 1) * args.logins]
        begin = time.time()
        futures = [pool.submit(login, server.base, account) for account in chunk]
        while not all(f.done() for f in futures):
            rss = memory(server.pid).get("rss_mib") or 0.0
            peak_rss = max(peak_rss, rss)
            await asyncio.sleep(0.02)
        times = [f.result() for f in futures]
        windows.append((begin, time.time()))
        burst_times.append(
            {
                "wall_s": time.time() - begin,
                "slowest_login_s": max(times),
                "median_login_s": statistics.median(times),
            }
        )
        await asyncio.sleep(max(0.0, gap - (time.time() - begin)))
    pool.shutdown()
    await probe_task
    during = [lat for s, e in windows for at, lat in probe.arrivals if s <= at < e]
    during_sorted = sorted(int(x * 1e6) for x in during)
    return {
        "probe": {"rate_per_s": args.rate, "members": args.members, "sent": probe.sent},
        "quiet": probe.window(*quiet),
        "during_logins": {
            "deliveries": len(during_sorted),
            "p50_ms": percentile(during_sorted, 50) / 1000 if during_sorted else None,
            "p99_ms": percentile(during_sorted, 99) / 1000 if during_sorted else None,
            "max_ms": during_sorted[-1] / 1000 if during_sorted else None,
        },
        "bursts": burst_times,
        "server_rss_before_mib": round(baseline_rss, 1),
        "server_peak_rss_mib": round(peak_rss, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.logins", description=__doc__.split("\n")[0])
    parser.add_argument("--logins", type=int, default=20, help="logins fired at once")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sequential", type=int, default=20, help="logins timed one by one")
    parser.add_argument("--rate", type=float, default=50.0, help="probe messages a second")
    parser.add_argument("--members", type=int, default=20, help="sockets in the probe room")
    parser.add_argument("--quiet", type=float, default=5.0, help="seconds without logins")
    parser.add_argument("--flood", action="store_true", help="time a real login in a flood")
    parser.add_argument("--bogus", type=int, default=200, help="bogus logins a flood round")
    args = parser.parse_args(argv)
    if args.flood:
        print(json.dumps(flood(args, argv), indent=2))
        return 0

    extra = {
        "PEERLINE_RATE_PER_MINUTE": "100000",
        "PEERLINE_RATE_BURST": "10000",
        "PEERLINE_LOG_LEVEL": "WARNING",
    }
    with cluster(1, "logins", **extra) as running:
        env, server = running.env, running.servers[0]
        accounts = asyncio.run(make_accounts(env, args.sequential + args.logins * args.rounds))
        # SECURITY.md T15: a failure for a known name and for an unknown one cost the same.
        known, unknown = [], []
        for name, _ in accounts[: args.sequential]:
            known.append(failed_login(server.base, name))
            unknown.append(failed_login(server.base, f"nobody-{secrets.token_hex(4)}"))
        sequential = [login(server.base, a) for a in accounts[: args.sequential]]
        verify = asyncio.run(verify_in_process(args.sequential))
        burst = asyncio.run(burst_phase(server, accounts[args.sequential :], args))
        report = {
            "command": "python -m bench.logins " + " ".join(argv or []),
            "machine": machine_info(),
            "login_http_s": {
                "median": statistics.median(sequential),
                "min": min(sequential),
                "max": max(sequential),
            },
            "argon2_verify_s": {"median": statistics.median(verify), "max": max(verify)},
            "failed_login_s": {
                "known_median": statistics.median(known),
                "unknown_median": statistics.median(unknown),
                "difference": abs(statistics.median(known) - statistics.median(unknown))
                / statistics.median(known),
            },
            **burst,
        }
        print(json.dumps(report, indent=2))
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
