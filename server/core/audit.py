"""The audit record and its hash chain (SECURITY.md L1, T24). Pure: no I/O, no clock.

Each record says who (a staff id or "system"), did what (an action name), to what (a
pseudonymous id: room, message, escalation, report, flag, lexicon entry), when (UTC ms,
from the caller's clock) and why (the reason the person typed, maybe empty), plus a few
small extra fields. Never message content, never a pseudonym's free text: the target and
extra values are restricted to id-like text so content cannot slip in by accident. The
reason is free text typed by staff; the console must say it is kept for 6 years.

The chain: `hash` is SHA-256 over the canonical JSON of every other field, `prev` included,
and `prev` is the hash of the record before (GENESIS for the first); `seq` counts from 1.
Changing any field of any record, dropping one, or reordering them breaks a hash, a link
or the count. Cutting off the newest records is found against the head (the last seq and
hash, kept beside the log and, for the log's own integrity, written down off the host by
the operator): an unkeyed chain can be recomputed from the cut on by anyone who can write
to the store, so an off-host copy of a recent head is the anchor that makes the chain
worth having.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FORMAT_VERSION = 1  # hashed into every record, so a later format cannot pass for this one
GENESIS = "0" * 64  # the `prev` of record 1: no record hashes to it
SYSTEM = "system"  # the actor for steps nobody clicked (an alert climbing the ladder)

MAX_REASON_CHARS = 500  # a sentence or two of justification, not a place for transcripts
MAX_ID_CHARS = 128  # room, message and staff ids are 32 hex; room for prefixed composites
MAX_ACTION_CHARS = 64
MAX_EXTRA_FIELDS = 8  # extras qualify an action (a duration, a rung); more means misuse
MAX_EXTRA_KEY_CHARS = 32
MAX_EXTRA_VALUE_CHARS = 128

# Ids and extra values: no spaces, so a sentence of chat cannot be passed off as an id.
ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]+")
ACTION_PATTERN = re.compile(r"[a-z][a-z0-9_.-]*")
EXTRA_KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")

# Stream entry field names. Extras are stored as "x.<key>" so they never collide with these.
_CORE = ("v", "seq", "at", "actor", "action", "target", "reason", "prev", "hash")
EXTRA_FIELD_PREFIX = "x."

# Why a verification failed: the first problem found, in reading order.
MALFORMED = "malformed record"  # a field missing, added or unparseable
HASH_MISMATCH = "hash mismatch"  # a field changed after the record was written
MISSING = "missing record"  # the seq jumps: a record was deleted (or reordered past)
OUT_OF_ORDER = "out of order"  # the seq goes back: a record repeated or moved
BROKEN_LINK = "broken link"  # prev is not the hash of the record before
HEAD_MISMATCH = "head mismatch"  # the newest records are gone, or some were added unchained
ANCHOR_MISMATCH = "anchor mismatch"  # the head written down off the host is not in the chain


class AuditFieldError(ValueError):
    """A record that must not be written (too long, content-like, unknown shape)."""


class MalformedRecord(ValueError):
    """A stored entry that is not a record of this format."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    at_ms: int
    actor: str
    action: str
    target: str
    reason: str
    extra: Mapping[str, str]
    prev: str
    hash: str

    def fields(self) -> dict[str, str]:
        """The stream entry: every field a string."""
        out = {
            "v": str(FORMAT_VERSION),
            "seq": str(self.seq),
            "at": str(self.at_ms),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "reason": self.reason,
            "prev": self.prev,
            "hash": self.hash,
        }
        for key, value in sorted(self.extra.items()):
            out[EXTRA_FIELD_PREFIX + key] = value
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at_ms,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "reason": self.reason,
            "extra": dict(self.extra),
            "prev": self.prev,
            "hash": self.hash,
        }

    def computed_hash(self) -> str:
        return record_hash(
            self.seq,
            self.at_ms,
            self.actor,
            self.action,
            self.target,
            self.reason,
            self.extra,
            self.prev,
        )

    @classmethod
    def from_fields(cls, raw: Mapping[str, str]) -> AuditRecord:
        """Parse a stream entry. Shape only: the hash is checked by the verifier."""
        try:
            if raw["v"] != str(FORMAT_VERSION):
                raise MalformedRecord(f"format {raw['v']!r}")
            extra = {}
            for key, value in raw.items():
                if key.startswith(EXTRA_FIELD_PREFIX):
                    extra[key[len(EXTRA_FIELD_PREFIX) :]] = value
                elif key not in _CORE:
                    raise MalformedRecord(f"unknown field {key!r}")
            return cls(
                seq=_decimal(raw["seq"]),
                at_ms=_decimal(raw["at"]),
                actor=raw["actor"],
                action=raw["action"],
                target=raw["target"],
                reason=raw["reason"],
                extra=extra,
                prev=raw["prev"],
                hash=raw["hash"],
            )
        except KeyError as exc:
            raise MalformedRecord(f"no field {exc.args[0]!r}") from None


def _decimal(text: str) -> int:
    # int() would also take " 7", "+7" and "7_0": one spelling only, or the stored text
    # could differ from what was hashed while parsing to the same number.
    if not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        raise MalformedRecord(f"not a decimal: {text!r}")
    return int(text)


def canonical(
    seq: int,
    at_ms: int,
    actor: str,
    action: str,
    target: str,
    reason: str,
    extra: Mapping[str, str],
    prev: str,
) -> bytes:
    """The bytes that are hashed: JSON, sorted keys, no whitespace, UTF-8 (not \\u escapes,
    so the encoding is one-to-one with the text)."""
    body = {
        "v": FORMAT_VERSION,
        "seq": seq,
        "at": at_ms,
        "actor": actor,
        "action": action,
        "target": target,
        "reason": reason,
        "extra": dict(extra),
        "prev": prev,
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: not text, cannot be stored as UTF-8
        raise AuditFieldError("fields must be valid Unicode text") from None


def record_hash(
    seq: int,
    at_ms: int,
    actor: str,
    action: str,
    target: str,
    reason: str,
    extra: Mapping[str, str],
    prev: str,
) -> str:
    data = canonical(seq, at_ms, actor, action, target, reason, extra, prev)
    return hashlib.sha256(data).hexdigest()


def check_fields(
    actor: str, action: str, target: str, reason: str, extra: Mapping[str, str]
) -> None:
    """Refuse a record that could carry content or that the format cannot hold."""
    _check_id("actor", actor)  # a staff id, or SYSTEM
    if len(action) > MAX_ACTION_CHARS or not ACTION_PATTERN.fullmatch(action):
        raise AuditFieldError(f"an action matches {ACTION_PATTERN.pattern}")
    _check_id("target", target)
    if len(reason) > MAX_REASON_CHARS:
        raise AuditFieldError(f"a reason has at most {MAX_REASON_CHARS} characters")
    if len(extra) > MAX_EXTRA_FIELDS:
        raise AuditFieldError(f"at most {MAX_EXTRA_FIELDS} extra fields")
    for key, value in extra.items():
        if len(key) > MAX_EXTRA_KEY_CHARS or not EXTRA_KEY_PATTERN.fullmatch(key):
            raise AuditFieldError(f"an extra field name matches {EXTRA_KEY_PATTERN.pattern}")
        if not isinstance(value, str) or len(value) > MAX_EXTRA_VALUE_CHARS:
            raise AuditFieldError(f"an extra value is text of <= {MAX_EXTRA_VALUE_CHARS} chars")
        if value and not ID_PATTERN.fullmatch(value):
            raise AuditFieldError(f"an extra value matches {ID_PATTERN.pattern}")


def _check_id(name: str, value: str) -> None:
    if len(value) > MAX_ID_CHARS or not ID_PATTERN.fullmatch(value):
        raise AuditFieldError(f"the {name} is an id of <= {MAX_ID_CHARS} chars, no spaces")


def make_record(
    prev_seq: int,
    prev_hash: str,
    at_ms: int,
    actor: str,
    action: str,
    target: str,
    reason: str = "",
    extra: Mapping[str, str] | None = None,
) -> AuditRecord:
    """The record that follows (prev_seq, prev_hash); (0, GENESIS) for the first."""
    extra = dict(extra or {})
    check_fields(actor, action, target, reason, extra)
    if at_ms < 0:
        raise AuditFieldError("a time is UTC ms since the epoch")
    seq = prev_seq + 1
    digest = record_hash(seq, at_ms, actor, action, target, reason, extra, prev_hash)
    return AuditRecord(seq, at_ms, actor, action, target, reason, extra, prev_hash, digest)


def format_head(seq: int, digest: str) -> str:
    return f"{seq} {digest}"


def parse_head(text: str) -> tuple[int, str]:
    """'seq hash' -> (seq, hash); raises MalformedRecord."""
    seq, _, digest = text.partition(" ")
    if not SHA256_HEX.fullmatch(digest):
        raise MalformedRecord("head is not 'seq sha256hex'")
    return _decimal(seq), digest


def parse_anchor(text: str) -> tuple[int, str]:
    """An operator's written-down head, as 'SEQ:HASH' or 'SEQ HASH'."""
    return parse_head(text.strip().replace(":", " ", 1))


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    count: int  # records read and found good before the first problem
    head: str  # hash of the last good record (GENESIS for an empty log)
    bad_seq: int | None = None
    bad_id: str | None = None  # the stream entry id, where there is one
    why: str | None = None


@dataclass(slots=True)
class ChainChecker:
    """Feed stream entries in stream order, then `finish` with the stored head.

    Stops at the first problem: what follows a break cannot be trusted to say anything.
    `anchor` is a (seq, hash) the operator wrote down earlier; the chain must contain it.
    """

    anchor: tuple[int, str] | None = None
    count: int = 0
    last: str = GENESIS
    _failure: Verification | None = field(default=None, repr=False)
    _anchor_seen: bool = False

    @property
    def failed(self) -> bool:
        return self._failure is not None

    def feed(self, entry_id: str, raw: Mapping[str, str]) -> bool:
        """Check one entry; False once a problem was found (stop reading)."""
        if self._failure is not None:
            return False
        expected = self.count + 1
        try:
            record = AuditRecord.from_fields(raw)
        except MalformedRecord:
            return self._fail(expected, entry_id, MALFORMED)
        # The record's own hash first: an edited seq or prev shows as an edit, not a gap.
        if record.computed_hash() != record.hash:
            return self._fail(record.seq, entry_id, HASH_MISMATCH)
        if record.seq > expected:
            return self._fail(expected, entry_id, MISSING)
        if record.seq < expected:
            return self._fail(record.seq, entry_id, OUT_OF_ORDER)
        if record.prev != self.last:
            return self._fail(record.seq, entry_id, BROKEN_LINK)
        if self.anchor is not None and record.seq == self.anchor[0]:
            if record.hash != self.anchor[1]:
                return self._fail(record.seq, entry_id, ANCHOR_MISMATCH)
            self._anchor_seen = True
        self.count = record.seq
        self.last = record.hash
        return True

    def finish(self, head: str | None) -> Verification:
        """`head` is the stored 'seq hash' (None when the key is absent)."""
        if self._failure is not None:
            return self._failure
        if head is None:
            stored: tuple[int, str] | None = None
        else:
            try:
                stored = parse_head(head)
            except MalformedRecord:
                return self._result(False, self.count, None, HEAD_MISMATCH)
        if stored != ((self.count, self.last) if self.count else None):
            # The first record the head vouches for that is not there, or the last one read.
            bad = self.count + 1 if stored is not None and stored[0] > self.count else self.count
            return self._result(False, bad or None, None, HEAD_MISMATCH)
        if self.anchor is not None and not self._anchor_seen:
            return self._result(False, self.anchor[0], None, ANCHOR_MISMATCH)
        return self._result(True, None, None, None)

    def _fail(self, seq: int, entry_id: str, why: str) -> bool:
        self._failure = self._result(False, seq, entry_id, why)
        return False

    def _result(
        self, ok: bool, seq: int | None, entry_id: str | None, why: str | None
    ) -> Verification:
        return Verification(ok, self.count, self.last, seq, entry_id, why)


def verify_entries(
    entries: list[tuple[str, Mapping[str, str]]],
    head: str | None,
    anchor: tuple[int, str] | None = None,
) -> Verification:
    """Verify a whole log held in memory (the store pages through Redis instead)."""
    checker = ChainChecker(anchor=anchor)
    for entry_id, raw in entries:
        if not checker.feed(entry_id, raw):
            break
    return checker.finish(head)
