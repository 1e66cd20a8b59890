from __future__ import annotations

import json

import pytest

from moderation.corpus import LABELS, Message, load, split, writers_of
from moderation.evaluate import evaluate, main
from moderation.model import Model


def message(id_: str, text: str, label: str, kind: str) -> Message:
    return Message(id=id_, writer="t", text=text, label=label, category="", kind=kind)


def test_figures_kinds_and_misses_on_a_small_set() -> None:
    messages = [
        message("u1", "my bf isnt breathing", "urgent", "other_overdose"),
        message("u2", "a message the rules cannot see", "urgent", "suicide_plan"),
        message("c1", "i wish i was dead", "concern", "passive_ideation"),
        message("n1", "good morning", "none", "chat"),
        message("n2", "i want to kill myself", "none", "mislabelled on purpose"),
    ]
    report = evaluate("small", messages, model=Model.empty())
    figures = report.figures()
    assert figures["urgent_recall"] == 0.5
    assert figures["urgent_or_concern_recall"] == pytest.approx(2 / 3)
    assert figures["false_alarm_rate"] == 0.5
    assert figures["urgent_precision"] == 0.5
    assert figures["worst_urgent_kind_recall"] == 0.0
    assert report.confusion["urgent"] == {"urgent": 1, "concern": 0, "none": 1}
    assert report.kinds[("urgent", "suicide_plan")] == [0, 0, 1]
    assert report.kinds[("urgent", "other_overdose")] == [1, 1, 1]
    assert sorted(m.id for m, _ in report.misses) == ["n2", "u2"]
    assert len(report.seconds) == 5 and report.latency()["max_ms"] > 0
    rendered = report.render(misses=True)
    assert "u2" in rendered and "urgent/suicide_plan" in rendered


def test_the_parts_are_disjoint_by_writer_and_the_test_part_is_never_trained_on() -> None:
    parts = writers_of()
    seen: set[str] = set()
    for writers in parts.values():
        assert not seen & set(writers)
        seen |= set(writers)
    messages = split(load())
    assert len({m.writer for m in messages["test"]}) >= 2
    ids = [m.id for part in messages.values() for m in part]
    assert len(ids) == len(set(ids))
    trained = Model.default().header["trained"]["writers"]
    for part in ("train", "threshold"):
        assert not set(trained[part]) & set(parts["test"])
    for part in messages.values():
        assert {m.label for m in part} <= set(LABELS)


def test_main_prints_json_for_a_writer(capsys: pytest.CaptureFixture[str]) -> None:
    # A threshold writer: the command's output is what is under test, and a unit test has
    # no business printing test-writer figures (those are test_floor.py's alone).
    writer = writers_of()["threshold"][0]
    assert main(["--part", "threshold", "--writer", writer, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in printed] == [writer]
    assert set(printed[0]["figures"]) >= {
        "urgent_recall",
        "urgent_or_concern_recall",
        "false_alarm_rate",
        "urgent_precision",
    }
    assert printed[0]["latency"]["messages_per_second"] > 0
