"""The lexicon: versioned, reviewable data (entries and context words), and its compiled form.

The data lives in lexicon.toml next to this module, written for reviewers who do not read
Python. A `Lexicon` is immutable: moderators change the rules at runtime by deriving a new
one with `with_changes`, and every change gives a new `version`. The version is a digest of
the content, so every server process that applies the same changes to the same file agrees
on it without talking to the others.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any, Literal, cast, get_args

from moderation.normalize import SQUASH, normalize
from moderation.patterns import (
    CompiledPattern,
    PatternError,
    compile_pattern,
    compile_phrases,
    find_words,
    message_keys,
)

Severity = Literal["urgent", "concern", "allow"]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)
CATEGORIES = (
    "suicide",
    "self_harm",
    "overdose",
    "medical",
    "harm_to_others",
    "abuse_in_progress",
    "substance_use",
)
ANY_CATEGORY = "any"  # an "allow" entry of this category exempts phrases of every category
LANGUAGES = ("en", "es")
RUNG: dict[Severity, int] = {"allow": 0, "concern": 1, "urgent": 2}


class LexiconError(ValueError):
    """Lexicon data that cannot be used; the message names the entry or field."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One rule. `severity` "allow" makes it an exemption: a risk phrase of its category
    (or of any category, for category "any") that it overlaps is not counted (idioms such
    as "dying to see the game")."""

    id: str
    pattern: str
    category: str
    severity: Severity
    language: str = "en"
    note: str = ""

    def to_dict(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Entry:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise LexiconError(f"entry {data.get('id')!r}: unknown fields {sorted(unknown)}")
        values: dict[str, str] = {}
        for name in known:
            value = data.get(name, "" if name == "note" else "en" if name == "language" else None)
            if not isinstance(value, str):
                raise LexiconError(f"entry {data.get('id')!r}: {name!r} must be a string")
            values[name] = value
        entry = cls(
            id=values["id"],
            pattern=values["pattern"],
            category=values["category"],
            severity=cast(Severity, values["severity"]),
            language=values["language"],
            note=values["note"],
        )
        entry.validate()
        return entry

    def validate(self) -> None:
        if not self.id.strip():
            raise LexiconError("an entry needs an id")
        if self.severity not in SEVERITIES:
            raise LexiconError(f"entry {self.id!r}: severity must be one of {SEVERITIES}")
        allowed = (*CATEGORIES, ANY_CATEGORY) if self.severity == "allow" else CATEGORIES
        if self.category not in allowed:
            raise LexiconError(f"entry {self.id!r}: category must be one of {allowed}")
        if self.language not in LANGUAGES:
            raise LexiconError(f"entry {self.id!r}: language must be one of {LANGUAGES}")
        try:
            compile_pattern(self.pattern)
        except PatternError as error:
            raise LexiconError(f"entry {self.id!r}: {error}") from None


@dataclass(frozen=True, slots=True)
class Context:
    """Phrase lists the context rules read (lexicon.toml explains each one)."""

    history: tuple[str, ...] = ()
    recent: tuple[str, ...] = ()
    negation: tuple[str, ...] = ()
    negation_es: tuple[str, ...] = ()
    denial_bridge: tuple[str, ...] = ()
    partial_denial: tuple[str, ...] = ()
    teaching: tuple[str, ...] = ()
    news: tuple[str, ...] = ()
    media: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    laughter: tuple[str, ...] = ()
    reported_question: tuple[str, ...] = ()
    staff_prompt: tuple[str, ...] = ()
    method: tuple[str, ...] = ()
    time: tuple[str, ...] = ()
    preparation: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, list[str]]:
        return {f.name: list(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Context:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise LexiconError(f"context: unknown lists {sorted(unknown)}")
        lists: dict[str, tuple[str, ...]] = {}
        for name, value in data.items():
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise LexiconError(f"context.{name} must be a list of strings")
            lists[name] = tuple(value)
        context = cls(**lists)
        for name, phrases in lists.items():
            if name in WORD_LISTS:
                continue
            try:
                compile_phrases(phrases)
            except PatternError as error:
                raise LexiconError(f"context.{name}: {error}") from None
        return context


@dataclass(frozen=True, slots=True)
class Hit:
    """An entry found in a normal-form message at [start, end)."""

    entry: Entry
    start: int
    end: int


@dataclass(frozen=True, slots=True, eq=False)  # identity hash: rules are collected in sets
class _Rule:
    entry: Entry
    pattern: CompiledPattern


# Context lists read word by word rather than as phrases: each item is one word.
WORD_LISTS = frozenset({"negation", "negation_es", "denial_bridge"})


@dataclass(frozen=True, slots=True)
class _CompiledContext:
    phrases: dict[str, re.Pattern[str] | None]
    words: dict[str, frozenset[str]]

    @classmethod
    def build(cls, context: Context) -> _CompiledContext:
        phrases: dict[str, re.Pattern[str] | None] = {}
        words: dict[str, frozenset[str]] = {}
        for f in fields(context):
            items: tuple[str, ...] = getattr(context, f.name)
            if f.name in WORD_LISTS:
                words[f.name] = frozenset(w for item in items for w in normalize(item).split())
            else:
                phrases[f.name] = compile_phrases(items)
        return cls(phrases, words)


class Lexicon:
    """Entries and context words, compiled for `scan`. Build one with `Lexicon.default()`,
    `Lexicon.from_toml(text)` or `Lexicon.from_dict(data)`; derive with `with_changes`."""

    __slots__ = (
        "_always",
        "_context",
        "_index",
        "_keys",
        "_squashable",
        "context",
        "data_version",
        "entries",
        "version",
    )

    def __init__(self, entries: Iterable[Entry], context: Context, data_version: str) -> None:
        self.entries: tuple[Entry, ...] = tuple(entries)
        self.context = context
        self.data_version = data_version
        ids = [e.id for e in self.entries]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise LexiconError(f"duplicate entry ids: {duplicates}")
        index: dict[str, list[_Rule]] = {}
        always: list[_Rule] = []
        squashable: list[_Rule] = []
        for entry in self.entries:
            entry.validate()
            rule = _Rule(entry, compile_pattern(entry.pattern))
            if rule.pattern.anchors is None:
                always.append(rule)
            else:
                for key in rule.pattern.anchors:
                    index.setdefault(key, []).append(rule)
            if rule.pattern.squashed is not None:
                squashable.append(rule)
        self._index = {key: tuple(rules) for key, rules in index.items()}
        self._keys = frozenset(self._index)
        self._always = tuple(always)
        self._squashable = tuple(squashable)
        self._context = _CompiledContext.build(context)
        canonical = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:12]
        self.version = f"{data_version}+{digest}"

    @classmethod
    @functools.cache
    def default(cls) -> Lexicon:
        """The lexicon shipped in lexicon.toml, read and compiled once per process."""
        text = resources.files("moderation").joinpath("lexicon.toml").read_text("utf-8")
        return cls.from_toml(text)

    @classmethod
    def from_toml(cls, text: str) -> Lexicon:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise LexiconError(f"lexicon file: {error}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lexicon:
        version = data.get("version")
        if not isinstance(version, str) or not version:
            raise LexiconError("the lexicon needs a version string")
        raw_entries = data.get("entries", [])
        if not isinstance(raw_entries, list):
            raise LexiconError("entries must be a list")
        entries = [Entry.from_dict(e) for e in raw_entries]
        return cls(entries, Context.from_dict(data.get("context", {})), version)

    @classmethod
    def from_json(cls, text: str) -> Lexicon:
        return cls.from_dict(json.loads(text))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.data_version,
            "context": self.context.to_dict(),
            "entries": [e.to_dict() for e in self.entries],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def with_changes(self, added: Iterable[Entry] = (), retired: Iterable[str] = ()) -> Lexicon:
        """A new lexicon without the `retired` ids and with the `added` entries (an id that is
        both retired and added is replaced). Unknown or duplicate ids raise LexiconError."""
        retired_ids = set(retired)
        unknown = retired_ids - {e.id for e in self.entries}
        if unknown:
            raise LexiconError(f"cannot retire unknown entries: {sorted(unknown)}")
        kept = [e for e in self.entries if e.id not in retired_ids]
        return Lexicon([*kept, *added], self.context, self.data_version)

    def find(self, normal: str) -> list[Hit]:
        """Every entry found in a normal-form message, in no particular order."""
        plain = normal.replace(SQUASH, " ") if SQUASH in normal else normal
        rules: set[_Rule] = set(self._always)
        for key in message_keys(plain) & self._keys:
            rules.update(self._index[key])
        hits = [
            Hit(rule.entry, *match.span())
            for rule in rules
            for match in find_words(rule.pattern.regex, normal)
        ]
        if SQUASH in normal:
            hits += self._find_squashed(normal)
        return hits

    def _find_squashed(self, normal: str) -> list[Hit]:
        # A sentence with a run of split letters is read again with its spaces taken out,
        # so "i w a n t  t o  d i e" is read as "iwantodie". A match must overlap the run
        # and end where a word ends (at a space, or where the run ends): "gonna k i l l
        # m y s e l f" is no threat to "my" someone.
        hits: list[Hit] = []
        offset = 0
        for sentence in normal.split("\n"):
            if SQUASH in sentence:
                positions: list[int] = []
                inside: list[bool] = []
                word_ends: list[bool] = []
                in_run = False
                for i, char in enumerate(sentence):
                    if char == SQUASH:
                        in_run = not in_run
                    elif char != " ":
                        positions.append(offset + i)
                        inside.append(in_run)
                        word_ends.append(i + 1 == len(sentence) or sentence[i + 1] in f" {SQUASH}")
                view = "".join(normal[p] for p in positions)
                for rule in self._squashable:
                    squashed = rule.pattern.squashed
                    assert squashed is not None  # only squashable rules are in the list
                    anchors = rule.pattern.anchors
                    # A squashed match holds its words' letters as they are, so one anchor
                    # must be in the run: a substring test skips almost every rule (2,000
                    # split letters took 12 ms when each rule's regex searched the run).
                    if anchors is not None and not any(a in view for a in anchors):
                        continue
                    for match in squashed.finditer(view):
                        a, b = match.span()
                        if b > a and word_ends[b - 1] and any(inside[a:b]):
                            hits.append(Hit(rule.entry, positions[a], positions[b - 1] + 1))
            offset += len(sentence) + 1
        return hits

    def context_has(self, name: str, text: str) -> bool:
        """Whether context phrase list `name` has a phrase in `text` (normal form)."""
        regex = self._context.phrases[name]
        return regex is not None and next(find_words(regex, text), None) is not None

    def context_words(self, name: str) -> frozenset[str]:
        """Context word list `name` (negation, negation_es, denial_bridge), normalised."""
        return self._context.words[name]
