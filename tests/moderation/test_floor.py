"""CI floor: the figures on the test writers (moderation/corpus/split.json), whose messages
were never used for training or thresholds, must not fall below moderation/corpus/floor.json
(false alarms: not above). The floor only rises."""

from __future__ import annotations

import json
from importlib import resources

from moderation.corpus import load, split
from moderation.evaluate import evaluate

FLOOR = json.loads(resources.files("moderation.corpus").joinpath("floor.json").read_text())
AT_LEAST = ("urgent_recall", "urgent_or_concern_recall", "urgent_precision")
AT_MOST = ("false_alarm_rate",)


def test_the_test_writers_hold_the_floor() -> None:
    report = evaluate("test", split(load())["test"])
    figures = report.figures()
    floor = FLOOR["test"]
    misses = "\n".join(f"{m.id}: {m.label} -> {got}: {m.text!r}" for m, got in report.misses)
    assert figures["messages"] >= floor["messages"]
    for name in AT_LEAST:
        assert figures[name] >= floor[name], f"test {name} fell below the floor\n{misses}"
    for name in AT_MOST:
        assert figures[name] <= floor[name], f"test {name} rose above the ceiling\n{misses}"
