"""`scan`: one message in, one assessment out.

Every lexicon entry found in the normal form of the message is weighed in its sentence:

1. an "allow" entry (an idiom) of its category, or of any, that overlaps it sets it aside;
2. in a staff member's message, a question or guidance ("are you thinking about killing
   yourself?", "if he's not breathing, call 911") sets it aside;
3. teaching, news, media and quoted rules set it aside;
4. a past event told as history ("two years ago", "back when I was using") sets it aside,
   unless the sentence also says it was recent ("last night", "yesterday");
5. a denial just before it ("I'm not going to ...", "I would never actually ...": a denial
   word, then only bridge words) lowers it one rung, unless the sentence holds the denial
   to a time ("not tonight", "not yet"): a partial denial still escalates;
6. laughter right next to it ("wanna kms lol", "can't breathe 😂") lowers it one rung.

The highest rung left in any sentence decides, so a crisis buried in a cheerful paragraph is
found. The context phrases are lexicon data, not code.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Literal

from moderation.lexicon import ANY_CATEGORY, RUNG, Hit, Lexicon
from moderation.normalize import normalize, normalize_with_spans, original_span

Label = Literal["urgent", "concern", "none"]
STAFF_ROLES = frozenset({"supporter", "facilitator", "moderator", "admin"})
ROLES = frozenset({"participant"}) | STAFF_ROLES

_LABELS: dict[int, Label] = {0: "none", 1: "concern", 2: "urgent"}
# Each label owns a band of scores, so a score never ranks a lower label above a higher one:
# none [0, 0.3), concern [0.5, 0.75), urgent [0.85, 1]. Inside a band, more independent
# phrases raise the score a little.
_BAND_START = {1: 0.5, 2: 0.85}
_BAND_WIDTH = {1: 0.2, 2: 0.15}
_PER_EXTRA_ENTRY = 0.05
_SET_ASIDE_SCORE = 0.2  # "none", but something was found and set aside by its context
_BRIDGE_LIMIT = 4  # bridge words a denial may stand back: "not (sure i) ...", "never (actually)"
_LAUGHTER_REACH = 3  # words on either side of a phrase where "lol" marks it as a joke
_MAX_EVIDENCE = 5
# When two categories tie at the top rung, the one reported first: missing an overdose in
# progress is the worst failure this system can have.
_CATEGORY_ORDER = ("overdose", "medical", "abuse_in_progress", "harm_to_others", "suicide")
_SET_ASIDE_FRAMES = ("teaching", "news", "media", "rules")


@dataclass(frozen=True, slots=True)
class Assessment:
    label: Label
    score: float  # 0..1, monotone with the label (see the bands above)
    evidence: tuple[str, ...]  # the phrases that decided, as written where possible
    category: str | None  # the kind of danger ("suicide", "overdose", ...); None for "none"


NOTHING = Assessment("none", 0.0, (), None)


def scan(text: str, role: str = "participant", lexicon: Lexicon | None = None) -> Assessment:
    """Assess one message written by someone in `role` ("participant" or a staff role)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {sorted(ROLES)}")
    lexicon = lexicon if lexicon is not None else Lexicon.default()
    normal = normalize(text)
    hits = lexicon.find(normal)
    if all(hit.entry.severity == "allow" for hit in hits):  # also when there are none
        return NOTHING
    kept = _weigh(normal, hits, role, lexicon)
    if not kept:
        return Assessment("none", _SET_ASIDE_SCORE, (), None)
    top = max(rung for rung, _ in kept)
    deciding = sorted((hit for rung, hit in kept if rung == top), key=lambda h: h.start)
    categories = {hit.entry.category for hit in deciding}
    category = next((c for c in _CATEGORY_ORDER if c in categories), min(categories))
    extra = len({hit.entry.id for hit in deciding}) - 1
    score = _BAND_START[top] + min(_BAND_WIDTH[top], _PER_EXTRA_ENTRY * extra)
    return Assessment(_LABELS[top], round(score, 3), _evidence(text, normal, deciding), category)


def _weigh(normal: str, hits: list[Hit], role: str, lexicon: Lexicon) -> list[tuple[int, Hit]]:
    sentences = normal.split("\n")
    starts: list[int] = []
    offset = 0
    for sentence in sentences:
        starts.append(offset)
        offset += len(sentence) + 1
    allowed = [hit for hit in hits if hit.entry.severity == "allow"]
    frames: dict[tuple[int, str], bool] = {}

    def has(index: int, name: str) -> bool:
        key = (index, name)
        if key not in frames:
            frames[key] = lexicon.context_has(name, sentences[index])
        return frames[key]

    kept: list[tuple[int, Hit]] = []
    for hit in hits:
        if hit.entry.severity == "allow":
            continue
        if any(
            a.start < hit.end
            and hit.start < a.end
            and a.entry.category in (ANY_CATEGORY, hit.entry.category)
            for a in allowed
        ):
            continue
        index = bisect.bisect_right(starts, hit.start) - 1
        sentence = sentences[index]
        if role in STAFF_ROLES and (sentence.endswith("?") or has(index, "staff_prompt")):
            continue
        if any(has(index, frame) for frame in _SET_ASIDE_FRAMES):
            continue
        if has(index, "history") and not has(index, "recent"):
            continue
        rung = RUNG[hit.entry.severity]
        before = sentence[: hit.start - starts[index]].split()
        after = sentence[hit.end - starts[index] :].split()
        if _denied(before, hit.entry.language, lexicon) and not has(index, "partial_denial"):
            rung -= 1
        near = " ".join([*before[-_LAUGHTER_REACH:], "", *after[:_LAUGHTER_REACH]])
        if lexicon.context_has("laughter", near):
            rung -= 1
        if rung > 0:
            kept.append((rung, hit))
    return kept


def _denied(before: list[str], language: str, lexicon: Lexicon) -> bool:
    """A denial word right before the phrase, or with only bridge words between: "i'm not
    going to", "i would never actually". "not sure i want to live" is no denial: "sure" is
    not a bridge word."""
    denials = lexicon.context_words("negation_es" if language == "es" else "negation")
    bridges = lexicon.context_words("denial_bridge")
    for word in reversed(before[-(_BRIDGE_LIMIT + 1) :]):
        if word in denials:
            return True
        if word not in bridges:
            return False
    return False


def _evidence(text: str, normal: str, hits: list[Hit]) -> tuple[str, ...]:
    tracked, starts, ends = normalize_with_spans(text)
    quotes: list[str] = []
    for hit in hits:
        if tracked == normal:
            a, b = original_span(starts, ends, hit.start, hit.end)
            quote = text[a:b].strip()
        else:  # cannot happen while both paths share their stages; quote the normal form
            quote = normal[hit.start : hit.end]
        if quote and quote not in quotes:
            quotes.append(quote)
    return tuple(quotes[:_MAX_EVIDENCE])
