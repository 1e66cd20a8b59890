"""Staff HTTP: login with password and TOTP, sessions, logout, and who is online.

Every failure to log in answers the same 401 `bad_credentials` after about the same time (an
unknown name waits as long as a real verify takes, server/services/passwords.py), and each
attempt is counted against the name typed before the password is checked, so neither timing nor
throttling tells whether an account exists (A2). Before any hashing, an attempt passes the
limits of server/core/login_limits.py (per client address, per username and address, per
username), and a full hashing queue answers 429 `busy` at once (issue 11). Logs carry the
staff id of known accounts, never a name typed, a password, a code, a token or an address
(L2).
"""

from __future__ import annotations

import hmac
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, JSONResponse, Response

from server.config import Settings
from server.core.events import Close
from server.core.identity import new_token, token_digest
from server.core.login_limits import LOGINS_IN_FLIGHT_PER_NAME, LoginLimits, Refusal
from server.core.people import (
    SESSION_ABSOLUTE_SECONDS,
    SESSION_IDLE_SECONDS,
    Person,
    Role,
    StaffSession,
    session_alive,
)
from server.core.totp import matching_step
from server.crypto import KeyRing
from server.services.desk import Desk
from server.services.passwords import HashQueueFull, Passwords
from server.store import Store
from server.store.accounts import Account, StaffStore
from server.web.http import STATIC_DIR, error, read_json, set_cookie

log = logging.getLogger(__name__)

MAX_USERNAME_CHARS = 64
MAX_PASSWORD_CHARS = 1024
MAX_CODE_CHARS = 16
# Retry-After of a 429 `busy`: about one round of verifies (1-2 s on 2 cores) frees a slot.
BUSY_RETRY_SECONDS = 2
_REFUSED = {
    Refusal.ADDRESS: "too many login attempts from this address; wait before trying again",
    Refusal.FAILURES: "too many failed attempts; wait before trying again",
}


@dataclass(frozen=True, slots=True)
class StaffLogin:
    session: StaffSession
    account: Account
    digest: str


@dataclass
class StaffWeb:
    settings: Settings
    store: Store
    staff: StaffStore
    desk: Desk
    passwords: Passwords
    keys: KeyRing
    clock: Callable[[], float]
    origin_allowed: Callable[[HTTPConnection], bool]
    # The keyed hash of the client address (Web.address_digest: PEERLINE_TRUSTED_PROXIES).
    address_digest: Callable[[HTTPConnection], Awaitable[str]]
    on_call: Callable[[], Awaitable[set[str]]]  # the facilitators on call
    # Logins being checked in this process, by the username typed (memory only, never
    # logged): LOGINS_IN_FLIGHT_PER_NAME at most each.
    _in_flight: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    @property
    def limits(self) -> LoginLimits:
        return LoginLimits(
            self.settings.logins_per_address_per_minute,
            self.settings.login_failures_per_address,
        )

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
        if self.passwords.full:
            return _busy()
        if self._in_flight.get(username, 0) >= LOGINS_IN_FLIGHT_PER_NAME:
            log.info("staff login refused: that name is already being checked")
            return error(
                429,
                "rate_limited",
                "a login with this username is already being checked; wait a moment",
                {"Retry-After": "1"},
            )
        self._in_flight[username] = self._in_flight.get(username, 0) + 1
        try:
            return await self._check(request, self.staff, username, password, code)
        finally:
            left = self._in_flight.pop(username) - 1
            if left:
                self._in_flight[username] = left

    async def _check(
        self, request: Request, staff: StaffStore, username: str, password: str, code: str
    ) -> Response:
        address = await self.address_digest(request)
        refusal, wait = await self.store.reserve_login(username, address, self.limits)
        if refusal is not None:
            log.info("staff login refused: %s limit", refusal.value)
            return error(
                429, "rate_limited", _REFUSED[refusal], {"Retry-After": str(math.ceil(wait))}
            )
        account = await staff.by_username(username)
        try:
            good = await self.passwords.verify(account.password_hash if account else None, password)
        except HashQueueFull:
            # Filled while this attempt was being counted: it was never tried.
            await self.store.login_not_tried(username, address, self.limits)
            return _busy()
        now = self.clock()
        step = self._totp_step(account, code, now)
        if not (good and step is not None and account is not None and not account.disabled):
            if account is not None:
                log.info("staff login failed for staff %s", account.uid)
            else:
                log.info("staff login failed for an unknown account")
            return error(401, "bad_credentials", "wrong username, password or code")
        if not await staff.accept_step(account.uid, step):
            log.info("staff login refused a reused code for staff %s", account.uid)
            return error(401, "bad_credentials", "wrong username, password or code")
        await self.store.login_succeeded(username, address)
        if self.passwords.needs_rehash(account.password_hash):
            await staff.save(account.with_(password_hash=await self.passwords.hash(password)))
            log.info("password hash of staff %s upgraded to the current parameters", account.uid)
        # W13: whatever session cookie came with the request (planted or old) is ended; the
        # new session gets a new id.
        old = request.cookies.get(self.cookie_name)
        if old and len(old) <= 128:
            await self._end(token_digest(old))
        token, csrf = new_token(), new_token()
        session = StaffSession(account.uid, now, now, csrf)
        await staff.create_session(token_digest(token), session)
        log.info("staff %s logged in", account.uid)
        response = JSONResponse(self._me(account, session, include_program=False))
        self._set_cookie(response, token, SESSION_ABSOLUTE_SECONDS)
        return response

    def _totp_step(self, account: Account | None, code: str, now: float) -> int | None:
        if account is None:
            # The same work as for a real account, so the answer takes the same time.
            matching_step("A" * 32, code, now)
            return None
        try:
            secret = self.keys.open(account.totp_key_id, account.totp_blob, "totp", account.uid)
        except (InvalidTag, KeyError, ValueError):
            log.error("the TOTP secret of staff %s does not open with the data keys", account.uid)
            return None
        return matching_step(secret.decode(), code, now)

    async def logout(self, request: Request) -> Response:
        found = await self.current(request)
        if found is None:
            return error(401, "no_session", "no staff session")
        if not self.csrf_ok(request, found.session):
            return error(403, "forbidden", "missing or wrong CSRF token or origin")
        await self._end(found.digest)
        log.info("staff %s logged out", found.account.uid)
        response = Response(status_code=204)
        self._set_cookie(response, "", 0)
        return response

    async def _end(self, digest: str) -> None:
        session = await self.staff.get_session(digest)
        if session is None:
            return
        await self.staff.delete_session(digest, session.uid)
        # Every process closes the sockets of this session (PROTOCOL.md: within a second).
        await self.store.publish_control(Close(session=digest))

    # ---- reading the session --------------------------------------------------------------

    async def current(self, conn: HTTPConnection, *, touch: bool = True) -> StaffLogin | None:
        """The live staff session of this request, if any; refreshes its idle timer."""
        token = conn.cookies.get(self.cookie_name)
        if not token or len(token) > 128:
            return None
        digest = token_digest(token)
        session = await self.staff.get_session(digest)
        now = self.clock()
        if session is None:
            return None
        if not session_alive(session, now):
            await self._end(digest)
            return None
        account = await self.staff.get(session.uid)
        if account is None or account.disabled:
            return None
        if touch:
            await self.staff.touch_session(digest, now)
        return StaffLogin(session, account, digest)

    async def still_alive(self, digest: str) -> bool:
        """For the socket's periodic re-check: no refresh of the idle timer."""
        session = await self.staff.get_session(digest)
        if session is None or not session_alive(session, self.clock()):
            if session is not None:
                await self._end(digest)
            return False
        account = await self.staff.get(session.uid)
        return account is not None and not account.disabled

    async def touch(self, digest: str) -> None:
        await self.staff.touch_session(digest, self.clock())

    async def person(self, conn: HTTPConnection) -> Person | None:
        found = await self.current(conn)
        if found is None:
            return None
        account = found.account
        return Person(account.uid, account.name, account.roles[0], account.roles, found.digest)

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
        available = await self.staff.available([found.account.uid])
        body["available"] = available.get(found.account.uid, True)
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
        online = [u for u in await self.staff.online(self.clock()) if u != found.account.uid]
        available = await self.staff.available(online)
        staff = []
        for uid in online:
            account = await self.staff.get(uid)
            if account is None or account.disabled or Role.SUPPORTER not in account.roles:
                continue
            staff.append(
                {
                    "id": uid,
                    "name": account.name,
                    "roles": list(account.roles),
                    "available": available.get(uid, True),
                }
            )
        return JSONResponse({"staff": staff})

    def _set_cookie(self, response: Response, token: str, max_age: int) -> None:
        set_cookie(response, self.cookie_name, token, max_age, self.settings.cookie_secure)


def _busy() -> Response:
    log.info("staff login refused: the hashing queue is full")
    return error(
        429,
        "busy",
        "too many logins at once; try again in a moment",
        {"Retry-After": str(BUSY_RETRY_SECONDS)},
    )


def _cross_site(request: Request) -> bool:
    # W11: browsers send Sec-Fetch-Site; anything but same-origin is refused when present.
    site = request.headers.get("sec-fetch-site")
    return site is not None and site != "same-origin"
