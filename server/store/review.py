"""What moderators review, in Redis: flagged messages, held alerts, reports, their status,
mutes, bans, and the lexicon changes moderators made.

Keys (P = prefix):
- `P flags` stream: kind (`flag`, `held` or `topic`), room, msg, label, cat, k/d (the
  evidence phrases as sealed JSON, associated data `flag`, room, message id). A `topic`
  (a support request's topic, issue 13) has room "", the ticket id as msg, pid (the
  person), and seals {"evidence", "topic"}. Trimmed with content.
- `P rf:<pid>` hash: label -> ms of the person's latest flagged message with that label;
  gone RECENT_FLAG_SECONDS after the last one (it lifts a ticket asked for soon after).
- `P reports` stream (written by the chat): room, message, k/d (the reason, sealed).
- `P rv` hash: item id -> JSON {status, by (staff id), at (ms)}. Item ids are `f-<stream id>`
  for flags and held alerts, `r-<stream id>` for reports.
- `P mute:<pid>` -> until ms (expires then); `P ban:<pid>` (expires with content retention).
- `P lex` stream: lexicon changes in order: op (`add` or `retire`), entry (JSON) or id, by.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from redis.asyncio import Redis

from server.core.triage import RECENT_FLAG_SECONDS
from server.store import StoredMessage, format_id, parse_id
from server.store.keys import KeySpace
from server.store.redis import call

ITEMS_SHOWN = 500  # per stream: the review list is for what is current, not an archive


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    kind: str  # flag, held, topic or report
    room: str
    message: str
    label: str
    category: str
    ts: int
    key_id: str
    blob: bytes  # sealed evidence (flags) or reason (reports)
    status: str = "open"
    by: str = ""
    at: int = 0
    pid: str = ""  # topics only: whose request it was


class ReviewStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._r = redis
        self._k = KeySpace(prefix)

    def _stream(self, room: str) -> str:
        return self._k.room_stream(room)

    async def add_flag(
        self,
        kind: str,
        room: str,
        message: str,
        label: str,
        category: str,
        sealed: tuple[str, bytes],
        pid: str = "",
    ) -> str:
        fields = {
            "kind": kind,
            "room": room,
            "msg": message,
            "label": label,
            "cat": category,
            "k": sealed[0],
            "d": sealed[1],
        }
        if pid:
            fields["pid"] = pid
        stream_id = await call(self._r.xadd(self._k.flags, fields))  # type: ignore[arg-type]
        return "f-" + str(stream_id.decode())

    def _done(self, room: str, message: str) -> str:
        return self._k.flag(room, message)

    async def flag_done(self, room: str, message: str) -> bool:
        return bool(await call(self._r.exists(self._done(room, message))))

    async def mark_flag_done(self, room: str, message: str, ttl_seconds: float) -> None:
        await call(self._r.set(self._done(room, message), "1", ex=max(1, int(ttl_seconds))))

    async def items(self) -> list[Item]:
        pipe = self._r.pipeline(transaction=False)
        pipe.xrevrange(self._k.flags, count=ITEMS_SHOWN)
        pipe.xrevrange(self._k.reports, count=ITEMS_SHOWN)
        pipe.hgetall(self._k.reviewed)
        flags, reports, statuses = await call(pipe.execute())
        found = [_flag(sid, f) for sid, f in flags] + [_report(sid, f) for sid, f in reports]
        return [_with_status(item, statuses) for item in found]

    async def item(self, item_id: str) -> Item | None:
        prefix, _, stream_id = item_id.partition("-")
        stream = {"f": self._k.flags, "r": self._k.reports}.get(prefix)
        if stream is None or not stream_id:
            return None
        try:
            parse_id(stream_id)
        except ValueError:
            return None
        pipe = self._r.pipeline(transaction=False)
        pipe.xrange(stream, stream_id, stream_id)
        pipe.hget(self._k.reviewed, item_id)
        entries, status = await call(pipe.execute())
        if not entries:
            return None
        sid, fields = entries[0]
        item = _flag(sid, fields) if prefix == "f" else _report(sid, fields)
        return _with_status(item, {item_id.encode(): status} if status else {})

    async def set_status(self, item_id: str, status: str, by: str, at_ms: int) -> None:
        value = json.dumps({"status": status, "by": by, "at": at_ms})
        await call(self._r.hset(self._k.reviewed, item_id, value))

    async def around(
        self, room: str, message: str, count: int
    ) -> tuple[list[StoredMessage], StoredMessage | None, list[StoredMessage]]:
        """Up to `count` messages before and after `message` in its room, and it."""
        stream = self._stream(room)
        ms, seq = parse_id(message)
        before_end = format_id((ms, seq - 1)) if seq else format_id((ms - 1, 2**63 - 1))
        pipe = self._r.pipeline(transaction=False)
        pipe.xrevrange(stream, before_end, "-", count=count)
        pipe.xrange(stream, message, message)
        pipe.xrange(stream, f"({message}", "+", count=count)
        before, itself, after = await call(pipe.execute())

        def stored(entries: list[Any]) -> list[StoredMessage]:
            return [
                StoredMessage(room, sid.decode(), f[b"k"].decode(), f[b"d"]) for sid, f in entries
            ]

        found = stored(itself)
        return stored(list(reversed(before))), (found[0] if found else None), stored(after)

    async def forget_flags(self, erased: set[tuple[str, str]]) -> int:
        """Deletes the flags of erased messages ((room, message id) pairs)."""
        doomed = [
            sid
            for sid, f in await call(self._r.xrange(self._k.flags))
            if (f[b"room"].decode(), f[b"msg"].decode()) in erased
        ]
        if not doomed:
            return 0
        return int(await call(self._r.xdel(self._k.flags, *doomed)))

    async def trim_flags(self, min_id: str) -> int:
        """Flags quote sealed evidence: content, so content's retention applies."""
        trimmed = await call(self._r.xtrim(self._k.flags, minid=min_id, approximate=False))
        return int(trimmed)

    async def forget_topics(self, pid: str) -> list[str]:
        """An erasure: the person's topic flags and recent-flag times go; returns the
        tickets those topics were filed under (their alerts lose the excerpt too)."""
        entries = await call(self._r.xrange(self._k.flags))
        doomed = [(sid, f) for sid, f in entries if f.get(b"pid") == pid.encode()]
        pipe = self._r.pipeline(transaction=False)
        if doomed:
            pipe.xdel(self._k.flags, *[sid for sid, _ in doomed])
        pipe.delete(self._k.recent_flags(pid))
        await call(pipe.execute())
        return [f[b"msg"].decode() for _, f in doomed]

    # ---- recent flags of a person (a ticket's priority, issue 13) -------------------------

    async def note_flag(self, pid: str, label: str, now_ms: int) -> None:
        key = self._k.recent_flags(pid)
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(key, label, now_ms)
        pipe.expire(key, RECENT_FLAG_SECONDS)
        await call(pipe.execute())

    async def recent_flags(self, pid: str) -> dict[str, int]:
        found = await call(self._r.hgetall(self._k.recent_flags(pid)))
        return {k.decode(): int(v) for k, v in found.items()}

    # ---- sanctions ------------------------------------------------------------------------

    async def mute(self, pid: str, until_ms: int, now_ms: int) -> None:
        await call(self._r.set(self._k.mute(pid), until_ms, px=max(1, until_ms - now_ms)))

    async def muted_until(self, pid: str) -> int:
        found = await call(self._r.get(self._k.mute(pid)))
        return int(found) if found else 0

    async def ban(self, pid: str, ttl_seconds: float) -> None:
        await call(self._r.set(self._k.ban(pid), "1", ex=max(1, int(ttl_seconds))))

    async def banned(self, pid: str) -> bool:
        return bool(await call(self._r.exists(self._k.ban(pid))))

    # ---- lexicon changes ------------------------------------------------------------------

    async def add_lexicon_change(self, op: str, value: str, by: str) -> None:
        fields = {"op": op, "v": value, "by": by}
        await call(self._r.xadd(self._k.lexicon, fields))  # type: ignore[arg-type]

    async def lexicon_changes(self) -> list[tuple[str, str]]:
        entries = await call(self._r.xrange(self._k.lexicon))
        return [(f[b"op"].decode(), f[b"v"].decode()) for _, f in entries]


def _ts(stream_id: bytes) -> int:
    return int(stream_id.decode().partition("-")[0])


def _flag(sid: bytes, f: dict[bytes, bytes]) -> Item:
    return Item(
        id="f-" + sid.decode(),
        kind=f.get(b"kind", b"flag").decode(),
        room=f[b"room"].decode(),
        message=f[b"msg"].decode(),
        label=f.get(b"label", b"").decode(),
        category=f.get(b"cat", b"").decode(),
        ts=_ts(sid),
        key_id=f[b"k"].decode(),
        blob=f[b"d"],
        pid=f.get(b"pid", b"").decode(),
    )


def _report(sid: bytes, f: dict[bytes, bytes]) -> Item:
    return Item(
        id="r-" + sid.decode(),
        kind="report",
        room=f[b"room"].decode(),
        message=f[b"message"].decode(),
        label="",
        category="",
        ts=_ts(sid),
        key_id=f.get(b"k", b"").decode(),
        blob=f.get(b"d", b""),
    )


def _with_status(item: Item, statuses: dict[bytes, bytes]) -> Item:
    raw = statuses.get(item.id.encode())
    if not raw:
        return item
    status = json.loads(raw)
    return replace(item, status=status["status"], by=status["by"], at=int(status["at"]))
