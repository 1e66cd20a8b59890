"""What a crisis notice holds for its reader's language: the lines and the sentence."""

from __future__ import annotations

from server.config import Resource, load_program
from server.core.crisis_help import notice_text, resource_fields, resources_in

LIFELINE_EN = Resource(
    "988 Lifeline", "Call or text 988", "24/7", "en", "https://988lifeline.org/chat/"
)
LIFELINE_ES = Resource(
    "988 Línea", "Llama o envía un texto al 988; para español oprime 2", "", "es"
)
EMERGENCY = Resource("Emergency services / Emergencias", "911", "")


def test_a_reader_gets_the_lines_in_their_language_and_the_language_free_ones() -> None:
    lines = (LIFELINE_EN, EMERGENCY, LIFELINE_ES)
    assert resources_in(lines, "es") == [EMERGENCY, LIFELINE_ES]
    assert resources_in(lines, "en") == [LIFELINE_EN, EMERGENCY]


def test_with_no_line_in_the_language_every_line_is_sent() -> None:
    lines = (LIFELINE_EN, EMERGENCY, LIFELINE_ES)
    assert resources_in(lines, "fr") == list(lines)
    # A program file written before lines had a language: everything, as before.
    plain = (Resource("988", "Call or text 988", ""), EMERGENCY)
    assert resources_in(plain, "es") == list(plain)


def test_the_demo_program_has_each_line_once_in_english_and_in_spanish() -> None:
    resources = load_program(None).resources
    for lang in ("en", "es"):
        lines = resources_in(resources, lang)
        assert len(lines) == 3 and all(r.lang == lang for r in lines)
        contacts = " ".join(r.contact for r in lines)
        assert "988" in contacts and "911" in contacts and "1-800-662-4357" in contacts
    spanish = resources_in(resources, "es")
    assert any("oprime 2" in r.contact for r in spanish)
    assert {r.chat for r in resources if r.chat} == {
        "https://988lifeline.org/chat/",
        "https://988lineadevida.org/",
    }


def test_the_sentence_is_in_the_language_and_english_otherwise() -> None:
    assert notice_text("es").startswith("Gratis y confidencial")
    assert notice_text("en").startswith("Free and confidential")
    assert notice_text("fr") == notice_text("en")


def test_a_resource_on_the_wire() -> None:
    assert resource_fields(LIFELINE_EN) == {
        "name": "988 Lifeline",
        "contact": "Call or text 988",
        "note": "24/7",
        "chat": "https://988lifeline.org/chat/",
        "lang": "en",
    }
