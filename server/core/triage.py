"""The priority a new support ticket starts with: pure, with the time passed in.

A ticket's topic is read like a message; what the detector says of it, and any flag on the
person's own messages shortly before they asked, set where the ticket waits in the queue
(urgent, then concern, then normal, each oldest first).
"""

from __future__ import annotations

from collections.abc import Mapping

# What staff see where a room's name would be, for the flag and alert of a ticket's topic
# (typed in no room: filed under room "" and the ticket id).
TOPIC_PLACE = "Support request"
PRIORITIES = ("urgent", "concern", "normal")  # highest first; the queue's order
# A person who wrote something alarming and then asks for one-to-one support within half
# an hour is most likely asking about that: the ticket keeps the flag's priority.
RECENT_FLAG_SECONDS = 30 * 60


def higher(a: str, b: str) -> str:
    """The higher of two priorities or detector labels ("none" counts as normal)."""
    rank = {p: i for i, p in enumerate(PRIORITIES)}
    return min(a, b, key=lambda p: rank.get(p, len(PRIORITIES) - 1))


def ticket_priority(topic_label: str, recent_flags: Mapping[str, int], now_ms: int) -> str:
    """The priority of a ticket asked for at `now_ms`, from its topic's label (`urgent`,
    `concern` or `none`) and the time (ms) of the person's latest message flagged with each
    label (`recent_flags`, {label: ms}); a flag older than RECENT_FLAG_SECONDS, or dated in
    the future by more than that (a clock gone wrong), does not count."""
    priority = topic_label if topic_label in ("urgent", "concern") else "normal"
    for label, at in recent_flags.items():
        if label in ("urgent", "concern") and abs(now_ms - at) <= RECENT_FLAG_SECONDS * 1000:
            priority = higher(priority, label)
    return priority
