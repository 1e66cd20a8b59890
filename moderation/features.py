"""The hashed n-gram features the crisis model reads: one definition for training and scoring.

A message is read in its normal form (moderation/normalize.py), so look-alike letters,
leetspeak, zero-width characters and stretched letters reach the model already folded. A
message of up to WINDOW_WORDS words is one *unit*; a longer one is cut into units: every
sentence, and every window of WINDOW_WORDS words (stepping WINDOW_STRIDE). The model scores
each unit and keeps the highest, so one bad sentence in a long cheerful message is not
diluted by the rest.

A unit's features are, for each word, the character n-grams of the word with a space on each
side (" pil " gives " p", "pi", ..., "pil "), the word itself, and each pair of neighbouring
words in the same sentence. Each feature is hashed with CRC-32 (deterministic across
processes and machines, unlike `hash`) into one of 2**bits buckets. A unit's feature value is
count / sqrt(total occurrences in the unit): the unit's vector then has length one when its
features are distinct, which keeps short and long units on one scale.

Everything that depends on a single word lives in `word_buckets`, so the scorer can cache a
word's contribution and pay for the n-grams of a word only the first time it sees it.
"""

from __future__ import annotations

from collections.abc import Iterator
from zlib import crc32

CHAR_NGRAMS = (2, 3, 4, 5)  # as in the baseline that worked best: char 2-5-grams, word 1-2
WINDOW_WORDS = 30  # about two sentences of chat: enough context, short enough not to dilute
WINDOW_STRIDE = 15  # windows overlap by half, so no 15-word stretch is cut in two everywhere
MAX_WORD_CHARS = 40  # a longer "word" is noise (a URL, a key-mash); its n-grams stop there

# Different CRC start values keep the three kinds of feature apart without building prefixed
# strings on the hot path.
_SEED_CHAR = 0
_SEED_WORD = 0x5EED_0001
_SEED_PAIR = 0x5EED_0002


def word_buckets(word: str, mask: int, ngrams: tuple[int, ...] = CHAR_NGRAMS) -> list[int]:
    """The buckets of the features one word contributes on its own (n-grams, the word).
    `ngrams` is only ever changed by cross-validation, to compare n-gram ranges."""
    data = f" {word[:MAX_WORD_CHARS]} ".encode()
    size = len(data)
    buckets = [crc32(word.encode(), _SEED_WORD) & mask]
    for n in ngrams:
        for start in range(size - n + 1):
            buckets.append(crc32(data[start : start + n], _SEED_CHAR) & mask)
    return buckets


def pair_bucket(first: str, second: str, mask: int) -> int:
    return crc32(f"{first} {second}".encode(), _SEED_PAIR) & mask


NUMBER_SHAPE = "#####"
LONGEST_KEPT_NUMBER = 4  # years ("in 2019") and short numbers ("911", "988") keep their value


def word_of(token: str) -> str:
    """The word the features read for a token: a number longer than a year is read by its
    shape alone (a phone number, an id, a timestamp say nothing by their digits, and each
    would otherwise be a new word for the scorer's cache)."""
    if len(token) > LONGEST_KEPT_NUMBER and token.isdigit():
        return NUMBER_SHAPE
    return token


def split_words(normal: str) -> tuple[list[str], list[int]]:
    """The words of a normal-form message and, for each, the index of its sentence."""
    words: list[str] = []
    sentence_of: list[int] = []
    for index, sentence in enumerate(normal.split("\n")):
        for token in sentence.split(" "):
            if token:
                words.append(word_of(token))
                sentence_of.append(index)
    return words, sentence_of


def units(sentence_of: list[int]) -> Iterator[tuple[int, int]]:
    """The [start, end) word spans that are scored.

    A message of at most WINDOW_WORDS words is one unit, read whole: its sentences are short
    enough to keep their context ("lol i said i wanted to jump off a bridge bc my coffee
    spilled" is not a plan). A longer message is read sentence by sentence and in windows,
    so that one bad sentence among many is not diluted. Spans may repeat (a sentence that is
    also a window); scoring one twice changes nothing."""
    total = len(sentence_of)
    if total == 0:
        return
    if total <= WINDOW_WORDS:
        yield 0, total
        return
    start = 0
    for index in range(1, total + 1):
        if index == total or sentence_of[index] != sentence_of[start]:
            yield start, index
            start = index
    for begin in range(0, total - WINDOW_WORDS + WINDOW_STRIDE, WINDOW_STRIDE):
        yield begin, min(begin + WINDOW_WORDS, total)


def unit_buckets(
    words: list[str],
    sentence_of: list[int],
    start: int,
    end: int,
    mask: int,
    ngrams: tuple[int, ...] = CHAR_NGRAMS,
) -> list[int]:
    """Every feature occurrence of one unit, as buckets (repeats kept: they are counts)."""
    buckets: list[int] = []
    for index in range(start, end):
        buckets += word_buckets(words[index], mask, ngrams)
        if index + 1 < end and sentence_of[index + 1] == sentence_of[index]:
            buckets.append(pair_bucket(words[index], words[index + 1], mask))
    return buckets
