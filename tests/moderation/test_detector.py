# ruff: noqa: RUF001  (look-alike letters are the evasions under test)
"""Table tests for the rules of `scan` (the lexicon and its context), read alone with a model
that knows nothing: every evasion class, every hard-negative class, Spanish, partial
denials, recent attempts, burying, and the writer's role. The rules are the overlay of the
learned model; what the two do together is measured on the test writers
(tests/moderation/test_floor.py) and tested in test_overlay.py."""

from __future__ import annotations

import pytest

from moderation import STAFF_ROLES
from moderation import scan as scan_with_model
from moderation.detector import Assessment
from moderation.model import Model

RULES_ALONE = Model.empty()


def scan(text: str, role: str = "participant") -> Assessment:
    return scan_with_model(text, role=role, model=RULES_ALONE)


URGENT = "urgent"
CONCERN = "concern"
NONE = "none"


def check(text: str, label: str, category: str | None = None, role: str = "participant") -> None:
    result = scan(text, role=role)
    assert result.label == label, (text, result)
    if category is not None:
        assert result.category == category, (text, result)


EVASIONS = [
    # leetspeak
    ("i w4nt to k1ll mys3lf", URGENT, "suicide"),
    ("been thinking about su1c1de all week", CONCERN, "suicide"),
    ("my girl is 0d'ing and not breathing", URGENT, "overdose"),
    # letters split by spaces or symbols
    ("k i l l  m y s e l f", URGENT, "suicide"),
    ("i w a n t  t o  d i e", CONCERN, "suicide"),
    ("gonna k.i.l.l m.y.s.e.l.f tonight", URGENT, "suicide"),
    ("shes n o t  b r e a t h i n g", URGENT, "overdose"),
    ("feeling s-u-i-c-i-d-a-l", CONCERN, "suicide"),
    # Unicode look-alikes and fullwidth letters, zero-width characters
    ("і wаnt tо kіll mysеlf", URGENT, "suicide"),
    ("ｉ ａｍ ｇｏｉｎｇ ｔｏ ｋｉｌｌ ｍｙｓｅｌｆ", URGENT, "suicide"),
    ("he's nоt brеаthing", URGENT, "overdose"),
    ("su\u200bicidal again", CONCERN, "suicide"),
    # repeated letters
    ("i just wanna diiiiie", CONCERN, "suicide"),
    ("she wont wake uppppp", URGENT, "overdose"),
    # common misspellings
    ("im going to comit suicde", URGENT, "suicide"),
    ("the narcain isnt working", URGENT, "overdose"),
    ("feeling suicdal again", CONCERN, "suicide"),
    # euphemisms and slang
    ("i want to unalive myself", URGENT, "suicide"),
    ("im gonna kms tonight", URGENT, "suicide"),
    ("sewer slide thoughts again", CONCERN, "suicide"),
    # emoji that carry meaning
    ("💊💊💊⚰️", URGENT, "suicide"),
    ("gonna 🪢 myself", URGENT, "suicide"),
]

HARD_NEGATIVES = [
    # idioms and hyperbole
    "this traffic is killing me",
    "I'd die for a coffee",
    "killed it at work today",
    "dying to see the game tonight",
    "my phone is dying lol",
    "this homework makes me want to die",
    "my mom is gonna kill me when she sees my hair",
    "cant breathe lol this is too funny",
    # Spanish idioms
    "me muero de hambre",
    "me mata de risa",
    "me muero por verte",
    # recovery history
    "two years ago I overdosed and that's when I got clean",
    "back when i was using i tried to kill myself. 6 years clean now",
    "i used to cut when i was drinking",
    # program vocabulary
    "picked up my 90-day chip!",
    "how much clean time do you have",
    "i was using for ten years",
    # harm-reduction teaching
    "carry narcan; if someone isn't breathing call 911",
    "signs of an overdose: blue lips, not breathing, gurgling",
    # news
    "saw on the news that two people overdosed downtown",
    # quoted rules
    "rule 3: no talk of suicide methods in this room",
    # media and lyrics
    "that song goes 'i want to die tonight' lol",
    "in the movie he shoots himself",
    # everyday medical
    "took two tylenol for my headache",
    "my lips are blue from this slushie",
    # grief
    "my brother died of an overdose last year",
    # denials
    "i don't want to die, i want to get better",
    "i would never hurt myself",
    # phrases that matched what they should not (found in the training writers' messages)
    "lowkey proud of myself i went to all 3 groups this week",  # "off" folds to "of"
    "my landlord is trying to kill me with this heat",  # someone else, or the weather
    "somebody asked what PnP means in my last post",
    "a mom came through with her little girl who was crying bc she dropped her ice cream",
]

SPANISH = [
    ("me quiero morir", CONCERN, "suicide"),
    ("quiero matarme", URGENT, "suicide"),
    ("no quiero vivir", CONCERN, "suicide"),
    ("mi novio no respira", URGENT, "overdose"),
    ("no despierta", URGENT, "overdose"),
    ("se está poniendo morado", URGENT, "overdose"),
    ("se esta poniendo azul", URGENT, "overdose"),
    ("creo que le está dando una sobredosis", URGENT, "overdose"),
    ("me voy a suicidar esta noche", URGENT, "suicide"),
]

PARTIAL_DENIALS_AND_RECENT_ATTEMPTS = [
    ("i'm not going to kill myself tonight", URGENT),
    ("i won't do it today but i have the pills", URGENT),
    ("im not gonna kill myself yet", URGENT),
    ("I took the pills last night and I'm still here", URGENT),
    ("i tried yesterday", URGENT),
    ("i tried to kill myself last night", URGENT),
    ("two years ago i tried to kill myself but last night i tried again", URGENT),
]

DENIALS = [
    # A denial lowers a statement one rung (the devset follows the same rule).
    ("I'm not going to kill myself", CONCERN),
    ("im not gonna kill myself guys", CONCERN),  # intent (urgent), denied: concern
    ("i would never actually kill myself", NONE),  # a mention (concern), denied: none
    ("I don't want to live anymore", CONCERN),  # the denial is the statement
    ("im not sure i want to live", NONE),  # no phrase: "want to live" is not a risk
    ("not suicidal, just tired", NONE),
    # A question someone asked, told again, lowers one rung too.
    ("the counselor asked me if I ever think about ending it", NONE),
    (
        "the counselor went around asking if we have a plan to kill ourselves",
        CONCERN,
    ),  # urgent, lowered
    ("she asked if i was ok and i said i want to kill myself", CONCERN),
]


@pytest.mark.parametrize(("text", "label", "category"), EVASIONS)
def test_evasions(text: str, label: str, category: str) -> None:
    check(text, label, category)


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives(text: str) -> None:
    check(text, NONE)


@pytest.mark.parametrize(("text", "label", "category"), SPANISH)
def test_spanish(text: str, label: str, category: str) -> None:
    check(text, label, category)


@pytest.mark.parametrize(("text", "label"), PARTIAL_DENIALS_AND_RECENT_ATTEMPTS)
def test_partial_denials_and_recent_attempts_still_escalate(text: str, label: str) -> None:
    check(text, label)


@pytest.mark.parametrize(("text", "label"), DENIALS)
def test_denials(text: str, label: str) -> None:
    check(text, label)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("my bf isnt breathing", "overdose"),
        ("cant wake him up", "overdose"),
        ("her lips are blue", "overdose"),
        ("gave him narcan and it's not working", "overdose"),
        ("he's having a seizure, he's 3 days off xanax", "medical"),
        ("i'm going to stab him when he gets home", "harm_to_others"),
        ("he's hitting me right now", "abuse_in_progress"),
        ("i cut too deep and it wont stop bleeding", "self_harm"),
    ],
)
def test_emergencies_are_urgent(text: str, category: str) -> None:
    check(text, URGENT, category)


def test_a_crisis_buried_in_a_cheerful_paragraph_is_found() -> None:
    text = (
        "good morning everyone!! 45 days today and my sponsor took me to breakfast. "
        "the pancakes were amazing. i've been saving my pills and tonight is the night. "
        "anyway hope everyone has a great day, the weather is so nice"
    )
    result = scan(text)
    assert result.label == URGENT
    assert result.evidence == ("saving my pills",)


def test_the_highest_sentence_wins() -> None:
    assert scan("i wish i was dead. i just took all my pills").label == URGENT
    assert scan("i just took all my pills. i wish i was dead").label == URGENT


@pytest.mark.parametrize("role", sorted(STAFF_ROLES))
@pytest.mark.parametrize(
    "text",
    [
        "are you thinking about killing yourself?",
        "have you taken anything tonight?",
        "Are you having thoughts of suicide right now?",
        "have you had thoughts of killing yourself or wishing you were dead?",
        "is he breathing? is he not breathing at all?",
        "if he's not breathing call 911 and give the narcan",
        "have you been cutting or hurting yourself lately",
    ],
)
def test_staff_screening_questions_do_not_escalate(role: str, text: str) -> None:
    check(text, NONE, role=role)


def test_the_same_question_from_a_participant_is_read_as_theirs() -> None:
    text = "do you ever just want to die?"
    assert scan(text, role="supporter").label == NONE
    assert scan(text).label == CONCERN


def test_staff_reporting_an_emergency_in_front_of_them_escalates() -> None:
    check("the man in the lobby isn't breathing, giving narcan now", URGENT, role="facilitator")


def test_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        scan("hello", role="police")


@pytest.mark.parametrize(
    "text",
    [
        "I want to KIIILL mysеlf!!",
        "ok so. my roommate is n o t  b r e a t h i n g",
        "💊💊 ⚰️ tonight",
        "no respira!!",
    ],
)
def test_evidence_is_quoted_from_the_original_text(text: str) -> None:
    result = scan(text)
    assert result.label != NONE
    assert result.evidence
    assert all(quote in text for quote in result.evidence)


def test_scores_rise_with_the_label() -> None:
    none = scan("good morning all")
    set_aside = scan("this traffic is killing me, kill me now lol")
    concern = scan("i wish i was dead")
    urgent = scan("i'm going to kill myself")
    more_urgent = scan("i'm going to kill myself tonight, i have the pills in my hand")
    assert (none.label, none.evidence, none.category) == ("none", (), None)
    assert 0 <= set_aside.score < concern.score < urgent.score <= more_urgent.score <= 1
    assert concern.category == urgent.category == "suicide"


def test_nothing_is_found_in_empty_or_blank_text() -> None:
    assert scan("").label == NONE
    assert scan("   \n ").label == NONE
