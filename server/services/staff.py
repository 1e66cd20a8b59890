"""Staff logins and sessions, without HTTP: check a login, open, read, refresh and end a
session, and list the supporters online.

Every failure to log in is the same `bad_credentials` after about the same time (an unknown
name waits as long as a real verify takes, server/services/passwords.py), and each attempt is
counted against the name typed before the password is checked, so neither timing nor
throttling tells whether an account exists (A2). Before any hashing, an attempt passes the
limits of server/core/login_limits.py (per client address, per username and address, per
username), and a full hashing queue is refused at once as `busy` (issue 11). Logs carry the
staff id of known accounts, never a name typed, a password, a code, a token or an address
(L2). server/web/console.py turns these answers into responses and cookies.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag

from server.core.events import Close
from server.core.identity import new_token, token_digest
from server.core.login_limits import LOGINS_IN_FLIGHT_PER_NAME, LoginLimits, Refusal
from server.core.people import Person, Role, StaffSession, session_alive
from server.core.totp import matching_step
from server.crypto import KeyRing
from server.services.passwords import HashQueueFull, Passwords
from server.store import Store
from server.store.accounts import Account, StaffStore

log = logging.getLogger(__name__)

# Retry-After of a `busy` refusal: about one round of verifies (1-2 s on 2 cores) frees a slot.
BUSY_RETRY_SECONDS = 2
# The longest cookie value read as a token: ours are 43 characters; anything far longer is
# not ours and is not hashed.
MAX_TOKEN_CHARS = 128
_REFUSED = {
    Refusal.ADDRESS: "too many login attempts from this address; wait before trying again",
    Refusal.FAILURES: "too many failed attempts; wait before trying again",
}


@dataclass(frozen=True, slots=True)
class StaffLogin:
    session: StaffSession
    account: Account
    digest: str


@dataclass(frozen=True, slots=True)
class LoggedIn:
    login: StaffLogin
    token: str  # the new session's cookie value: given to the browser once, kept nowhere


@dataclass(frozen=True, slots=True)
class LoginRefused:
    status: int  # 401 or 429
    code: str
    detail: str
    retry_after_seconds: int | None = None


@dataclass
class StaffAccess:
    store: Store
    staff: StaffStore
    passwords: Passwords
    keys: KeyRing
    clock: Callable[[], float]
    limits: LoginLimits
    # Logins being checked in this process, by the username typed (memory only, never
    # logged): LOGINS_IN_FLIGHT_PER_NAME at most each.
    _in_flight: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    # ---- login and logout -----------------------------------------------------------------

    async def login(
        self, username: str, password: str, code: str, address: str, old_token: str | None
    ) -> LoggedIn | LoginRefused:
        """`address` is the keyed hash of the client's address; `old_token` the session
        cookie the request came with, if any (W13: it is ended, planted or not)."""
        if self.passwords.full:
            return self.busy()
        if self._in_flight.get(username, 0) >= LOGINS_IN_FLIGHT_PER_NAME:
            log.info("staff login refused: that name is already being checked")
            return LoginRefused(
                429,
                "rate_limited",
                "a login with this username is already being checked; wait a moment",
                1,
            )
        self._in_flight[username] = self._in_flight.get(username, 0) + 1
        try:
            return await self._check(username, password, code, address, old_token)
        finally:
            left = self._in_flight.pop(username) - 1
            if left:
                self._in_flight[username] = left

    async def _check(
        self, username: str, password: str, code: str, address: str, old_token: str | None
    ) -> LoggedIn | LoginRefused:
        refusal, wait = await self.store.reserve_login(username, address, self.limits)
        if refusal is not None:
            log.info("staff login refused: %s limit", refusal.value)
            return LoginRefused(429, "rate_limited", _REFUSED[refusal], math.ceil(wait))
        staff = self.staff
        account = await staff.by_username(username)
        try:
            good = await self.passwords.verify(account.password_hash if account else None, password)
        except HashQueueFull:
            # Filled while this attempt was being counted: it was never tried.
            await self.store.login_not_tried(username, address, self.limits)
            return self.busy()
        now = self.clock()
        step = self._totp_step(account, code, now)
        wrong = LoginRefused(401, "bad_credentials", "wrong username, password or code")
        if not (good and step is not None and account is not None and not account.disabled):
            if account is not None:
                log.info("staff login failed for staff %s", account.uid)
            else:
                log.info("staff login failed for an unknown account")
            return wrong
        if not await staff.accept_step(account.uid, step):
            log.info("staff login refused a reused code for staff %s", account.uid)
            return wrong
        await self.store.login_succeeded(username, address)
        if self.passwords.needs_rehash(account.password_hash):
            await staff.save(account.with_(password_hash=await self.passwords.hash(password)))
            log.info("password hash of staff %s upgraded to the current parameters", account.uid)
        if old_token and len(old_token) <= MAX_TOKEN_CHARS:
            await self.end(token_digest(old_token))
        token, csrf = new_token(), new_token()
        session = StaffSession(account.uid, now, now, csrf)
        digest = token_digest(token)
        await staff.create_session(digest, session)
        log.info("staff %s logged in", account.uid)
        return LoggedIn(StaffLogin(session, account, digest), token)

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

    @staticmethod
    def busy() -> LoginRefused:
        log.info("staff login refused: the hashing queue is full")
        return LoginRefused(
            429, "busy", "too many logins at once; try again in a moment", BUSY_RETRY_SECONDS
        )

    async def logout(self, found: StaffLogin) -> None:
        await self.end(found.digest)
        log.info("staff %s logged out", found.account.uid)

    async def end(self, digest: str) -> None:
        session = await self.staff.get_session(digest)
        if session is None:
            return
        await self.staff.delete_session(digest, session.uid)
        # Every process closes the sockets of this session (PROTOCOL.md: within a second).
        await self.store.publish_control(Close(session=digest))

    # ---- reading the session --------------------------------------------------------------

    async def current(self, token: str | None, *, touch: bool = True) -> StaffLogin | None:
        """The live session of this cookie value, if any; refreshes its idle timer."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        digest = token_digest(token)
        session = await self.staff.get_session(digest)
        now = self.clock()
        if session is None:
            return None
        if not session_alive(session, now):
            await self.end(digest)
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
                await self.end(digest)
            return False
        account = await self.staff.get(session.uid)
        return account is not None and not account.disabled

    async def touch(self, digest: str) -> None:
        await self.staff.touch_session(digest, self.clock())

    @staticmethod
    def person(found: StaffLogin) -> Person:
        account = found.account
        return Person(account.uid, account.name, account.roles[0], account.roles, found.digest)

    async def available(self, uid: str) -> bool:
        return (await self.staff.available([uid])).get(uid, True)

    async def supporters_online(self, besides: str) -> list[dict[str, object]]:
        """The other supporters online now, for picking whom to hand a chat to."""
        online = [u for u in await self.staff.online(self.clock()) if u != besides]
        available = await self.staff.available(online)
        found: list[dict[str, object]] = []
        for uid in online:
            account = await self.staff.get(uid)
            if account is None or account.disabled or Role.SUPPORTER not in account.roles:
                continue
            found.append(
                {
                    "id": uid,
                    "name": account.name,
                    "roles": list(account.roles),
                    "available": available.get(uid, True),
                }
            )
        return found
