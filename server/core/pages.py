"""Out-of-band paging as pure rules: which alerts need paging now, when a failed delivery is
tried again, what a page says and how it is signed; and when a flagged person's silence
becomes an alert. No I/O and no clock of its own: every time is passed in (ms since the epoch).

A page carries only the facts a person needs to open the console: never the message text,
the pseudonym, the room id or any person's id (tests/server/core/test_pages.py).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import orjson

# A failed delivery is tried again after 2 s, then 4, 8, 16, 32, then every 60 s until it
# goes through or the alert is taken: a pager's outage must not lose the page, and at 3 a.m.
# a minute between tries is the longest anyone should wait once the receiver is back.
FIRST_RETRY_MS = 2_000
MAX_RETRY_MS = 60_000
# A claimed delivery is the claimer's for this long; a process killed in mid-send gives it
# back after the lease. Above the longest send (HTTP and SMTP timeouts are 10 s each).
CLAIM_LEASE_MS = 30_000

REASON_MESSAGE = "message"  # the alert came from an urgent message
REASON_SILENCE = "silence"  # the alert came from a flagged person's silence
PAGE_NO_CONSOLE = "no_console"  # paged at once: no staff console open anywhere
PAGE_NOT_TAKEN = "not_taken"  # paged after page_after_seconds without anyone taking it


@dataclass(frozen=True, slots=True)
class PageCheck:
    """What the pager knows of one open escalation."""

    escalation: str
    created_ms: int
    taken: bool
    paged: bool


def page_reason(check: PageCheck, now_ms: int, consoles_open: bool, page_after_ms: int) -> str:
    """Why this alert is paged out of band now, or "" when it is not (yet)."""
    if check.taken or check.paged:
        return ""
    if not consoles_open:
        return PAGE_NO_CONSOLE
    if now_ms >= check.created_ms + page_after_ms:
        return PAGE_NOT_TAKEN
    return ""


def retry_at_ms(now_ms: int, failures: int) -> int:
    """When a delivery that has failed `failures` times (at least 1) is tried again."""
    exponent = max(0, failures - 1)
    delay = MAX_RETRY_MS if exponent >= 16 else min(MAX_RETRY_MS, FIRST_RETRY_MS << exponent)
    return now_ms + delay


@dataclass(frozen=True, slots=True)
class PageFacts:
    escalation: str
    level: str
    category: str
    reason: str
    rung: int
    since_ms: int
    program: str
    console_url: str


def page_payload(facts: PageFacts) -> dict[str, object]:
    return {
        "type": "alert",
        "escalation": facts.escalation,
        "level": facts.level,
        "category": facts.category,
        "reason": facts.reason,
        "rung": facts.rung,
        "since": facts.since_ms,
        "program": facts.program,
        "console_url": facts.console_url,
    }


def webhook_body(facts: PageFacts) -> bytes:
    """The exact bytes POSTed and signed."""
    return orjson.dumps(page_payload(facts))


def signature(secret: str, body: bytes) -> str:
    """`X-Peerline-Signature`: HMAC-SHA256 of the exact body, hex, with its scheme."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does (constant time); here for the tests, the docs and relays."""
    return hmac.compare_digest(signature(secret, body), header)


def email_text(facts: PageFacts) -> tuple[str, str]:
    """Subject and body of the email page: the same facts as the webhook."""
    why = (
        "a person flagged earlier has gone silent"
        if facts.reason == REASON_SILENCE
        else "an urgent message"
    )
    subject = f"[{facts.program}] Crisis alert not yet taken ({facts.category or facts.level})"
    body = (
        f"A crisis alert in {facts.program} needs a person now.\n\n"
        f"Why: {why}\n"
        f"Level: {facts.level}\n"
        f"Category: {facts.category or '(none)'}\n"
        f"Rung: {facts.rung}\n"
        f"Raised: {facts.since_ms} (ms since 1970, UTC)\n"
        f"Alert: {facts.escalation}\n\n"
        f"Open the console and take it: {facts.console_url}\n\n"
        "This email carries no words and no names; they are in the console only.\n"
    )
    return subject, body


def target_name(kind: str, index: int) -> str:
    """How a delivery names its target in the audit log: `webhook-0`, `email-1`."""
    return f"{kind}-{index}"


def delivery_member(escalation: str, target: int) -> str:
    return f"{escalation} {target}"


def parse_delivery(member: str) -> tuple[str, int]:
    escalation, _, target = member.partition(" ")
    return escalation, int(target)


# ---- silence ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Written:
    """One message written in the room after the flag: who, and in which role."""

    author: str
    role: str


def silence_broken(person: str, since_flag: list[Written]) -> bool:
    """The watch ends without an alert when the person wrote again, or any staff member
    wrote in the room (someone is with them)."""
    return any(w.author == person or w.role != "participant" for w in since_flag)


def silence_due_ms(flag_ms: int, silence_minutes: float) -> int:
    return flag_ms + round(silence_minutes * 60_000)
