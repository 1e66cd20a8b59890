"""What a staff member in a room sees beyond what participants see: which messages read as
urgent or concern (live, as a `flagged` frame, and in history, as a `flag` on the message),
and the topic of a direct room when they (re)join it.

A participant never gets any of it: the live mark goes only to the staff sockets of the
room, on every process (a control event), and the history mark only into staff joins.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag

from server.core import frames
from server.core.events import Flagged
from server.core.messages import with_flag
from server.core.protocol import encode
from server.crypto import KeyRing
from server.store import Store
from server.store.invites import MarkStore
from server.store.support import DirectRoom
from server.ws.hub import Hub


class StaffView:
    def __init__(
        self, store: Store, hub: Hub, keys: KeyRing, marks: MarkStore, retention_seconds: float
    ) -> None:
        self.store = store
        self.hub = hub
        self.keys = keys
        self.marks = marks
        self.retention_ms = int(retention_seconds * 1000)
        hub.on(Flagged, self._on_flagged)

    async def flagged(self, room: str, message: str, label: str, category: str) -> None:
        """A stored message read as urgent or concern: marked for later joins, and shown now
        to the staff in the room (the supporter in a one-to-one chat above all)."""
        await self.marks.mark(room, message, label, category, self.retention_ms)
        frame = encode(frames.flagged(room, message, label, category))
        await self.store.publish_control(Flagged(room, frame))

    async def forget(self, ids_by_room: dict[str, list[str]]) -> None:
        """An erasure: the marks of the erased messages go with their flags."""
        for room, ids in ids_by_room.items():
            await self.marks.forget(room, ids)

    def _on_flagged(self, event: Flagged) -> None:
        for conn in list(self.hub.rooms.get(event.room, ())):
            if not conn.person.is_participant:
                conn.send(event.frame)

    async def mark_history(self, room: str, rendered: list[str | None], ids: list[str]) -> None:
        """Adds the staff-only `flag` to each rendered history message that has a mark."""
        marks = await self.marks.marks(room)
        if not marks:
            return
        for index, message in enumerate(ids):
            text, mark = rendered[index], marks.get(message)
            if text is not None and mark is not None:
                rendered[index] = with_flag(text, *mark)

    def topic_of(self, room: DirectRoom) -> str | None:
        """The topic the participant gave when asking (sealed under its ticket), or None."""
        if room.topic is None:
            return None
        ticket, key_id, blob = room.topic
        try:
            return self.keys.open(key_id, blob, "ticket", ticket).decode()
        except (InvalidTag, ValueError, KeyError):
            return None
