"""Control events: what one server process tells every other one, through Redis pub/sub.

Each kind is a dataclass with its own `op`; `to_json` and `from_json` are the only way one
becomes the JSON published on the control channel and back, so a publisher and the handlers
in every process agree on the fields. An event of an unknown kind (a newer process during a
rolling upgrade) or with missing or mistyped fields reads as None: it is ignored, never a
crash. Events carry ids and ready-made frames, never message text in the clear beyond what
the frame it carries would show its recipient anyway.
"""

from __future__ import annotations

import dataclasses
import types
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union, get_args, get_origin, get_type_hints


@dataclass(frozen=True, slots=True)
class Close:
    """Close the sockets of one staff session (logout) or of one person (account disabled)."""

    op: ClassVar[str] = "close"
    session: str | None = None
    who: str | None = None


@dataclass(frozen=True, slots=True)
class QueueChanged:
    """The support queue changed: every process sends supporters the queue again."""

    op: ClassVar[str] = "queue"


@dataclass(frozen=True, slots=True)
class SendTo:
    """Send one ready-made frame to every socket of one person, wherever it is."""

    op: ClassVar[str] = "to"
    who: str
    frame: str


@dataclass(frozen=True, slots=True)
class NoteAdded:
    """A staff note in a direct room: shown to the staff sockets in that room."""

    op: ClassVar[str] = "notes"
    room: str
    frame: str
    skip: str = ""  # the socket that wrote it, which has its own answer already


@dataclass(frozen=True, slots=True)
class ChatEnded:
    """A direct room ended: its members are told, and nobody may write in it any more."""

    op: ClassVar[str] = "ended"
    room: str
    members: list[str] = field(default_factory=list)
    pid: str = ""  # the participant, who is also asked for feedback
    skip: str = ""


@dataclass(frozen=True, slots=True)
class LeftChat:
    """A staff member left a direct room (a transfer): their sockets leave it."""

    op: ClassVar[str] = "kick"
    room: str
    who: str
    frame: str
    skip: str = ""


@dataclass(frozen=True, slots=True)
class Paged:
    """An alert paged these staff members: their consoles show it."""

    op: ClassVar[str] = "page"
    escalation: str
    to: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AlertTaken:
    """Someone took an alert: every console drops it."""

    op: ClassVar[str] = "taken"
    frame: str
    skip: str = ""


@dataclass(frozen=True, slots=True)
class Muted:
    op: ClassVar[str] = "mute"
    pid: str
    until: int  # ms since the epoch


@dataclass(frozen=True, slots=True)
class Banned:
    op: ClassVar[str] = "ban"
    pid: str


@dataclass(frozen=True, slots=True)
class LexiconChanged:
    """A moderator changed the crisis lexicon: every process reloads it."""

    op: ClassVar[str] = "lexicon"


@dataclass(frozen=True, slots=True)
class Removed:
    """A moderator removed messages: every socket in the room drops them."""

    op: ClassVar[str] = "removed"
    room: str
    ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Erased:
    """A participant erased themselves: their sockets close, their messages go everywhere."""

    op: ClassVar[str] = "erase"
    pid: str
    ids: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Flagged:
    """A message read as urgent or concern: the staff sockets in its room mark it."""

    op: ClassVar[str] = "flagged"
    room: str
    frame: str


ControlEvent = (
    Close
    | QueueChanged
    | SendTo
    | NoteAdded
    | ChatEnded
    | LeftChat
    | Paged
    | AlertTaken
    | Muted
    | Banned
    | LexiconChanged
    | Removed
    | Erased
    | Flagged
)
KINDS: dict[str, type[Any]] = {kind.op: kind for kind in get_args(ControlEvent)}


def to_json(event: ControlEvent) -> dict[str, Any]:
    return {"op": event.op, **{f.name: getattr(event, f.name) for f in dataclasses.fields(event)}}


def from_json(data: Any) -> ControlEvent | None:
    """The event `data` holds, or None for an unknown kind or a malformed one."""
    if not isinstance(data, dict):
        return None
    kind = KINDS.get(str(data.get("op")))
    if kind is None:
        return None
    values = {}
    for name, hint in _fields(kind).items():
        if name not in data:
            continue
        if not _fits(data[name], hint):
            return None
        values[name] = data[name]
    try:
        event: ControlEvent = kind(**values)
    except TypeError:  # a required field is missing
        return None
    return event


def _fields(kind: type[Any]) -> dict[str, Any]:
    hints = get_type_hints(kind)
    return {f.name: hints[f.name] for f in dataclasses.fields(kind)}


def _fits(value: Any, hint: Any) -> bool:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_fits(value, arg) for arg in get_args(hint))
    if hint is type(None):
        return value is None
    if origin is list:
        (item,) = get_args(hint)
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    if origin is dict:
        key, item = get_args(hint)
        return isinstance(value, dict) and all(
            _fits(k, key) and _fits(v, item) for k, v in value.items()
        )
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)
