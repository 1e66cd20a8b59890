# ruff: noqa: RUF001  (look-alike letters are the evasions under test)
from __future__ import annotations

import pytest

from moderation.normalize import SQUASH, normalize, normalize_with_spans


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        # case and apostrophes
        ("I CAN'T Do This", "i cant do this"),
        ("don’t", "dont"),
        # Unicode look-alikes: Cyrillic, Greek, fullwidth, mathematical letters
        ("kіll mysеlf", "kil myself"),
        ("gοing tο", "going to"),
        ("ＫＩＬＬ ｍｙｓｅｌｆ", "kil myself"),
        ("𝐤𝐢𝐥𝐥", "kil"),
        # accents
        ("está poniéndose morado", "esta poniendose morado"),
        # zero-width characters and soft hyphens inside a word
        ("su\u200bici\u00addal", "suicidal"),
        # leetspeak inside words, numbers left alone
        ("k1ll mys3lf", "kil myself"),
        ("su1c1de", "suicide"),
        ("ki11", "kil"),
        ("0d'ing", "oding"),
        ("$h00t", "shot"),
        ("k*ll", "kil"),
        ("90 days clean", "90 days clean"),
        ("help!!", "help"),
        # letters split by symbols become one word
        ("s.u.i.c.i.d.e", "suicide"),
        ("k-i-l-l myself", "kil myself"),
        ("su_i_ci_dal", "suicidal"),
        # ordinary hyphenated words are not split-letter runs
        ("self-harm", "self harm"),
        # repeated letters
        ("diiiiie", "die"),
        ("kill", "kil"),
        # sentences and questions
        ("im ok. really!", "im ok\nrealy"),
        ("are you ok?", "are you ok ?"),
        ("¿estás bien?", "estas bien ?"),
        # emoji carry words
        ("💊💊⚰️", "pil pil cofin"),
        ("lol 😂", "lol lol"),
    ],
)
def test_normal_form(text: str, normal: str) -> None:
    assert normalize(text) == normal


def test_letters_split_by_spaces_become_one_squashed_token() -> None:
    assert normalize("k i l l  m y s e l f") == f"{SQUASH}kilmyself{SQUASH}"
    assert normalize("he is n o t  b r e a t h i n g") == f"he is {SQUASH}notbreathing{SQUASH}"


def test_counting_is_not_a_split_word() -> None:
    assert normalize("1 2 3 4") == "1 2 3 4"


def test_a_typed_squash_mark_is_only_a_space() -> None:
    assert SQUASH not in normalize(f"a{SQUASH}b")


@pytest.mark.parametrize(
    "text",
    [
        "plain words",
        "I can't — really… 😭😭 can’t",
        "ＫＩＬＬ ｍｙｓｅｌｆ tonight?? ok.",
        "k i l l  m y s e l f and s.u.i.c.i.d.e",
        "¿Él respira? No despierta!!",
        "",
        "   ",
    ],
)
def test_tracked_path_builds_the_same_string_with_a_span_per_character(text: str) -> None:
    normal, starts, ends = normalize_with_spans(text)
    assert normal == normalize(text)
    assert len(starts) == len(ends) == len(normal)
    assert all(0 <= a < b <= len(text) for a, b in zip(starts, ends, strict=True))


def test_spans_point_back_at_the_original_text() -> None:
    text = "Well. I w4nt to KIIILL mysеlf!!"
    normal, starts, ends = normalize_with_spans(text)
    at = normal.index("kil myself")
    assert text[starts[at] : ends[at + len("kil myself") - 1]] == "KIIILL mysеlf"
