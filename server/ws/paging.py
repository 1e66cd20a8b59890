"""How much history one `joined` frame carries: pure, no I/O.

A page is bounded by its encoded size as well as by its message count, because a socket is
closed once about 1 MiB waits unsent (server/ws/connection.py): 50 messages of 4,000 escaped
characters once made every later joiner's `joined` frame close its own socket, for good.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.ws.connection import OUTBOX_MAX_CHARS

# A quarter of the outbox a socket may fill: a join stays far from the close, and a slow
# phone link (about 90 KB/s) takes about 3 s for a full page. The rest comes with `more`.
HISTORY_MAX_CHARS = 256 * 1024
# Room kept in the outbox for live frames while a page waits to be written.
OUTBOX_HEADROOM_CHARS = 128 * 1024


@dataclass(frozen=True, slots=True)
class Page:
    messages: list[str]  # encoded `message` frames, oldest first
    cursor: tuple[int, int] | None  # the last message this page accounts for; None: none
    cut: bool  # later messages were left for the next page (`more`)


def history_budget(outbox_chars: int) -> int:
    """Characters a page may take on a socket with `outbox_chars` already waiting."""
    room_left = OUTBOX_MAX_CHARS - OUTBOX_HEADROOM_CHARS - outbox_chars
    return max(0, min(HISTORY_MAX_CHARS, room_left))


def bound_history(
    entries: list[tuple[tuple[int, int], str | None]], *, forward: bool, budget: int
) -> Page:
    """`entries` are (id, encoded frame or None for one that cannot be shown), oldest first.

    Forward (a resume after `since`): the oldest that fit, and `cut` when any are left, so
    the client pages on from the cursor. Latest (a first join or a reset): the newest that
    fit; older ones are simply not shown, and live delivery goes on from the newest."""
    if not entries:
        return Page([], None, False)
    if forward:
        kept: list[str] = []
        used, cursor = 0, None
        for position, text in entries:
            size = len(text) + 1 if text is not None else 0  # + the comma between frames
            if used + size > budget:
                return Page(kept, cursor, True)
            used += size
            cursor = position
            if text is not None:
                kept.append(text)
        return Page(kept, cursor, False)
    newest: list[str] = []
    used = 0
    for _position, text in reversed(entries):
        if text is None:
            continue
        if used + len(text) + 1 > budget:
            break
        used += len(text) + 1
        newest.append(text)
    newest.reverse()
    return Page(newest, entries[-1][0], False)
