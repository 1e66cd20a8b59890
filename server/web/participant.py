"""The participant's HTTP API (docs/protocol.md): the page, health, program info, sessions.

Every error is JSON `{"error", "detail"}`; nothing here logs an address, a token or text.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response

from server.core.crisis_help import resource_fields
from server.core.identity import new_id, new_pseudonym, new_token, token_digest
from server.services.addresses import AddressHasher, client_address
from server.services.chat import Context
from server.store import Session
from server.web.http import STATIC_DIR, error, read_json, set_cookie

log = logging.getLogger(__name__)

PARTICIPANT_SESSION_SECONDS = 7 * 86_400  # resume across a week of dropped connections
ADDRESS_WINDOW_SECONDS = 3_600  # P1: abuse counters live at most an hour


@dataclass
class Web:
    ctx: Context
    addresses: AddressHasher

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
                "resources": [resource_fields(r) for r in program.resources],
                "rooms": [
                    {"id": r.id, "name": r.name, "description": r.description, "access": r.access}
                    for r in program.rooms
                ],
                "quick_exit_url": program.quick_exit_url,
                "support": True,  # one-to-one support: every server offers it
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
        # Flags and alert excerpts quote the erased words: they go with them.
        await self.ctx.crisis.forget(erasure.ids_by_room, session.pid)
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

    async def address_digest(self, conn: HTTPConnection) -> str:
        """The keyed hash of the client's address (never the address itself)."""
        address = client_address(
            conn.client.host if conn.client else None,
            conn.headers.get("x-forwarded-for"),
            self.ctx.settings.trusted_proxies,
        )
        return await self.addresses.digest(address, self.ctx.clock())
