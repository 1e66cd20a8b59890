"""Moderator review over HTTP: flagged messages, flagged support topics, held alerts and
reports with their context and what became of their alerts; dismiss (a false alarm),
resolve (a real crisis, handled), warn, mute, ban, escalate, remove the message; the
lexicon moderators can change without a restart.

Every view and every action is written to the audit log first (who, what, which item, when,
why; never content): no audit record, no access. Moderators see flagged items and their
context only; nothing here lists rooms or people.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from moderation import Entry, LexiconError
from moderation.patterns import check_cost, compile_pattern
from server.core import frames
from server.core.events import Banned, LexiconChanged, Muted, SendTo
from server.core.messages import Plain, message_frame, unpack
from server.core.people import Role
from server.core.protocol import CloseCode, encode
from server.core.triage import TOPIC_PLACE
from server.crypto import KeyRing
from server.services.crisis import Crisis
from server.services.escalation import Auditor, Escalations
from server.store import Store, StoredMessage
from server.store.review import Item, ReviewStore
from server.web.console import StaffLogin, StaffWeb
from server.web.http import STATIC_DIR, error, read_json
from server.ws.hub import Hub

log = logging.getLogger(__name__)

CONTEXT_MESSAGES = 5  # before and after the flagged one (issue 4)
MAX_REASON_CHARS = 500
MAX_WARNING_CHARS = 1_000
MAX_MUTE_MINUTES = 7 * 24 * 60  # a week; longer is a ban
ACTIONS = {"dismiss": "dismissed", "resolve": "resolved", "warn": "warned", "mute": "muted",
           "ban": "banned", "escalate": "escalated", "remove": "removed"}  # fmt: skip
# Entry ids go into the audit log as targets, which take ids only (server/core/audit.py).
ENTRY_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
WARNING_DEFAULT = (
    "A moderator asked you to keep to the room's guidelines. Everyone here is in recovery; "
    "please be kind."
)


@dataclass
class ReviewWeb:
    staff_web: StaffWeb
    store: Store
    review: ReviewStore
    keys: KeyRing
    hub: Hub
    crisis: Crisis
    escalations: Escalations
    audit: Auditor
    clock: Callable[[], float]
    retention_seconds: float

    def __post_init__(self) -> None:
        self.hub.on(Muted, self._on_mute)
        self.hub.on(Banned, self._on_ban)
        self.hub.on(LexiconChanged, self._on_lexicon)

    async def page(self, request: Request) -> Response:
        return FileResponse(STATIC_DIR / "review.html", media_type="text/html")

    async def _moderator(self, request: Request) -> StaffLogin | Response:
        found = await self.staff_web.current(request)
        if found is None:
            return error(401, "no_session", "no staff session")
        if Role.MODERATOR not in found.account.roles:
            return error(403, "forbidden", "review is for moderators")
        return found

    async def _changer(self, request: Request) -> tuple[StaffLogin, dict[str, Any]] | Response:
        found = await self._moderator(request)
        if isinstance(found, Response):
            return found
        if not self.staff_web.csrf_ok(request, found.session):
            return error(403, "forbidden", "missing or wrong CSRF token or origin")
        body = await read_json(request)
        if isinstance(body, Response):
            return body
        if not isinstance(body, dict):
            return error(400, "bad_request", "the body is a JSON object")
        return found, body

    # ---- items ----------------------------------------------------------------------------

    async def items(self, request: Request) -> Response:
        found = await self._moderator(request)
        if isinstance(found, Response):
            return found
        which = request.query_params.get("status", "open")
        if which not in ("open", "all"):
            return error(400, "bad_request", "status is open or all")
        items = await self.review.items()
        if which == "open":
            items = [i for i in items if i.status == "open"]
        # Held alerts and urgent topics first (a person who may be in danger), then newest.
        items.sort(key=lambda i: (not _first(i), -i.ts))
        await self.audit.record(found.account.uid, "review.list", which)
        names = await self._names({i.by for i in items if i.by})
        return JSONResponse({"items": [self._summary(i, names) for i in items]})

    async def _names(self, uids: set[str]) -> dict[str, str]:
        """Display names of the staff who acted (never usernames)."""
        staff = self.staff_web.staff
        names = {}
        for uid in uids:
            account = await staff.get(uid) if staff else None
            names[uid] = account.name if account else "a former staff member"
        return names

    def _summary(self, item: Item, names: dict[str, str] | None = None) -> dict[str, Any]:
        program_room = self.staff_web.settings.program.room(item.room)
        topic = item.kind == "topic"
        room_name = program_room.name if program_room else "Private chat"
        body: dict[str, Any] = {
            "id": item.id,
            "kind": item.kind,
            "room": None if topic else item.room,
            "room_name": TOPIC_PLACE if topic else room_name,
            "message": None if topic else item.message,
            "label": item.label or None,
            "category": item.category or None,
            "ts": item.ts,
            "status": item.status,
        }
        if item.by:
            body.update(by=item.by, by_name=(names or {}).get(item.by, ""), at=item.at)
        if topic:
            body["ticket"] = item.message
        return body

    async def _alerts(self, item: Item) -> list[dict[str, Any]]:
        """What became of each alert raised for the item: who took it and when, and whether
        it was paged out of band."""
        outcomes = await self.escalations.esc.outcomes_of(item.room, item.message)
        names = await self._names({o.taken_by for o in outcomes if o.taken_by})
        return [
            {
                "escalation": o.escalation,
                "raised": o.created_ms,
                "taken_by": o.taken_by or None,
                "taken_by_name": names.get(o.taken_by) if o.taken_by else None,
                "taken_at": o.taken_ms or None,
                "paged": bool(o.paged_ms),
                "paged_at": o.paged_ms or None,
            }
            for o in outcomes
        ]

    async def item(self, request: Request) -> Response:
        found = await self._moderator(request)
        if isinstance(found, Response):
            return found
        item = await self.review.item(request.path_params["item"])
        if item is None:
            return error(404, "not_found", "no such item")
        await self.audit.record(found.account.uid, "review.view", item.id, room=item.room)
        context: list[dict[str, Any]] = []
        if item.kind != "topic":  # a topic was typed in no room: there is no conversation
            before, itself, after = await self.review.around(
                item.room, item.message, CONTEXT_MESSAGES
            )
            shown = [*before, *([itself] if itself else []), *after]
            context = [f for f in (self._frame(m) for m in shown) if f]
        detail = self._summary(item, await self._names({item.by} if item.by else set()))
        detail["evidence"], detail["reason"] = self._opened(item)
        if item.kind == "topic":
            detail["topic"] = self._topic(item)
        detail["alerts"] = await self._alerts(item)
        target = None if item.kind == "topic" else item.message
        return JSONResponse({"item": detail, "context": context, "target": target})

    def _topic(self, item: Item) -> str | None:
        try:
            opened = self.keys.open(item.key_id, item.blob, "flag", "", item.message)
            return str(json.loads(opened)["topic"])
        except (InvalidTag, KeyError, ValueError, TypeError):
            return None

    def _opened(self, item: Item) -> tuple[list[str], str | None]:
        if not item.blob:
            return [], None
        try:
            if item.kind == "topic":
                opened = self.keys.open(item.key_id, item.blob, "flag", "", item.message)
                return [str(e) for e in json.loads(opened)["evidence"]], None
            if item.kind == "report":
                reason = self.keys.open(item.key_id, item.blob, "report", item.room, item.message)
                return [], reason.decode() or None
            evidence = self.keys.open(item.key_id, item.blob, "flag", item.room, item.message)
            return list(json.loads(evidence)), None
        except (InvalidTag, KeyError, ValueError):
            return [], None

    def _plain(self, message: StoredMessage) -> Plain | None:
        try:
            return unpack(self.keys.open(message.key_id, message.blob, message.room, message.id))
        except (InvalidTag, KeyError, ValueError):
            return None

    def _frame(self, message: StoredMessage) -> dict[str, Any] | None:
        plain = self._plain(message)
        return message_frame(message.room, message.id, plain) if plain else None

    def _author(self, message: StoredMessage | None) -> str | None:
        plain = self._plain(message) if message is not None else None
        return plain.author if plain and plain.role == "participant" else None

    async def act(self, request: Request) -> Response:
        found = await self._changer(request)
        if isinstance(found, Response):
            return found
        login, body = found
        action, reason = body.get("action"), body.get("reason")
        if action not in ACTIONS:
            return error(400, "bad_request", f"action is one of {', '.join(ACTIONS)}")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON_CHARS:
            return error(400, "bad_request", f"a reason of 1 to {MAX_REASON_CHARS} characters")
        minutes = body.get("minutes")
        if action == "mute" and not (
            isinstance(minutes, int) and not isinstance(minutes, bool)
            and 1 <= minutes <= MAX_MUTE_MINUTES
        ):  # fmt: skip
            return error(400, "bad_request", f"minutes is a whole number 1 to {MAX_MUTE_MINUTES}")
        text = body.get("text") or WARNING_DEFAULT
        if action == "warn" and (not isinstance(text, str) or len(text) > MAX_WARNING_CHARS):
            return error(400, "bad_request", f"text is at most {MAX_WARNING_CHARS} characters")
        item = await self.review.item(request.path_params["item"])
        if item is None:
            return error(404, "not_found", "no such item")
        topic = item.kind == "topic"
        message = None if topic else await self.store.message(item.room, item.message)
        author = (item.pid or None) if topic else self._author(message)
        if action in ("warn", "mute", "ban") and author is None:
            return error(400, "bad_request", "the message is gone, or was not a participant's")
        if action == "remove" and topic:
            return error(400, "bad_request", "a support topic is not a message in a room")
        if action == "remove" and message is None:
            return error(400, "bad_request", "the message is gone already")
        uid, now = login.account.uid, self.clock()
        await self.audit.record(uid, f"review.{action}", item.id, reason.strip(), room=item.room)
        if action == "warn" and author:
            notice = frames.notice(item.room, "moderation", text)
            await self.store.publish_control(SendTo(author, encode(notice)))
        elif action == "mute" and author and isinstance(minutes, int):
            until = int(now * 1000) + minutes * 60_000
            await self.review.mute(author, until, int(now * 1000))
            await self.store.publish_control(Muted(author, until))
        elif action == "ban" and author:
            await self.review.ban(author, self.retention_seconds)
            await self.store.publish_control(Banned(author))
        elif action == "remove":
            # The room loses the message at once on every process; the review item, its
            # evidence and the audit record stay, as the record of what was decided.
            await self.store.remove(item.room, item.message)
        elif action == "escalate":
            # A human decided: no hourly cap applies.
            text_of = self._frame(message) if message else None
            excerpt = str(text_of["text"]) if text_of else "(see the room)"
            if topic:
                excerpt = self._topic(item) or "(the topic cannot be read)"
            await self.escalations.raise_alert(item.room, item.message, excerpt, item.category)
        status = ACTIONS[action]
        await self.review.set_status(item.id, status, uid, int(now * 1000))
        log.info("review action %s by staff %s", action, uid)
        return JSONResponse({"status": status})

    # ---- the lexicon ----------------------------------------------------------------------

    async def lexicon(self, request: Request) -> Response:
        found = await self._moderator(request)
        if isinstance(found, Response):
            return found
        builtin = {e.id for e in self.crisis.base_lexicon.entries}
        lexicon = self.crisis.lexicon
        entries = [
            {**e.to_dict(), "origin": "builtin" if e.id in builtin else "added"}
            for e in lexicon.entries
        ]
        return JSONResponse({"version": lexicon.version, "entries": entries})

    async def change_lexicon(self, request: Request) -> Response:
        found = await self._changer(request)
        if isinstance(found, Response):
            return found
        login, body = found
        reason = body.get("reason")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON_CHARS:
            return error(400, "bad_request", f"a reason of 1 to {MAX_REASON_CHARS} characters")
        current = self.crisis.lexicon
        try:
            if isinstance(body.get("add"), dict):
                entry = Entry.from_dict(body["add"])
                if not ENTRY_ID.fullmatch(entry.id):
                    return error(400, "bad_request", "an id is 1-64 of A-Z a-z 0-9 . _ : -")
                if any(e.id == entry.id for e in current.entries):
                    return error(400, "bad_request", f"an entry {entry.id!r} exists already")
                current.with_changes(added=[entry])  # refuses a bad pattern before storing
                check_cost(compile_pattern(entry.pattern))  # and one too slow to run in `say`
                op, value, target = "add", json.dumps(entry.to_dict()), entry.id
            elif isinstance(body.get("retire"), str):
                target = body["retire"]
                if not any(e.id == target for e in current.entries):
                    return error(400, "bad_request", f"no entry {target!r}")
                op, value = "retire", target
            else:
                return error(400, "bad_request", "send {add: entry} or {retire: id}")
        except (LexiconError, ValueError, KeyError, TypeError) as exc:
            return error(400, "bad_request", f"not a valid entry: {exc}")
        await self.audit.record(login.account.uid, f"lexicon.{op}", target, reason.strip())
        await self.review.add_lexicon_change(op, value, login.account.uid)
        await self.crisis.reload_lexicon()
        await self.store.publish_control(LexiconChanged())
        return JSONResponse({"version": self.crisis.lexicon.version})

    # ---- control events -------------------------------------------------------------------

    def _on_mute(self, event: Muted) -> None:
        for conn in list(self.hub.people.get(event.pid, ())):
            conn.muted_until = event.until

    def _on_ban(self, event: Banned) -> None:
        for conn in list(self.hub.people.get(event.pid, ())):
            conn.close(CloseCode.BANNED, "closed by the program's moderators")

    def _on_lexicon(self, event: LexiconChanged) -> None:
        self.hub.spawn(self.crisis.reload_lexicon())


def _first(item: Item) -> bool:
    """Open items about a person who may be in danger now, listed before the rest."""
    danger = item.kind == "held" or (item.kind == "topic" and item.label == "urgent")
    return danger and item.status == "open"
