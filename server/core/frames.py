"""Every frame the server sends, one builder each, with the fields docs/protocol.md gives.

A builder returns the frame as a dict; `server.core.protocol.encode` (with `with_ref` for an
answer to a client frame that carried a `ref`) makes it text. Building frames only here means
a field is named once, and tests/server/core/test_frames.py checks each type against the
protocol document. `message` frames are built in server/core/messages.py from a stored
record, and `error` frames by `server.core.protocol.error_frame`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Frame = dict[str, Any]


# ---- chat (server/services/chat.py) ---------------------------------------------------------


def hello(protocol: int, you: dict[str, Any], rooms: list[str]) -> Frame:
    return {"type": "hello", "protocol": protocol, "you": you, "rooms": rooms}


def joined(
    room: str,
    name: str,
    history: list[Any],
    more: bool,
    reset: bool,
    *,
    chat: tuple[str | None, str] | None = None,
) -> Frame:
    frame: Frame = {
        "type": "joined",
        "room": room,
        "name": name,
        "history": history,
        "more": more,
        "reset": reset,
    }
    if chat is not None:  # staff joining a direct room: its topic and priority, again
        frame["topic"], frame["priority"] = chat
    return frame


def left(room: str) -> Frame:
    return {"type": "left", "room": room}


def pong() -> Frame:
    return {"type": "pong"}


def presence(room: str, count: int) -> Frame:
    return {"type": "presence", "room": room, "count": count}


def ack(room: str, nonce: str, message_id: str) -> Frame:
    return {"type": "ack", "room": room, "nonce": nonce, "id": message_id}


def typing(room: str, name: str) -> Frame:
    return {"type": "typing", "room": room, "from": name}


def reported(message_id: str) -> Frame:
    return {"type": "reported", "message": message_id}


def erased(room: str, ids: list[str], *, by_moderator: bool = False) -> Frame:
    frame: Frame = {"type": "erased", "room": room, "ids": ids}
    if by_moderator:
        frame["by"] = "moderator"
    return frame


def notice(
    room: str,
    kind: str,
    text: str,
    resources: Sequence[dict[str, str]] = (),
    *,
    lang: str | None = None,
) -> Frame:
    """Text from the program, not from a person: crisis resources, a moderator's warning,
    a system line in a one-to-one chat. `lang` (crisis resources): the language of the
    message that raised it, which the text and resources are in."""
    frame: Frame = {
        "type": "notice",
        "room": room,
        "kind": kind,
        "text": text,
        "resources": list(resources),
    }
    if lang is not None:
        frame["lang"] = lang
    return frame


# ---- one-to-one support (server/services/desk.py) -------------------------------------------


def queued(ticket: str) -> Frame:
    return {"type": "queued", "ticket": ticket}


def cancelled(ticket: str | None) -> Frame:
    return {"type": "cancelled", "ticket": ticket}


def thanks() -> Frame:
    return {"type": "thanks"}


def assigned(
    room: str, *, ticket: str | None = None, transfer: bool = False, invite: str | None = None
) -> Frame:
    frame: Frame = {"type": "assigned", "room": room}
    if ticket is not None:
        frame["ticket"] = ticket
    if transfer:
        frame["transfer"] = True
    if invite is not None:
        frame["invite"] = invite
    return frame


def noted(room: str, note_id: str, text: str, name: str, role: str, ts: int) -> Frame:
    return {
        "type": "noted",
        "room": room,
        "id": note_id,
        "text": text,
        "from": {"name": name, "role": role},
        "ts": ts,
    }


def notes(room: str, items: list[Frame]) -> Frame:
    return {"type": "notes", "room": room, "notes": items}


def ended(room: str) -> Frame:
    return {"type": "ended", "room": room}


def transferred(room: str) -> Frame:
    return {"type": "transferred", "room": room}


def wrapped(room: str) -> Frame:
    return {"type": "wrapped", "room": room}


def status(available: bool) -> Frame:
    return {"type": "status", "available": available}


def queue(waiting: list[Frame]) -> Frame:
    return {"type": "queue", "waiting": waiting}


# ---- crisis alerts (server/services/escalation.py) ------------------------------------------


def alert(
    escalation: str,
    room: str,
    room_name: str,
    excerpt: str,
    category: str,
    deadline_ms: int,
    rung: int,
    since_ms: int,
    reason: str = "message",  # issue 13: "message" (an urgent message) or "silence"
    *,
    message: str = "",
) -> Frame:
    frame: Frame = {
        "type": "alert",
        "escalation": escalation,
        "room": room,
        "room_name": room_name,
        "level": "urgent",
        "excerpt": excerpt,
        "category": category,
        "deadline": deadline_ms,
        "rung": rung,
        "since": since_ms,
        "reason": reason,
    }
    if message:
        frame["message"] = message  # the flagged message's id: what an invitation names
    return frame


def alert_taken(escalation: str, by: str) -> Frame:
    return {"type": "alert_taken", "escalation": escalation, "by": by}


def on_call(on: bool) -> Frame:
    return {"type": "on_call", "on": on}


# ---- what staff see of flagged messages, and invitations (services/staffview.py, invites.py) --


def flagged(room: str, message: str, label: str, category: str) -> Frame:
    """To staff in the room only: this message read as urgent or concern."""
    return {
        "type": "flagged",
        "room": room,
        "message": message,
        "label": label,
        "category": category,
    }


def invite_sent(invite: str, room: str, message: str) -> Frame:
    return {"type": "invite_sent", "invite": invite, "room": room, "message": message}


def invited(invite: str, room: str, room_name: str, name: str, role: str) -> Frame:
    """To the invited participant: who invites them (display name and role), from where."""
    return {
        "type": "invited",
        "invite": invite,
        "room": room,
        "room_name": room_name,
        "from": {"name": name, "role": role},
    }


def declined(invite: str) -> Frame:
    return {"type": "declined", "invite": invite}


def invite_declined(invite: str) -> Frame:
    return {"type": "invite_declined", "invite": invite}
