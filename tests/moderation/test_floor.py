"""CI floor: the evaluation figures on both parts of the development set must not fall below
moderation/devset/floor.json (false alarms: not above). The floor only rises."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from moderation.evaluate import PARTS, evaluate

FLOOR = json.loads(resources.files("moderation").joinpath("devset", "floor.json").read_text())
AT_LEAST = ("urgent_recall", "urgent_or_concern_recall", "urgent_precision")
AT_MOST = ("false_alarm_rate",)


@pytest.mark.parametrize("part", PARTS)
def test_figures_hold_the_floor(part: str) -> None:
    report = evaluate(part)
    figures = report.figures()
    floor = FLOOR[part]
    misses = "\n".join(f"{ex.id}: {ex.label} -> {got}: {ex.text!r}" for ex, got in report.misses)
    for name in AT_LEAST:
        assert figures[name] >= floor[name], f"{part} {name} fell below the floor\n{misses}"
    for name in AT_MOST:
        assert figures[name] <= floor[name], f"{part} {name} rose above the ceiling\n{misses}"


def test_the_floor_meets_the_issue_targets_on_the_held_out_part() -> None:
    heldout = FLOOR["heldout"]
    assert heldout["urgent_recall"] >= 0.95
    assert heldout["urgent_or_concern_recall"] >= 0.90
    assert heldout["false_alarm_rate"] <= 0.05
