"""`language_of`: the language a crisis notice is written in, from the message that raised it."""

from __future__ import annotations

import pytest

from moderation import Entry, Lexicon
from moderation.language import language_of

SPANISH = [
    "Ya no quiero vivir, esta noche me voy a tomar todas las pastillas",
    "mi amigo no respira y tiene los labios morados",
    "¿alguien sabe qué hacer? mi hermano tomó demasiado y no despierta",
    "estoy pensando en suicidarme",
    "me quiero matar",
    "no puedo más con esta vida, nadie me va a extrañar",
    "He tomado todas las pastillas que tenía",
    "YA NO AGUANTO MAS QUIERO MORIR",
    "hoy recaí otra vez y me siento muy solo",
]
ENGLISH = [
    "my friend isnt breathing and his lips are blue",
    "I want to kill myself tonight",
    "i have the pills lined up and i am going to take them all tonight",
    "I can't do this anymore, everyone would be better off without me",
    "he took too much and we cant wake him up",
    "Relapsed again last night. I don't see the point of living.",
    "kms",
    "",
]


@pytest.mark.parametrize("text", SPANISH)
def test_spanish_messages_read_as_spanish(text: str) -> None:
    assert language_of(text) == "es"


@pytest.mark.parametrize("text", ENGLISH)
def test_english_messages_and_messages_with_no_signal_read_as_english(text: str) -> None:
    assert language_of(text) == "en"


def test_a_spanish_phrase_in_english_words_leans_on_the_rest_of_the_message() -> None:
    # One Spanish crisis phrase in an English sentence: the English around it decides.
    assert language_of("ugh my sister texted me at 3am saying she wants to die") == "en"
    # The same phrase with a Spanish sentence around it: Spanish.
    assert language_of("mi hermana me dijo que ya no quiere vivir") == "es"


def test_lexicon_entries_count_for_their_language() -> None:
    # A bare phrase with no function words: only the lexicon entry says which language.
    base = Lexicon.from_dict({"version": "t", "entries": []})
    entry = Entry.from_dict(
        {
            "id": "t.es",
            "pattern": "zorbal quennic",
            "category": "suicide",
            "severity": "concern",
            "language": "es",
        }
    )
    assert language_of("zorbal quennic", base) == "en"
    assert language_of("zorbal quennic", base.with_changes(added=[entry])) == "es"


def test_spanish_marks_tip_a_short_message() -> None:
    assert language_of("¡ayúdenme!") == "es"
    assert language_of("help me") == "en"
