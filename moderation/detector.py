"""`scan`: one message in, one assessment out, from two readers of it.

The learned model (moderation/model.py) scores every sentence and 30-word window and keeps
the highest, for `urgent` and for urgent-or-concern (`risk`). The rules (the lexicon) give a
rung of their own. The overlay combines them:

- the risk score is the model's, plus a weight when the rules flag the message, plus a
  weight for each kind of method, time or preparation cue, minus one for each kind of
  everyday context (news, teaching, media, quoted rules, history, idiom, denial, laughter, a
  staff question); at its threshold the message is flagged, and the urgent score, built the
  same way, makes it urgent;
- part of the rules' verdict may be a floor the scores cannot lower (`rule_floor`);
- the weights, the thresholds and the floor are chosen together on the threshold writers by
  `python -m moderation.train`, so the false-alarm budget covers what the rules guarantee
  and what the scores add (moderation/corpus/README.md).

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
6. laughter right next to it ("wanna kms lol", "can't breathe 😂") lowers it one rung;
7. a question someone else asked, told again ("the counselor asked me if I ever think about
   ending it"), lowers it one rung.

The highest rung left in any sentence is the rules' rung, so a crisis buried in a cheerful
paragraph is found. The context phrases are lexicon data, not code.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Literal

from moderation.features import split_words
from moderation.lexicon import ANY_CATEGORY, RUNG, Hit, Lexicon
from moderation.model import Model, Scores
from moderation.normalize import normalize, normalize_with_spans, original_span

Label = Literal["urgent", "concern", "none"]
STAFF_ROLES = frozenset({"supporter", "facilitator", "moderator", "admin"})
ROLES = frozenset({"participant"}) | STAFF_ROLES

# Each label owns a band of scores, so a score never ranks a lower label above a higher one:
# none [0, 0.3), concern [0.5, 0.75), urgent [0.85, 1]. Inside a band, more independent
# phrases raise the score a little.
_BAND_START = {1: 0.5, 2: 0.85}
_BAND_WIDTH = {1: 0.2, 2: 0.15}
_SET_ASIDE_SCORE = 0.2  # "none", but something was found and set aside by its context
_BRIDGE_LIMIT = 4  # bridge words a denial may stand back: "not (sure i) ...", "never (actually)"
_LAUGHTER_REACH = 3  # words on either side of a phrase where "lol" marks it as a joke
# Characters on either side of a phrase that hold the words the two rules above read: more
# than (4 + 1) words of 40 characters, the longest word the features read.
_NEAR_CHARS = 240
_MAX_EVIDENCE = 5
# When two categories tie at the top rung, the one reported first: missing an overdose in
# progress is the worst failure this system can have.
_CATEGORY_ORDER = ("overdose", "medical", "abuse_in_progress", "harm_to_others", "suicide")
_SET_ASIDE_FRAMES = ("teaching", "news", "media", "rules")
_RAISE_CUES = ("method", "time", "preparation")
# Past this a message is not read further: 64 KiB of text is far beyond any chat message
# (the server refuses longer ones), and scan time grows with length.
MAX_SCANNED_CHARS = 65_536
_MAX_QUOTE_CHARS = 200


@dataclass(frozen=True, slots=True)
class Assessment:
    label: Label
    score: float  # 0..1, monotone with the label (see the bands above)
    evidence: tuple[str, ...]  # the phrases that decided, as written where possible
    category: str | None  # the kind of danger ("suicide", "overdose", ...); None for "none"
    model_version: str | None = None
    # The per-part scores: model probabilities, the rules' rung, the cues, and the margins
    # of the overlay's urgent and risk scores over their thresholds.
    parts: Mapping[str, float] = field(default_factory=dict)


def scan(
    text: str,
    role: str = "participant",
    lexicon: Lexicon | None = None,
    model: Model | None = None,
) -> Assessment:
    """Assess one message written by someone in `role` ("participant" or a staff role)."""
    found = signals(text, role, lexicon, model)
    overlay = found.overlay
    label, urgent_margin, risk_margin = overlay.decide(found)
    parts = {  # unrounded: rounding is for whoever prints them (peerline scan)
        "model_urgent": found.model.urgent_probability,
        "model_risk": found.model.risk_probability,
        "rules": float(found.rung),
        "raise": float(found.raise_cues),
        "lower": float(found.lower_cues),
        "urgent": urgent_margin,
        "risk": risk_margin,
    }
    if label == "none":
        score = _SET_ASIDE_SCORE * _sigmoid(risk_margin)
        return Assessment("none", round(score, 3), (), None, found.scorer.version, parts)
    rung = 2 if label == "urgent" else 1
    margin = urgent_margin if label == "urgent" else risk_margin
    score = _BAND_START[rung] + _BAND_WIDTH[rung] * _sigmoid(margin)
    category, evidence = _explain(text, found)
    return Assessment(label, round(score, 3), evidence, category, found.scorer.version, parts)


@dataclass(frozen=True, slots=True)
class Signals:
    """Everything the overlay weighs about one message."""

    normal: str
    model: Scores
    scorer: Model
    overlay: Overlay
    rung: int  # the rules' rung after context (0 none, 1 concern, 2 urgent): the floor
    deciding: tuple[Hit, ...]  # the rule hits at that rung
    raise_cues: int  # kinds of cue present: a method, a time, preparation (0-3)
    lower_cues: int  # kinds of context that make a risk phrase everyday talk (capped)


@dataclass(frozen=True, slots=True)
class Overlay:
    """How the rules, the cues and the model's scores combine: weights, two thresholds and
    how much of the rules' verdict is a floor, chosen together on the threshold writers by
    `python -m moderation.train` and shipped in the model file."""

    rule_urgent: float  # added to the urgent score when the rules say urgent
    rule_concern: float  # added to the risk score when the rules say concern or urgent
    cue_raise: float  # added to both scores for each kind of method, time or preparation cue
    cue_lower: float  # taken from both for each kind of everyday context (news, teaching...)
    urgent_threshold: float
    risk_threshold: float
    # The lowest rules' rung kept as a floor the model cannot lower: 1 keeps concern and
    # urgent, 2 only urgent, 3 none (the rules then only weigh in through their weights).
    rule_floor: float = 3.0

    @classmethod
    def from_dict(cls, data: Mapping[str, float]) -> Overlay:
        return cls(**{f.name: float(data[f.name]) for f in fields(cls)})

    def to_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def _cues(self, s: Signals) -> float:
        return self.cue_raise * s.raise_cues - self.cue_lower * s.lower_cues

    def urgent_score(self, s: Signals) -> float:
        return s.model.urgent + self.rule_urgent * (s.rung == 2) + self._cues(s)

    def risk_score(self, s: Signals) -> float:
        return s.model.risk + self.rule_concern * (s.rung >= 1) + self._cues(s)

    def floor(self, rules_rung: int) -> int:
        """The rung the rules guarantee, whatever the scores."""
        return rules_rung if rules_rung >= self.rule_floor else 0

    def decide(self, s: Signals) -> tuple[Label, float, float]:
        """The label, and how far the urgent and risk scores stand from their thresholds."""
        urgent = self.urgent_score(s) - self.urgent_threshold
        risk = self.risk_score(s) - self.risk_threshold
        rung = 0 if risk < 0 else 2 if urgent >= 0 else 1
        return _RUNG_LABELS[max(rung, self.floor(s.rung))], urgent, risk


# With no trained overlay the model never reaches a threshold: the rules alone decide.
RULES_ONLY = Overlay(0.0, 0.0, 0.0, 0.0, math.inf, math.inf, rule_floor=1.0)
_MAX_LOWER_CUES = 2  # two kinds of everyday context say as much as more would
_RUNG_LABELS: tuple[Label, Label, Label] = ("none", "concern", "urgent")


def signals(
    text: str,
    role: str = "participant",
    lexicon: Lexicon | None = None,
    model: Model | None = None,
    all_cues: bool = False,
) -> Signals:
    """What the overlay weighs. The cues are read only where they could change the label,
    unless `all_cues` (training reads them all, to weigh them)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {sorted(ROLES)}")
    lexicon = lexicon if lexicon is not None else Lexicon.default()
    model = model if model is not None else Model.default()
    normal = normalize(text[:MAX_SCANNED_CHARS])
    hits = lexicon.find(normal)
    lowered: set[str] = set()
    kept = _weigh(normal, hits, role, lexicon, lowered) if hits else []
    if any(hit.entry.severity == "allow" for hit in hits):
        lowered.add("idiom")
    top = max((rung for rung, _ in kept), default=0)
    deciding = tuple(sorted((hit for rung, hit in kept if rung == top), key=lambda h: h.start))
    scores = model.score(normal)
    overlay = _overlay_of(model)
    raise_cues = 0
    # The cues cost more than the model (a dozen phrase searches), and are read only where
    # they could change the label: not when the floor already makes it urgent, nor when even
    # every raising cue would leave each score short of what it could still change.
    floor = overlay.floor(top)
    most = overlay.cue_raise * len(_RAISE_CUES)
    could_flag = not floor and scores.risk + overlay.rule_concern * (top >= 1) + most >= (
        overlay.risk_threshold
    )
    could_lift = (floor == 1 or could_flag) and scores.urgent + most >= overlay.urgent_threshold
    if all_cues or could_flag or could_lift:
        raise_cues = sum(lexicon.context_has(name, normal) for name in _RAISE_CUES)
        if role in STAFF_ROLES and ("?" in normal or lexicon.context_has("staff_prompt", normal)):
            lowered.add("staff_prompt")
        for frame in _SET_ASIDE_FRAMES:
            if frame not in lowered and lexicon.context_has(frame, normal):
                lowered.add(frame)
    return Signals(
        normal=normal,
        model=scores,
        scorer=model,
        overlay=overlay,
        rung=top,
        deciding=deciding,
        raise_cues=raise_cues,
        lower_cues=min(_MAX_LOWER_CUES, len(lowered)),
    )


def _overlay_of(model: Model) -> Overlay:
    overlay = _OVERLAYS.get(model.version)
    if overlay is None:
        data = model.header.get("overlay")
        overlay = Overlay.from_dict(data) if data else RULES_ONLY
        _OVERLAYS[model.version] = overlay
    return overlay


_OVERLAYS: dict[str, Overlay] = {}


def _explain(text: str, found: Signals) -> tuple[str | None, tuple[str, ...]]:
    """The category and the evidence of a flagged message: the rules' phrases when they
    found any, else the words of the unit the model scored highest."""
    if found.deciding:
        categories = {hit.entry.category for hit in found.deciding}
        top = next((c for c in _CATEGORY_ORDER if c in categories), min(categories))
        return top, _evidence(text, found.normal, list(found.deciding))
    category = found.scorer.category(found.normal, found.model)
    start, end = found.model.best
    quote = " ".join(split_words(found.normal)[0][start:end])
    return category, ((quote[:_MAX_QUOTE_CHARS],) if quote else ())


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, x))))


def _weigh(
    normal: str, hits: list[Hit], role: str, lexicon: Lexicon, lowered: set[str]
) -> list[tuple[int, Hit]]:
    """The risk hits that their sentence's context leaves standing, each with its rung;
    `lowered` collects the kinds of context that set a hit aside or lowered it."""
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
            lowered.add("staff_prompt")
            continue
        frame = next((f for f in _SET_ASIDE_FRAMES if has(index, f)), None)
        if frame is not None:
            lowered.add(frame)
            continue
        if has(index, "history") and not has(index, "recent"):
            lowered.add("history")
            continue
        rung = RUNG[hit.entry.severity]
        before = _words_before(sentence, hit.start - starts[index])
        after = _words_after(sentence, hit.end - starts[index])
        if _denied(before, hit.entry.language, lexicon) and not has(index, "partial_denial"):
            lowered.add("denial")
            rung -= 1
        if has(index, "reported_question"):
            lowered.add("reported_question")
            rung -= 1
        near = " ".join([*before[-_LAUGHTER_REACH:], "", *after[:_LAUGHTER_REACH]])
        if lexicon.context_has("laughter", near):
            lowered.add("laughter")
            rung -= 1
        if rung > 0:
            kept.append((rung, hit))
    return kept


def _words_before(sentence: str, position: int) -> list[str]:
    """The last few words before `position`: enough for a denial or laughter, and a bounded
    slice, so a sentence with thousands of hits is not split again for each (quadratic)."""
    start = max(0, position - _NEAR_CHARS)
    words = sentence[start:position].split()
    return words[1:] if start > 0 and words else words  # the first may be cut in half


def _words_after(sentence: str, position: int) -> list[str]:
    end = position + _NEAR_CHARS
    words = sentence[position:end].split()
    return words[:-1] if end < len(sentence) and words else words


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
