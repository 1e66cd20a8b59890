"""The composition root: settings in, a Starlette app with its store, hub and jobs out.

The only place that builds the store (Redis: PEERLINE_REDIS_URL, or the embedded one
`peerline serve` started, server/store/embedded.py) and the key ring, and the only owner of
background jobs; everything else gets what it needs passed in.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from server.config import Settings
from server.core.login_limits import LoginLimits
from server.core.metrics import Metrics
from server.core.protocol import CloseCode
from server.crypto import KeyRing
from server.services.addresses import AddressHasher
from server.services.chat import Context
from server.services.crisis import Crisis
from server.services.desk import Desk
from server.services.escalation import Escalations
from server.services.invites import Invites
from server.services.pager import Pager
from server.services.passwords import Passwords
from server.services.retention import cutoff_id, purge
from server.services.staff import StaffAccess
from server.services.staffview import StaffView
from server.store import StoreUnavailable
from server.store.accounts import StaffStore
from server.store.audit import AuditLog
from server.store.escalations import EscalationStore
from server.store.invites import InviteStore, MarkStore
from server.store.pages import PageStore
from server.store.redis import RedisStore
from server.store.review import ReviewStore
from server.store.support import SupportStore
from server.web.console import StaffWeb
from server.web.headers import SecurityHeaders
from server.web.http import (
    STATIC_DIR,
    method_not_allowed,
    not_found,
    server_error,
    store_unavailable,
)
from server.web.participant import Web
from server.web.review import ReviewWeb
from server.web.socket import SocketEndpoint, SocketsFirst
from server.ws.hub import Hub

log = logging.getLogger(__name__)

# Young collections this often (allocations minus frees; CPython's default is 700). Every
# message makes short-lived objects by the dozen, and at the default the collector ran
# hundreds of times a second under load.
GC_YOUNG_THRESHOLD = 10_000
# How often hung socket writes are looked for: a dead peer is closed 10-11 s after its
# writes stopped (SEND_TIMEOUT_SECONDS), for one pass over the sockets a second.
STALL_SWEEP_SECONDS = 1.0


def settle_heap() -> None:
    """Moves everything made at start-up (modules, the lexicon, the password list: about
    100,000 objects) out of the collector's reach, so a full collection scans only what
    traffic made. Unfrozen, each full collection paused the loop for 50-70 ms every second
    or two under load: the p99 of delivery (bench/profile.py, docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


PRESENCE_REFRESH_SECONDS = 30.0  # a third of the presence TTL: one missed refresh is fine


JOB_STOP_SECONDS = 2.0  # how long the jobs have to end at shutdown
JOB_RECANCEL_SECONDS = 0.05  # how often a job still running is cancelled again


async def stop_jobs(jobs: list[asyncio.Task[None]]) -> None:
    """Cancels the background jobs and waits for them, cancelling again any that go on: a
    cancel that lands inside a Redis call is sometimes swallowed (seen with the purge job at
    start-up), and a job that then sleeps on held the event loop's shutdown for ever."""
    deadline = asyncio.get_running_loop().time() + JOB_STOP_SECONDS
    while running := [job for job in jobs if not job.done()]:
        if asyncio.get_running_loop().time() > deadline:
            log.warning("%d background jobs did not stop", len(running))
            return
        for job in running:
            job.cancel()
        await asyncio.wait(running, timeout=JOB_RECANCEL_SECONDS)


class StartupError(RuntimeError):
    """The server cannot start safely with these settings; the message says why."""


def build_keys(settings: Settings) -> KeyRing:
    if settings.data_keys:
        return KeyRing.parse(settings.data_keys)
    raise StartupError(
        "PEERLINE_DATA_KEYS is required with PEERLINE_REDIS_URL: stored messages must "
        "stay readable after a restart (run `peerline keys generate`)"
    )


def build_store(settings: Settings, clock: Callable[[], float]) -> RedisStore:
    if not settings.redis_url:
        raise StartupError(
            "no Redis: set PEERLINE_REDIS_URL, or run `peerline serve`, which starts its own"
        )
    return RedisStore(settings.redis_url, settings.redis_prefix, clock)


def build_desk(
    settings: Settings, store: RedisStore, hub: Hub, keys: KeyRing, clock: Callable[[], float]
) -> Desk:
    """One-to-one support and staff accounts, beside the store on the same Redis (accounts
    are made by the command line, in another process)."""
    staff = StaffStore(store.client, store.prefix)
    support = SupportStore(store.client, store.prefix)
    return Desk(settings, store, hub, keys, staff, support, clock)


@dataclass(frozen=True, slots=True)
class Safety:
    crisis: Crisis
    escalations: Escalations
    review: ReviewStore
    audit: AuditLog
    pager: Pager
    staff_view: StaffView
    invites: Invites


def build_safety(
    settings: Settings,
    store: RedisStore,
    hub: Hub,
    keys: KeyRing,
    metrics: Metrics,
    clock: Callable[[], float],
    desk: Desk,
) -> Safety:
    """Every participant message is scanned; flags, alerts, review and the audit log live
    beside the store on the same Redis."""
    audit = AuditLog(store.client, store.prefix, clock)
    review = ReviewStore(store.client, store.prefix)
    pages = PageStore(store.client, store.prefix)

    async def supporters_of(room: str) -> frozenset[str]:
        found = await desk.support.direct_room(room)
        return found.staff if found is not None and found.ended_ms is None else frozenset()

    escalations = Escalations(
        settings,
        store,
        hub,
        keys,
        EscalationStore(store.client, store.prefix, Escalations.consumer_name()),
        desk.staff,
        audit,
        clock,
        desk.add_member,
        pages,
        supporters_of,
    )
    marks = MarkStore(store.client, store.prefix)
    staff_view = StaffView(store, hub, keys, marks, settings.retention_seconds)
    crisis = Crisis(settings, store, keys, metrics, clock, review, escalations, desk, staff_view)
    pager = Pager(settings, keys, pages, escalations, desk.staff, audit, clock)
    escalations.on_raise = pager.poke
    invites = Invites(settings, store, keys, InviteStore(store.client, store.prefix), marks, audit)
    return Safety(crisis, escalations, review, audit, pager, staff_view, invites)


def review_routes(review: ReviewWeb) -> list[Route]:
    return [
        Route("/review", review.page),
        Route("/api/review/items", review.items),
        Route("/api/review/items/{item}", review.item),
        Route("/api/review/items/{item}/action", review.act, methods=["POST"]),
        Route("/api/review/lexicon", review.lexicon),
        Route("/api/review/lexicon", review.change_lexicon, methods=["POST"]),
    ]


def create_app(
    settings: Settings,
    *,
    store: RedisStore | None = None,
    keys: KeyRing | None = None,
    clock: Callable[[], float] = time.time,
) -> ASGIApp:
    store = store or build_store(settings, clock)
    log.info("running on the %s", store.describe())
    keys = keys or build_keys(settings)
    metrics = Metrics()
    hub = Hub(store, keys, metrics)
    desk = build_desk(settings, store, hub, keys, clock)
    safety = build_safety(settings, store, hub, keys, metrics, clock, desk)
    ctx = Context(
        settings,
        store,
        hub,
        keys,
        metrics,
        clock,
        desk,
        safety.crisis,
        safety.escalations,
        safety.staff_view,
        safety.invites,
    )
    web = Web(ctx, AddressHasher(store))
    passwords = Passwords()
    limits = LoginLimits(
        settings.logins_per_address_per_minute, settings.login_failures_per_address
    )
    access = StaffAccess(store, desk.staff, passwords, keys, clock, limits)
    staff_web = StaffWeb(
        settings,
        access,
        web.origin_allowed,
        web.address_digest,
        safety.escalations.esc.on_call,
    )
    sockets = SocketEndpoint(ctx, web, staff_web, safety.review)
    review_web = ReviewWeb(
        staff_web,
        store,
        safety.review,
        keys,
        hub,
        safety.crisis,
        safety.escalations,
        safety.audit,
        clock,
        settings.retention_seconds,
    )
    group_rooms = [room.id for room in settings.program.rooms]

    async def purge_loop() -> None:
        while True:
            rooms = list(group_rooms)
            with contextlib.suppress(StoreUnavailable):
                rooms += await desk.support.direct_rooms()
            await purge(store, rooms, settings.retention_seconds, clock, metrics)
            minimum = cutoff_id(clock(), settings.retention_seconds)
            with contextlib.suppress(StoreUnavailable):
                await safety.review.trim_flags(minimum)
                await safety.escalations.esc.forget_excerpts(minimum)
            await asyncio.sleep(settings.purge_seconds)

    async def stall_loop() -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(STALL_SWEEP_SECONDS)
            hub.close_stalled(loop.time())  # counted in slow_closes as each socket ends
            hub.forget_idle_paces(clock())

    async def presence_loop() -> None:
        while True:
            await asyncio.sleep(PRESENCE_REFRESH_SECONDS)
            with contextlib.suppress(StoreUnavailable):
                await store.refresh_presence(hub.memberships())
                staff_here = [
                    pid
                    for pid, conns in hub.people.items()
                    if any(not c.person.is_participant for c in conns)
                ]
                await desk.staff.mark_online(staff_here, clock())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.start(hub)
        jobs = [
            asyncio.create_task(purge_loop()),
            asyncio.create_task(presence_loop()),
            asyncio.create_task(sockets.recheck_loop()),
            asyncio.create_task(stall_loop()),
        ]
        with contextlib.suppress(StoreUnavailable):
            await safety.crisis.reload_lexicon()
        jobs.append(asyncio.create_task(safety.escalations.run()))
        jobs.append(asyncio.create_task(safety.pager.run()))
        settle_heap()
        try:
            yield
        finally:
            hub.close_all(CloseCode.GOING_AWAY, "server going away")
            passwords.close()
            await stop_jobs(jobs)
            await store.aclose()

    # Every path the server answers, in one place. `/ws` is served before Starlette's routing
    # (SocketsFirst, server/web/socket.py): the socket then skips about ten wrappers.
    socket_path, socket_endpoint = "/ws", sockets.websocket
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
            *review_routes(review_web),
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
    # Outermost, around Starlette's own error handler too, so a 500 carries the headers.
    return SecurityHeaders(SocketsFirst(app, socket_path, socket_endpoint))
