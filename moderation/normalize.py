# ruff: noqa: RUF001  (look-alike letters are what this module folds away)
"""Text normalisation: fold the ways people disguise or mistype words into one plain form.

The normal form is lower-case ASCII letters and digits, single spaces between words and a
newline between sentences; a question ends in the token "?". Evasions fold away on the way:
Unicode look-alikes (Cyrillic, Greek, fullwidth, mathematical letters), accents, zero-width
characters, leetspeak ("k1ll", "su1c1de", "0d"), letters split by spaces or symbols
("k i l l", "s.u.i.c.i.d.e"), repeated letters ("diiiie"), apostrophes ("od'ing") and emoji
that carry meaning (each becomes a word: 💊 "pill", 🔫 "gun").

Repeated letters fold to one everywhere ("kill" becomes "kil"), and lexicon patterns pass
through the same function, so both sides agree without anyone spelling the folded form.

A run of letters split by spaces cannot be split back into words reliably ("i w a n t  t o
d i e"), so it becomes one squashed token between two SQUASH marks; the matcher reads
squashed tokens with patterns that ignore word boundaries. Letters split by symbols
("s.u.i.c.i.d.e") are one word, and simply join.

`normalize` is the fast path used on every message. `normalize_with_spans` builds the same
string and, for each of its characters, the span of the original text it came from, so that
evidence can be quoted as the writer typed it; it is slower and only runs when something
was found.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

SQUASH = "\x01"  # brackets a squashed run of split letters; never typed by a person

# Look-alikes that NFKC leaves alone: Cyrillic and Greek letters drawn like Latin ones.
_CONFUSABLES = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
    "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j",
    "ѕ": "s", "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ɑ": "a", "ɡ": "g", "ı": "i",
    "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v",
    "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ς": "s", "μ": "u",
}  # fmt: skip

# Emoji that carry meaning in a crisis become words, so that the lexicon can say
# "pill ... coffin" (or write the emoji itself). Laughing faces become "lol", which the
# context rules read as a hyperbole marker.
EMOJI_WORDS = {
    "💊": "pill", "⚰": "coffin", "🪦": "grave", "🔫": "gun", "🪢": "rope", "🔪": "knife",
    "🗡": "knife", "🩸": "blood", "💉": "needle", "💀": "skull", "☠": "skull",
    "😂": "lol", "🤣": "lol", "😹": "lol", "😆": "lol", "😭": "crying", "😢": "crying",
    "🚑": "ambulance", "🆘": "help",
}  # fmt: skip

_DELETED = {
    "'", "\u2019", "\u2018", "\u02bc", "`", "\u00b4",  # apostrophes: "can't" -> "cant"
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff",  # zero-width characters
    "\u00ad", "\ufe0e", "\ufe0f",  # soft hyphen, emoji presentation selectors
}  # fmt: skip

_SENTENCE_END = ".!;\n\r"


def _fold_char(char: str) -> str:
    if char in _DELETED:
        return ""
    if char == SQUASH:  # typed, it must not pass for the matcher's own mark
        return " "
    if char in _CONFUSABLES:
        return _CONFUSABLES[char]
    if char in EMOJI_WORDS:
        return f" {EMOJI_WORDS[char]} "
    if char.isascii():
        return char.lower()
    if unicodedata.combining(char):
        return ""
    compat = unicodedata.normalize("NFKC", char)
    if compat != char:
        return "".join(_fold_char(c) for c in compat)
    lower = char.lower()
    if lower != char:
        return "".join(_fold_char(c) for c in lower)
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    if base != char and base:
        return "".join(_fold_char(c) for c in base)
    if char in "¿¡":  # Spanish opening marks carry no meaning once the closing one is read
        return " "
    if unicodedata.category(char)[0] in "PSZC":
        return " "
    return char


class _FoldTable(dict[int, str]):
    """A `str.translate` table that works out each character once, on first sight."""

    def __missing__(self, code: int) -> str:
        value = _fold_char(chr(code))
        self[code] = value
        return value


_FOLD = _FoldTable()

# Leetspeak, read only inside a word that also has letters, so "90 days" stays a number.
_LEET = {"0": "o", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "*": "i"}
_LEET_CHARS = "0-9@$!*|"
_WORD_CHARS = f"a-z{_LEET_CHARS}"


def _unleet(token: str) -> str:
    out: list[str] = []
    for char in token:
        if char in _LEET:
            out.append(_LEET[char])
        elif char in "1|":
            # "1" and "|" stand for "i" and "l": "su1c1de", "k1ll", "ki11", "ki||".
            previous = out[-1] if out else ""
            out.append("l" if previous in ("i", "l") else "i")
        else:
            out.append(char)
    return "".join(out)


def _leet_word(match: re.Match[str]) -> str:
    word = match.group()
    trailing = len(word) - len(word.rstrip("!|*"))  # "help!" is punctuation, not leet
    core = word[: len(word) - trailing] if trailing else word
    if not any(c.isalpha() for c in core):
        return word
    return _unleet(core) + word[len(core) :]


def _squash_run(match: re.Match[str]) -> str:
    run = match.group()
    letters = _NOT_LETTER.sub("", run)
    if sum(c.isalpha() for c in letters) < 2:  # "1 2 3 4" is counting, not a split word
        return run
    if " " not in run:  # "s.u.i.c.i.d.e": one word, its edges are known
        return _unleet(letters)
    return f" {SQUASH}{_unleet(letters)}{SQUASH} "


_NOT_LETTER = re.compile(r"[^a-z0-9@$!|]")


def _space(match: re.Match[str]) -> str:
    return " "


def _newline(match: re.Match[str]) -> str:
    return "\n"


def _punctuation(char: str) -> str:
    if char.isascii() and char.isalnum():
        return char.lower()
    if char == "?":  # a question stays visible to the context rules as a "?" token
        return " ? \n"
    if char in _SENTENCE_END:
        return "\n"
    return char if char == SQUASH else " "


class _PunctuationTable(dict[int, str]):
    def __missing__(self, code: int) -> str:
        value = _punctuation(chr(code))
        self[code] = value
        return value


_PUNCTUATION = _PunctuationTable()


def _first_group(match: re.Match[str]) -> str:
    return match.group(1)


@dataclass(frozen=True, slots=True)
class _Stage:
    pattern: re.Pattern[str]
    replacement: str | Callable[[re.Match[str]], str]  # what `sub` gets on the fast path
    tracked: Callable[[re.Match[str]], str]  # the same replacement, for apply_tracked

    # A cheap search that must succeed for the stage to change anything, or None.
    needed: re.Pattern[str] | None = None

    def apply(self, text: str) -> str:
        if self.needed is not None and self.needed.search(text) is None:
            return text
        return self.pattern.sub(self.replacement, text)

    def apply_tracked(
        self, text: str, starts: list[int], ends: list[int]
    ) -> tuple[str, list[int], list[int]]:
        pieces: list[str] = []
        new_starts: list[int] = []
        new_ends: list[int] = []
        done = 0
        for match in self.pattern.finditer(text):
            a, b = match.span()
            pieces.append(text[done:a])
            new_starts += starts[done:a]
            new_ends += ends[done:a]
            out = self.tracked(match)
            pieces.append(out)
            if len(out) == b - a:  # one for one (leetspeak): each keeps its own span
                new_starts += starts[a:b]
                new_ends += ends[a:b]
                done = b
                continue
            # Otherwise a replaced piece is quoted whole: from its first to its last character.
            if b > a:
                span_start, span_end = starts[a], ends[b - 1]
            else:
                span_start = span_end = ends[a - 1] if a else 0
            new_starts += [span_start] * len(out)
            new_ends += [span_end] * len(out)
            done = b
        pieces.append(text[done:])
        new_starts += starts[done:]
        new_ends += ends[done:]
        return "".join(pieces), new_starts, new_ends


_STAGES = (
    # Split letters: three or more single characters separated by spaces ("k i l l"), or
    # chunks of up to three characters separated by one kind of symbol ("s.u.i.c.i.d.e",
    # "su_i_ci_dal", "k-i-l-l"). Ordinary hyphenated words ("self-harm") have longer chunks.
    _Stage(
        re.compile(
            rf"(?<![{_WORD_CHARS}])(?:"
            rf"[a-z0-9@$](?:[ ]{{1,3}}[a-z0-9@$|!](?![{_WORD_CHARS}])){{2,}}"
            rf"|[a-z0-9@$|!]{{1,3}}(?:[._\-~+][a-z0-9@$|!]{{1,3}}(?![{_WORD_CHARS}])){{2,}}"
            r")"
        ),
        _squash_run,
        _squash_run,
        # A run cannot start without two single characters split by spaces, or a short
        # chunk between two symbols: most messages have neither and skip the stage.
        re.compile(
            r"(?:^|[^a-z0-9@$!*|])[a-z0-9@$] {1,3}[a-z0-9@$|!](?:[^a-z0-9@$!*|]|$)"
            r"|[._~+\-][a-z0-9@$|!]{1,3}[._~+\-]"
        ),
    ),
    _Stage(
        re.compile(
            rf"(?<![{_WORD_CHARS}])"
            rf"(?:[a-z]+[{_LEET_CHARS}]|[{_LEET_CHARS}]+[a-z])[{_WORD_CHARS}]*"
        ),
        _leet_word,
        _leet_word,
        re.compile(f"[{_LEET_CHARS}]"),
    ),
    _Stage(re.compile(r"([a-z])\1+"), r"\1", _first_group),
)
# After the stages: punctuation to spaces and sentence breaks (_PUNCTUATION), then these
# two leave single spaces between words and one newline between sentences.
_SQUEEZE = (
    _Stage(re.compile(" {2,}"), " ", _space),
    _Stage(re.compile(r" ?\n[ \n]*"), "\n", _newline),
)


def normalize(text: str) -> str:
    """The normal form of `text` (see the module docstring)."""
    folded = text.translate(_FOLD)
    for stage in _STAGES:
        folded = stage.apply(folded)
    folded = folded.translate(_PUNCTUATION)
    for stage in _SQUEEZE:
        folded = stage.apply(folded)
    return folded.strip(" \n")


def _translate_tracked(
    text: str, table: dict[int, str], starts: list[int], ends: list[int]
) -> tuple[str, list[int], list[int]]:
    pieces = list(map(table.__getitem__, map(ord, text)))
    lengths = set(map(len, pieces))
    if lengths <= {1}:  # one for one (or empty): the spans stay
        return "".join(pieces), starts, ends
    # One comprehension a list: growing two lists a piece at a time cost 2 ms on a
    # 2,000-character message, on the path that quotes the evidence of every flag.
    new_starts = [start for piece, start in zip(pieces, starts, strict=True) for _ in piece]
    new_ends = [end for piece, end in zip(pieces, ends, strict=True) for _ in piece]
    return "".join(pieces), new_starts, new_ends


def normalize_with_spans(text: str) -> tuple[str, list[int], list[int]]:
    """`normalize(text)`, and for each of its characters the [start, end) it came from."""
    identity = list(range(len(text) + 1))
    if text.isascii() and "'" not in text and "`" not in text:
        # Folding plain ASCII changes only letter case: one character for one.
        folded, starts, ends = text.translate(_FOLD), identity[:-1], identity[1:]
    else:
        folded, starts, ends = _translate_tracked(text, _FOLD, identity[:-1], identity[1:])
    for stage in _STAGES:
        folded, starts, ends = stage.apply_tracked(folded, starts, ends)
    folded, starts, ends = _translate_tracked(folded, _PUNCTUATION, starts, ends)
    for stage in _SQUEEZE:
        folded, starts, ends = stage.apply_tracked(folded, starts, ends)
    lead = len(folded) - len(folded.lstrip(" \n"))
    stripped = folded.strip(" \n")
    return stripped, starts[lead : lead + len(stripped)], ends[lead : lead + len(stripped)]


def original_span(starts: list[int], ends: list[int], start: int, end: int) -> tuple[int, int]:
    """The span of the original text behind normal-form characters [start, end)."""
    return starts[start], ends[end - 1]
