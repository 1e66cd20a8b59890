# ruff: noqa: RUF001  (look-alike letters are among the bad inputs under test)
"""The learned model: one feature definition for training and scoring, the shipped file, the
units that keep a buried crisis from being diluted, and bad input in bounded time."""

from __future__ import annotations

import math
import time
from importlib import resources

import pytest

from moderation import normalize, scan
from moderation.detector import RULES_ONLY, Overlay, signals
from moderation.features import (
    WINDOW_WORDS,
    split_words,
    unit_buckets,
    units,
    word_buckets,
    word_of,
)
from moderation.model import MAIN_HEADS, Model, ModelError

MODEL_FILE_LIMIT_BYTES = 8 * 1024 * 1024  # the bound on the shipped model


def tiny_model(word: str, weight: int = 127, bias: float = -2.0) -> Model:
    """A model that knows one word: its own features carry `weight`, everything else 0."""
    bits = 12
    size = 1 << bits
    risk = bytearray(size)
    for bucket in word_buckets(word, size - 1):
        risk[bucket] = weight
    header = {
        "bits": bits,
        "bias": dict.fromkeys(MAIN_HEADS, bias),
        "scale": dict.fromkeys(MAIN_HEADS, 0.05),
        "categories": [],
    }
    return Model.from_bytes(Model.to_bytes(header, [bytes(risk), bytes(risk)]))


def direct_best(model: Model, normal: str) -> float:
    """The risk logit computed the slow way training sees it: each unit's buckets."""
    words, sentence_of = split_words(normal)
    table = model.tables["risk"]
    best = -math.inf
    for start, end in units(sentence_of):
        buckets = unit_buckets(words, sentence_of, start, end, model.mask)
        best = max(best, sum(table[b] for b in buckets) / math.sqrt(len(buckets)))
    return best * model.scale["risk"] + model.bias["risk"]


@pytest.mark.parametrize(
    "text",
    [
        "i have the pills counted out. tonight",
        "good morning all, coffee then the meeting at 10",
        " ".join(f"word{i}" for i in range(95)) + ". i cant do this anymore. " + "ok " * 40,
        "ya no quiero seguir\nmañana es otro dia",
        "call 5551234567 or 911 about the 2019 thing, ref 20190",
        " ".join(f"n{i} {10**7 + i}" for i in range(40)),
    ],
)
def test_scoring_sums_the_same_features_training_reads(text: str) -> None:
    model = Model.default()
    normal = normalize(text)
    assert model.score(normal).risk == pytest.approx(direct_best(model, normal), abs=1e-9)


def test_a_crisis_sentence_is_not_diluted_by_a_long_message() -> None:
    model = tiny_model("overdosing")
    alone = model.score(normalize("hes overdosing")).risk
    chatter = "the game last night was great and then we got food and talked for hours. " * 12
    buried = model.score(normalize(chatter + "hes overdosing. " + chatter)).risk
    whole = direct_best(model, normalize("hes overdosing " + chatter))
    assert len((chatter * 2).split()) > 4 * WINDOW_WORDS
    assert buried == pytest.approx(alone)
    assert buried > whole  # the sentence outscores one long unit that holds it


def test_the_shipped_model_is_small_versioned_by_content_and_read_whole() -> None:
    data = resources.files("moderation").joinpath("crisis_model.bin").read_bytes()
    assert len(data) <= MODEL_FILE_LIMIT_BYTES
    model = Model.default()
    assert model is Model.default()
    assert len(model.version) == 12 and model.version == Model.from_bytes(data).version
    assert "overlay" in model.header and model.header["trained"]["writers"]["train"]
    changed = bytearray(data)
    changed[-1] ^= 1
    with pytest.raises(ModelError):
        Model.from_bytes(bytes(changed))
    with pytest.raises(ModelError):
        Model.from_bytes(b"not a model")


def test_the_word_cache_is_bounded() -> None:
    model = tiny_model("x")
    for i in range(1000):
        model.score(f"w{i}")
    assert len(model._cache) <= 1000
    from moderation import model as model_module

    assert model_module.CACHE_LIMIT <= 100_000


BAD_INPUTS = {
    "empty": "",
    "blank": " \n\t ",
    "64 KiB": "a" * 65_536,
    "64 KiB of words": "i want to die " * 4_700,
    "only emoji": "😀🙏🫠💀" * 200,
    "mixed scripts": "я хочу умереть 我想死 أريد أن أموت kill myself",
    "zero-width": "k\u200bi\u200bl\u200bl m\u200by\u200bs\u200be\u200bl\u200bf",
    "look-alikes": "і wаnt tо kіll mysеlf",
    "control characters": "\x00\x01\x02 hello \x7f",
    "one long word": "x" * 20_000,
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_gets_a_label_in_bounded_time(name: str) -> None:
    started = time.perf_counter()
    result = scan(BAD_INPUTS[name])
    assert time.perf_counter() - started < 1.0  # a generous bound; typical is 0.1 ms
    assert result.label in ("urgent", "concern", "none")


def test_look_alike_and_zero_width_evasions_reach_the_model_folded() -> None:
    plain = Model.default().score(normalize("i want to kill myself"))
    for disguised in (BAD_INPUTS["zero-width"], BAD_INPUTS["look-alikes"]):
        assert scan(disguised).label != "none"
    assert plain.risk > 0


def test_the_rules_alone_overlay_gives_the_rules_label() -> None:
    empty = Model.empty()
    for text, label in (
        ("i want to kill myself", "urgent"),
        ("i wish i was dead", "concern"),
        ("good morning", "none"),
    ):
        found = signals(text, model=empty)
        assert found.overlay == RULES_ONLY
        assert RULES_ONLY.decide(found)[0] == label


def test_an_overlay_weighs_cues_and_adds_to_the_rules_but_never_lowers_them() -> None:
    model = tiny_model("pills", bias=-1.0)
    overlay = Overlay(
        0.0,
        0.0,
        cue_raise=1.0,
        cue_lower=1.0,
        urgent_threshold=10.0,
        risk_threshold=1.0,
        rule_floor=1.0,
    )
    found = signals("my pills are here tonight", model=model, all_cues=True)
    assert found.raise_cues >= 2  # a method and a time
    assert found.rung == 0  # the rules see nothing here: the model and the cues flag it
    assert overlay.decide(found)[0] == "concern"
    news = signals("the news said pills were found tonight", model=model, all_cues=True)
    assert news.lower_cues >= 1
    assert overlay.risk_score(news) < overlay.risk_score(found)
    # However low the model and the cues put it, what the floor covers stays flagged...
    strict = Overlay(
        0.0, 0.0, 0.0, 100.0, urgent_threshold=100.0, risk_threshold=100.0, rule_floor=1.0
    )
    for text, label in (("i want to kill myself", "urgent"), ("i wish i was dead", "concern")):
        assert strict.decide(signals(text, model=model, all_cues=True))[0] == label
    # ...and what it does not cover is only weighed: a floor of 2 keeps urgent alone.
    urgent_only = Overlay(0.0, 0.0, 0.0, 100.0, 100.0, 100.0, rule_floor=2.0)
    assert urgent_only.decide(signals("i wish i was dead", model=model))[0] == "none"
    assert urgent_only.decide(signals("i want to kill myself", model=model))[0] == "urgent"
    # The rules' weights add to the scores: a concern the weights lift to urgent.
    lift = Overlay(0.0, 5.0, 0.0, 0.0, urgent_threshold=100.0, risk_threshold=4.0, rule_floor=3.0)
    assert lift.decide(signals("i wish i was dead", model=model))[0] == "concern"


def test_the_threshold_budget_counts_what_the_rules_flag_first() -> None:
    import numpy as np  # the train extra, which scripts/test installs

    from moderation.train import MAX_FALSE_ALARMS, _risk_threshold

    none = np.ones(100, dtype=bool)
    scores = np.arange(100, dtype=float)
    rules = np.zeros(100, dtype=bool)
    budget = int(MAX_FALSE_ALARMS * 100)
    assert (scores >= _risk_threshold(scores, none, rules)).sum() == budget
    rules[:budget] = True  # the rules alone use the whole budget: the model adds nothing
    assert (scores[~rules] >= _risk_threshold(scores, none, rules)).sum() == 0


def test_scan_reports_the_model_version_and_its_parts() -> None:
    result = scan("i have the pills counted out for tonight")
    assert result.model_version == Model.default().version
    assert set(result.parts) == {
        "model_urgent",
        "model_risk",
        "rules",
        "raise",
        "lower",
        "urgent",
        "risk",
    }
    assert 0 <= result.parts["model_risk"] <= 1


def test_long_numbers_are_read_by_their_shape() -> None:
    model = Model.default()
    one = model.score(normalize("call me at 5551234567 i need help"))
    other = model.score(normalize("call me at 5559876543 i need help"))
    assert one == other
    model.score(normalize("warm 12345 up"))
    before = len(model._cache)
    for i in range(200):  # ids and timestamps, as a load generator or a paste sends them
        model.score(normalize(f"message {1733331234567 + i} says hello"))
    assert len(model._cache) - before <= 8  # 4 words, 3 pairs, once each: not one per number
    assert (word_of("2019"), word_of("911"), word_of("20190")) == ("2019", "911", "#####")
