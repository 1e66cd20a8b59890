from __future__ import annotations

import json

import pytest

from server.core import protocol
from server.core.protocol import (
    MAX_FRAME_BYTES,
    MAX_TEXT_CHARS,
    ErrorCode,
    FrameError,
    Join,
    Report,
    Say,
    decode,
    encode,
    error_frame,
    parse_message_id,
)


def frame(**fields: object) -> str:
    return json.dumps(fields)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (frame(type="join", room="general", since=None), Join(None, "general", None, None)),
        (
            frame(type="join", room="general", since="17-3", ref="r1"),
            Join("r1", "general", "17-3", None),
        ),
        (frame(type="join", room="officers", invite="code"), Join(None, "officers", None, "code")),
        (frame(type="say", room="g", text="hi", nonce="n"), Say(None, "g", "hi", "n")),
        (
            frame(type="report", room="g", message="1-0", reason="rude"),
            Report(None, "g", "1-0", "rude"),
        ),
        (frame(type="ping"), protocol.Ping(None)),
        (frame(type="leave", room="g"), protocol.Leave(None, "g")),
        (frame(type="typing", room="g"), protocol.Typing(None, "g")),
        (frame(type="request_support", topic=None), protocol.RequestSupport(None, None)),
        (
            frame(type="feedback", room="dm-1", rating=5, comment=None),
            protocol.Feedback(None, "dm-1", 5, None),
        ),
        (frame(type="on_call", on=True), protocol.OnCall(None, True)),
    ],
    ids=[
        "join",
        "join-since-ref",
        "join-invite",
        "say",
        "report",
        "ping",
        "leave",
        "typing",
        "request-support",
        "feedback",
        "on-call",
    ],
)
def test_decodes_valid_frames(raw: str, expected: object) -> None:
    assert decode(raw) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", ErrorCode.BAD_JSON),
        ("", ErrorCode.BAD_JSON),
        ("[" * 10_000 + "]" * 10_000, ErrorCode.BAD_JSON),
        ('{"type":"ping","n":' + "9" * 60_000 + "}", ErrorCode.BAD_JSON),
        ("[1, 2]", ErrorCode.BAD_FRAME),
        ('"text"', ErrorCode.BAD_FRAME),
        (frame(room="g"), ErrorCode.BAD_FRAME),
        (frame(type=7), ErrorCode.BAD_FRAME),
        (frame(type="dance"), ErrorCode.UNKNOWN_TYPE),
        (
            frame(type="say", room="g", text="x" * (MAX_TEXT_CHARS + 1), nonce="n"),
            ErrorCode.TOO_LONG,
        ),
        (frame(type="say", room="g", text="   ", nonce="n"), ErrorCode.BAD_FRAME),
        (frame(type="say", room="g", text="hi"), ErrorCode.BAD_FRAME),
        (frame(type="say", room="g", text="hi", nonce="n" * 65), ErrorCode.BAD_FRAME),
        (frame(type="say", room=5, text="hi", nonce="n"), ErrorCode.BAD_FRAME),
        (frame(type="join", room="g", since="yesterday"), ErrorCode.BAD_FRAME),
        (frame(type="join", room="g", since="1-2-3"), ErrorCode.BAD_FRAME),
        (frame(type="join", room="g", since=12), ErrorCode.BAD_FRAME),
        (frame(type="join", room="x" * 65), ErrorCode.BAD_FRAME),
        (frame(type="ping", ref="r" * 65), ErrorCode.BAD_FRAME),
        (frame(type="ping", ref=3), ErrorCode.BAD_FRAME),
        (frame(type="report", room="g", message="nope", reason="x"), ErrorCode.BAD_FRAME),
        (frame(type="feedback", room="d", rating=6), ErrorCode.BAD_FRAME),
        (frame(type="feedback", room="d", rating=True), ErrorCode.BAD_FRAME),
        (frame(type="on_call", on="yes"), ErrorCode.BAD_FRAME),
        ('{"type":"ping","x":"' + "é" * (MAX_FRAME_BYTES // 2) + '"}', ErrorCode.TOO_LONG),
        ('{"type":"say","room":"g","text":"\\ud800 hi","nonce":"n"}', ErrorCode.BAD_FRAME),
        ('{"type":"report","room":"g","message":"1-0","reason":"\\udfff"}', ErrorCode.BAD_FRAME),
        ('{"type":"ping","ref":"\\ud800"}', ErrorCode.BAD_FRAME),
        ('{"type":"join","room":"officers","invite":"\\udc00"}', ErrorCode.BAD_FRAME),
        (frame(type="say", room="g", text="hi \x01", nonce="n"), ErrorCode.BAD_FRAME),
        (frame(type="say", room="g", text="a\r\nb", nonce="n"), ErrorCode.BAD_FRAME),
        (frame(type="say", room="g", text="del \x7f", nonce="n"), ErrorCode.BAD_FRAME),
        (frame(type="request_support", topic="\x85"), ErrorCode.BAD_FRAME),
    ],
    ids=[
        "bad-json",
        "empty",
        "deep-nesting",
        "huge-number",
        "array",
        "string",
        "no-type",
        "type-not-string",
        "unknown-type",
        "text-too-long",
        "blank-text",
        "no-nonce",
        "long-nonce",
        "room-not-string",
        "since-word",
        "since-shape",
        "since-number",
        "long-room",
        "long-ref",
        "ref-not-string",
        "report-bad-id",
        "rating-range",
        "rating-bool",
        "on-call-type",
        "frame-over-64k-bytes",
        "lone-surrogate-text",
        "lone-surrogate-reason",
        "lone-surrogate-ref",
        "lone-surrogate-invite",
        "control-character-text",
        "carriage-return-text",
        "delete-text",
        "c1-control-topic",
    ],
)
def test_refuses_bad_frames_with_their_code(raw: str, code: ErrorCode) -> None:
    with pytest.raises(FrameError) as caught:
        decode(raw)
    assert caught.value.code == code


def test_error_echoes_ref_when_readable() -> None:
    with pytest.raises(FrameError) as caught:
        decode(frame(type="dance", ref="abc"))
    assert caught.value.ref == "abc"
    assert json.loads(error_frame(caught.value.code, "x", caught.value.ref)) == {
        "type": "error",
        "code": "unknown_type",
        "detail": "x",
        "ref": "abc",
    }


def test_text_of_exactly_the_limit_is_accepted() -> None:
    text = "ü" * MAX_TEXT_CHARS
    assert decode(frame(type="say", room="g", text=text, nonce="n")) == Say(None, "g", text, "n")


def test_newline_and_tab_are_the_control_characters_text_may_hold() -> None:
    text = "line one\n\tline two"
    assert decode(frame(type="say", room="g", text=text, nonce="n")) == Say(None, "g", text, "n")


def test_message_ids_parse_only_in_stream_form() -> None:
    assert parse_message_id("1764000000000-0") == (1764000000000, 0)
    assert parse_message_id("1764000000000") is None
    assert parse_message_id("-1-0") is None
    assert parse_message_id("1" * 16 + "-0") is None


def test_encode_is_compact_and_keeps_unicode() -> None:
    assert encode({"type": "pong", "x": "ñ"}) == '{"type":"pong","x":"ñ"}'


# ---- invitations to a private chat (issue 13) -----------------------------------------------


def test_invitation_frames_decode() -> None:
    assert decode(frame(type="invite_direct", room="general", message="17-0", ref="i")) == (
        protocol.InviteDirect("i", "general", "17-0")
    )
    assert decode(frame(type="accept_invite", invite="i-abc")) == protocol.AcceptInvite(
        None, "i-abc"
    )
    assert decode(frame(type="decline_invite", invite="i-abc")) == protocol.DeclineInvite(
        None, "i-abc"
    )


@pytest.mark.parametrize(
    "raw",
    [
        frame(type="invite_direct", room="general"),
        frame(type="invite_direct", room="general", message="yesterday"),
        frame(type="invite_direct", room="general", message=17),
        frame(type="invite_direct", message="17-0"),
        frame(type="accept_invite"),
        frame(type="accept_invite", invite=""),
        frame(type="decline_invite", invite="x" * 65),
        frame(type="decline_invite", invite=["i-1"]),
    ],
)
def test_invitation_frames_refuse_bad_fields(raw: str) -> None:
    with pytest.raises(FrameError) as caught:
        decode(raw)
    assert caught.value.code == ErrorCode.BAD_FRAME
