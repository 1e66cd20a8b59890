"""What one session can store in a minute by reconnecting over and over.

Two server processes on a private Redis, default limits (the per-address upgrade limit is
lifted, as it would be for many people behind one address, so only the per-person limits
are measured). One session opens a socket on each process in turn, joins a room, sends
`--burst` messages as fast as it can, closes, and starts again, for `--seconds`. Before
issue 11 each socket had its own bucket: 200 messages were stored in 0.2 s over 20 sockets.

    python -m bench.reconnect_flood [--seconds 60] [--burst 20]

Loopback only; the loop stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import time

import websockets

from bench.cluster import cluster, http


async def flood(servers: list, seconds: float, burst: int) -> dict[str, int]:
    base = servers[0].base
    _, info, _ = http("GET", f"{base}/api/info", None, {})
    body = {"consent_version": info["consent"]["version"], "accept": True}
    _, _, headers = http("POST", f"{base}/api/session", body, {"origin": base})
    cookie = headers["set-cookie"].split(";", 1)[0]
    counts = {"sockets": 0, "upgrades_refused": 0, "stored": 0, "rate_limited": 0}
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        server = servers[n % len(servers)]
        n += 1
        try:
            ws = await websockets.connect(
                server.ws_url, origin=server.base, additional_headers={"cookie": cookie}
            )
        except websockets.InvalidStatus:
            counts["upgrades_refused"] += 1
            await asyncio.sleep(0.05)
            continue
        counts["sockets"] += 1
        async with ws:
            await ws.recv()  # hello
            await ws.send(json.dumps({"type": "join", "room": "general", "ref": "j"}))
            while json.loads(await ws.recv()).get("ref") != "j":
                pass
            refs = {secrets.token_hex(6) for _ in range(burst)}
            for ref in refs:
                frame = {"type": "say", "room": "general", "text": "x", "nonce": ref, "ref": ref}
                await ws.send(json.dumps(frame))
            while refs:
                answer = json.loads(await ws.recv())
                if answer.get("ref") in refs:
                    refs.discard(answer["ref"])
                    key = "stored" if answer["type"] == "ack" else answer.get("code", "other")
                    counts[key] = counts.get(key, 0) + 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--burst", type=int, default=20)
    args = parser.parse_args(argv)
    with cluster(2, "reconnect") as c:
        started = time.monotonic()
        counts = asyncio.run(flood(c.servers, args.seconds, args.burst))
        elapsed = time.monotonic() - started
    print(f"machine: {os.cpu_count()} CPUs; 2 processes; default say rate 100/min, burst 10")
    print(f"{elapsed:.1f} s: {json.dumps(counts)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
