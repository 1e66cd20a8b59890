"""The WebSocket wire format, sans I/O: client text in, typed frames out; server frames to text.

Nothing here touches a socket, a clock or Redis, so every rule of PROTOCOL.md about frame
shape and size is checked by plain unit tests. `decode` either returns a frame dataclass or
raises `FrameError` with the protocol error code to send back; it never raises anything else.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import orjson

PROTOCOL_VERSION: Final = 1
# The frame limit is enforced twice: by uvicorn (which closes with 1009 before we see the
# frame) and here, counted in UTF-8 bytes, for any transport that did not.
MAX_FRAME_BYTES: Final = 65_536
MAX_TEXT_CHARS: Final = 4_000
MAX_REF_CHARS: Final = 64
MAX_NONCE_CHARS: Final = 64
MAX_ROOM_ID_CHARS: Final = 64
MAX_REASON_CHARS: Final = 1_000
MAX_TOPIC_CHARS: Final = 200
MAX_COMMENT_CHARS: Final = 2_000
MAX_INVITE_CHARS: Final = 128
MAX_TOKEN_CHARS: Final = 64
# Stream ids are "<ms>-<seq>"; bounding the digits keeps a hostile id from costing anything.
MESSAGE_ID_PATTERN: Final = re.compile(r"^(\d{1,15})-(\d{1,15})$")


class ErrorCode(StrEnum):
    BAD_JSON = "bad_json"
    BAD_FRAME = "bad_frame"
    UNKNOWN_TYPE = "unknown_type"
    TOO_LONG = "too_long"
    RATE_LIMITED = "rate_limited"
    FORBIDDEN = "forbidden"
    NO_SUCH_ROOM = "no_such_room"
    NOT_MEMBER = "not_member"
    INVITE_REQUIRED = "invite_required"
    MUTED = "muted"
    ALREADY_CLAIMED = "already_claimed"
    ALREADY_TAKEN = "already_taken"
    INTERNAL = "internal"
    # Extensions (docs/protocol.md): storage is unreachable, the frame was not applied and
    # may be retried unchanged; a feature this server does not offer yet.
    UNAVAILABLE = "unavailable"
    NOT_AVAILABLE = "not_available"
    TOO_MANY_SOCKETS = "too_many_sockets"


class CloseCode:
    NORMAL = 1000
    UNSUPPORTED_DATA = 1003
    POLICY = 1008
    TOO_BIG = 1009
    INTERNAL = 1011
    TOO_SLOW = 4001
    GOING_AWAY = 4002
    BANNED = 4501


class FrameError(Exception):
    def __init__(self, code: ErrorCode, detail: str, ref: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.ref = ref


class Refusal(Exception):
    """A frame that will not be applied: the code and detail go back to the sender. Here,
    beside the codes, so the desk and the escalations raise it without importing chat."""

    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Join:
    ref: str | None
    room: str
    since: str | None
    invite: str | None


@dataclass(frozen=True, slots=True)
class Leave:
    ref: str | None
    room: str


@dataclass(frozen=True, slots=True)
class Say:
    ref: str | None
    room: str
    text: str
    nonce: str


@dataclass(frozen=True, slots=True)
class Typing:
    ref: str | None
    room: str


@dataclass(frozen=True, slots=True)
class Report:
    ref: str | None
    room: str
    message: str
    reason: str


@dataclass(frozen=True, slots=True)
class RequestSupport:
    ref: str | None
    topic: str | None


@dataclass(frozen=True, slots=True)
class Feedback:
    ref: str | None
    room: str
    rating: int
    comment: str | None


@dataclass(frozen=True, slots=True)
class Ping:
    ref: str | None


@dataclass(frozen=True, slots=True)
class Claim:
    ref: str | None
    ticket: str


@dataclass(frozen=True, slots=True)
class AckAlert:
    ref: str | None
    escalation: str


@dataclass(frozen=True, slots=True)
class OnCall:
    ref: str | None
    on: bool


@dataclass(frozen=True, slots=True)
class Note:
    ref: str | None
    room: str
    text: str


@dataclass(frozen=True, slots=True)
class End:
    ref: str | None
    room: str


@dataclass(frozen=True, slots=True)
class CancelSupport:
    ref: str | None


@dataclass(frozen=True, slots=True)
class Transfer:
    ref: str | None
    room: str
    to: str | None  # a staff id, or None: back to the queue


@dataclass(frozen=True, slots=True)
class Wrapup:
    ref: str | None
    room: str
    topic: str
    outcome: str
    referral: bool


@dataclass(frozen=True, slots=True)
class Status:
    ref: str | None
    available: bool


@dataclass(frozen=True, slots=True)
class Active:
    ref: str | None


@dataclass(frozen=True, slots=True)
class InviteDirect:
    """Staff: invite the author of `message` in the group room `room` to a private chat."""

    ref: str | None
    room: str
    message: str


@dataclass(frozen=True, slots=True)
class AcceptInvite:
    ref: str | None
    invite: str


@dataclass(frozen=True, slots=True)
class DeclineInvite:
    ref: str | None
    invite: str


ClientFrame = (
    Join
    | Leave
    | Say
    | Typing
    | Report
    | RequestSupport
    | Feedback
    | Ping
    | Claim
    | AckAlert
    | OnCall
    | Note
    | End
    | CancelSupport
    | Transfer
    | Wrapup
    | Status
    | Active
    | InviteDirect
    | AcceptInvite
    | DeclineInvite
)


def parse_message_id(value: str) -> tuple[int, int] | None:
    match = MESSAGE_ID_PATTERN.match(value)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def decode(raw: str) -> ClientFrame:
    """Decode one client text frame.

    Raises FrameError(bad_json | bad_frame | unknown_type | too_long) for anything that is not
    an allowed frame; the error carries the frame's `ref` when one could be read.
    """
    if len(raw) * 4 > MAX_FRAME_BYTES and len(raw.encode("utf-8", "surrogatepass")) > (
        MAX_FRAME_BYTES
    ):
        raise FrameError(ErrorCode.TOO_LONG, f"a frame is at most {MAX_FRAME_BYTES} bytes")
    try:
        data = orjson.loads(raw)  # 4x faster than json.loads (docs/benchmarks.md)
    except orjson.JSONDecodeError:
        # orjson also refuses JSON that the contract accepts and then judges (an escaped
        # lone surrogate is `bad_frame`, not `bad_json`): the standard library decides.
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            # ValueError covers bad JSON and integers past Python's digit limit;
            # RecursionError covers hostile nesting. Nothing of the frame is trusted.
            raise FrameError(ErrorCode.BAD_JSON, "the frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise FrameError(ErrorCode.BAD_FRAME, "a frame is a JSON object")
    ref = data.get("ref")
    if ref is not None and not (
        isinstance(ref, str) and len(ref) <= MAX_REF_CHARS and _encodable(ref)
    ):
        raise FrameError(ErrorCode.BAD_FRAME, f"ref is a string of at most {MAX_REF_CHARS}")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise FrameError(ErrorCode.BAD_FRAME, 'a frame needs a string "type"', ref)
    parser = _PARSERS.get(kind)
    if parser is None:
        raise FrameError(ErrorCode.UNKNOWN_TYPE, "unknown frame type", ref)
    frame: ClientFrame = parser(_Fields(data, ref))
    return frame


def frame_type(frame: ClientFrame) -> str:
    """The wire name of a decoded frame, for the role table."""
    return _TYPES[type(frame)]


# Control characters but newline and tab: nobody types them, and JSON escapes each as six
# bytes (45 messages of 4,000 U+0001 made a room's history too large to send to anyone).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Fields:
    __slots__ = ("data", "ref")

    def __init__(self, data: dict[str, Any], ref: str | None) -> None:
        self.data = data
        self.ref = ref

    def fail(self, detail: str) -> FrameError:
        return FrameError(ErrorCode.BAD_FRAME, detail, self.ref)

    def string(self, key: str, limit: int, *, code: ErrorCode = ErrorCode.BAD_FRAME) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not value:
            raise self.fail(f"{key} must be a non-empty string")
        if len(value) > limit:
            raise FrameError(code, f"{key} is at most {limit} characters", self.ref)
        return self.unicode(key, value)

    def unicode(self, key: str, value: str) -> str:
        # JSON escapes can smuggle lone surrogates ("\ud800") past the transport's UTF-8
        # check; such a string cannot be stored or sent on, so it is refused here.
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise self.fail(f"{key} is not valid Unicode") from None
        if _CONTROL.search(value):
            raise self.fail(f"{key} has a control character (only newline and tab are allowed)")
        return value

    def optional_string(self, key: str, limit: int) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(f"{key} must be a string or null")
        if len(value) > limit:
            raise FrameError(ErrorCode.TOO_LONG, f"{key} is at most {limit} characters", self.ref)
        return self.unicode(key, value)

    def room(self) -> str:
        return self.string("room", MAX_ROOM_ID_CHARS)

    def message_text(self) -> str:
        text = self.string("text", MAX_TEXT_CHARS, code=ErrorCode.TOO_LONG)
        if not text.strip():
            raise self.fail("text must not be blank")
        return text


def _join(f: _Fields) -> Join:
    since = f.data.get("since")
    if since is not None and not (isinstance(since, str) and parse_message_id(since)):
        raise f.fail("since must be a message id or null")
    invite = f.data.get("invite")
    if invite is not None:
        if not (isinstance(invite, str) and 0 < len(invite) <= MAX_INVITE_CHARS):
            raise f.fail(f"invite must be a string of at most {MAX_INVITE_CHARS} characters")
        f.unicode("invite", invite)
    return Join(f.ref, f.room(), since, invite)


def _say(f: _Fields) -> Say:
    return Say(f.ref, f.room(), f.message_text(), f.string("nonce", MAX_NONCE_CHARS))


def _report(f: _Fields) -> Report:
    message = f.string("message", 40)
    if parse_message_id(message) is None:
        raise f.fail("message must be a message id")
    reason = f.optional_string("reason", MAX_REASON_CHARS) or ""
    return Report(f.ref, f.room(), message, reason)


def _feedback(f: _Fields) -> Feedback:
    rating = f.data.get("rating")
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise f.fail("rating must be a whole number from 1 to 5")
    return Feedback(f.ref, f.room(), rating, f.optional_string("comment", MAX_COMMENT_CHARS))


def _flag(f: _Fields, key: str) -> bool:
    value = f.data.get(key)
    if not isinstance(value, bool):
        raise f.fail(f"{key} must be true or false")
    return value


def _invite_direct(f: _Fields) -> InviteDirect:
    message = f.string("message", 40)
    if parse_message_id(message) is None:
        raise f.fail("message must be a message id")
    return InviteDirect(f.ref, f.room(), message)


def _transfer(f: _Fields) -> Transfer:
    to = f.data.get("to")
    if to is not None:
        to = f.string("to", MAX_TOKEN_CHARS)
    return Transfer(f.ref, f.room(), to)


def _wrapup(f: _Fields) -> Wrapup:
    return Wrapup(
        f.ref,
        f.room(),
        f.string("topic", MAX_TOPIC_CHARS),
        f.string("outcome", MAX_TOPIC_CHARS),
        _flag(f, "referral"),
    )


_PARSERS: Final[dict[str, Any]] = {
    "join": _join,
    "leave": lambda f: Leave(f.ref, f.room()),
    "say": _say,
    "typing": lambda f: Typing(f.ref, f.room()),
    "report": _report,
    "request_support": lambda f: RequestSupport(f.ref, f.optional_string("topic", MAX_TOPIC_CHARS)),
    "feedback": _feedback,
    "ping": lambda f: Ping(f.ref),
    "claim": lambda f: Claim(f.ref, f.string("ticket", MAX_TOKEN_CHARS)),
    "ack_alert": lambda f: AckAlert(f.ref, f.string("escalation", MAX_TOKEN_CHARS)),
    "on_call": lambda f: OnCall(f.ref, _flag(f, "on")),
    "note": lambda f: Note(f.ref, f.room(), f.message_text()),
    "end": lambda f: End(f.ref, f.room()),
    # Extensions (docs/protocol.md).
    "cancel_support": lambda f: CancelSupport(f.ref),
    "transfer": _transfer,
    "wrapup": _wrapup,
    "status": lambda f: Status(f.ref, _flag(f, "available")),
    "active": lambda f: Active(f.ref),
    "invite_direct": _invite_direct,
    "accept_invite": lambda f: AcceptInvite(f.ref, f.string("invite", MAX_TOKEN_CHARS)),
    "decline_invite": lambda f: DeclineInvite(f.ref, f.string("invite", MAX_TOKEN_CHARS)),
}

_TYPES: Final[dict[type, str]] = {
    Join: "join",
    Leave: "leave",
    Say: "say",
    Typing: "typing",
    Report: "report",
    RequestSupport: "request_support",
    Feedback: "feedback",
    Ping: "ping",
    Claim: "claim",
    AckAlert: "ack_alert",
    OnCall: "on_call",
    Note: "note",
    End: "end",
    CancelSupport: "cancel_support",
    Transfer: "transfer",
    Wrapup: "wrapup",
    Status: "status",
    Active: "active",
    InviteDirect: "invite_direct",
    AcceptInvite: "accept_invite",
    DeclineInvite: "decline_invite",
}


def encode(frame: dict[str, Any]) -> str:
    """A server frame: compact JSON with non-ASCII kept as is (orjson's only output)."""
    return orjson.dumps(frame).decode()


def error_frame(code: ErrorCode, detail: str, ref: str | None = None) -> str:
    # PROTOCOL.md shows `ref` on every error; it is null when the frame carried none.
    return encode({"type": "error", "code": code.value, "detail": detail, "ref": ref})


def with_ref(frame: dict[str, Any], ref: str | None) -> dict[str, Any]:
    if ref is not None:
        frame["ref"] = ref
    return frame
