"""Memory of one Peerline process after many `leave` frames of room ids never joined.

    .venv/bin/python -m bench.leave_memory                 # 100,000 leaves, about a minute
    .venv/bin/python -m bench.leave_memory --leaves 20000

Starts `peerline serve` on its embedded Redis (in a temporary data folder), on 127.0.0.1
only, with the frame rate limit lifted for this one socket, sends the leaves (reading the
answers every 100, as a client must), and prints the process's resident set before and
after. No per-room state may exist for a room without local members, so the two should
match.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parent.parent
READ_EVERY = 100  # frames between reads: the server closes a client that never reads (4001)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


def session_cookie(base: str) -> str:
    body = json.dumps({"consent_version": "2026-11-01", "accept": True}).encode()
    request = urllib.request.Request(
        f"{base}/api/session",
        data=body,
        headers={"content-type": "application/json", "origin": base},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return str(response.headers["set-cookie"].split(";")[0])


async def leave_many(base: str, cookie: str, leaves: int, pid: int) -> tuple[float, float]:
    url = base.replace("http", "ws") + "/ws"
    async with websockets.connect(url, additional_headers={"origin": base, "cookie": cookie}) as ws:
        await ws.recv()  # hello
        before = rss_mib(pid)
        for i in range(leaves):
            frame = {"type": "leave", "room": uuid.uuid4().hex[:16], "ref": str(i)}
            await ws.send(json.dumps(frame))
            if i % READ_EVERY == READ_EVERY - 1 or i == leaves - 1:
                while json.loads(await ws.recv()).get("ref") != str(i):
                    pass
        return before, rss_mib(pid)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.leave_memory", description=__doc__)
    parser.add_argument("--leaves", type=int, default=100_000)
    args = parser.parse_args(argv)
    port = free_port()
    folder = tempfile.mkdtemp(prefix="peerline-bench-")
    env = dict(
        os.environ,
        PEERLINE_DATA_DIR=folder,
        PEERLINE_COOKIE_SECURE="false",
        PEERLINE_RATE_PER_MINUTE="100000000",
        PEERLINE_RATE_BURST="1000000",
    )
    env.pop("PEERLINE_REDIS_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(base + "/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        cookie = session_cookie(base)
        before, after = asyncio.run(leave_many(base, cookie, args.leaves, server.pid))
    finally:
        server.terminate()
        server.wait(20)
        shutil.rmtree(folder, ignore_errors=True)
    print(f"RSS {before:.0f} MiB before, {after:.0f} MiB after {args.leaves:,} leaves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
