"""The composition root: settings in, a Starlette app with its store, hub and jobs out.

The only place that chooses the store (embedded or Redis) and the key ring, and the only
owner of background jobs; everything else gets what it needs passed in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from server.addresses import AddressHasher
from server.chat import Context
from server.config import Settings
from server.crypto import KeyRing
from server.desk import Desk
from server.headers import SecurityHeaders
from server.hub import Hub
from server.metrics import Metrics
from server.passwords import Passwords
from server.protocol import CloseCode
from server.retention import purge
from server.staff_web import StaffWeb
from server.store import Store, StoreUnavailable
from server.store.memory import MemoryStore
from server.web import (
    STATIC_DIR,
    Web,
    method_not_allowed,
    not_found,
    server_error,
    store_unavailable,
)

log = logging.getLogger(__name__)

PRESENCE_REFRESH_SECONDS = 30.0  # a third of the presence TTL: one missed refresh is fine


class StartupError(RuntimeError):
    """The server cannot start safely with these settings; the message says why."""


def build_keys(settings: Settings) -> KeyRing:
    if settings.data_keys:
        return KeyRing.parse(settings.data_keys)
    if settings.redis_url:
        raise StartupError(
            "PEERLINE_DATA_KEYS is required with PEERLINE_REDIS_URL: stored messages must "
            "stay readable after a restart (run `peerline keys generate`)"
        )
    log.warning("PEERLINE_DATA_KEYS is unset: using an ephemeral key that dies with this process")
    return KeyRing.ephemeral()


def build_store(settings: Settings, clock: Callable[[], float]) -> Store:
    if settings.redis_url:
        from server.store.redis import RedisStore

        return RedisStore(settings.redis_url, settings.redis_prefix, clock)
    return MemoryStore(clock)


def build_desk(
    settings: Settings, store: Store, hub: Hub, keys: KeyRing, clock: Callable[[], float]
) -> Desk | None:
    """One-to-one support and staff accounts live in Redis (accounts are made by the command
    line, in another process); the embedded store offers neither."""
    from server.store.redis import RedisStore

    if not isinstance(store, RedisStore):
        return None
    from server.store.accounts import StaffStore
    from server.store.support import SupportStore

    staff = StaffStore(store.client, store.prefix)
    support = SupportStore(store.client, store.prefix)
    return Desk(settings, store, hub, keys, staff, support, clock)


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    keys: KeyRing | None = None,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    store = store or build_store(settings, clock)
    if isinstance(store, MemoryStore):
        log.warning(
            "running on the embedded in-process store: nothing is kept across restarts "
            "and only one process can serve; set PEERLINE_REDIS_URL for Redis"
        )
    else:
        log.info("running on the %s", store.describe())
    keys = keys or build_keys(settings)
    metrics = Metrics()
    hub = Hub(store, keys, metrics)
    desk = build_desk(settings, store, hub, keys, clock)
    ctx = Context(settings, store, hub, keys, metrics, clock, desk)
    web = Web(ctx, AddressHasher(clock()))
    passwords = Passwords()
    staff_web = StaffWeb(
        settings,
        store,
        desk.staff if desk else None,
        desk,
        passwords,
        keys,
        clock,
        web.origin_allowed,
    )
    web.staff = staff_web
    group_rooms = [room.id for room in settings.program.rooms]

    async def purge_loop() -> None:
        while True:
            rooms = list(group_rooms)
            if desk is not None:
                with contextlib.suppress(StoreUnavailable):
                    rooms += await desk.support.direct_rooms()
            await purge(store, rooms, settings.retention_seconds, clock, metrics)
            await asyncio.sleep(settings.purge_seconds)

    async def presence_loop() -> None:
        while True:
            await asyncio.sleep(PRESENCE_REFRESH_SECONDS)
            with contextlib.suppress(StoreUnavailable):
                await store.refresh_presence(hub.memberships())
                if desk is not None:
                    staff_here = [
                        pid
                        for pid, conns in hub.people.items()
                        if any(not c.person.is_participant for c in conns)
                    ]
                    await desk.staff.mark_online(staff_here, clock())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.start(hub)
        jobs = [asyncio.create_task(purge_loop()), asyncio.create_task(presence_loop())]
        try:
            yield
        finally:
            hub.close_all(CloseCode.GOING_AWAY, "server going away")
            for job in jobs:
                job.cancel()
            passwords.close()
            await store.aclose()

    app = Starlette(
        routes=[
            Route("/", web.index),
            Route("/healthz", web.healthz),
            Route("/readyz", web.readyz),
            Route("/metrics", web.metrics),
            Route("/api/info", web.info),
            Route("/api/session", web.create_session, methods=["POST"]),
            Route("/api/session", web.current_session, methods=["GET"]),
            Route("/api/session", web.delete_session, methods=["DELETE"]),
            Route("/api/session/end", web.end_session, methods=["POST"]),
            Route("/console", staff_web.console),
            Route("/api/staff/login", staff_web.login, methods=["POST"]),
            Route("/api/staff/logout", staff_web.logout, methods=["POST"]),
            Route("/api/staff/me", staff_web.me),
            Route("/api/staff/roster", staff_web.roster),
            WebSocketRoute("/ws", web.websocket),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        exception_handlers={
            404: not_found,
            405: method_not_allowed,
            StoreUnavailable: store_unavailable,
            500: server_error,
        },
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.add_middleware(SecurityHeaders)
    return app
