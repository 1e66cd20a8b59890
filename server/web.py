"""HTTP endpoints and the WebSocket upgrade: the participant API of PROTOCOL.md.

Every error is JSON `{"error", "detail"}`; nothing here logs an address, a token or text.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from server.addresses import AddressHasher, client_address
from server.chat import Context, Conversation
from server.connection import Connection, Person
from server.identity import new_id, new_pseudonym, new_token, token_digest
from server.protocol import CloseCode, ErrorCode, error_frame
from server.store import Session, StoreUnavailable

if TYPE_CHECKING:
    from server.staff_web import StaffWeb
    from server.store.review import ReviewStore

log = logging.getLogger(__name__)

PARTICIPANT_SESSION_SECONDS = 7 * 86_400  # resume across a week of dropped connections
ADDRESS_WINDOW_SECONDS = 3_600  # P1: abuse counters live at most an hour
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
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


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


def error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": code, "detail": detail}, status, headers=headers)


async def deny(ws: WebSocket, detail: str) -> None:
    """Refuses an upgrade with 429 `rate_limited` where the server can answer an upgrade
    with HTTP (uvicorn can); elsewhere with a close before accept, which is a 403."""
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        headers = {"Retry-After": str(UPGRADE_WINDOW_SECONDS)}
        await ws.send_denial_response(error(429, "rate_limited", detail, headers))
    else:
        await ws.close(CloseCode.POLICY)


# The JSON APIs take small objects (a consent, a login, a review action): 64 KiB is far above
# any of them, and a 300 MiB body once took a process to 1 GiB while it was read whole.
MAX_JSON_BODY_BYTES = 64 * 1024


async def read_json(request: Request) -> Any:
    """The request's JSON body, or the refusal to answer with (a Response): 413 `too_large`
    past MAX_JSON_BODY_BYTES, said before the body is read whole; 400 `bad_json` for a body
    that is not JSON, hostile nesting (100,000 `[`) included."""
    declared = request.headers.get("content-length", "")
    if declared and (not declared.isdigit() or int(declared) > MAX_JSON_BODY_BYTES):
        return _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_JSON_BODY_BYTES:
            return _too_large()
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError):
        return error(400, "bad_json", "the body is not valid JSON")


def _too_large() -> Response:
    detail = f"the body is larger than {MAX_JSON_BODY_BYTES // 1024} KiB"
    return error(413, "too_large", detail, {"Connection": "close"})


def set_cookie(response: Response, name: str, token: str, max_age: int, secure: bool) -> None:
    """W12: every cookie of ours is HttpOnly, SameSite=Strict, Path=/ and (but for plain-http
    testing) Secure, so a `__Host-` name is accepted by browsers."""
    response.set_cookie(
        name, token, max_age=max_age, path="/", secure=secure, httponly=True, samesite="strict"
    )


@dataclass
class Web:
    ctx: Context
    addresses: AddressHasher
    staff: StaffWeb | None = None
    review: ReviewStore | None = None

    @property
    def cookie_name(self) -> str:
        # Browsers only accept `__Host-` cookies that are Secure; plain-http testing away from
        # localhost (PEERLINE_COOKIE_SECURE=false) therefore uses an unprefixed name.
        return "__Host-peerline" if self.ctx.settings.cookie_secure else "peerline"

    # ---- pages and health -------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        if await self.ctx.store.ping():
            return JSONResponse({"status": "ready"})
        return error(503, "unavailable", "the store does not answer")

    async def metrics(self, request: Request) -> Response:
        expected = self.ctx.settings.metrics_token
        if expected is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
                return error(401, "unauthorized", "metrics need the operator's token")
        ready = await self.ctx.store.ping()
        return PlainTextResponse(
            self.ctx.metrics.render(ready), media_type="text/plain; version=0.0.4"
        )

    async def info(self, request: Request) -> Response:
        program = self.ctx.settings.program
        return JSONResponse(
            {
                "program": program.name,
                "consent": {"version": program.consent_version, "text": program.consent_text},
                "resources": [
                    {"name": r.name, "contact": r.contact, "note": r.note}
                    for r in program.resources
                ],
                "rooms": [
                    {"id": r.id, "name": r.name, "description": r.description, "access": r.access}
                    for r in program.rooms
                ],
                "quick_exit_url": program.quick_exit_url,
                "support": self.ctx.desk is not None,
            }
        )

    # ---- participant session ----------------------------------------------------------------

    async def create_session(self, request: Request) -> Response:
        if not self.origin_allowed(request):
            return error(403, "forbidden", "requests must come from this site")
        body = await read_json(request)
        if isinstance(body, Response):
            return body
        program = self.ctx.settings.program
        if (
            not isinstance(body, dict)
            or body.get("accept") is not True
            or body.get("consent_version") != program.consent_version
        ):
            return error(400, "consent_required", "accept the current consent version to continue")
        bucket = "addr:" + await self.address_digest(request)
        if (
            await self.ctx.store.count_recent(bucket, ADDRESS_WINDOW_SECONDS)
            > self.ctx.settings.sessions_per_address_per_hour
        ):
            return error(
                429,
                "rate_limited",
                "too many new sessions; try later",
                {"Retry-After": str(ADDRESS_WINDOW_SECONDS)},
            )
        token = new_token()
        session = Session(new_id(), new_pseudonym(), program.consent_version, frozenset())
        await self.ctx.store.create_session(
            token_digest(token), session, PARTICIPANT_SESSION_SECONDS
        )
        self.ctx.metrics.sessions_created += 1
        response = JSONResponse(
            {"pseudonym": session.name, "consent_version": session.consent_version}, 201
        )
        self.set_cookie(response, token, PARTICIPANT_SESSION_SECONDS)
        return response

    async def current_session(self, request: Request) -> Response:
        found = await self.participant(request)
        if found is None:
            return error(401, "no_session", "no participant session")
        session, _ = found
        return JSONResponse({"pseudonym": session.name, "consent_version": session.consent_version})

    async def delete_session(self, request: Request) -> Response:
        if not self.origin_allowed(request):
            return error(403, "forbidden", "requests must come from this site")
        # Erasing must work for a session accepted under an older consent text too.
        found = await self.participant(request, any_consent=True)
        if found is None:
            return error(401, "no_session", "no participant session")
        session, digest = found
        await self._cancel_support(session.pid, erase=True)
        erasure = await self.ctx.store.erase(digest, session.pid)
        if self.ctx.crisis is not None:
            # Flags and alert excerpts quote the erased words: they go with them.
            await self.ctx.crisis.forget(erasure.ids_by_room)
        self.ctx.metrics.erasures += 1
        return self.forget_device()

    async def end_session(self, request: Request) -> Response:
        """Quick Exit: forget this device's session at once, keep the messages."""
        if not self.origin_allowed(request):
            return error(403, "forbidden", "requests must come from this site")
        found = await self.participant(request, any_consent=True)
        if found is not None:
            session, digest = found
            await self._cancel_support(session.pid)
            await self.ctx.store.end_session(digest, session.pid)
        return self.forget_device()

    async def _cancel_support(self, pid: str, *, erase: bool = False) -> None:
        # Nobody should be sent to a person who has left (Quick Exit or erase).
        if self.ctx.desk is not None:
            await self.ctx.desk.participant_left(pid, erase=erase)

    def forget_device(self) -> Response:
        """204 that makes the browser drop the cookie and this site's storage."""
        response = Response(status_code=204, headers={"Clear-Site-Data": '"cookies", "storage"'})
        self.set_cookie(response, "", 0)
        return response

    async def participant(
        self, conn: HTTPConnection, *, any_consent: bool = False
    ) -> tuple[Session, str] | None:
        token = conn.cookies.get(self.cookie_name)
        if not token or len(token) > 128:
            return None
        digest = token_digest(token)
        session = await self.ctx.store.get_session(digest, PARTICIPANT_SESSION_SECONDS)
        if session is None:
            return None
        if not any_consent and session.consent_version != self.ctx.settings.program.consent_version:
            # A changed consent text needs a fresh acceptance (Part 2 notice at admission).
            return None
        return session, digest

    def set_cookie(self, response: Response, token: str, max_age: int) -> None:
        set_cookie(response, self.cookie_name, token, max_age, self.ctx.settings.cookie_secure)

    # ---- origin checks ----------------------------------------------------------------------

    def allowed_origins(self, conn: HTTPConnection) -> tuple[str, ...]:
        if self.ctx.settings.allowed_origins:
            return self.ctx.settings.allowed_origins
        host = conn.headers.get("host", "")
        scheme = {"ws": "http", "wss": "https"}.get(conn.url.scheme, conn.url.scheme)
        return (f"{scheme}://{host}",)

    def origin_allowed(self, conn: HTTPConnection) -> bool:
        origin = conn.headers.get("origin")
        return origin is not None and origin in self.allowed_origins(conn)

    # ---- the socket -------------------------------------------------------------------------

    async def websocket(self, ws: WebSocket, send: Send) -> None:
        if not self.origin_allowed(ws):
            await ws.close(CloseCode.POLICY)  # before accept: the client sees HTTP 403
            return
        # The console asks for its staff session explicitly, so a browser holding both
        # cookies still opens the participant page as a participant.
        as_staff = ws.query_params.get("as") == "staff"
        invites: frozenset[str] = frozenset()
        try:
            address = await self.address_digest(ws)
            if await self._over(
                f"up:a:{address}", self.ctx.settings.upgrades_per_address_per_minute
            ):
                await deny(ws, "too many connections from this address; wait a minute")
                return
            if as_staff:
                person = await self.staff.person(ws) if self.staff else None
            else:
                found = await self.participant(ws)
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
            direct_rooms = await self.ctx.desk.rooms_of(person) if person and self.ctx.desk else []
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

    async def address_digest(self, conn: HTTPConnection) -> str:
        """The keyed hash of the client's address (never the address itself)."""
        address = client_address(
            conn.client.host if conn.client else None,
            conn.headers.get("x-forwarded-for"),
            self.ctx.settings.trusted_proxies,
        )
        return await self.addresses.digest(address, self.ctx.clock())

    async def _over(self, key: str, limit: int) -> bool:
        return await self.ctx.store.count_recent(key, UPGRADE_WINDOW_SECONDS) > limit

    async def _sanctioned(self, conn: Connection) -> bool:
        """A banned participant's socket is closed with 4501; a muted one learns until when."""
        review = self.review
        if review is None:
            return False
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
        assert staff is not None and desk is not None
        digest = conn.person.digest
        chat.touch = lambda: staff.touch(digest)
        with contextlib.suppress(StoreUnavailable):
            await desk.staff.mark_online([conn.person.pid], self.ctx.clock())
            if "supporter" in conn.person.roles:
                conn.send(await desk.queue_frame())
            escalations = self.ctx.escalations
            if escalations is not None:
                # An alert still open that pages this person now, a closed console included.
                for frame in await escalations.open_alerts_for(conn.person):
                    conn.send(frame)

    async def _staff_disconnected(self, conn: Connection) -> None:
        desk = self.ctx.desk
        if desk is None or self.ctx.hub.sockets_of(conn.person.pid):
            return
        with contextlib.suppress(StoreUnavailable):
            await desk.staff.mark_offline(conn.person.pid)

    async def _recheck_staff(self, conn: Connection) -> None:
        assert self.staff is not None
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


async def not_found(request: Request, exc: Any) -> Response:
    return error(404, "not_found", "nothing here")


async def method_not_allowed(request: Request, exc: Any) -> Response:
    return error(405, "method_not_allowed", "method not allowed")


async def store_unavailable(request: Request, exc: Exception) -> Response:
    # Every store write is idempotent (erase, session end, counters), so a retry is safe
    # whatever part of the request got through.
    return error(503, "unavailable", "storage is unavailable; retry shortly")


async def server_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on an HTTP request: %s", type(exc).__name__)
    return error(500, "internal", "internal error")
