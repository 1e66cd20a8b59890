"""`language_of`: whether a message is English or Spanish, so the help it raises is in the
words its writer reads.

Two signals, both cheap and both pure:

- the lexicon entries found in the message carry a `language`; a crisis phrase in Spanish is
  strong evidence, so each counts for several words;
- common function words ("que", "de", "estoy" against "the", "and", "i'm"), and the marks
  only Spanish uses (ñ, ¿, ¡, an accented vowel).

A tie, or a message with no signal at all, is English: the lexicon's default language and
the language of every program file written before resources carried one.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from moderation.lexicon import Lexicon
from moderation.normalize import normalize

Language = Literal["en", "es"]
DEFAULT_LANGUAGE: Language = "en"

# A lexicon hit in a language weighs as much as this many function words: the phrase is
# what raised the help, so it says most about who will read it.
_HIT_WEIGHT = 3
# Spanish-only marks in the text as typed (before folding): ñ ¿ ¡ and accented vowels.
_SPANISH_MARKS = re.compile(r"[ñÑ¿¡áéíóúÁÉÍÓÚ]")
_MARK_WEIGHT = 2
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Frequent words of one language that are not words of the other. Words both share ("no",
# "me", "a", "he", "son", "mi"...) are left out on purpose: they tell nothing apart.
_SPANISH = _words(
    """
    que de el la los las del al y o pero porque por para con sin una unos unas es esta
    estoy estas estan eres soy somos fue ya muy mas nada nadie nunca siempre tengo tiene
    tienen quiero quieres puedo puede hacer hoy noche manana ayer aqui ahora todo todos
    todas yo tu usted ella ellos nosotros mio mia su sus le les lo se te nos cuando donde
    como bien mal ayuda amigo amiga hermano hermana vivir morir muerto
    dormir despertar pastillas respira tambien solo sola vida mejor
    """
)
_ENGLISH = _words(
    """
    the and of to in is it that this was for on with you she they we im i'm i my
    your his her him them our are be been have has had do does did dont don't cant can't
    wont won't not just want wanna going gonna can will would could should what when where
    why how all some any there here now today tonight really so but if or at from about
    anymore friend brother sister mom dad live die dead sleep wake pills breathing life
    """
)


def language_of(text: str, lexicon: Lexicon | None = None) -> Language:
    """ "es" when the message reads as Spanish, else "en"."""
    lexicon = lexicon if lexicon is not None else Lexicon.default()
    spanish = english = 0
    for hit in lexicon.find(normalize(text)):
        if hit.entry.language == "es":
            spanish += _HIT_WEIGHT
        else:
            english += _HIT_WEIGHT
    for word in _WORD.findall(_fold(text)):
        spanish += word in _SPANISH
        english += word in _ENGLISH
    if _SPANISH_MARKS.search(text):
        spanish += _MARK_WEIGHT
    return "es" if spanish > english else DEFAULT_LANGUAGE


def _fold(text: str) -> str:
    """Lower case without accents, with curly apostrophes made straight."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("\u2019", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))
