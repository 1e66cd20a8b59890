"""Every participant message, read for crisis language before it is acknowledged.

`assess` is the pure scan (moderation/). On `urgent` or `concern` the writer gets the
program's crisis resources at once, before the ack; once the message is stored, it is flagged
for moderators and the writer's support ticket takes that priority; on `urgent` an
escalation is raised, unless this person already raised ALERTS_PER_HOUR in the last hour, in
which case it is held for a moderator (SECURITY.md W6), never dropped. The raise happens
before the ack, so a process killed after the ack cannot lose it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from moderation import Assessment, Entry, Lexicon, LexiconError, scan
from moderation.language import language_of
from server.config import Settings
from server.core import crisis_help, frames
from server.core.metrics import Metrics
from server.core.protocol import encode
from server.crypto import KeyRing
from server.store import Store

if TYPE_CHECKING:
    from server.services.escalation import Escalations
    from server.services.staffview import StaffView
    from server.store.review import ReviewStore

log = logging.getLogger(__name__)


class PriorityLift(Protocol):
    """What a flag needs of the support desk (services/desk.py), named here so the desk,
    which scans support topics with this module, is not imported back."""

    async def raise_priority(self, pid: str, priority: str) -> None: ...


ALERTS_PER_HOUR = 5  # W6: at most 5 escalations an hour per participant before a human looks
ALERT_WINDOW_SECONDS = 3600


class Crisis:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        keys: KeyRing,
        metrics: Metrics,
        clock: Callable[[], float],
        review: ReviewStore,
        escalations: Escalations,
        desk: PriorityLift,
        staff_view: StaffView | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.keys = keys
        self.metrics = metrics
        self.clock = clock
        self.review = review
        self.escalations = escalations
        self.desk = desk
        self.staff_view = staff_view  # the staff in the room see the message marked
        self.base_lexicon = Lexicon.default()
        self.lexicon = self.base_lexicon

    def assess(self, text: str) -> Assessment:
        return scan(text, "participant", self.lexicon)

    def notice(self, room: str, text: str) -> str:
        """The writer's crisis resources, in the language of the `text` that raised them."""
        lang = language_of(text, self.lexicon)
        chosen = crisis_help.resources_in(self.settings.program.resources, lang)
        resources = [crisis_help.resource_fields(r) for r in chosen]
        notice_text = crisis_help.notice_text(lang)
        return encode(frames.notice(room, "crisis_resources", notice_text, resources, lang=lang))

    async def stored(
        self, pid: str, room: str, message: str, text: str, assessment: Assessment
    ) -> None:
        """A flagged message is stored: flag it, raise or hold its alert, lift the ticket."""
        if await self.review.flag_done(room, message):
            return  # a resent duplicate of a message already flagged
        self.metrics.flagged += 1
        kind = "flag"
        category = assessment.category or ""
        if assessment.label == "urgent":
            raised = await self.store.count_recent(f"esc:{pid}", ALERT_WINDOW_SECONDS)
            if raised > ALERTS_PER_HOUR:
                kind = "held"
                self.metrics.alerts_held += 1
                log.warning("crisis alert held for review: the writer's hourly limit is reached")
            else:
                await self.escalations.raise_alert(room, message, text, category)
                self.metrics.alerts_raised += 1
        evidence = json.dumps(list(assessment.evidence), ensure_ascii=False).encode()
        sealed = self.keys.seal(evidence, "flag", room, message)
        await self.review.add_flag(kind, room, message, assessment.label, category, sealed)
        await self.desk.raise_priority(pid, assessment.label)
        if assessment.label in ("urgent", "concern"):
            # Issue 13: silence after a flag becomes an alert (services/pager.py).
            await self.escalations.watch_silence(pid, room, message, category)
        await self.review.note_flag(pid, assessment.label, int(self.clock() * 1000))
        if self.staff_view is not None:
            await self.staff_view.flagged(room, message, assessment.label, category)
        # Last: a failure above leaves this unset, so the client's resend does it all again.
        await self.review.mark_flag_done(room, message, self.settings.retention_seconds)

    async def forget(self, ids_by_room: dict[str, list[str]], pid: str = "") -> None:
        """An erasure: the flags and alert excerpts that quote those messages, or the
        person's support topics (`pid`), go too (the escalation records stay, without
        content)."""
        erased = {(room, message) for room, ids in ids_by_room.items() for message in ids}
        if pid:
            erased |= {("", ticket) for ticket in await self.review.forget_topics(pid)}
        if not erased:
            return
        await self.review.forget_flags(erased)
        await self.escalations.esc.forget_excerpts_of(erased)
        await self.escalations.forget_silences(erased)
        if self.staff_view is not None:
            await self.staff_view.forget(ids_by_room)

    # ---- support topics (issue 13) --------------------------------------------------------
    # A topic has no room and no message id: its flag (kind `topic`) and alert are filed
    # under room "" and the ticket id it was sealed with, and the flag keeps the person's id
    # (moderators' actions and erasure need it; no message record can give it).

    async def recent_flags(self, pid: str) -> dict[str, int]:
        """{label: ms} of this person's latest flagged messages (kept RECENT_FLAG_SECONDS)."""
        return await self.review.recent_flags(pid)

    async def topic_stored(self, pid: str, ticket: str, text: str, assessment: Assessment) -> None:
        """A support request's topic read as urgent or concern: flag it, raise (or hold)
        its alert, once per ticket. The caller sent the resources and set the priority."""
        if await self.review.flag_done("", ticket):
            return  # asked again while waiting (a reconnect): this ticket's topic is filed
        self.metrics.flagged += 1
        category = assessment.category or ""
        if assessment.label == "urgent":
            raised = await self.store.count_recent(f"esc:{pid}", ALERT_WINDOW_SECONDS)
            if raised > ALERTS_PER_HOUR:
                self.metrics.alerts_held += 1
                log.warning("crisis alert for a topic held for review: hourly limit reached")
            else:
                await self.escalations.raise_alert("", ticket, text, category)
                self.metrics.alerts_raised += 1
        opened = {"evidence": list(assessment.evidence), "topic": text}
        sealed = self.keys.seal(json.dumps(opened, ensure_ascii=False).encode(), "flag", "", ticket)
        await self.review.add_flag("topic", "", ticket, assessment.label, category, sealed, pid)
        await self.review.mark_flag_done("", ticket, self.settings.retention_seconds)

    # ---- the lexicon moderators change ----------------------------------------------------

    async def reload_lexicon(self) -> None:
        self.lexicon = apply_changes(self.base_lexicon, await self.review.lexicon_changes())


def apply_changes(base: Lexicon, changes: list[tuple[str, str]]) -> Lexicon:
    """The lexicon after every recorded change, in order; a change that no longer applies
    (its entry retired twice, say) is skipped rather than stopping the others."""
    lexicon = base
    for op, value in changes:
        try:
            if op == "add":
                lexicon = lexicon.with_changes(added=[Entry.from_dict(json.loads(value))])
            elif op == "retire":
                lexicon = lexicon.with_changes(retired=[value])
        except (LexiconError, ValueError, KeyError):
            log.warning("a recorded lexicon change no longer applies; skipped")
    return lexicon
