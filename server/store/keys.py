"""Every Redis key and channel name Peerline uses, built in one place.

Each name starts with the deployment's prefix (`PEERLINE_REDIS_PREFIX`, default `pl:`), so
several deployments, or test runs, share one Redis without touching each other's keys.
Keys of one room share a hash tag (`{room}`) so a room lives on one Redis Cluster slot.
docs/protocol.md lists what each key holds and how long it lives.

Two Lua scripts in server/store/support.py build `t:`, `dm:` and `my:` keys from the prefix
they are given, because the room or ticket they name is only known inside the script; they
follow the same spelling as the methods here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KeySpace:
    prefix: str = "pl:"

    # ---- rooms, messages and fan-out (server/store/redis.py) ------------------------------

    def room_stream(self, room: str) -> str:
        return f"{self.prefix}room:{{{room}}}:s"

    def room_floor(self, room: str) -> str:
        return f"{self.prefix}room:{{{room}}}:floor"

    def room_here(self, room: str) -> str:
        return f"{self.prefix}room:{{{room}}}:here"

    def room_channel(self, room: str) -> str:
        return f"{self.prefix}c:{room}"

    @property
    def channel_prefix(self) -> str:
        """What every room channel starts with: the reader takes the room from the rest."""
        return f"{self.prefix}c:"

    @property
    def control(self) -> str:
        """The pub/sub channel of control events every process listens to."""
        return f"{self.prefix}ctl"

    def session(self, digest: str) -> str:
        return f"{self.prefix}sess:{digest}"

    def dedup(self, person: str) -> str:
        return f"{self.prefix}dedup:{person}"

    def by_person(self, person: str) -> str:
        """The index of a participant's messages, for erasure."""
        return f"{self.prefix}by:{person}"

    def pace(self, person: str) -> str:
        return f"{self.prefix}pace:{person}"

    @property
    def reports(self) -> str:
        return f"{self.prefix}reports"

    def counter(self, key: str) -> str:
        """A counter of recent events (abuse limits); `key` names what is counted."""
        return f"{self.prefix}n:{key}"

    def shared_key(self, name: str) -> str:
        """A random key shared by every process (the address key of the day)."""
        return f"{self.prefix}key:{name}"

    def login_failures(self, name: str, address: str) -> tuple[str, str]:
        """Failed logins for a name from one address, and for the name from anywhere."""
        return f"{self.prefix}lf:p:{name}:{address}", f"{self.prefix}lf:n:{name}"

    def login_attempts(self, address: str) -> str:
        return f"{self.prefix}la:{address}"

    # ---- the support desk (server/store/support.py) ---------------------------------------

    @property
    def queue(self) -> str:
        return f"{self.prefix}q"

    def ticket(self, ticket: str) -> str:
        return f"{self.prefix}t:{ticket}"

    def ticket_of(self, person: str) -> str:
        return f"{self.prefix}tp:{person}"

    def direct_room(self, room: str) -> str:
        return f"{self.prefix}dm:{room}"

    def rooms_of(self, person: str) -> str:
        return f"{self.prefix}my:{person}"

    @property
    def direct_rooms(self) -> str:
        return f"{self.prefix}dms"

    def notes(self, room: str) -> str:
        return f"{self.prefix}notes:{{{room}}}"

    @property
    def wrapups(self) -> str:
        return f"{self.prefix}wrapups"

    @property
    def feedback(self) -> str:
        return f"{self.prefix}feedback"

    # ---- review (server/store/review.py) --------------------------------------------------

    @property
    def flags(self) -> str:
        return f"{self.prefix}flags"

    def flag(self, room: str, message: str) -> str:
        return f"{self.prefix}fl:{{{room}}}:{message}"

    def flag_marks(self, room: str) -> str:
        """The flagged messages of a room (id -> label and category), shown to staff."""
        return f"{self.prefix}fm:{{{room}}}"

    def invitation(self, invite: str) -> str:
        """A staff member's invitation of a group-room participant to a private chat."""
        return f"{self.prefix}inv:{invite}"

    @property
    def reviewed(self) -> str:
        return f"{self.prefix}rv"

    def mute(self, person: str) -> str:
        return f"{self.prefix}mute:{person}"

    def ban(self, person: str) -> str:
        return f"{self.prefix}ban:{person}"

    @property
    def lexicon(self) -> str:
        return f"{self.prefix}lex"

    # ---- staff (server/store/accounts.py) -------------------------------------------------

    def staff_account(self, uid: str) -> str:
        return f"{self.prefix}staff:a:{uid}"

    def staff_name(self, username: str) -> str:
        return f"{self.prefix}staff:u:{username}"

    @property
    def staff_all(self) -> str:
        return f"{self.prefix}staff:all"

    def staff_session(self, digest: str) -> str:
        return f"{self.prefix}ss:{digest}"

    def staff_sessions_of(self, uid: str) -> str:
        return f"{self.prefix}ss:u:{uid}"

    @property
    def staff_online(self) -> str:
        return f"{self.prefix}staff:on"

    @property
    def staff_available(self) -> str:
        return f"{self.prefix}staff:av"

    # ---- crisis alerts (server/store/escalations.py) --------------------------------------

    @property
    def escalations(self) -> str:
        return f"{self.prefix}esc"

    def escalation(self, escalation: str) -> str:
        return f"{self.prefix}e:{escalation}"

    @property
    def open_escalations(self) -> str:
        return f"{self.prefix}esc:open"

    @property
    def on_call(self) -> str:
        return f"{self.prefix}oncall"

    # ---- out-of-band pages and silence watches (server/store/pages.py) -------------------

    @property
    def page_due(self) -> str:
        """Deliveries not yet through: "<escalation> <target>" -> when due (ms)."""
        return f"{self.prefix}pg:due"

    @property
    def silence_due(self) -> str:
        """Silence watches: "<room> <person>" -> when the silence becomes an alert (ms)."""
        return f"{self.prefix}sil:due"

    def silence_watch(self, room: str, person: str) -> str:
        return f"{self.prefix}sil:{{{room}}}:{person}"

    # ---- the audit log (server/store/audit.py) --------------------------------------------

    @property
    def audit(self) -> str:
        return f"{self.prefix}audit"

    @property
    def audit_head(self) -> str:
        return f"{self.prefix}audit:head"

    # ---- issue 13: recent flags, alerts by message (review.py, escalations.py) ------------

    def recent_flags(self, person: str) -> str:
        """When this participant's messages were last flagged, per label (ticket priority)."""
        return f"{self.prefix}rf:{person}"

    def escalations_of(self, room: str, message: str) -> str:
        """The escalations raised for one message (or, with room "", one ticket's topic)."""
        return f"{self.prefix}e:m:{{{room}}}:{message}"
