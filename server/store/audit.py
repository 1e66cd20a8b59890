"""The append-only, hash-chained audit log of staff actions in Redis (SECURITY.md L1, T24).

Keys (P = prefix):
- `P audit`: a stream, one entry per record, every field a string (server/core/audit.py).
- `P audit:head`: "seq hash" of the newest record.

Appends from several server processes keep one chain: the record is computed here from the
head that was read, and one Lua script appends it only if the head is still that value,
moving the head in the same step (compare-and-set); a process that lost the race reads the
new head and tries again. In the script the XADD comes before the SET, so a failed XADD
leaves nothing behind (MULTI/EXEC would still apply the SET).

Retention is the operator's: the app never trims the stream and gives it no TTL. L1 asks
for 6 years and for a copy shipped off the host; the head printed by `peerline audit
verify`, written down elsewhere, is what makes a cut-off tail detectable.

`record` returns only once Redis has the record, so a caller that records before showing
content fails closed: no audit record, no access. A head that is unreadable, or missing
while records exist, is tampering: appends stop (StoreUnavailable) instead of starting a
second chain on top of the evidence.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from server.core.audit import (
    GENESIS,
    MALFORMED,
    AuditRecord,
    ChainChecker,
    MalformedRecord,
    Verification,
    format_head,
    make_record,
    parse_head,
)
from server.store import StoreUnavailable
from server.store.keys import KeySpace
from server.store.redis import call

log = logging.getLogger(__name__)

# Appends of one process are serialised by a lock, so only other processes race; a few
# busy processes settle in a handful of tries, so this many means something is wrong.
APPEND_RETRIES = 32
RETRY_BACKOFF_SECONDS = 0.002  # times the attempt, jittered: losers must not stay in step
RETRY_BACKOFF_CAP_SECONDS = 0.05
VERIFY_PAGE = 1_000  # entries per XRANGE: bounded replies on a log that grows for years
TAIL_MAX = 1_000  # the most `tail` returns: it is for reading, `verify` reads everything

# KEYS: stream, head. ARGV: the head the record was computed from ('' for none), the new
# head, then the entry's field/value pairs. Returns the stream id, nil when the head moved
# (another process appended first), or 0 when the head is gone but records are not.
APPEND_LUA = """
local head = redis.call('GET', KEYS[2]) or ''
if head ~= ARGV[1] then return false end
if head == '' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
redis.call('SET', KEYS[2], ARGV[2])
return id
"""


class AuditLog:
    def __init__(self, redis: Redis, prefix: str, clock: Callable[[], float]) -> None:
        self._r = redis
        self._stream = KeySpace(prefix).audit
        self._head = KeySpace(prefix).audit_head
        self._clock = clock  # seconds since the epoch, UTC (time.time)
        self._append = redis.register_script(APPEND_LUA)
        self._lock = asyncio.Lock()

    async def record(
        self, actor: str, action: str, target: str, reason: str = "", **extra: str
    ) -> AuditRecord:
        """Append one record; raises AuditFieldError (a bug in the caller) or
        StoreUnavailable (Redis down, or the chain too contended to append)."""
        async with self._lock:
            for attempt in range(APPEND_RETRIES):
                raw = await call(self._r.get(self._head))
                try:
                    expected = _text(raw) if raw is not None else ""
                    prev_seq, prev_hash = parse_head(expected) if expected else (0, GENESIS)
                except MalformedRecord:
                    # Only tampering gets here; appending on top would bury the evidence.
                    log.error("audit head is not 'seq hash'; run peerline audit verify")
                    raise StoreUnavailable("audit head unreadable") from None
                at_ms = int(self._clock() * 1000)
                record = make_record(
                    prev_seq, prev_hash, at_ms, actor, action, target, reason, extra
                )
                args: list[str] = [expected, format_head(record.seq, record.hash)]
                for name, value in record.fields().items():
                    args += (name, value)
                stream_id = await call(self._append(keys=[self._stream, self._head], args=args))
                if stream_id == 0:
                    # A second chain from GENESIS would hide where the first one was cut.
                    log.error("audit head is missing but records exist; run peerline audit verify")
                    raise StoreUnavailable("audit head missing")
                if stream_id is not None:
                    return record
                delay = RETRY_BACKOFF_SECONDS * (attempt + 1) * random.random()
                await asyncio.sleep(min(RETRY_BACKOFF_CAP_SECONDS, delay))
        log.error("audit append gave up after %d tries", APPEND_RETRIES)
        raise StoreUnavailable("audit append contention")

    async def tail(self, n: int) -> list[AuditRecord]:
        """The newest n records (at most TAIL_MAX), oldest first. Entries that are not
        records are left out with a warning: `verify` is the tool that judges them."""
        n = max(0, min(n, TAIL_MAX))
        if n == 0:
            return []
        entries = await call(self._r.xrevrange(self._stream, "+", "-", count=n))
        records = []
        for entry_id, raw in reversed(entries or ()):
            try:
                records.append(AuditRecord.from_fields(_entry(raw)))
            except MalformedRecord:
                log.warning(
                    "audit entry %s is not a record; run peerline audit verify", _text(entry_id)
                )
        return records

    async def verify(self, anchor: tuple[int, str] | None = None) -> Verification:
        """Read the whole stream in pages and check every hash, link and seq, then the head.

        Each page and the head are read in one transaction, so the head compared at the
        end belongs to exactly the entries read: appends during a verify are not a false
        alarm. `anchor` is a (seq, hash) the operator wrote down off the host.
        """
        checker = ChainChecker(anchor=anchor)
        start = "-"
        while True:
            pipe = self._r.pipeline(transaction=True)
            pipe.xrange(self._stream, start, "+", count=VERIFY_PAGE)
            pipe.get(self._head)
            try:
                entries, head = await call(pipe.execute())
            except ResponseError:
                # WRONGTYPE: the key was replaced by something that is not a stream.
                return Verification(
                    False, checker.count, checker.last, checker.count + 1, None, MALFORMED
                )
            entries = entries or []
            for entry_id, raw in entries:
                try:
                    fields = _entry(raw)
                except MalformedRecord:
                    fields = {}  # not UTF-8: reported as malformed by the checker
                if not checker.feed(_text(entry_id), fields):
                    break
            if checker.failed or len(entries) < VERIFY_PAGE:
                try:
                    stored = _text(head) if head is not None else None
                except MalformedRecord:
                    stored = ""  # not UTF-8: a head that matches nothing
                return checker.finish(stored)
            start = "(" + _text(entries[-1][0])


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedRecord("not UTF-8") from None
    return str(value)


def _entry(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in raw.items()}
