"""The `/ws` endpoint: the upgrade (origin, limits, who is asking), then one read loop a
socket that hands each text frame to its Conversation (server/services/chat.py).

Staff sockets are re-checked every few seconds and participant sockets in one sweep; both
close when the session behind them ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from server.core.people import Person
from server.core.protocol import CloseCode, ErrorCode, error_frame
from server.services.chat import Context, Conversation
from server.store import StoreUnavailable
from server.store.review import ReviewStore
from server.web.console import StaffWeb
from server.web.http import error
from server.web.participant import PARTICIPANT_SESSION_SECONDS, Web
from server.ws.connection import Connection

MAX_SOCKETS_PER_PERSON = 3  # W6
SESSION_RECHECK_SECONDS = 30 * 60  # W7: sockets re-validate their session every 30 min
# Staff sockets re-check far more often: T13 wants them closed within 5 s of the idle or
# absolute limit, and there are few of them.
STAFF_RECHECK_SECONDS = 5.0
CLOSE_TOO_MANY_SOCKETS = 4003  # retry range: the person may close another tab and come back
UPGRADE_WINDOW_SECONDS = 60
# The page reconnects with backoff from 0.5 s, doubling: a flaky phone with three tabs makes
# a handful a minute; a script that reconnects to refill its limits makes thousands.
UPGRADES_PER_SESSION_PER_MINUTE = 30


class SocketsFirst:
    """The outermost ASGI app: `/ws` goes straight to its handler, the rest to Starlette.

    Starlette's routing and middleware wrap a WebSocket in about ten coroutines and closures
    that live as long as the socket does, and wrap every outgoing frame twice more. Skipping
    them for the one socket route saves about 3 KiB per idle socket (tracemalloc, 2,000
    sockets) and the 5% of a busy process that the wrappers took (bench/profile.py). The
    handler still gets a Starlette WebSocket for the handshake, cookies, receive and close;
    chat frames go to the server's own `send`.
    """

    def __init__(
        self,
        app: ASGIApp,
        path: str,
        handler: Callable[[WebSocket, Send], Awaitable[None]],
    ) -> None:
        self.app = app
        self.path = path
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == self.path:
            scope["app"] = self.app
            await self.handler(WebSocket(scope, receive, send), send)
            return
        await self.app(scope, receive, send)


class RawSocket:
    """The `Socket` a Connection writes to: text frames by the raw send, close by Starlette."""

    __slots__ = ("_send", "_ws")

    def __init__(self, ws: WebSocket, send: Send) -> None:
        self._ws = ws
        self._send = send

    def send_text(self, data: str) -> Awaitable[None]:
        return self._send({"type": "websocket.send", "text": data})

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        await self._ws.close(code, reason)


async def deny(ws: WebSocket, detail: str) -> None:
    """Refuses an upgrade with 429 `rate_limited` where the server can answer an upgrade
    with HTTP (uvicorn can); elsewhere with a close before accept, which is a 403."""
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        headers = {"Retry-After": str(UPGRADE_WINDOW_SECONDS)}
        await ws.send_denial_response(error(429, "rate_limited", detail, headers))
    else:
        await ws.close(CloseCode.POLICY)


@dataclass
class SocketEndpoint:
    ctx: Context
    web: Web
    staff: StaffWeb
    review: ReviewStore

    async def websocket(self, ws: WebSocket, send: Send) -> None:
        if not self.web.origin_allowed(ws):
            await ws.close(CloseCode.POLICY)  # before accept: the client sees HTTP 403
            return
        # The console asks for its staff session explicitly, so a browser holding both
        # cookies still opens the participant page as a participant.
        as_staff = ws.query_params.get("as") == "staff"
        invites: frozenset[str] = frozenset()
        try:
            address = await self.web.address_digest(ws)
            if await self._over(
                f"up:a:{address}", self.ctx.settings.upgrades_per_address_per_minute
            ):
                await deny(ws, "too many connections from this address; wait a minute")
                return
            if as_staff:
                person = await self.staff.person(ws)
            else:
                found = await self.web.participant(ws)
                person = None
                if found is not None:
                    session, digest = found
                    invites = session.invites
                    person = Person(
                        session.pid, session.name, "participant", ("participant",), digest
                    )
            if person is not None and await self._over(
                f"up:s:{person.pid}", UPGRADES_PER_SESSION_PER_MINUTE
            ):
                await deny(ws, "reconnecting too often; wait a minute")
                return
            direct_rooms = await self.ctx.desk.rooms_of(person) if person else []
        except StoreUnavailable:
            person = None
        if person is None:
            await ws.close(CloseCode.POLICY)
            return
        await ws.accept()
        hub = self.ctx.hub
        conn = Connection(secrets.token_hex(8), person, RawSocket(ws, send))
        conn.start()
        chat = Conversation(self.ctx, conn)
        chat.invites = invites
        chat.address = address
        conn.send(chat.hello(direct_rooms))  # PROTOCOL.md: always the first server frame
        if hub.sockets_of(person.pid) >= MAX_SOCKETS_PER_PERSON:
            conn.send(error_frame(ErrorCode.TOO_MANY_SOCKETS, "close another Peerline tab first"))
            conn.close(CLOSE_TOO_MANY_SOCKETS, "too many sockets", flush=True)
            await conn.wait_closed()
            return
        # The slot is taken with no await after the count: simultaneous upgrades of one
        # person (40 once left 31 open) each see the ones before them.
        hub.connect(conn)
        if not as_staff and await self._sanctioned(conn):
            await hub.disconnect(conn)
            await conn.wait_closed()
            return
        recheck = None
        if as_staff:
            recheck = asyncio.get_running_loop().create_task(self._recheck_staff(conn))
            await self._staff_connected(conn, chat)
        try:
            await self._read(ws, conn, chat)
        finally:
            if recheck is not None:
                recheck.cancel()
            if conn.close_code == CloseCode.TOO_SLOW:
                self.ctx.metrics.slow_closes += 1
            await hub.disconnect(conn)
            await conn.drain_and_stop()
            if as_staff:
                await self._staff_disconnected(conn)

    async def _over(self, key: str, limit: int) -> bool:
        return await self.ctx.store.count_recent(key, UPGRADE_WINDOW_SECONDS) > limit

    async def _sanctioned(self, conn: Connection) -> bool:
        """A banned participant's socket is closed with 4501; a muted one learns until when."""
        review = self.review
        try:
            if await review.banned(conn.person.pid):
                conn.close(CloseCode.BANNED, "closed by the program's moderators", flush=True)
                return True
            conn.muted_until = await review.muted_until(conn.person.pid)
        except StoreUnavailable:
            pass  # a sanction that cannot be read now is read again at the next connect
        return False

    async def _staff_connected(self, conn: Connection, chat: Conversation) -> None:
        staff, desk = self.staff, self.ctx.desk
        digest = conn.person.digest
        chat.touch = lambda: staff.touch(digest)
        with contextlib.suppress(StoreUnavailable):
            await desk.staff.mark_online([conn.person.pid], self.ctx.clock())
            if "supporter" in conn.person.roles:
                conn.send(await desk.queue_frame())
            # An alert still open that pages this person now, a closed console included.
            for frame in await self.ctx.escalations.open_alerts_for(conn.person):
                conn.send(frame)

    async def _staff_disconnected(self, conn: Connection) -> None:
        if self.ctx.hub.sockets_of(conn.person.pid):
            return
        with contextlib.suppress(StoreUnavailable):
            await self.ctx.desk.staff.mark_offline(conn.person.pid)

    async def _recheck_staff(self, conn: Connection) -> None:
        while not conn.closed:
            await asyncio.sleep(STAFF_RECHECK_SECONDS)
            with contextlib.suppress(StoreUnavailable):
                if not await self.staff.still_alive(conn.person.digest):
                    conn.close(CloseCode.POLICY, "session ended")

    async def _read(self, ws: WebSocket, conn: Connection, chat: Conversation) -> None:
        while not conn.closed:
            try:
                message = await ws.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            kind = message["type"]
            if kind == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                conn.close(CloseCode.UNSUPPORTED_DATA, "text frames only")
                return
            await chat.receive(text)

    async def recheck_loop(self) -> None:
        """W7 for participants: one sweep for the whole process, not a sleeping task per
        socket (which cost 1 KiB per idle socket)."""
        while True:
            await asyncio.sleep(SESSION_RECHECK_SECONDS)
            await self.recheck_sessions()

    async def recheck_sessions(self) -> None:
        """Closes participant sockets whose session ended (erased, expired, ended)."""
        by_digest: dict[str, list[Connection]] = {}
        for conns in list(self.ctx.hub.people.values()):
            for conn in conns:
                if conn.person.is_participant and not conn.closed:
                    by_digest.setdefault(conn.person.digest, []).append(conn)
        for digest, group in by_digest.items():
            with contextlib.suppress(StoreUnavailable):
                if await self.ctx.store.get_session(digest, PARTICIPANT_SESSION_SECONDS) is None:
                    for conn in group:
                        conn.close(CloseCode.POLICY, "session ended")
