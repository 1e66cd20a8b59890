from __future__ import annotations

import json
import time

import pytest

from moderation import Entry, Lexicon, LexiconError, scan
from moderation.lexicon import ANY_CATEGORY, CATEGORIES
from moderation.model import Model
from moderation.patterns import PatternError, compile_pattern, find_words

RULES_ALONE = Model.empty()

BAD_TRIP = Entry(
    id="test.bad-trip",
    pattern="(having|in) a [really] bad trip",
    category="medical",
    severity="concern",
    note="added in a test",
)


def test_default_lexicon_is_read_once_and_versioned() -> None:
    lexicon = Lexicon.default()
    assert lexicon is Lexicon.default()
    assert lexicon.version.startswith(f"{lexicon.data_version}+")
    assert len(lexicon.entries) > 100
    assert {e.category for e in lexicon.entries if e.severity != "allow"} == set(CATEGORIES)
    assert {e.language for e in lexicon.entries} == {"en", "es"}


def test_adding_an_entry_changes_the_outcome_and_the_version() -> None:
    base = Lexicon.default()
    assert scan("my friend is having a really bad trip", lexicon=base).label == "none"
    changed = base.with_changes(added=[BAD_TRIP])
    assert changed.version != base.version
    result = scan("my friend is having a really bad trip", lexicon=changed)
    assert (result.label, result.category) == ("concern", "medical")
    assert result.evidence == ("having a really bad trip",)
    # the lexicon it came from is unchanged
    assert scan("my friend is having a really bad trip", lexicon=base).label == "none"


# Retiring and allowing change what the rules say; the learned model reads the message on its
# own, so these two are checked on the rules alone (a model that knows nothing).
def test_retiring_an_entry_changes_the_outcome_and_the_version() -> None:
    base = Lexicon.default()
    assert scan("kms", lexicon=base, model=RULES_ALONE).label == "urgent"
    retired = base.with_changes(retired=["sui.intent.kms"])
    assert retired.version != base.version
    assert scan("kms", lexicon=retired, model=RULES_ALONE).label == "none"


def test_an_allow_entry_exempts_an_idiom() -> None:
    text = "my boss is going to stab him in the back at the meeting"
    base = Lexicon.default()
    assert scan(text, lexicon=base, model=RULES_ALONE).label == "urgent"
    idiom = Entry("test.backstab", "stab (him|her|me|them) in the back", ANY_CATEGORY, "allow")
    changed = base.with_changes(added=[idiom])
    assert scan(text, lexicon=changed, model=RULES_ALONE).label == "none"


def test_a_moderators_entry_flags_what_the_model_alone_lets_pass() -> None:
    text = "thinking about the purple bridge again"
    assert scan(text).label == "none"
    entry = Entry("mod.bridge", "purple bridge", "suicide", "urgent")
    flagged = scan(text, lexicon=Lexicon.default().with_changes(added=[entry]))
    assert (flagged.label, flagged.category) == ("urgent", "suicide")
    assert flagged.evidence == ("purple bridge",)


def test_the_same_changes_give_the_same_version_in_every_process() -> None:
    one = Lexicon.default().with_changes(added=[BAD_TRIP], retired=["sui.intent.kms"])
    two = Lexicon.from_json(Lexicon.default().to_json()).with_changes(
        retired=["sui.intent.kms"], added=[BAD_TRIP]
    )
    assert one.version == two.version


def test_replacing_an_entry_is_retire_and_add_in_one_change() -> None:
    base = Lexicon.default().with_changes(added=[BAD_TRIP])
    stricter = Entry(**{**BAD_TRIP.to_dict(), "severity": "urgent"})  # type: ignore[arg-type]
    replaced = base.with_changes(added=[stricter], retired=[BAD_TRIP.id])
    assert scan("in a bad trip", lexicon=replaced).label == "urgent"


def test_changes_that_make_no_sense_are_refused() -> None:
    base = Lexicon.default()
    with pytest.raises(LexiconError, match="unknown entries"):
        base.with_changes(retired=["no.such.entry"])
    with pytest.raises(LexiconError, match="duplicate entry ids"):
        base.with_changes(added=[BAD_TRIP, BAD_TRIP])
    with pytest.raises(LexiconError, match="category"):
        base.with_changes(added=[Entry("x", "bad trip", "vibes", "urgent")])
    with pytest.raises(LexiconError, match="severity"):
        Entry.from_dict({"id": "x", "pattern": "a", "category": "medical", "severity": "high"})
    with pytest.raises(LexiconError, match="missing"):
        base.with_changes(added=[Entry("x", "(bad trip", "medical", "urgent")])


def test_entries_and_lexicons_round_trip_through_json() -> None:
    assert Entry.from_dict(json.loads(json.dumps(BAD_TRIP.to_dict()))) == BAD_TRIP
    lexicon = Lexicon.default().with_changes(added=[BAD_TRIP])
    again = Lexicon.from_json(lexicon.to_json())
    assert again.version == lexicon.version
    assert again.entries == lexicon.entries
    assert again.context == lexicon.context


def test_entry_from_dict_refuses_unknown_fields_and_non_strings() -> None:
    with pytest.raises(LexiconError, match="unknown fields"):
        Entry.from_dict({**BAD_TRIP.to_dict(), "weight": "9"})
    with pytest.raises(LexiconError, match="must be a string"):
        Entry.from_dict({**BAD_TRIP.to_dict(), "pattern": 3})


def test_a_lexicon_file_needs_a_version_and_valid_toml() -> None:
    with pytest.raises(LexiconError, match="version"):
        Lexicon.from_toml("entries = []")
    with pytest.raises(LexiconError, match="lexicon file"):
        Lexicon.from_toml("version = ")
    small = Lexicon.from_toml(
        'version = "t1"\n'
        'entries = [{ id = "a", pattern = "bad trip", category = "medical", severity = "concern" }]\n'
        "[context]\n"
        'news = ["news"]\n'
    )
    assert scan("bad trip", lexicon=small).label == "concern"
    assert scan("on the news: a bad trip", lexicon=small).label == "none"


@pytest.mark.parametrize(
    ("pattern", "text", "found"),
    [
        ("kill* myself", "i keep killing myself slowly", True),
        ("kill* myself", "overkill myself", False),
        ("(want|wanna) to die", "i wanna to die", True),
        ("i [really|just] want", "i really want", True),
        ("i [really|just] want", "i want", True),
        ("took ... pills", "took like six of my pills", True),
        ("took ... pills", "took one two three four five six seven pills", False),
        ("took ## pills", "took 30 pills", True),
        ("took ## pills", "took 3 pills", False),
        ("in ####", "in 2019", True),
        ("^ help $", "help", True),
        ("^ help $", "please help", False),
        ("can't breathe", "cant breathe", True),
        ("💊", "pill", True),
    ],
)
def test_pattern_syntax(pattern: str, text: str, found: bool) -> None:
    from moderation.normalize import normalize

    compiled = compile_pattern(pattern)
    assert (next(find_words(compiled.regex, normalize(text)), None) is not None) is found


@pytest.mark.parametrize("pattern", ["(a|b", "a)", "[only]", "a||b", "...", "$ a", "?!"])
def test_malformed_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(PatternError):
        compile_pattern(pattern)


def test_anchors_skip_common_words() -> None:
    assert compile_pattern("i want to die").anchors == frozenset({"die"})
    assert compile_pattern("(overdosing|oding)").anchors == frozenset({"overdosing", "oding"})
    assert compile_pattern("kill* myself").anchors == frozenset({"myself"})


def test_a_pattern_with_chained_gaps_is_refused() -> None:
    from moderation.patterns import MAX_GAPS

    compile_pattern(" ... ".join(["w"] * (MAX_GAPS + 1)))
    with pytest.raises(PatternError, match="gaps"):
        compile_pattern(" ... ".join(["w"] * (MAX_GAPS + 2)))
    with pytest.raises(LexiconError, match="gaps"):  # a moderator's entry, stored or new
        Lexicon.default().with_changes(
            added=[Entry("m.x", "a ... b ... c ... d", "suicide", "concern")]
        )


def test_squashed_patterns_bound_every_repeat() -> None:
    # A prefix word ("cut*") ended in an unbounded repeat in the squashed form, and with a gap
    # after it a 2,000-letter run of split letters took 0.5 s in one pattern.
    for entry in Lexicon.default().entries:
        squashed = compile_pattern(entry.pattern).squashed
        assert squashed is None or "]*" not in squashed.pattern, entry.id


def test_a_busy_machine_does_not_refuse_an_ordinary_pattern(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Once an ordinary pattern measured 31 ms (budget 20) while the suite shared two cores,
    # and the add was refused. Here the first timing of each run is 25 ms slower than it was.
    from moderation import patterns

    real = time.thread_time
    calls = {"n": 0}

    def busy_clock() -> float:
        calls["n"] += 1
        return real() + (0.025 if calls["n"] == 2 else 0.0)  # the first run's end

    monkeypatch.setattr(patterns.time, "thread_time", busy_clock)
    compiled = compile_pattern("(pills|tablets) ... tonight")
    assert patterns.check_cost(compiled) < patterns.COST_BUDGET_SECONDS


def test_a_pattern_over_its_time_budget_is_refused() -> None:
    from moderation.patterns import check_cost

    # An ordinary pattern (2 ms of CPU on two busy cores) is within the budget; one with two
    # gaps and prefix words ("cut* ... (til|until) ... bleed*", 15 ms quiet) is too near it
    # to assert on a shared machine.
    compiled = compile_pattern("(pills|tablets) ... tonight")
    assert check_cost(compiled) >= 0  # within the budget
    with pytest.raises(PatternError, match="too slow"):
        check_cost(compiled, budget=0.0)
