"""Paging out of band, and alerts on silence, in the thin asyncio shell (issue 13).

Every process runs `run()`. Each pass it (1) schedules the pages of the open alerts that
`core/pages.py` says need one now (no staff console open anywhere, or nobody took the
alert within `page_after_seconds`): exactly one process wins each alert's schedule;
(2) claims the deliveries that are due, one attempt per process per lease, and sends them,
a webhook with httpx and an email with smtplib in a thread; a failure is tried again on
the back-off of `core/pages.py`, forever, until it goes through or the alert is taken;
(3) claims the silence watches that are due and raises a `silence` alert for each person
who has still written nothing, with no staff member writing in the room since the flag.

Deliveries and watches live in Redis (server/store/pages.py), so a restarted or another
process carries on where one stopped. Pages carry no words, no pseudonym, no room id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import httpx
from cryptography.exceptions import InvalidTag

from server.config import EmailPage, PageTarget, Settings, WebhookPage
from server.core.identity import new_id
from server.core.messages import Plain, unpack
from server.core.pages import (
    CLAIM_LEASE_MS,
    REASON_SILENCE,
    PageFacts,
    Written,
    email_text,
    page_reason,
    parse_delivery,
    retry_at_ms,
    signature,
    silence_broken,
    target_name,
    webhook_body,
)
from server.crypto import KeyRing
from server.services.escalation import Auditor, Escalations
from server.store import StoreUnavailable
from server.store.accounts import StaffStore
from server.store.escalations import Escalation
from server.store.pages import PageStore, Sealed, Watch

log = logging.getLogger(__name__)

LOOP_SECONDS = 0.5  # how often due pages and watches are looked for, unless woken sooner
SEND_TIMEOUT_SECONDS = 10.0  # one HTTP or SMTP exchange; below the claim lease
IN_FLIGHT_MAX = 32  # deliveries one process sends at once; the rest wait for the next pass
WATCHES_PER_PASS = 100
LATER_MESSAGES_READ = 500  # enough to find one reply; a busy room's 500th message is one
EXPIRED_EXCERPT = "(the flagged message is no longer kept; open the room)"


class Pager:
    def __init__(
        self,
        settings: Settings,
        keys: KeyRing,
        pages: PageStore,
        escalations: Escalations,
        staff: StaffStore,
        audit: Auditor,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.keys = keys
        self.pages = pages
        self.escalations = escalations
        self.staff = staff
        self.audit = audit
        self.clock = clock
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None

    def poke(self) -> None:
        """A new alert: look now rather than at the next pass (no console may be open)."""
        self._wake.set()

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def run(self) -> None:
        self._http = httpx.AsyncClient(
            timeout=SEND_TIMEOUT_SECONDS, follow_redirects=False, trust_env=False
        )
        try:
            while True:
                try:
                    await self.tick()
                except StoreUnavailable:
                    await asyncio.sleep(1.0)
                except Exception:  # the pager must outlive any one bad record
                    log.exception("pager pass failed; retrying")
                    await asyncio.sleep(1.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), LOOP_SECONDS)
                self._wake.clear()
        finally:
            for task in self._in_flight:
                task.cancel()
            await self._http.aclose()

    async def tick(self) -> None:
        if self.settings.program.pages:
            await self._schedule()
        await self._deliver_due()
        await self._silences()

    # ---- which alerts are paged -----------------------------------------------------------

    async def _schedule(self) -> None:
        checks = [c for c in await self.pages.checks() if not (c.taken or c.paged)]
        if not checks:
            return
        now = self._now_ms()
        consoles_open = bool(await self.staff.online(now / 1000))
        after_ms = self.settings.program.page_after_seconds * 1000
        targets = len(self.settings.program.pages)
        for check in checks:
            why = page_reason(check, now, consoles_open, after_ms)
            if why and await self.pages.schedule(check.escalation, targets, why, now):
                log.warning("crisis alert paged out of band (%s)", why)
                await self._audit(
                    "escalation.page_due", check.escalation, why=why, targets=str(targets)
                )

    # ---- deliveries -----------------------------------------------------------------------

    async def _deliver_due(self) -> None:
        room = IN_FLIGHT_MAX - len(self._in_flight)
        if room <= 0:
            return
        for member in await self.pages.claim(self._now_ms(), CLAIM_LEASE_MS, room):
            task = asyncio.get_running_loop().create_task(self._deliver(member))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _deliver(self, member: str) -> None:
        try:
            await self._deliver_one(member)
        except StoreUnavailable:
            log.error("a page delivery could not be recorded; it is tried again after its lease")
        except Exception:
            log.exception("a page delivery failed unexpectedly; tried again after its lease")

    async def _deliver_one(self, member: str) -> None:
        escalation, index = parse_delivery(member)
        alert = await self.escalations.esc.get(escalation)
        if alert is None:
            await self.pages.drop(member)
            return
        attempt = await self.pages.begin(escalation, index)
        targets = self.settings.program.pages
        if index >= len(targets) or alert.taken_by:
            # Taken: a person has it, a page now would only wake someone for nothing.
            # Unconfigured: the program file lost this target since the page was due.
            why = "taken" if alert.taken_by else "unconfigured"
            await self.pages.finish(escalation, index, attempt, "cancelled", self._now_ms())
            await self._audit("escalation.page_cancelled", escalation, why=why, n=str(index))
            return
        target = targets[index]
        name = target_name(target.kind, index)
        try:
            await self._send(target, self.facts(alert))
        except Exception as exc:
            now = self._now_ms()
            retry = retry_at_ms(now, attempt)
            if await self.pages.finish(escalation, index, attempt, "retry", retry):
                log.warning(
                    "page to %s failed (%s); tried again in %d ms", name, describe(exc), retry - now
                )
                await self._audit(
                    "escalation.page_failed",
                    escalation,
                    to=name,
                    attempt=str(attempt),
                    error=describe(exc),
                    retry_ms=str(retry - now),
                )
            return
        if await self.pages.finish(escalation, index, attempt, "sent", self._now_ms()):
            log.info("page sent to %s", name)
            await self._audit("escalation.page_sent", escalation, to=name, attempt=str(attempt))

    def facts(self, alert: Escalation) -> PageFacts:
        return PageFacts(
            escalation=alert.escalation,
            level="urgent",
            category=alert.category,
            reason=alert.reason,
            rung=alert.rung,
            since_ms=alert.created_ms,
            program=self.settings.program.name,
            console_url=self.settings.public_url + "/console",
        )

    async def _send(self, target: PageTarget, facts: PageFacts) -> None:
        if isinstance(target, WebhookPage):
            assert self._http is not None
            body = webhook_body(facts)
            secret = self.settings.page_secrets[target.secret_env]
            response = await self._http.post(
                target.url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Peerline-Signature": signature(secret, body),
                    "User-Agent": "Peerline-pager",
                },
            )
            response.raise_for_status()
        else:
            password = self.settings.page_secrets.get(target.password_env, "")
            subject, text = email_text(facts)
            await asyncio.to_thread(send_email, target, password, subject, text)

    async def _audit(self, action: str, escalation: str, **extra: str) -> None:
        try:
            await self.audit.record("system", action, escalation, **extra)
        except StoreUnavailable:
            log.error("audit record %s failed", action)

    # ---- silence --------------------------------------------------------------------------

    async def _silences(self) -> None:
        due = await self.pages.claim_watches(self._now_ms(), CLAIM_LEASE_MS, WATCHES_PER_PASS)
        for member in due:
            watch = await self.pages.get_watch(member)
            if watch is None:
                await self.pages.end_watch(member, "")
                continue
            await self._silence(member, watch)

    async def _silence(self, member: str, watch: Watch) -> None:
        later = await self.pages.written_after(watch.room, watch.message, LATER_MESSAGES_READ)
        written = [Written(plain.author, plain.role) for _, plain in self._open(watch.room, later)]
        if silence_broken(watch.person, written):
            await self.pages.end_watch(member, watch.message)
            return
        escalation = await self.pages.fire_id(watch, "e-" + new_id())
        if await self.escalations.esc.get(escalation) is None:
            flagged = await self.pages.message(watch.room, watch.message)
            opened = self._open(watch.room, [flagged] if flagged else [])
            text = opened[0][1].text if opened else EXPIRED_EXCERPT
            await self.escalations.raise_alert(
                watch.room,
                watch.message,
                text,
                watch.category,
                reason=REASON_SILENCE,
                escalation=escalation,
            )
        await self.pages.end_watch(member, watch.message)

    def _open(self, room: str, records: list[Sealed]) -> list[tuple[str, Plain]]:
        opened = []
        for record in records:
            try:
                data = self.keys.open(record.key_id, record.blob, room, record.id)
                opened.append((record.id, unpack(data)))
            except (InvalidTag, KeyError, ValueError):
                log.error("a message does not open with the data keys; skipped")
        return opened


def send_email(target: EmailPage, password: str, subject: str, text: str) -> None:
    """One email page, blocking: run it in a thread."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = target.sender
    message["To"] = ", ".join(target.to)
    message["Date"] = formatdate(usegmt=True)  # mail servers mark a page without one as spam
    message["Message-ID"] = make_msgid(domain=target.sender.rpartition("@")[2])
    message.set_content(text)
    with smtplib.SMTP(target.smtp_host, target.smtp_port, timeout=SEND_TIMEOUT_SECONDS) as smtp:
        if target.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if target.username:
            smtp.login(target.username, password)
        smtp.send_message(message)


def describe(exc: BaseException) -> str:
    """A failure as an audit-safe word: no URL, no address, no server's reply text."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"http_{exc.response.status_code}"
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return "timeout"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"smtp_{exc.smtp_code}"
    return type(exc).__name__
