"""Time from an urgent message to the alert on a facilitator's console.

    .venv/bin/python -m bench.alerts [--alerts 100] [--processes 2]

Starts a private redis-server and `--processes` Peerline servers on it. One facilitator
logs in on the last process and goes on call; participants (20 for 100 alerts: each may
raise 5 an hour) write on the first. Each urgent message carries a unique token; the clock
starts when the `say` frame is sent and stops when the console receives the `alert` whose
excerpt holds the token (so the path crosses processes through Redis: scan, store, stream,
consumer group, page, decrypt, socket). Each alert is taken (`ack_alert`) before the next
message, so the ladder is quiet. Prints p50/p90/p99/max and the machine. Loopback only;
every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import time
from typing import Any

import pyotp
import websockets

from bench.cluster import PASSWORD, cluster, http, make_accounts, participant_socket
from bench.procs import ServerHandle, machine_info
from bench.stats import percentile

URGENT = "my friend isnt breathing and his lips are blue"
ALERTS_PER_PERSON = 5  # the server's hourly cap per participant
WAIT_SECONDS = 10.0


async def facilitator(server: ServerHandle, account: tuple[str, str]) -> Any:
    name, secret = account
    body = {"username": name, "password": PASSWORD, "totp": pyotp.TOTP(secret).now()}
    status, _, headers = await asyncio.to_thread(
        http, "POST", f"{server.base}/api/staff/login", body, {"origin": server.base}
    )
    assert status == 200, status
    cookie = headers["set-cookie"].split(";", 1)[0]
    ws = await websockets.connect(
        server.ws_url + "?as=staff", origin=server.base, additional_headers={"cookie": cookie}
    )
    await ws.send(json.dumps({"type": "on_call", "on": True}))
    async with asyncio.timeout(WAIT_SECONDS):
        while json.loads(await ws.recv())["type"] != "on_call":
            pass
    return ws


async def measure(servers: list[ServerHandle], env: dict[str, str], alerts: int) -> list[float]:
    accounts = await make_accounts(env, 1, roles=("facilitator",))
    console = await facilitator(servers[-1], accounts[0])
    people = [
        await participant_socket(servers[0], "general")
        for _ in range(-(-alerts // ALERTS_PER_PERSON))
    ]
    drains = [asyncio.create_task(_drain(ws)) for ws in people]
    latencies = []
    for i in range(alerts):
        token = secrets.token_hex(4)
        ws = people[i // ALERTS_PER_PERSON]
        started = time.perf_counter()
        say = {"type": "say", "room": "general", "text": f"{URGENT} {token}", "nonce": token}
        await ws.send(json.dumps(say))
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                frame = json.loads(await console.recv())
                if frame.get("type") == "alert" and token in frame.get("excerpt", ""):
                    latencies.append(time.perf_counter() - started)
                    break
        await console.send(json.dumps({"type": "ack_alert", "escalation": frame["escalation"]}))
        await asyncio.sleep(0.02)
    for task in drains:
        task.cancel()
    for ws in [console, *people]:
        await ws.close()
    return latencies


async def _drain(ws: Any) -> None:
    with contextlib.suppress(websockets.ConnectionClosed, asyncio.CancelledError):
        async for _ in ws:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.alerts", description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=100)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args(argv)

    with cluster(args.processes, "alerts", PEERLINE_LOG_LEVEL="ERROR") as running:
        latencies = asyncio.run(measure(running.servers, running.env, args.alerts))
        ordered = sorted(int(x * 1e6) for x in latencies)
        report = {
            "command": "python -m bench.alerts " + " ".join(argv or []),
            "machine": machine_info(),
            "alerts": len(ordered),
            "processes": args.processes,
            "message_to_alert_ms": {
                "p50": percentile(ordered, 50) / 1000,
                "p90": percentile(ordered, 90) / 1000,
                "p99": percentile(ordered, 99) / 1000,
                "max": ordered[-1] / 1000,
            },
        }
        print(json.dumps(report, indent=2))
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
