"""Cross-validation by writer: it never reads a test writer, every writer it reads is held
out exactly once and never trains or sets thresholds in its own fold, and the scores it
computes from matrices are the scores the server's scorer gives."""

from __future__ import annotations

import random
from typing import Any

import pytest

pytest.importorskip("sklearn")  # the train extra, which scripts/test installs

from moderation import crossval as cv
from moderation import normalize
from moderation.corpus import TEAM, Message, writers_of
from moderation.train import (
    MAX_FALSE_ALARMS,
    MIN_URGENT_PRECISION,
    Settings,
    build_model,
    unit_data,
)

SMALL = Settings(c_urgent=4.0, c_risk=4.0, bits=12)  # 4,096 buckets: fast, and enough here
WRITERS = ("a1", "a2", "a3", "a4", "a5", "a6")


def synthetic(writers: tuple[str, ...] = WRITERS, seed: int = 7) -> list[Message]:
    """Invented words that no lexicon rule knows, so only the model can find the crisis:
    urgent says "zorblat", concern "quimble", none neither; long ones bury it in chatter."""
    rng = random.Random(seed)
    filler = ["lunch", "bus", "meeting", "rain", "coffee", "group", "shift", "game"]
    out: list[Message] = []
    for writer in (*writers, TEAM):
        for i in range(60):
            label = ("urgent", "concern", "none", "none")[i % 4]
            words = rng.sample(filler, 4)
            cue = {"urgent": ["zorblat", "now"], "concern": ["quimble", "lately"], "none": []}
            text = " ".join(words[:2] + cue[label] + words[2:])
            if i % 10 == 0:  # a long message: the cue in one sentence of many
                text = ". ".join([" ".join(rng.choices(filler, k=9)) for _ in range(5)] + [text])
            out.append(Message(f"{writer}-{i}", writer, text, label, "suicide", f"kind{i % 4}"))
    return out


def test_test_writers_are_refused_before_any_file_is_opened(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[list[str]] = []
    monkeypatch.setattr(cv, "load_writers", lambda names: opened.append(list(names)) or [])
    test_writer = writers_of()["test"][0]
    with pytest.raises(cv.TestWritersRefused):
        cv.messages([test_writer])
    with pytest.raises(cv.TestWritersRefused):
        cv.messages(["w01", test_writer])
    assert opened == []
    cv.messages()  # the default: the train and threshold writers, and nothing else
    parts = writers_of()
    assert set(opened[0]) == {*parts["train"], *parts["threshold"]}
    assert not set(opened[0]) & set(parts["test"])


def test_data_that_holds_a_test_writer_is_refused() -> None:
    test_writer = writers_of()["test"][0]
    corpus = synthetic(("a1", "a2", test_writer))  # invented text under a test writer's name
    with pytest.raises(cv.TestWritersRefused):
        cv.crossval(SMALL, cv.Data.of(corpus, SMALL), count=3)


def test_every_writer_is_held_out_once_and_the_team_never() -> None:
    writers = [TEAM, *WRITERS, "a7"]
    dealt = cv.folds(writers, 3)
    held = [w for fold in dealt for w in fold]
    assert sorted(held) == sorted(w for w in writers if w != TEAM)
    assert len(held) == len(set(held))
    assert [len(f) for f in dealt] == [3, 2, 2]


def test_a_fold_never_fits_or_sets_thresholds_on_its_held_out_writers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fitted_on: list[set[str]] = []
    real_fit = cv.fit_heads

    def recording_fit(data: Any, settings: Settings, threshold: Any, log: Any) -> Any:
        fitted_on.append({m.writer for m in data.messages})
        return real_fit(data, settings, threshold, log)

    monkeypatch.setattr(cv, "fit_heads", recording_fit)
    corpus = synthetic()
    report = cv.crossval(SMALL, cv.Data.of(corpus, SMALL), count=3)
    assert len(report.results) == 3 == len(fitted_on)
    for result, writers in zip(report.results, fitted_on, strict=True):
        assert not writers & set(result.held)
        assert not writers & set(result.threshold)
        assert not set(result.held) & set(result.threshold)
        assert TEAM in writers
    # Every message of a non-team writer is predicted once, as held out.
    assert sum(len(r.predicted) for r in report.results) == len(WRITERS) * 60


def test_separable_writers_give_full_figures() -> None:
    report = cv.crossval(SMALL, cv.Data.of(synthetic(), SMALL), count=3)
    pooled = report.pooled()
    assert pooled["urgent_recall"] == 1.0
    assert pooled["urgent_or_concern_recall"] == 1.0
    # The risk threshold spends the false-alarm budget even where it need not, so held-out
    # writers see about that share of `none` flagged, and the threshold writers at most it.
    assert pooled["false_alarm_rate"] <= MAX_FALSE_ALARMS + 0.02
    assert all(r.threshold_figures["false_alarm_rate"] <= MAX_FALSE_ALARMS for r in report.results)
    assert pooled["urgent_precision"] >= MIN_URGENT_PRECISION - 0.05
    assert pooled["worst_urgent_kind_recall"] == 1.0
    rendered = report.render()
    assert "pooled over held-out writers" in rendered and "a1" in rendered
    assert report.to_dict()["folds"][0]["held"] == ["a1", "a4"]


def test_worst_urgent_kind_ignores_tiny_kinds() -> None:
    predicted = [2] * 10 + [0] * 10 + [0, 0]
    labels = ["urgent"] * 22
    kinds = ["big"] * 10 + ["half"] * 10 + ["tiny", "tiny"]
    assert cv.worst_urgent_kind(predicted, labels, kinds) == ("half", 0.0)
    assert cv.worst_urgent_kind([], [], []) == ("", 1.0)


def test_matrix_scores_are_the_scorers_scores() -> None:
    import numpy as np

    corpus = synthetic()
    model, _ = build_model(corpus[:300], corpus[300:], SMALL, log=lambda *_: None)
    units = unit_data(corpus, SMALL.bits)
    for head in ("urgent", "risk"):
        table = np.frombuffer(model.tables[head].tobytes(), dtype=np.int8) * model.scale[head]
        best = units.best(table, model.bias[head])
        scorer = [getattr(model.score(normalize(m.text)), head) for m in units.messages]
        assert best == pytest.approx(scorer, abs=1e-9)
