"""Training: the shipped model records the settings it was trained with, and the array form
of the overlay's decision (what train and crossval count) is the scanner's decision."""

from __future__ import annotations

from dataclasses import asdict

import pytest

pytest.importorskip("sklearn")  # the train extra, which scripts/test installs

from moderation import normalize, scan
from moderation.corpus import Message
from moderation.detector import MAX_SCANNED_CHARS, Overlay
from moderation.model import Model
from moderation.train import SHIPPED, Cues, decide
from tests.moderation.test_crossval import synthetic

TEXTS = (
    "i have the pills counted out for tonight",
    "took way too much and cant feel my legs",
    "my brother isnt breathing and his lips are blue",
    "i wish i was dead lately",
    "this commute is killing me lol",
    "good morning fam, coffee then the meeting at 10",
    "two years ago i overdosed in a gas station bathroom",
    "not tonight, but i keep thinking about it",
)


def test_the_shipped_model_was_trained_with_the_shipped_settings() -> None:
    trained = Model.default().header["trained"]
    # A model trained before naive-Bayes scaling existed was trained without it.
    assert {"nb": False, **trained["settings"]} == {
        k: list(v) if isinstance(v, tuple) else v for k, v in asdict(SHIPPED).items()
    }
    assert trained["c"] == {"urgent": SHIPPED.c_urgent, "risk": SHIPPED.c_risk}


def test_decide_over_arrays_is_the_scanners_decision() -> None:
    import numpy as np

    model = Model.default()
    chosen = Overlay.from_dict(model.header["overlay"])
    messages = [m for m in synthetic() if m.writer == "a1"][:20]
    texts = [*TEXTS, *(m.text for m in messages)]
    scores = [model.score(normalize(t[:MAX_SCANNED_CHARS])) for t in texts]
    cues = Cues.of([Message(f"x{i}", "x", t, "none", "", "") for i, t in enumerate(texts)])
    got = decide(
        chosen, np.array([s.urgent for s in scores]), np.array([s.risk for s in scores]), cues
    )
    rungs = {"none": 0, "concern": 1, "urgent": 2}
    assert [int(g) for g in got] == [rungs[scan(t).label] for t in texts]
    assert set(got[: len(TEXTS)]) >= {0, 2}  # both ends of the scale are exercised


def test_naive_bayes_scaling_ships_plain_linear_weights() -> None:
    """With `nb`, the head is fitted on features scaled by their log-count ratio, and its
    weights come back in the original space: scoring the raw features with them gives the
    scaled fit's scores, so the scorer needs nothing new."""
    import numpy as np
    from scipy.sparse import csr_matrix, diags
    from sklearn.linear_model import LogisticRegression

    from moderation.train import _fit, nb_ratio

    rng = np.random.default_rng(3)
    x = csr_matrix((rng.random((60, 12)) < 0.3) * rng.random((60, 12)))
    y = (np.asarray(x[:, 0].todense()).ravel() > 0).astype(int)
    y[:3] = 1 - y[:3]
    ratio = nb_ratio(x, y)
    assert ratio[0] > 0 > ratio[1:].min()  # the feature that marks the positives ranks first
    fitted = _fit(x, y, 4.0, None, nb=True)
    scaled = LogisticRegression(C=4.0, max_iter=2000, solver="liblinear").fit(x @ diags(ratio), y)
    scores = scaled.decision_function(x @ diags(ratio)) - scaled.intercept_[0]
    assert np.allclose(x @ fitted.coef_[0], scores)
