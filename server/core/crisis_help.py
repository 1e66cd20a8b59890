"""What a `crisis_resources` notice holds, in the language of the message that raised it.

Pure: the message's language is decided by `moderation.language.language_of`; this picks the
program's resources and the notice's sentence for it.
"""

from __future__ import annotations

from collections.abc import Sequence

from server.config import Resource

DEFAULT_LANGUAGE = "en"
# The notice's sentence, kept short: it sits beside the fold button of a strip above the
# chat on a phone.
NOTICE_TEXT = {
    "en": "Free and confidential, 24/7.",
    "es": "Gratis y confidencial, 24/7.",
}


def notice_text(lang: str) -> str:
    return NOTICE_TEXT.get(lang, NOTICE_TEXT[DEFAULT_LANGUAGE])


def resources_in(resources: Sequence[Resource], lang: str) -> list[Resource]:
    """The resources for a reader of `lang`: those in it and those in no particular language
    (an emergency number), in the program's order. When the program has none in `lang`,
    every resource: a line in another language beats no line at all."""
    if not any(r.lang == lang for r in resources):
        return list(resources)
    return [r for r in resources if r.lang in (lang, "")]


def resource_fields(resource: Resource) -> dict[str, str]:
    """One resource as the wire carries it (docs/protocol.md, `notice` and /api/info)."""
    return {
        "name": resource.name,
        "contact": resource.contact,
        "note": resource.note,
        "chat": resource.chat,
        "lang": resource.lang,
    }
