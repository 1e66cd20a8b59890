"""Control events: every kind survives the trip through JSON, and anything else reads as None."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.core import events
from server.core.events import (
    KINDS,
    AlertTaken,
    Banned,
    ChatEnded,
    Close,
    ControlEvent,
    Erased,
    Flagged,
    LeftChat,
    LexiconChanged,
    Muted,
    NoteAdded,
    Paged,
    QueueChanged,
    Removed,
    SendTo,
    from_json,
    to_json,
)

EXAMPLES: list[ControlEvent] = [
    Close(session="d1"),
    Close(who="u1"),
    QueueChanged(),
    SendTo("p1", '{"type":"assigned","room":"dm-1"}'),
    NoteAdded("dm-1", '{"type":"noted"}', skip="c1"),
    ChatEnded("dm-1", ["s1", "p1"], "p1", "c1"),
    LeftChat("dm-1", "s1", '{"type":"transferred","room":"dm-1"}', "c1"),
    Paged("e1", ["u1", "u2"]),
    AlertTaken('{"type":"alert_taken"}', "c2"),
    Muted("p1", 1_700_000_000_000),
    Banned("p1"),
    LexiconChanged(),
    Removed("general", ["1-0"]),
    Erased("p1", {"general": ["1-0", "2-0"]}),
    Flagged("dm-1", '{"type":"flagged","room":"dm-1"}'),
]


def test_every_kind_has_an_example_and_its_own_op() -> None:
    assert {type(e) for e in EXAMPLES} == set(KINDS.values())
    assert len(KINDS) == len(events.get_args(ControlEvent))


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_each_event_survives_json(event: ControlEvent) -> None:
    wire = json.loads(json.dumps(to_json(event)))
    assert wire["op"] == event.op
    assert from_json(wire) == event


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "close",
        {},
        {"op": "from-a-newer-version", "x": 1},
        {"op": "to", "who": "p1"},  # the frame is missing
        {"op": "to", "who": 5, "frame": "{}"},  # mistyped
        {"op": "mute", "pid": "p1", "until": True},  # a bool is not a time
        {"op": "mute", "pid": "p1", "until": "soon"},
        {"op": "page", "escalation": "e1", "to": ["u1", 2]},
        {"op": "erase", "pid": "p1", "ids": {"general": "1-0"}},
    ],
)
def test_anything_else_reads_as_none(data: Any) -> None:
    assert from_json(data) is None


def test_extra_fields_from_a_newer_process_are_ignored() -> None:
    assert from_json({"op": "ban", "pid": "p1", "reason": "new field"}) == Banned("p1")
