"""The lexicon's pattern language, compiled to regular expressions over the normal form.

A pattern is words separated by spaces (the syntax is documented for reviewers at the top of
lexicon.toml):

    kill* myself              "kill*" is any word that starts with "kill"
    (want|wanna|need) to die  one of several words or phrases
    i [really|just] want      an optional word or phrase
    took ... pills            up to six other words in between
    took ## pills             "#" is any number, "##" a number of two digits or more,
                              "####" a year (1900-2099)
    ^ kill myself $           "^" and "$": the start and the end of a sentence

Every word passes through `normalize`, so "can't", "cant" and "CAN'T" are one word, and an
emoji is the word it stands for. A compiled pattern also knows its anchors: words of which
at least one must be in a message for the pattern to match, which lets the matcher skip
almost every pattern for almost every message.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

from moderation.normalize import normalize


class PatternError(ValueError):
    """A pattern that does not follow the syntax; the message says where."""


@dataclass(frozen=True, slots=True)
class _Word:
    text: str
    prefix: bool


@dataclass(frozen=True, slots=True)
class _Number:
    regex: str


@dataclass(frozen=True, slots=True)
class _Gap:
    pass


@dataclass(frozen=True, slots=True)
class _Edge:
    start: bool  # "^" (the sentence starts here) or "$" (it ends here)


@dataclass(frozen=True, slots=True)
class _Alt:
    branches: tuple[tuple[_Item, ...], ...]
    optional: bool


_Item = _Word | _Number | _Gap | _Edge | _Alt

# Words too common to be worth an anchor: a pattern anchored on "to" would be tried on
# most messages. Any other required word of the pattern is chosen instead.
_VERY_COMMON = frozenset(
    normalize(
        "i a the and to is it of do in my me you not that on for be so just this with at was "
        "have no y de la el que se mi lo en un es"
    ).split()
)
_COMMON = _VERY_COMMON | frozenset(
    normalize(
        """
    i im id ive il me my mine to a an the and or but is it its he she hes shes you your
    of in on at by for from with about as up down out off over into onto back not no dont
    do did done does be been being am are was were so just y de la el que se mi lo le ya es
    en un una por con para al las los del su sus te tu yo pero mas muy ni este esta esto eso
    al this that these those they them their theyre we us our him her his who what when
    where why how if then than there here now rn today tonight day night time again still
    wil would could should can cant might must have has had got get gets geting go going
    gona goes went come came take took make made want wana need like realy really think
    know fel feling one two some any every everything everyone very too more much many way
    thing things lol ok okay yes yeah
    """
    ).split()
)
_ANCHOR_PREFIX = 4  # anchors on a word's first 4 letters let "kill*" match "killing"
_SQUASHED_ENDING = 6  # letters a prefix word may add in a squashed run: "cut*" -> "cutting"
_GAP_WORDS = 6  # "..." spans up to this many words: "how many ... would it take to not wake up"
_SQUASHED_MIN = 6  # a shorter squashed pattern would be found inside ordinary words

# A squashed view is one sentence, so there "^" and "$" are the ends of the string.
_EDGES = {
    (True, False): r"(?<![^\n])",
    (False, False): r"(?![^\n])",
    (True, True): "^",
    (False, True): "$",
}
_NUMBERS = {"#": "[0-9]+", "##": "[0-9]{2,}", "####": "(?:19|20)[0-9]{2}"}
_TOKEN = re.compile(r"\.\.\.|[()\[\]|^$]|[^\s()\[\]|^$]+")


def _tokens(pattern: str) -> list[str]:
    return _TOKEN.findall(pattern)


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.tokens = _tokens(pattern)
        self.at = 0

    def parse(self) -> tuple[_Item, ...]:
        items = self._sequence(closers=())
        if self.at != len(self.tokens):
            raise PatternError(f"unexpected {self.tokens[self.at]!r} in {self.pattern!r}")
        return items

    def _sequence(self, closers: tuple[str, ...]) -> tuple[_Item, ...]:
        items: list[_Item] = []
        while self.at < len(self.tokens) and self.tokens[self.at] not in closers:
            piece = self.tokens[self.at]
            self.at += 1
            if piece in ("(", "["):
                close = ")" if piece == "(" else "]"
                items.append(_Alt(self._branches(close), optional=piece == "["))
            elif piece == "...":
                items.append(_Gap())
            elif piece in ("^", "$"):
                items.append(_Edge(start=piece == "^"))
            elif piece in (")", "]", "|"):
                raise PatternError(f"unexpected {piece!r} in {self.pattern!r}")
            else:
                items.extend(_words(piece, self.pattern))
        return tuple(items)

    def _branches(self, close: str) -> tuple[tuple[_Item, ...], ...]:
        branches = [self._sequence(closers=("|", close))]
        while self.at < len(self.tokens) and self.tokens[self.at] == "|":
            self.at += 1
            branches.append(self._sequence(closers=("|", close)))
        if self.at >= len(self.tokens) or self.tokens[self.at] != close:
            raise PatternError(f"missing {close!r} in {self.pattern!r}")
        self.at += 1
        if any(not branch for branch in branches):
            raise PatternError(f"empty alternative in {self.pattern!r}")
        return tuple(branches)


def _words(token: str, pattern: str) -> list[_Item]:
    if token in _NUMBERS:
        return [_Number(_NUMBERS[token])]
    if "?" in token:
        raise PatternError(f"{token!r} in {pattern!r}: write an optional word as [word], not ?")
    prefix = token.endswith("*") and len(token) > 1
    text = normalize(token[:-1] if prefix else token)
    words = text.split()
    if not words:
        raise PatternError(f"{token!r} in {pattern!r} has no letters or digits")
    items: list[_Item] = [_Word(w, prefix=False) for w in words]
    if prefix:
        items[-1] = _Word(words[-1], prefix=True)
    return items


def _regex(items: tuple[_Item, ...], squashed: bool) -> str:
    sep = "" if squashed else " "
    out: list[str] = []
    started = False
    for item in items:
        if isinstance(item, _Edge):  # zero-width: no separator on either side
            out.append(_EDGES[item.start, squashed])
            if not item.start and not started:
                raise PatternError("'$' needs a word before it")
            continue
        optional = isinstance(item, _Gap) or (isinstance(item, _Alt) and item.optional)
        body = _item_regex(item, squashed)
        if not started and optional:
            out.append(f"(?:{body}{sep})?")
        elif not started:
            out.append(body)
            started = True
        elif optional:
            out.append(f"(?:{sep}{body})?")
        else:
            out.append(f"{sep}{body}")
    if not started:
        raise PatternError("a pattern needs at least one word that is not optional")
    return "".join(out)


def _item_regex(item: _Item, squashed: bool) -> str:
    if isinstance(item, _Word):
        if not squashed:
            return re.escape(item.text) + ("[a-z0-9]*" if item.prefix else "")
        # Squashed, "want" + "to" reads "wanto": repeated letters fold across the old word
        # break too, so a word may share its first letter with the one before it.
        # A prefix word's ending is bounded here: in a squashed run every letter could be
        # an ending, and "cut*" then a gap backtracked over a 2,000-letter run for 0.5 s.
        first, rest = re.escape(item.text[0]), re.escape(item.text[1:])
        ending = f"[a-z0-9]{{0,{_SQUASHED_ENDING}}}" if item.prefix else ""
        return f"(?:(?<={first})|{first}){rest}{ending}"
    if isinstance(item, _Number):
        return item.regex
    if isinstance(item, _Edge):
        raise AssertionError("edges are emitted by _regex")
    if isinstance(item, _Gap):
        return "[a-z0-9]{0,24}?" if squashed else rf"[^ \n]+(?: [^ \n]+){{0,{_GAP_WORDS - 1}}}"
    return "(?:" + "|".join(_regex(branch, squashed) for branch in item.branches) + ")"


def _anchor_cost(key: str) -> int:
    """Roughly how often an anchor key is in a message: lower is a better anchor."""
    return 1000 if key in _VERY_COMMON else 50 if key in _COMMON else 1


def _anchors(items: tuple[_Item, ...]) -> frozenset[str] | None:
    """Words of which one must be in the message for `items` to match; None if unknown."""
    best: frozenset[str] | None = None
    best_cost = 0
    for item in items:
        keys: frozenset[str] | None = None
        if isinstance(item, _Word):
            if not item.prefix:
                keys = frozenset([item.text])
            elif len(item.text) >= _ANCHOR_PREFIX:
                keys = frozenset([item.text[:_ANCHOR_PREFIX]])
        elif isinstance(item, _Alt) and not item.optional:
            branch_keys = [_anchors(branch) for branch in item.branches]
            if all(k is not None for k in branch_keys):
                keys = frozenset().union(*(k for k in branch_keys if k is not None))
        if keys is None:
            continue
        cost = sum(_anchor_cost(key) for key in keys)
        if best is None or cost < best_cost:
            best, best_cost = keys, cost
    return best


def _literal_length(items: tuple[_Item, ...]) -> int:
    """The fewest letters a match can have (what a squashed match must at least span)."""
    total = 0
    for item in items:
        if isinstance(item, _Word):
            total += len(item.text)
        elif isinstance(item, _Alt) and not item.optional:
            total += min(_literal_length(branch) for branch in item.branches)
    return total


_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def find_words(regex: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """Matches of `regex` in `text` that start where a word starts.

    The check is made here rather than with a look-behind at the front of the regex: a
    regex that starts with a look-behind cannot skip ahead to its first letters, and is
    about ten times slower to search.
    """
    position = 0
    while (match := regex.search(text, position)) is not None:
        start = match.start()
        if start and text[start - 1] in _WORD_CHARS:
            position = start + 1
            continue
        yield match
        position = max(match.end(), start + 1)


@dataclass(frozen=True, slots=True)
class CompiledPattern:
    source: str
    regex: re.Pattern[str]  # read it with find_words, which checks where words start
    squashed: re.Pattern[str] | None  # for runs of split letters; None when too short
    anchors: frozenset[str] | None  # None: no anchor, the pattern is tried on every message


# Gaps ("...") a pattern may hold. Each gap tries up to _GAP_WORDS widths, and chained gaps
# multiply: a moderator's pattern with 12 of them backtracked for over 30 s inside `say`.
# The shipped lexicon needs one.
MAX_GAPS = 2
# What a pattern added at run time may take on the worst text it is tried on, 2,000
# characters of its own words: the slowest shipped pattern takes about 6 ms there.
COST_BUDGET_SECONDS = 0.02
_COST_RETRIES = 2  # more timings of a run that came out just over the budget
_COST_RETRY_FACTOR = 5  # "just over": up to 5x the budget; past that, noise cannot explain it
_COST_TEXT_CHARS = 2_000


def compile_pattern(pattern: str) -> CompiledPattern:
    if _tokens(pattern).count("...") > MAX_GAPS:
        raise PatternError(f"at most {MAX_GAPS} gaps (...) in one pattern: {pattern!r}")
    items = _Parser(pattern).parse()
    body = _regex(items, squashed=False)
    regex = re.compile(rf"{body}(?![a-z0-9])")
    squashed = None
    if _literal_length(items) >= _SQUASHED_MIN:
        squashed = re.compile(_regex(items, squashed=True))
    return CompiledPattern(pattern, regex, squashed, _anchors(items))


_COST_SINGLE_WORDS = 4  # words of a pattern tried alone, each repeated over the whole text


def check_cost(compiled: CompiledPattern, budget: float = COST_BUDGET_SECONDS) -> float:
    """Seconds the pattern takes on a 2,000-character message made of its own words repeated
    (where a matcher backtracks most); PatternError past `budget`. For patterns people add at
    run time: the shipped ones are measured by the tests."""
    words = re.findall(r"[a-z0-9]+", compiled.source.lower()) or ["a"]
    # Its words in order, and each of its first few words alone (a gap or an alternative
    # that can match the same word over and over backtracks most there: "^ (a|b) ... $"
    # took 12 ms on "a a a ..." and 0.02 ms on "a b a b ...").
    runs = [words, *([w] for w in dict.fromkeys(words[:_COST_SINGLE_WORDS]))]
    took = 0.0
    for run in runs:
        unit = " ".join(run) + " "
        text = (unit * (_COST_TEXT_CHARS // len(unit) + 1))[:_COST_TEXT_CHARS].strip()
        cost = _scan_seconds(compiled, text)
        # Even CPU time grows on a busy machine (caches, frequency): a run just over the
        # budget is timed again and its quickest time kept (an ordinary pattern once measured
        # 31 ms of wall time against 20). A run far over is refused without repeating it.
        if budget < cost <= budget * _COST_RETRY_FACTOR:
            cost = min([cost] + [_scan_seconds(compiled, text) for _ in range(_COST_RETRIES)])
        took = max(took, cost)
    if took > budget:
        raise PatternError(
            f"too slow: {took * 1000:.1f} ms on a 2,000-character message "
            f"(at most {budget * 1000:.0f} ms): use fewer gaps or alternatives"
        )
    return took


def _scan_seconds(compiled: CompiledPattern, text: str) -> float:
    # CPU time of this thread, not the wall clock: other processes on the machine (the test
    # suite on two cores reached a load of 14) stretch wall time sevenfold, not CPU time.
    squashed_text = f"\x01{text.replace(' ', '')}\x01"
    started = time.thread_time()
    for _ in find_words(compiled.regex, text):
        pass
    if compiled.squashed is not None:
        for _ in compiled.squashed.finditer(squashed_text):
            pass
    return time.thread_time() - started


def compile_phrases(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex that finds any of `phrases` (the context lists); None for an empty list.
    Read it with find_words."""
    if not phrases:
        return None
    bodies = [_regex(_Parser(p).parse(), squashed=False) for p in phrases]
    return re.compile(r"(?:" + "|".join(bodies) + r")(?![a-z0-9])")


def message_keys(normal: str) -> set[str]:
    """The anchor keys present in a normal-form message."""
    words = normal.split()
    keys = set(words)
    keys.update([w[:_ANCHOR_PREFIX] for w in words if len(w) > _ANCHOR_PREFIX])
    return keys
