from __future__ import annotations

import json

import pytest

from moderation.evaluate import PARTS, Example, evaluate, load_part, main


def test_the_development_set_is_big_enough_and_well_formed() -> None:
    parts = {part: load_part(part) for part in PARTS}
    total = sum(len(examples) for examples in parts.values())
    assert total >= 600
    assert len(parts["heldout"]) * 3 >= total  # at least a third held out
    ids = [e.id for examples in parts.values() for e in examples]
    assert len(ids) == len(set(ids))
    for examples in parts.values():
        assert {e.label for e in examples} == {"urgent", "concern", "none"}


def test_figures_and_misses_on_a_small_set() -> None:
    examples = [
        Example("u1", "my bf isnt breathing", "urgent", "overdose"),
        Example("u2", "a message the rules cannot see", "urgent", "suicide"),
        Example("c1", "i wish i was dead", "concern", "suicide"),
        Example("n1", "good morning", "none", "chat"),
        Example("n2", "i want to kill myself", "none", "mislabelled on purpose"),
    ]
    report = evaluate("small", examples)
    figures = report.figures()
    assert figures["urgent_recall"] == 0.5
    assert figures["urgent_or_concern_recall"] == pytest.approx(2 / 3)
    assert figures["false_alarm_rate"] == 0.5
    assert figures["urgent_precision"] == 0.5
    assert report.confusion["urgent"] == {"urgent": 1, "concern": 0, "none": 1}
    assert sorted(ex.id for ex, _ in report.misses) == ["n2", "u2"]
    assert "u2" in report.render()


def test_main_prints_json_for_a_part(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--part", "dev", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"dev"}
    assert set(printed["dev"]["figures"]) >= {
        "urgent_recall",
        "urgent_or_concern_recall",
        "false_alarm_rate",
        "urgent_precision",
    }
