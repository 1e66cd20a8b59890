"""SECURITY.md T6: whatever arrives, the decoder answers a frame or a coded error."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.core.protocol import ClientFrame, ErrorCode, FrameError, decode

TYPES = [
    "join",
    "leave",
    "say",
    "typing",
    "report",
    "request_support",
    "feedback",
    "ping",
    "claim",
    "ack_alert",
    "on_call",
    "note",
    "end",
    "dance",
    "",
]
FIELDS = [
    "type",
    "room",
    "text",
    "nonce",
    "since",
    "ref",
    "invite",
    "message",
    "reason",
    "rating",
    "comment",
    "topic",
    "ticket",
    "escalation",
    "on",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def frame_like(draw: Any) -> str:
    obj: dict[str, Any] = {"type": draw(st.sampled_from(TYPES))}
    for key in draw(st.lists(st.sampled_from(FIELDS), max_size=6)):
        obj[key] = draw(json_values)
    return json.dumps(obj)


def check(raw: str) -> None:
    try:
        frame: ClientFrame = decode(raw)
    except FrameError as exc:
        assert isinstance(exc.code, ErrorCode) and exc.detail
        assert exc.ref is None or (isinstance(exc.ref, str) and len(exc.ref) <= 64)
        return
    # A frame that decodes can be stored and sent on: every string in it is encodable.
    for value in (
        vars(frame).values()
        if hasattr(frame, "__dict__")
        else [getattr(frame, name) for name in frame.__slots__]
    ):
        if isinstance(value, str):
            value.encode("utf-8")


@settings(max_examples=5_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame_like())
def test_structured_frames_never_crash_the_decoder(raw: str) -> None:
    check(raw)


@settings(max_examples=5_000, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes_the_decoder(raw: str) -> None:
    check(raw)


def test_hostile_shapes() -> None:
    for raw in [
        '{"type":"say","room":"g","text":"\\ud800","nonce":"n"}',  # lone surrogate
        '{"type":"ping","x":' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"type":"ping"}' + " " * 70_000,
        '{"type":"ping","type":"say"}',
    ]:
        check(raw)
