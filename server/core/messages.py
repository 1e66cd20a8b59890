"""What a stored message holds inside its ciphertext, and the frames built from it.

Pure: bytes and dicts in and out. Text, pseudonym and author id travel inside the
ciphertext. What a copy of Redis still shows is metadata: which message ids one anonymous
session wrote (kept so that erasure can find them) and when.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from server.core.protocol import encode


@dataclass(frozen=True, slots=True)
class Plain:
    text: str
    name: str
    role: str
    author: str


def pack(plain: Plain) -> bytes:
    return orjson.dumps({"t": plain.text, "n": plain.name, "r": plain.role, "a": plain.author})


def unpack(data: bytes) -> Plain:
    obj = orjson.loads(data)
    return Plain(obj["t"], obj["n"], obj["r"], obj["a"])


def timestamp_ms(message_id: str) -> int:
    return int(message_id.partition("-")[0])


def message_frame(room: str, message_id: str, plain: Plain) -> dict[str, Any]:
    return {
        "type": "message",
        "room": room,
        "id": message_id,
        "from": {"name": plain.name, "role": plain.role},
        "text": plain.text,
        "ts": timestamp_ms(message_id),
    }


def message_text(room: str, message_id: str, plain: Plain) -> str:
    return encode(message_frame(room, message_id, plain))


def with_flag(text: str, label: str, category: str) -> str:
    """A rendered `message` frame with the staff-only `flag` mark: for staff sockets only,
    never for a frame a participant may receive."""
    frame = orjson.loads(text)
    frame["flag"] = {"label": label, "category": category}
    return encode(frame)
