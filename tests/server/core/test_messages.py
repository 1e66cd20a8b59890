"""The staff-only flag mark on a rendered message frame (server/core/messages.py)."""

from __future__ import annotations

import json

from server.core.messages import Plain, message_text, with_flag


def test_with_flag_adds_the_mark_and_keeps_the_rest() -> None:
    text = message_text(
        "dm-1", "17-0", Plain("the pills are counted", "Calm River 12", "participant", "p1")
    )
    marked = json.loads(with_flag(text, "urgent", "overdose"))
    assert marked == {**json.loads(text), "flag": {"label": "urgent", "category": "overdose"}}
    assert "flag" not in json.loads(text)  # the shared frame, which participants get, is unchanged
    assert "p1" not in marked.values()  # the author id stays inside the ciphertext
