"""The storage and fan-out contract, kept by the Redis store (server/store/redis.py).

A store only ever sees ciphertext for content. It owns: participant sessions, room history
(append with per-author nonce dedup, ranged reads for resume, trimming by age), room fan-out
across server processes (subscribe per room, deliver to one listener per process), presence
counts, erasure, reports, small abuse counters and the staff login limits. The contract
suite (tests/store/test_contract.py) holds RedisStore to it; without PEERLINE_REDIS_URL the
Redis is a private one of `peerline serve` (server/store/embedded.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from server.core.events import ControlEvent
from server.core.login_limits import LoginLimits, Refusal
from server.core.ratelimit import Rate

HISTORY_LATEST = 50  # PROTOCOL.md: a join without `since` returns the latest 50 messages
HISTORY_PAGE = 200  # PROTOCOL.md: a join with `since` returns at most 200, then `more`
DEDUP_SECONDS = 86_400  # PROTOCOL.md: nonces are remembered at least 24 h per participant
PRESENCE_TTL_MS = 90_000  # a crashed process's members drop out of counts within 90 s


class StoreUnavailable(Exception):
    """The backing store did not answer; nothing was applied that the caller can rely on."""


class RateLimited(Exception):
    """The author sent faster than its rate, counted across every socket and process;
    nothing was stored."""

    def __init__(self, retry_after_seconds: float) -> None:
        super().__init__(f"retry after {retry_after_seconds:.1f} s")
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True, slots=True)
class StoredMessage:
    room: str
    id: str
    key_id: str
    blob: bytes


@dataclass(frozen=True, slots=True)
class Session:
    pid: str
    name: str
    consent_version: str
    invites: frozenset[str]


@dataclass(frozen=True, slots=True)
class AppendResult:
    id: str
    created: bool


@dataclass(frozen=True, slots=True)
class History:
    messages: list[StoredMessage]
    more: bool
    reset: bool


@dataclass(frozen=True, slots=True)
class Erasure:
    pid: str
    ids_by_room: dict[str, list[str]]


# Sealing depends on the message id (it is bound into the associated data), and the id is
# only final inside the store, so append takes a function from id to (key id, blob).
Sealer = Callable[[str], tuple[str, bytes]]


class Listener(Protocol):
    """What a store calls when something arrives for a subscribed room or the process."""

    def on_message(self, message: StoredMessage) -> None: ...

    def on_signal(self, room: str, skip: str, frame: str) -> None: ...

    def on_erased(self, erasure: Erasure) -> None: ...

    def on_control(self, event: ControlEvent) -> None:
        """A process-wide event (staff and support: queue changed, a frame for a person,
        sockets to close); see server/ws/hub.py for the kinds."""
        ...


class Store(Protocol):
    async def start(self, listener: Listener) -> None: ...

    async def aclose(self) -> None: ...

    async def ping(self) -> bool: ...

    def describe(self) -> str: ...

    # Sessions
    async def create_session(self, digest: str, session: Session, ttl_seconds: float) -> None: ...

    async def get_session(self, digest: str, ttl_seconds: float) -> Session | None: ...

    async def add_invite(self, digest: str, room: str) -> None: ...

    # Rooms
    async def subscribe(self, room: str) -> None: ...

    async def unsubscribe(self, room: str) -> None: ...

    async def append(
        self,
        room: str,
        author: str,
        nonce: str,
        seal: Sealer,
        retention_seconds: float,
        rate: Rate | None = None,
    ) -> AppendResult:
        """Stores one message, unless `nonce` was seen (the first id comes back) or, with
        `rate`, the author is over it (RateLimited; a resent duplicate is never limited)."""
        ...

    async def remove(self, room: str, message_id: str) -> bool:
        """Removes one message (a moderator's decision); every process tells the room's
        sockets. False when it was not there."""
        ...

    async def history(self, room: str, since: str | None) -> History: ...

    async def message(self, room: str, message_id: str) -> StoredMessage | None: ...

    async def publish_signal(self, room: str, skip: str, frame: str) -> None: ...

    async def publish_control(self, event: ControlEvent) -> None:
        """Deliver `event` to the listener of every server process (this one included)."""
        ...

    async def presence(self, room: str, member: str, here: bool) -> int: ...

    async def refresh_presence(self, entries: list[tuple[str, str]]) -> None: ...

    async def trim(self, room: str, min_id: str) -> int: ...

    async def trim_reports(self, min_id: str) -> int: ...

    # Participants
    async def erase(self, digest: str, pid: str) -> Erasure: ...

    async def end_session(self, digest: str, pid: str) -> None: ...

    async def add_report(self, fields: dict[str, str | bytes]) -> str: ...

    async def count_recent(self, key: str, window_seconds: int) -> int: ...

    async def shared_key(self, name: str, ttl_seconds: int) -> bytes:
        """A random 32-byte key that every process on this store shares, made by whichever
        asks first and gone for good after `ttl_seconds` (a key kept nowhere else)."""
        ...

    # Staff login limits (server/core/login_limits.py), across processes
    async def reserve_login(
        self, username: str, address: str, limits: LoginLimits
    ) -> tuple[Refusal | None, float]:
        """(None, 0) when a login attempt of `username` from `address` (a keyed hash) may go
        ahead, counted as a failure until `login_succeeded`; else which limit refused it and
        the seconds to wait. One atomic step (login_limits.decide)."""
        ...

    async def login_succeeded(self, username: str, address: str) -> None:
        """Takes back the failure `reserve_login` counted in advance, and the pair's earlier
        ones (login_limits.succeeded)."""
        ...

    async def login_not_tried(self, username: str, address: str, limits: LoginLimits) -> None:
        """Takes back the failure `reserve_login` counted for an attempt that was never
        checked (login_limits.not_tried)."""
        ...


def next_id(last: tuple[int, int] | None, now_ms: int) -> tuple[int, int]:
    """The smallest stream id above `last` that is not behind the clock."""
    if last is None or now_ms > last[0]:
        return (now_ms, 0)
    return (last[0], last[1] + 1)


def format_id(value: tuple[int, int]) -> str:
    return f"{value[0]}-{value[1]}"


def parse_id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


def pid_of_member(member: str) -> str:
    return member.partition("|")[0]
