"""Staff logins and sessions (server/services/staff.py) on real Redis, with the clock
injected: the answers the console's HTTP layer turns into responses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from server.app import build_keys, build_store
from server.config import Settings
from server.core.identity import token_digest
from server.core.login_limits import LoginLimits
from server.core.people import SESSION_IDLE_SECONDS
from server.services.passwords import Passwords
from server.services.staff import LoggedIn, LoginRefused, StaffAccess
from server.store.accounts import StaffStore
from tests.support import StaffCredentials, add_staff, totp_code

ADDRESS = "address-digest"  # what AddressHasher would give; any string keys the limits


@dataclass
class Clock:
    now: float = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def access(app_env: dict[str, str]) -> AsyncIterator[tuple[StaffAccess, Clock]]:
    settings = Settings.from_environ(app_env)
    clock = Clock()
    store = build_store(settings, clock)
    client = Redis.from_url(app_env["PEERLINE_REDIS_URL"])
    staff = StaffStore(client, app_env["PEERLINE_REDIS_PREFIX"])
    limits = LoginLimits(1000, 1000)
    yield StaffAccess(store, staff, Passwords(), build_keys(settings), clock, limits), clock
    await client.aclose()
    await store.aclose()


async def log_in(access: StaffAccess, who: StaffCredentials, at: float) -> LoggedIn:
    answer = await access.login(
        who.username, who.password, totp_code(who.secret, at), ADDRESS, None
    )
    assert isinstance(answer, LoggedIn), answer
    return answer


async def test_a_login_opens_a_session_that_logout_ends(
    access: tuple[StaffAccess, Clock], app_env: dict[str, str]
) -> None:
    service, clock = access
    rita = await add_staff(app_env, "rita", "facilitator", name="Rita")
    answer = await log_in(service, rita, clock.now)
    assert answer.login.digest == token_digest(answer.token)
    found = await service.current(answer.token)
    assert found is not None and found.account.uid == rita.uid
    assert service.person(found).name == "Rita"
    assert await service.still_alive(found.digest)
    await service.logout(found)
    assert await service.current(answer.token) is None
    assert not await service.still_alive(found.digest)


async def test_a_wrong_code_and_an_unknown_name_get_the_same_refusal(
    access: tuple[StaffAccess, Clock], app_env: dict[str, str]
) -> None:
    service, _ = access
    rita = await add_staff(app_env, "rita", "supporter")
    wrong_code = await service.login(rita.username, rita.password, "000000", ADDRESS, None)
    unknown = await service.login("nobody", rita.password, "000000", ADDRESS, None)
    assert (
        wrong_code
        == unknown
        == LoginRefused(401, "bad_credentials", "wrong username, password or code")
    )


async def test_a_used_code_is_refused_the_second_time(
    access: tuple[StaffAccess, Clock], app_env: dict[str, str]
) -> None:
    service, clock = access
    rita = await add_staff(app_env, "rita", "supporter")
    code = totp_code(rita.secret, clock.now)
    assert isinstance(await service.login("rita", rita.password, code, ADDRESS, None), LoggedIn)
    again = await service.login("rita", rita.password, code, ADDRESS, None)
    assert isinstance(again, LoginRefused) and again.code == "bad_credentials"


async def test_logging_in_ends_the_session_the_request_came_with(
    access: tuple[StaffAccess, Clock], app_env: dict[str, str]
) -> None:
    service, clock = access
    rita = await add_staff(app_env, "rita", "supporter")
    first = await log_in(service, rita, clock.now)
    clock.now += 30  # the next TOTP step: a code is good once
    code = totp_code(rita.secret, clock.now)
    second = await service.login("rita", rita.password, code, ADDRESS, first.token)
    assert isinstance(second, LoggedIn)
    assert await service.current(first.token) is None
    assert await service.current(second.token) is not None


async def test_an_idle_session_is_ended_when_next_read(
    access: tuple[StaffAccess, Clock], app_env: dict[str, str]
) -> None:
    service, clock = access
    rita = await add_staff(app_env, "rita", "supporter")
    answer = await log_in(service, rita, clock.now)
    clock.now += SESSION_IDLE_SECONDS - 1
    assert await service.current(answer.token) is not None  # and that read refreshed it
    clock.now += SESSION_IDLE_SECONDS - 1
    assert await service.still_alive(answer.login.digest)
    clock.now += 2  # still_alive does not refresh: now idle too long
    assert await service.current(answer.token) is None
    assert await service.staff.get_session(answer.login.digest) is None


async def test_a_token_too_long_to_be_ours_is_not_looked_up(
    access: tuple[StaffAccess, Clock],
) -> None:
    service, _ = access
    assert await service.current("x" * 129) is None
    assert await service.current(None) is None


async def test_the_roster_lists_other_supporters_online(
    access: tuple[StaffAccess, Clock], app_env: dict[str, str]
) -> None:
    service, clock = access
    me = await add_staff(app_env, "me", "supporter")
    sam = await add_staff(app_env, "sam", "supporter", name="Sam")
    mod = await add_staff(app_env, "mod", "moderator")
    await service.staff.mark_online([me.uid, sam.uid, mod.uid], clock.now)
    await service.staff.set_available(sam.uid, False)
    assert await service.supporters_online(me.uid) == [
        {"id": sam.uid, "name": "Sam", "roles": ["supporter"], "available": False}
    ]
    assert await service.available(me.uid)
