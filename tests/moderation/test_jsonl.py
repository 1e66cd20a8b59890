from __future__ import annotations

import json

from moderation import Entry, Lexicon
from moderation.jsonl import scan_lines
from moderation.model import Model


def run(*lines: str, lexicon: Lexicon | None = None) -> list[dict[str, object]]:
    return [json.loads(out) for out in scan_lines(lines, lexicon=lexicon)]


def test_each_message_gets_its_assessment_in_order() -> None:
    out = run(
        '{"id": "a", "text": "good morning all"}',
        '{"id": 2, "text": "my bf isnt breathing"}',
        '{"id": "c", "text": "i wish i was dead"}',
    )
    assert [o["id"] for o in out] == ["a", 2, "c"]
    assert [o["label"] for o in out] == ["none", "urgent", "concern"]
    assert out[0]["evidence"] == [] and out[0]["category"] is None
    assert out[0]["score"] < 0.3 <= out[2]["score"] < out[1]["score"]
    assert out[1]["evidence"] == ["isnt breathing"]
    assert out[1]["category"] == "overdose"
    assert {o["model"] for o in out} == {Model.default().version}
    assert set(out[1]["parts"]) >= {"model_urgent", "model_risk", "rules", "urgent", "risk"}
    assert isinstance(out[1]["score"], float)


def test_bad_lines_give_an_error_and_processing_continues() -> None:
    out = run(
        "not json",
        "[1, 2]",
        '{"text": "no id"}',
        '{"id": "t", "text": 42}',
        '{"id": {"x": 1}, "text": "hi"}',
        '{"id": "r", "text": "hi", "role": "police"}',
        '{"id": "ok", "text": "cant wake her up"}',
    )
    assert [o.get("error") for o in out] == ["bad_line"] * 6 + [None]
    assert [o["id"] for o in out] == [None, None, None, "t", None, "r", "ok"]
    assert all(isinstance(o["detail"], str) and o["detail"] for o in out[:6])
    assert out[6]["label"] == "urgent"


def test_blank_lines_are_skipped() -> None:
    assert [o["id"] for o in run("", '{"id": 1, "text": "hi"}', "   ")] == [1]


def test_role_and_lexicon_are_honoured() -> None:
    question = '{"id": 1, "text": "are you thinking about killing yourself?", "role": "supporter"}'
    assert run(question)[0]["label"] == "none"
    extra = Lexicon.default().with_changes(
        added=[Entry("test.trip", "bad trip", "medical", "concern")]
    )
    assert run('{"id": 1, "text": "a bad trip"}', lexicon=extra)[0]["label"] == "concern"


def test_output_keeps_non_ascii_text_readable() -> None:
    line = next(scan_lines(['{"id": "é", "text": "mi novio no respira"}']))
    assert '"é"' in line
    assert json.loads(line)["evidence"] == ["no respira"]
