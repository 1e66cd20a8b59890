"""`peerline audit ...`: check the audit log's hash chain and read its newest records.

`verify` exits 0 and prints the record count and the head hash: write the head down
somewhere off this host (with its seq), and later pass it back as `--expect SEQ:HASH`; a
chain rewritten or cut since then no longer contains it. Exit 1 names the first bad record;
exit 2 means the log could not be read (Redis does not answer, a bad setting). Like
`peerline staff`, it runs with the servers' PEERLINE_REDIS_URL and PEERLINE_REDIS_PREFIX, or,
without PEERLINE_REDIS_URL, on the data folder of `peerline serve` (PEERLINE_DATA_DIR).
The records hold ids and staff-typed reasons, never message content (SECURITY.md L1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TextIO

from redis.asyncio import Redis

from server.config import ConfigError, Settings
from server.core.audit import AuditRecord, MalformedRecord, Verification, parse_anchor
from server.store import StoreUnavailable, embedded
from server.store.audit import TAIL_MAX, AuditLog

TAIL_DEFAULT = 20
REDIS_TIMEOUT_SECONDS = 5  # a Redis that does not answer becomes exit 2, not a hang


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="the staff audit log (the servers' Redis or data folder)")
    cmds = audit.add_subparsers(dest="audit_command", required=True)
    verify = cmds.add_parser("verify", help="check every record's hash and link, and the head")
    verify.add_argument(
        "--expect",
        metavar="SEQ:HASH",
        help="a head printed by an earlier verify and kept off this host; it must be in the chain",
    )
    verify.add_argument("--json", action="store_true", help="print one JSON object")
    tail = cmds.add_parser("tail", help="print the newest records, oldest first")
    tail.add_argument("-n", type=int, default=TAIL_DEFAULT, help=f"how many (at most {TAIL_MAX})")
    tail.add_argument("--json", action="store_true", help="one JSON object a line")


def run(args: argparse.Namespace, env: Mapping[str, str], stdin: TextIO, out: TextIO) -> int:
    anchor = None
    if args.audit_command == "verify" and args.expect:
        try:
            anchor = parse_anchor(args.expect)
        except MalformedRecord:
            print("peerline: --expect takes SEQ:HASH as printed by verify", file=sys.stderr)
            return 2
    if args.audit_command == "tail" and not 1 <= args.n <= TAIL_MAX:
        print(f"peerline: -n is 1 to {TAIL_MAX}", file=sys.stderr)
        return 2
    try:
        settings = Settings.from_environ(env)
        where = "PEERLINE_REDIS_URL" if settings.redis_url else "the embedded Redis"
        # The log needs no data key: reading and checking it opens nothing sealed.
        with embedded.attached(settings, keys=False) as settings:
            assert settings.redis_url is not None  # attached() always gives one
            return asyncio.run(_run(args, settings.redis_url, settings.redis_prefix, anchor, out))
    except (ConfigError, embedded.EmbeddedError) as exc:
        print(f"peerline: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable:
        print(f"peerline: Redis does not answer at {where}", file=sys.stderr)
        return 2


async def _run(
    args: argparse.Namespace,
    url: str,
    prefix: str,
    anchor: tuple[int, str] | None,
    out: TextIO,
) -> int:
    redis = Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )
    try:
        audit = AuditLog(redis, prefix, time.time)  # the clock is unused: nothing is written
        if args.audit_command == "verify":
            result = await audit.verify(anchor)
            _print_verification(result, args.json, out)
            return 0 if result.ok else 1
        records = await audit.tail(args.n)
        for record in records:
            print(_json_line(record) if args.json else _text_line(record), file=out)
        return 0
    finally:
        await redis.aclose()


def _print_verification(result: Verification, as_json: bool, out: TextIO) -> None:
    if as_json:
        body = {
            "ok": result.ok,
            "count": result.count,
            "head": result.head,
            "bad_seq": result.bad_seq,
            "bad_id": result.bad_id,
            "why": result.why,
        }
        print(json.dumps(body), file=out)
    elif result.ok:
        # The count is the head's seq: keep both, for `--expect COUNT:HEAD` later.
        print(f"ok: {result.count} records, head {result.head}", file=out)
    else:
        where = f"seq {result.bad_seq}" if result.bad_seq is not None else "the head"
        if result.bad_id is not None:
            where += f" (stream id {result.bad_id})"
        print(
            f"FAILED: {result.why} at {where}; {result.count} records good before it",
            file=out,
        )


def _json_line(record: AuditRecord) -> str:
    return json.dumps(record.as_json(), ensure_ascii=False)


def _text_line(record: AuditRecord) -> str:
    when = datetime.fromtimestamp(record.at_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
    parts = [str(record.seq), when.replace("+00:00", "Z"), record.actor, record.action]
    parts.append(record.target)
    parts += [f"{k}={v}" for k, v in sorted(record.extra.items())]
    if record.reason:
        parts.append(f"reason: {_printable(record.reason)}")
    return "\t".join(parts)


def _printable(text: str) -> str:
    """Staff-typed text reaches an operator's terminal: escape control and format
    characters (escape sequences, bidi overrides) instead of letting them act."""
    return "".join(
        f"\\u{ord(c):04x}" if unicodedata.category(c).startswith("C") else c for c in text
    )
