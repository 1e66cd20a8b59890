"""Staff HTTP: the console page, login and logout, who am I, and who is online.

The rules of logging in and of sessions live in server/services/staff.py; this module reads
bodies and cookies, checks origin and CSRF, and writes responses and the session cookie.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, JSONResponse, Response

from server.config import Settings
from server.core.people import (
    SESSION_ABSOLUTE_SECONDS,
    SESSION_IDLE_SECONDS,
    Person,
    Role,
    StaffSession,
)
from server.services.staff import LoginRefused, StaffAccess, StaffLogin
from server.store.accounts import Account, StaffStore
from server.web.http import STATIC_DIR, error, read_json, set_cookie

MAX_USERNAME_CHARS = 64
MAX_PASSWORD_CHARS = 1024
MAX_CODE_CHARS = 16

__all__ = ["StaffLogin", "StaffWeb"]


@dataclass
class StaffWeb:
    settings: Settings
    access: StaffAccess
    origin_allowed: Callable[[HTTPConnection], bool]
    # The keyed hash of the client address (Web.address_digest: PEERLINE_TRUSTED_PROXIES).
    address_digest: Callable[[HTTPConnection], Awaitable[str]]
    on_call: Callable[[], Awaitable[set[str]]]  # the facilitators on call

    @property
    def staff(self) -> StaffStore:
        return self.access.staff

    @property
    def cookie_name(self) -> str:
        return "__Host-peerline-staff" if self.settings.cookie_secure else "peerline-staff"

    async def console(self, request: Request) -> Response:
        return FileResponse(STATIC_DIR / "console.html", media_type="text/html")

    # ---- login and logout -----------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        if not self.origin_allowed(request) or _cross_site(request):
            return error(403, "forbidden", "requests must come from this site")
        body = await read_json(request)
        if isinstance(body, Response):
            return body
        if not isinstance(body, dict):
            return error(400, "bad_request", "send {username, password, totp}")
        username, password, code = body.get("username"), body.get("password"), body.get("totp")
        if not (
            isinstance(username, str)
            and isinstance(password, str)
            and isinstance(code, str)
            and 0 < len(username) <= MAX_USERNAME_CHARS
            and len(password) <= MAX_PASSWORD_CHARS
            and len(code) <= MAX_CODE_CHARS
        ):
            return error(400, "bad_request", "send {username, password, totp} as strings")
        if self.access.passwords.full:  # before hashing the address: the cheapest refusal
            return _refused(self.access.busy())
        answer = await self.access.login(
            username,
            password,
            code,
            await self.address_digest(request),
            request.cookies.get(self.cookie_name),
        )
        if isinstance(answer, LoginRefused):
            return _refused(answer)
        found = answer.login
        response = JSONResponse(self._me(found.account, found.session, include_program=False))
        self._set_cookie(response, answer.token, SESSION_ABSOLUTE_SECONDS)
        return response

    async def logout(self, request: Request) -> Response:
        found = await self.current(request)
        if found is None:
            return error(401, "no_session", "no staff session")
        if not self.csrf_ok(request, found.session):
            return error(403, "forbidden", "missing or wrong CSRF token or origin")
        await self.access.logout(found)
        response = Response(status_code=204)
        self._set_cookie(response, "", 0)
        return response

    # ---- reading the session --------------------------------------------------------------

    async def current(self, conn: HTTPConnection, *, touch: bool = True) -> StaffLogin | None:
        """The live staff session of this request, if any; refreshes its idle timer."""
        return await self.access.current(conn.cookies.get(self.cookie_name), touch=touch)

    async def still_alive(self, digest: str) -> bool:
        return await self.access.still_alive(digest)

    async def touch(self, digest: str) -> None:
        await self.access.touch(digest)

    async def person(self, conn: HTTPConnection) -> Person | None:
        found = await self.current(conn)
        return None if found is None else self.access.person(found)

    def csrf_ok(self, request: Request, session: StaffSession) -> bool:
        given = request.headers.get("x-csrf-token", "")
        return (
            self.origin_allowed(request)
            and not _cross_site(request)
            and hmac.compare_digest(given.encode(), session.csrf.encode())
        )

    # ---- what the console reads -----------------------------------------------------------

    async def me(self, request: Request) -> Response:
        found = await self.current(request)
        if found is None:
            return error(401, "no_session", "no staff session")
        body = self._me(found.account, found.session, include_program=True)
        body["available"] = await self.access.available(found.account.uid)
        body["on_call"] = found.account.uid in await self.on_call()
        return JSONResponse(body)

    def _me(
        self, account: Account, session: StaffSession, *, include_program: bool
    ) -> dict[str, object]:
        body: dict[str, object] = {
            "id": account.uid,
            "name": account.name,
            "roles": list(account.roles),
            "csrf": session.csrf,
            "idle_seconds": SESSION_IDLE_SECONDS,
        }
        if include_program:
            program = self.settings.program
            body["canned"] = [{"title": c.title, "text": c.text} for c in program.canned]
            body["wrapup"] = {
                "topics": list(program.wrapup_topics),
                "outcomes": list(program.wrapup_outcomes),
            }
        return body

    async def roster(self, request: Request) -> Response:
        found = await self.current(request)
        if found is None:
            return error(401, "no_session", "no staff session")
        if Role.SUPPORTER not in found.account.roles:
            return error(403, "forbidden", "the roster is for supporters")
        return JSONResponse({"staff": await self.access.supporters_online(found.account.uid)})

    def _set_cookie(self, response: Response, token: str, max_age: int) -> None:
        set_cookie(response, self.cookie_name, token, max_age, self.settings.cookie_secure)


def _refused(refusal: LoginRefused) -> Response:
    headers = None
    if refusal.retry_after_seconds is not None:
        headers = {"Retry-After": str(refusal.retry_after_seconds)}
    return error(refusal.status, refusal.code, refusal.detail, headers)


def _cross_site(request: Request) -> bool:
    # W11: browsers send Sec-Fetch-Site; anything but same-origin is refused when present.
    site = request.headers.get("sec-fetch-site")
    return site is not None and site != "same-origin"
