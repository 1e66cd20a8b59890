"""One WebSocket's outgoing side: a bounded outbox, one writer task, ordered room delivery.

Fan-out never awaits a socket: `send` only appends to the outbox, and a reader too slow to
keep it under its caps is closed with 4001 so it reconnects and resumes from the stream
(SECURITY.md R6). Per room, a connection keeps the id of the last message it was given, so
overlaps between history, live pub/sub and replays reach the person exactly once, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from server.core.people import Person
from server.core.protocol import CloseCode

log = logging.getLogger(__name__)

OUTBOX_MAX_FRAMES = 256  # R6: a socket this far behind is not reading
# R6: about 1 MiB of unsent frames per socket. Counted in characters, which is bytes for the
# ASCII-heavy JSON we send (and at most 4 MiB of UTF-8), to spare an encode per frame.
OUTBOX_MAX_CHARS = 1 << 20
SEND_TIMEOUT_SECONDS = 10.0  # R6: frames that cannot be written in 10 s mean a dead peer
# Frames the writer takes from the outbox at once; the stall clock restarts for each batch.
# 64 frames of a few hundred bytes in 10 s is far slower than any phone that reads at all.
WRITE_BATCH_FRAMES = 64


class Socket(Protocol):
    def send_text(self, data: str) -> Awaitable[None]: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


@dataclass(slots=True)
class RoomView:
    """What one connection has been shown of one room."""

    cursor: tuple[int, int] = (0, 0)
    # While a join is reading history, live messages wait here instead of racing ahead.
    buffer: list[tuple[tuple[int, int], str]] | None = field(default_factory=list)
    # False after a history page with `more`: the client must page on before live delivery,
    # or its resume cursor would jump past what it has not seen.
    live: bool = True
    last_typing: float = -1e9
    # A direct room that ended: still readable on this socket, but nobody may write.
    closed: bool = False


class Connection:
    def __init__(
        self,
        conn_id: str,
        person: Person,
        socket: Socket,
        on_closed: Callable[[Connection], Awaitable[None]] | None = None,
    ) -> None:
        self.id = conn_id
        self.person = person
        self.rooms: dict[str, RoomView] = {}
        self._socket = socket
        # A list and a bare future, not a deque and an Event: an empty deque is 624 bytes
        # and an Event holds another, so each idle socket costs about 1 KiB less.
        self._outbox: list[str] = []
        self._outbox_chars = 0
        self._waiter: asyncio.Future[None] | None = None  # the writer, waiting for frames
        self._held: list[tuple[str, tuple[int, int], str]] | None = None
        self.closed = False
        self.close_code: int | None = None
        # Epoch ms until which a moderator paused this person's messages.
        self.muted_until = 0
        self._closing: tuple[int, str] | None = None
        self._writer: asyncio.Task[None] | None = None
        # Loop time the current batch began writing (0: not writing). A timer per frame or
        # batch (asyncio.timeout, wait_for) cost 7-10% of a busy process in
        # bench/profile.py; one sweep a second over all sockets (Hub.close_stalled) is free.
        self.writing_since = 0.0
        self._closer: asyncio.Task[None] | None = None

    @property
    def outbox_chars(self) -> int:
        """Characters queued and not yet written."""
        return self._outbox_chars

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name="ws-writer")

    # ---- outgoing ---------------------------------------------------------------------------

    def send(self, text: str) -> None:
        if self.closed:
            return
        self._outbox.append(text)
        self._outbox_chars += len(text)
        if len(self._outbox) > OUTBOX_MAX_FRAMES or self._outbox_chars > OUTBOX_MAX_CHARS:
            self.close(CloseCode.TOO_SLOW, "too slow")
            return
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def close(self, code: int, reason: str = "", *, flush: bool = False) -> None:
        """Close without blocking; safe from fan-out. With `flush`, frames already queued
        (an error explaining the close, say) are written first; otherwise they are dropped,
        which is what a reader too slow to take them needs."""
        if self.closed or self._closing is not None:
            return
        if flush:
            self._closing = (code, reason)
            self._wake()
            return
        self.closed = True
        self.close_code = code
        self._outbox.clear()
        self._outbox_chars = 0
        self._closer = asyncio.get_running_loop().create_task(self._close_socket(code, reason))
        self._wake()

    async def _close_socket(self, code: int, reason: str) -> None:
        # No deadline of our own: a close frame waits behind what the transport still holds,
        # and giving up on it left a reader that resumed later with an open socket that no
        # longer carried anything (it never learnt it was closed). A peer that never reads
        # again misses the transport's heartbeat pongs and is cut off by that.
        with contextlib.suppress(Exception):
            await self._socket.close(code, reason)

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        send = self._socket.send_text
        while not self.closed:
            outbox = self._outbox
            if not outbox:
                if self._closing is not None:  # everything queued before the close is out
                    code, reason = self._closing
                    self._closing = None
                    self.close(code, reason)
                    return
                self._waiter = loop.create_future()
                await self._waiter
                continue
            if len(outbox) <= WRITE_BATCH_FRAMES:
                batch, self._outbox = outbox, []
            else:
                batch = outbox[:WRITE_BATCH_FRAMES]
                del outbox[:WRITE_BATCH_FRAMES]
            self.writing_since = loop.time()
            try:
                for text in batch:
                    # mypy keeps the loop's narrowing across the await; close() runs
                    # meanwhile, and then the rest of the batch must not go out.
                    if self.closed:
                        break  # type: ignore[unreachable]
                    self._outbox_chars -= len(text)
                    await send(text)
            except Exception:  # the peer went away; the reader side will notice
                self.closed = True
                return
            finally:
                self.writing_since = 0.0

    def stalled(self, now: float) -> bool:
        """True once a batch has been writing for longer than the send timeout; then the
        socket is closed with 4001 and its writer stopped (it may never wake by itself)."""
        if not self.writing_since or now - self.writing_since < SEND_TIMEOUT_SECONDS:
            return False
        self.writing_since = 0.0
        self.close(CloseCode.TOO_SLOW, "too slow")
        if self._writer is not None:
            self._writer.cancel()
        return True

    async def wait_closed(self) -> None:
        """Wait until the writer finished and the close frame went out."""
        if self._writer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        if self._closer is not None:
            await self._closer

    async def drain_and_stop(self) -> None:
        """Stop the writer; a close already begun is finished first, so the peer gets its
        close code instead of a dropped connection (1006)."""
        if self._closer is not None:
            with contextlib.suppress(Exception):
                await self._closer
        if self._writer is not None:
            self.closed = True
            self._wake()
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    # ---- room delivery ----------------------------------------------------------------------

    def deliver(self, room: str, position: tuple[int, int], text: str) -> None:
        """A stored message for `room`, already encoded. Keeps exactly-once, in order."""
        if self._held is not None:
            self._held.append((room, position, text))
            return
        view = self.rooms.get(room)
        if view is None or not view.live:
            return
        if view.buffer is not None:
            view.buffer.append((position, text))
            return
        if position > view.cursor:
            view.cursor = position
            self.send(text)

    def hold(self) -> None:
        """While this socket's own `say` is in flight, its `ack` must come before its message."""
        self._held = []

    def release(self) -> None:
        held, self._held = self._held, None
        for room, position, text in held or ():
            self.deliver(room, position, text)

    def begin_join(self, room: str) -> RoomView:
        view = RoomView()
        self.rooms[room] = view
        return view

    def finish_join(self, room: str, cursor: tuple[int, int], live: bool) -> None:
        view = self.rooms.get(room)
        if view is None:
            return
        buffered, view.buffer = view.buffer or [], None
        view.cursor = cursor
        view.live = live
        for position, text in buffered:
            self.deliver(room, position, text)
