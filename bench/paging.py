"""Time from an urgent message to the out-of-band page, and paging through a receiver outage.

    .venv/bin/python -m bench.paging [--alerts 50] [--outage 60] [--outage-alerts 5]

Starts a private redis-server, one Peerline server whose program file pages a webhook and
an email, a real HTTP receiver and a real SMTP server (aiosmtpd) on 127.0.0.1
(bench/receivers.py). No staff console is open, so every alert is paged at once.

1. Latency: participants (5 alerts each: the hourly cap) send an urgent message over a real
   WebSocket, one at a time; the clock starts when the `say` is sent and stops when the
   webhook arrives at the receiver, and when the email arrives at the SMTP server.
2. Outage: both receivers go down (connection refused) for `--outage` seconds while
   `--outage-alerts` alerts are raised, 2 s apart; then they come back. Reports, per alert,
   how many attempts each delivery took, when it arrived after the receivers came back, and
   whether any page was lost or sent twice.

Prints JSON with the machine. Loopback only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis
import websockets

from bench.cluster import cluster, participant_socket
from bench.procs import ServerHandle, machine_info
from bench.receivers import MailReceiver, WebhookReceiver, paging_program
from bench.stats import percentile

ROOT = Path(__file__).resolve().parent.parent
URGENT = "my friend isnt breathing and his lips are blue"
ALERTS_PER_PERSON = 5  # the server's hourly cap per participant
WAIT_SECONDS = 15.0
SECRET = "bench-page-secret-" + secrets.token_hex(8)


async def wait_until(check: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("a page did not arrive in time")
        await asyncio.sleep(0.002)


async def say_urgent(ws: Any) -> float:
    nonce = secrets.token_hex(4)
    started = time.perf_counter()
    await ws.send(json.dumps({"type": "say", "room": "general", "text": URGENT, "nonce": nonce}))
    return started


async def latency(
    server: ServerHandle, hook: WebhookReceiver, mail: MailReceiver, alerts: int
) -> tuple[list[float], list[float]]:
    people = [
        await participant_socket(server, "general") for _ in range(-(-alerts // ALERTS_PER_PERSON))
    ]
    drains = [asyncio.create_task(_drain(ws)) for ws in people]
    to_hook, to_mail = [], []
    for i in range(alerts):
        hooks, mails = len(hook.delivered()), len(mail.inbox)
        started = await say_urgent(people[i // ALERTS_PER_PERSON])
        await wait_until(lambda: len(hook.delivered()) > hooks, WAIT_SECONDS)  # noqa: B023
        await wait_until(lambda: len(mail.inbox) > mails, WAIT_SECONDS)  # noqa: B023
        to_hook.append(hook.delivered()[hooks].at - started)
        to_mail.append(mail.inbox[mails].at - started)
    for task in drains:
        task.cancel()
    for ws in people:
        await ws.close()
    return to_hook, to_mail


async def outage(
    server: ServerHandle,
    env: dict[str, str],
    hook: WebhookReceiver,
    mail: MailReceiver,
    seconds: float,
    alerts: int,
) -> dict[str, Any]:
    client = aioredis.Redis.from_url(env["PEERLINE_REDIS_URL"])
    prefix = env["PEERLINE_REDIS_PREFIX"]
    before = {e.decode() for e in await client.smembers(f"{prefix}esc:open")}
    hooks_before, mails_before = len(hook.delivered()), len(mail.inbox)
    people = [
        await participant_socket(server, "general") for _ in range(-(-alerts // ALERTS_PER_PERSON))
    ]
    drains = [asyncio.create_task(_drain(ws)) for ws in people]
    hook.down()
    mail.down()
    down_at, down_epoch_ms = time.perf_counter(), time.time() * 1000
    for i in range(alerts):
        await say_urgent(people[i // ALERTS_PER_PERSON])
        await asyncio.sleep(2.0)
    await asyncio.sleep(max(0.0, seconds - (time.perf_counter() - down_at)))
    hook.up()
    mail.up()
    back_at = time.perf_counter()
    await wait_until(
        lambda: (
            len(hook.delivered()) - hooks_before >= alerts
            and len(mail.inbox) - mails_before >= alerts
        ),
        2 * 60.0 + 30.0,
    )
    await asyncio.sleep(5.0)  # anything sent twice would arrive by now
    raised = sorted({e.decode() for e in await client.smembers(f"{prefix}esc:open")} - before)
    arrived_hooks = {
        orjson.loads(h.body)["escalation"]: h.at for h in hook.delivered()[hooks_before:]
    }
    arrived_mail = {}
    for letter in mail.inbox[mails_before:]:
        for escalation in raised:
            if escalation in letter.text:
                arrived_mail[escalation] = letter.at
    per_alert = []
    for escalation in raised:
        key = f"{prefix}e:{escalation}"
        created, *attempts = await client.hmget(key, "created", "pg:0:n", "pg:1:n")
        states = await client.hmget(key, "pg:0:s", "pg:1:s")
        per_alert.append(
            {
                "raised_after_down_s": round((int(created) - down_epoch_ms) / 1000, 2),
                "webhook_attempts": int(attempts[0] or 0),
                "email_attempts": int(attempts[1] or 0),
                "states": [(s or b"").decode() for s in states],
                "webhook_after_back_s": round(arrived_hooks[escalation] - back_at, 2)
                if escalation in arrived_hooks
                else None,
                "email_after_back_s": round(arrived_mail[escalation] - back_at, 2)
                if escalation in arrived_mail
                else None,
            }
        )
    per_alert.sort(key=lambda row: row["raised_after_down_s"])
    for task in drains:
        task.cancel()
    for ws in people:
        await ws.close()
    await client.aclose()
    webhooks = len(hook.delivered()) - hooks_before
    emails = len(mail.inbox) - mails_before
    return {
        "receivers_down_s": round(back_at - down_at, 1),
        "alerts": len(raised),
        "webhooks_delivered": webhooks,
        "emails_delivered": emails,
        "lost": 2 * len(raised) - len(arrived_hooks) - len(arrived_mail),
        "sent_twice": webhooks + emails - len(arrived_hooks) - len(arrived_mail),
        "per_alert": per_alert,
    }


async def _drain(ws: Any) -> None:
    with contextlib.suppress(websockets.ConnectionClosed, asyncio.CancelledError):
        async for _ in ws:
            pass


def ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(int(x * 1e6) for x in values)
    return {
        "p50": percentile(ordered, 50) / 1000,
        "p99": percentile(ordered, 99) / 1000,
        "max": ordered[-1] / 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.paging", description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=50)
    parser.add_argument("--outage", type=float, default=60.0, help="seconds the receivers are down")
    parser.add_argument("--outage-alerts", type=int, default=5)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)

    hook, mail = WebhookReceiver().up(), MailReceiver().up()
    try:
        tmp = Path(tempfile.mkdtemp(prefix="peerline-bench-paging-"))
        path = paging_program(
            tmp, hook, mail, ack_seconds=60, page_after_seconds=120, silence_minutes=60
        )
        with cluster(
            1, "paging", PEERLINE_LOG_LEVEL="ERROR", PEERLINE_CONFIG=path, PAGE_SECRET=SECRET
        ) as running:
            server = running.servers[0]
            to_hook, to_mail = asyncio.run(latency(server, hook, mail, args.alerts))
            retry = asyncio.run(
                outage(server, running.env, hook, mail, args.outage, args.outage_alerts)
            )
    finally:
        hook.down()
        mail.down()
    report = {
        "command": " ".join([".venv/bin/python -m bench.paging", *argv]),
        "machine": machine_info(),
        "alerts": len(to_hook),
        "consoles_open": 0,
        "message_to_webhook_ms": ms(to_hook),
        "message_to_email_ms": ms(to_mail),
        "outage": retry,
    }
    print(json.dumps(report, indent=2))
    return 0 if retry["lost"] == 0 and retry["sent_twice"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
