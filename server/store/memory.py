"""The embedded store: the whole Store contract in this process's memory.

For `peerline serve` with no Redis: one process, nothing kept across restarts (the first log
line says so). It follows the Redis store's rules exactly (ids, dedup, trimming, reset) so
the same contract suite passes on both.
"""

from __future__ import annotations

import asyncio
import bisect
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from server.core.events import ControlEvent, Removed
from server.core.login_limits import (
    FAILURE_WINDOW_SECONDS,
    Failures,
    LoginLimits,
    Refusal,
    decide,
    not_tried,
    succeeded,
)
from server.core.ratelimit import Rate, gcra
from server.store import (
    DEDUP_SECONDS,
    HISTORY_LATEST,
    HISTORY_PAGE,
    PRESENCE_TTL_MS,
    AppendResult,
    Erasure,
    History,
    Listener,
    RateLimited,
    Sealer,
    Session,
    StoredMessage,
    format_id,
    next_id,
    parse_id,
    pid_of_member,
)

PACE_PRUNE_MIN = 1_024  # authors' paces kept before the first sweep of stale ones
LOGIN_PRUNE_MIN = 1_024  # login counters kept before the first sweep of expired ones


@dataclass
class _Room:
    ids: list[tuple[int, int]] = field(default_factory=list)
    entries: dict[tuple[int, int], tuple[str, bytes]] = field(default_factory=dict)
    last: tuple[int, int] | None = None
    floor: tuple[int, int] | None = None
    expires: float = 0.0
    here: dict[str, float] = field(default_factory=dict)


class MemoryStore:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._listener: Listener | None = None
        self._sessions: dict[str, tuple[Session, float]] = {}
        self._rooms: dict[str, _Room] = {}
        self._subscribed: set[str] = set()
        self._dedup: dict[str, tuple[dict[str, str], float]] = {}
        self._pace: dict[str, int] = {}  # author -> GCRA arrival time, ms (server.core.ratelimit)
        self._pace_prune_at = PACE_PRUNE_MIN
        self._authored: dict[str, list[tuple[str, str]]] = {}
        self._reports: list[tuple[tuple[int, int], dict[str, str | bytes]]] = []
        self._keys: dict[str, tuple[bytes, float]] = {}
        self._counters: dict[str, tuple[int, float]] = {}
        # Staff login limits (server/core/login_limits.py): the address's GCRA arrival time (ms),
        # and failure counts with their expiry (epoch s), as the Redis keys hold them.
        self._login_pace: dict[str, int] = {}
        self._login_failures: dict[str, tuple[Failures, float]] = {}
        self._login_prune_at = LOGIN_PRUNE_MIN

    def describe(self) -> str:
        return "embedded in-process store"

    async def start(self, listener: Listener) -> None:
        self._listener = listener

    async def aclose(self) -> None:
        self._listener = None

    async def ping(self) -> bool:
        return True

    def _room(self, room: str) -> _Room:
        state = self._rooms.get(room)
        if state is None:
            state = self._rooms[room] = _Room()
        elif state.ids and state.expires <= self._clock():
            # Like the Redis stream's TTL: the content goes, the ids keep rising, and the
            # people in the room stay counted.
            state.ids.clear()
            state.entries.clear()
        return state

    async def create_session(self, digest: str, session: Session, ttl_seconds: float) -> None:
        self._sessions[digest] = (session, self._clock() + ttl_seconds)

    async def get_session(self, digest: str, ttl_seconds: float) -> Session | None:
        found = self._sessions.get(digest)
        now = self._clock()
        if found is None or found[1] <= now:
            self._sessions.pop(digest, None)
            return None
        self._sessions[digest] = (found[0], now + ttl_seconds)
        return found[0]

    async def add_invite(self, digest: str, room: str) -> None:
        found = self._sessions.get(digest)
        if found is not None:
            session = found[0]
            updated = Session(
                session.pid, session.name, session.consent_version, session.invites | {room}
            )
            self._sessions[digest] = (updated, found[1])

    async def subscribe(self, room: str) -> None:
        self._subscribed.add(room)

    async def unsubscribe(self, room: str) -> None:
        self._subscribed.discard(room)

    async def append(
        self,
        room: str,
        author: str,
        nonce: str,
        seal: Sealer,
        retention_seconds: float,
        rate: Rate | None = None,
    ) -> AppendResult:
        now = self._clock()
        dedup, dedup_expiry = self._dedup.get(author, ({}, 0.0))
        if dedup_expiry <= now:
            dedup = {}
        nonce = f"{room} {nonce}"  # a nonce names one message in one room
        prior = dedup.get(nonce)
        if prior is not None:
            return AppendResult(prior, created=False)
        if rate is not None:
            now_ms = int(now * 1000)
            allowed, tat, wait_ms = gcra(self._pace.get(author, 0), now_ms, rate)
            if not allowed:
                raise RateLimited(wait_ms / 1000)
            self._pace[author] = tat
            if len(self._pace) > self._pace_prune_at:
                # A pace in the past limits nothing: forget it, so idle authors cost nothing.
                self._pace = {a: t for a, t in self._pace.items() if t > now_ms}
                self._pace_prune_at = max(PACE_PRUNE_MIN, 2 * len(self._pace))
        state = self._room(room)
        new = next_id(state.last, int(now * 1000))
        message_id = format_id(new)
        key_id, blob = seal(message_id)
        state.ids.append(new)
        state.entries[new] = (key_id, blob)
        state.last = new
        state.expires = now + retention_seconds
        dedup[nonce] = message_id
        self._dedup[author] = (dedup, now + DEDUP_SECONDS)
        self._authored.setdefault(author, []).append((room, message_id))
        self._deliver_soon(StoredMessage(room, message_id, key_id, blob))
        return AppendResult(message_id, created=True)

    def _deliver_soon(self, message: StoredMessage) -> None:
        # Delivery is asynchronous in Redis too: the caller's ack must not depend on it.
        if message.room in self._subscribed and self._listener is not None:
            asyncio.get_running_loop().call_soon(self._listener.on_message, message)

    async def history(self, room: str, since: str | None) -> History:
        state = self._room(room)
        if since is not None:
            cursor = parse_id(since)
            behind_floor = state.floor is not None and cursor < state.floor
            ahead_of_store = cursor > (state.last or (0, 0))
            if not (behind_floor or ahead_of_store):
                start = bisect.bisect_right(state.ids, cursor)
                page = state.ids[start : start + HISTORY_PAGE + 1]
                more = len(page) > HISTORY_PAGE
                return History(
                    [self._stored(room, i, state) for i in page[:HISTORY_PAGE]], more, False
                )
        latest = state.ids[-HISTORY_LATEST:]
        return History([self._stored(room, i, state) for i in latest], False, since is not None)

    @staticmethod
    def _stored(room: str, message_id: tuple[int, int], state: _Room) -> StoredMessage:
        key_id, blob = state.entries[message_id]
        return StoredMessage(room, format_id(message_id), key_id, blob)

    async def message(self, room: str, message_id: str) -> StoredMessage | None:
        state = self._room(room)
        wanted = parse_id(message_id)
        if wanted not in state.entries:
            return None
        return self._stored(room, wanted, state)

    async def remove(self, room: str, message_id: str) -> bool:
        state = self._room(room)
        key = parse_id(message_id)
        if key not in state.entries:
            return False
        del state.entries[key]
        state.ids.remove(key)
        await self.publish_control(Removed(room, [message_id]))
        return True

    async def publish_control(self, event: ControlEvent) -> None:
        if self._listener is not None:
            asyncio.get_running_loop().call_soon(self._listener.on_control, event)

    async def publish_signal(self, room: str, skip: str, frame: str) -> None:
        if room in self._subscribed and self._listener is not None:
            asyncio.get_running_loop().call_soon(self._listener.on_signal, room, skip, frame)

    async def presence(self, room: str, member: str, here: bool) -> int:
        state = self._room(room)
        now_ms = self._clock() * 1000
        before = self._count(state, now_ms)
        if here:
            state.here[member] = now_ms + PRESENCE_TTL_MS
        else:
            state.here.pop(member, None)
        after = self._count(state, now_ms)
        if after != before:
            frame = f'{{"type":"presence","room":"{room}","count":{after}}}'
            await self.publish_signal(room, member.partition("|")[2], frame)
        return after

    @staticmethod
    def _count(state: _Room, now_ms: float) -> int:
        for member in [m for m, expiry in state.here.items() if expiry <= now_ms]:
            del state.here[member]
        return len({pid_of_member(m) for m in state.here})

    async def refresh_presence(self, entries: list[tuple[str, str]]) -> None:
        expiry = self._clock() * 1000 + PRESENCE_TTL_MS
        for room, member in entries:
            self._room(room).here[member] = expiry

    async def trim(self, room: str, min_id: str) -> int:
        state = self._room(room)
        floor = parse_id(min_id)
        cut = bisect.bisect_left(state.ids, floor)
        for old in state.ids[:cut]:
            del state.entries[old]
        del state.ids[:cut]
        state.floor = max(floor, state.floor) if state.floor else floor
        return cut

    async def erase(self, digest: str, pid: str) -> Erasure:
        ids_by_room: dict[str, list[str]] = {}
        for room, message_id in self._authored.pop(pid, []):
            state = self._room(room)
            key = parse_id(message_id)
            if key in state.entries:
                del state.entries[key]
                state.ids.remove(key)
                ids_by_room.setdefault(room, []).append(message_id)
        self._dedup.pop(pid, None)
        self._sessions.pop(digest, None)
        for state in self._rooms.values():
            for member in [m for m in state.here if pid_of_member(m) == pid]:
                del state.here[member]
        erasure = Erasure(pid, ids_by_room)
        if self._listener is not None:
            asyncio.get_running_loop().call_soon(self._listener.on_erased, erasure)
        return erasure

    async def end_session(self, digest: str, pid: str) -> None:
        self._sessions.pop(digest, None)
        if self._listener is not None:
            asyncio.get_running_loop().call_soon(self._listener.on_erased, Erasure(pid, {}))

    async def add_report(self, fields: dict[str, str | bytes]) -> str:
        last = self._reports[-1][0] if self._reports else None
        report_id = next_id(last, int(self._clock() * 1000))
        self._reports.append((report_id, dict(fields)))
        return format_id(report_id)

    async def trim_reports(self, min_id: str) -> int:
        floor = parse_id(min_id)
        kept = [(i, r) for i, r in self._reports if i >= floor]
        trimmed = len(self._reports) - len(kept)
        self._reports = kept
        return trimmed

    async def count_recent(self, key: str, window_seconds: int) -> int:
        now = self._clock()
        count, expiry = self._counters.get(key, (0, 0.0))
        if expiry <= now:
            count, expiry = 0, now + window_seconds
        self._counters[key] = (count + 1, expiry)
        return count + 1

    async def shared_key(self, name: str, ttl_seconds: int) -> bytes:
        now = self._clock()
        key, expiry = self._keys.get(name, (b"", 0.0))
        if expiry <= now:
            key, expiry = secrets.token_bytes(32), now + ttl_seconds
            self._keys[name] = (key, expiry)
        return key

    async def reserve_login(
        self, username: str, address: str, limits: LoginLimits
    ) -> tuple[Refusal | None, float]:
        now = self._clock()
        self._prune_logins(now)
        pair_key, name_key = _pair_key(username, address), _name_key(username)
        verdict = decide(
            self._login_pace.get(address, 0),
            self._failures(pair_key, now),
            self._failures(name_key, now),
            now,
            limits,
        )
        self._login_pace[address] = verdict.address_tat_ms
        if verdict.refusal is None:
            expiry = now + FAILURE_WINDOW_SECONDS
            self._login_failures[pair_key] = (verdict.pair, expiry)
            self._login_failures[name_key] = (verdict.name, expiry)
        return verdict.refusal, verdict.wait_seconds

    async def login_succeeded(self, username: str, address: str) -> None:
        now = self._clock()
        pair_key, name_key = _pair_key(username, address), _name_key(username)
        _, name = succeeded(self._failures(pair_key, now), self._failures(name_key, now))
        self._login_failures.pop(pair_key, None)
        if name_key in self._login_failures:
            self._login_failures[name_key] = (name, self._login_failures[name_key][1])

    async def login_not_tried(self, username: str, address: str, limits: LoginLimits) -> None:
        now = self._clock()
        pair_key, name_key = _pair_key(username, address), _name_key(username)
        pair, name = not_tried(
            self._failures(pair_key, now), self._failures(name_key, now), now, limits
        )
        for key, failures in ((pair_key, pair), (name_key, name)):
            if key in self._login_failures:
                self._login_failures[key] = (failures, self._login_failures[key][1])

    def _failures(self, key: str, now: float) -> Failures:
        found = self._login_failures.get(key)
        return found[0] if found and found[1] > now else Failures()

    def _prune_logins(self, now: float) -> None:
        if len(self._login_failures) + len(self._login_pace) < self._login_prune_at:
            return
        now_ms = int(now * 1000)
        self._login_pace = {k: t for k, t in self._login_pace.items() if t > now_ms}
        self._login_failures = {k: v for k, v in self._login_failures.items() if v[1] > now}
        size = len(self._login_failures) + len(self._login_pace)
        self._login_prune_at = max(LOGIN_PRUNE_MIN, 2 * size)

    def dump_values(self) -> list[bytes]:
        """Every stored byte string, for the tests that look for plaintext at rest."""
        out: list[bytes] = []
        for state in self._rooms.values():
            for key_id, blob in state.entries.values():
                out += [key_id.encode(), blob]
        for session, _ in self._sessions.values():
            out += [session.pid.encode(), session.name.encode()]
        for _, report in self._reports:
            out += [v if isinstance(v, bytes) else v.encode() for v in report.values()]
        return out


def _name_key(username: str) -> str:
    return "n:" + username


def _pair_key(username: str, address: str) -> str:
    return f"p:{address}:{username}"
