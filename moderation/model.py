"""The learned crisis model: linear heads over hashed n-grams, scored with the standard library.

Trained by `python -m moderation.train` (scikit-learn, the `train` extra) and shipped as one
file, `moderation/crisis_model.bin`; scoring needs no third-party package. The file holds a
JSON header (buckets, heads, biases, scales, the categories, the thresholds and overlay
weights set on the threshold writers, and how it was trained) and, per head, 2**bits signed
bytes: a weight is byte * scale. Its version is the first 12 hex digits of the SHA-256 of the
whole file, so any change to weights or thresholds changes the version.

Heads: `urgent` (urgent against the rest) and `risk` (urgent or concern against none) score
every unit of the message (moderation/features.py) and keep the highest; the category heads
(one a category, one against the rest) only run on the unit that scored highest, and only
when the message is flagged.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import zlib
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from itertools import chain, pairwise
from typing import Any

from moderation.features import (
    LONGEST_KEPT_NUMBER,
    NUMBER_SHAPE,
    WINDOW_WORDS,
    pair_bucket,
    split_words,
    unit_buckets,
    units,
    word_buckets,
)

MAGIC = b"PEERLINE-CRISIS-MODEL 1\n"
MAIN_HEADS = ("urgent", "risk")
# Words and word pairs whose sums are remembered. Chat vocabulary is small and repeats, so
# almost every word and pair after warm-up is one dictionary lookup; past this many the
# cache starts over, which bounds its memory (about 200 bytes an entry: 20 MB at most).
CACHE_LIMIT = 100_000
_MODEL_FILE = "crisis_model.bin"


class ModelError(ValueError):
    """The model file is missing, damaged or of another format."""


@dataclass(frozen=True, slots=True)
class Scores:
    """What the model says about one message: logits of the best unit for each head."""

    urgent: float
    risk: float
    best: tuple[int, int]  # the [start, end) words of the unit with the highest risk

    @property
    def urgent_probability(self) -> float:
        return _sigmoid(self.urgent)

    @property
    def risk_probability(self) -> float:
        return _sigmoid(self.risk)


NO_SCORES = Scores(-30.0, -30.0, (0, 0))


@dataclass(slots=True)
class Model:
    bits: int
    bias: dict[str, float]
    scale: dict[str, float]
    tables: dict[str, array[int]]
    categories: tuple[str, ...]
    header: dict[str, Any]
    version: str
    _cache: dict[str | tuple[str, str], tuple[int, int, int]] = field(
        default_factory=dict, repr=False
    )

    @property
    def mask(self) -> int:
        return (1 << self.bits) - 1

    @classmethod
    def default(cls) -> Model:
        global _DEFAULT
        if _DEFAULT is None:
            _DEFAULT = cls.from_bytes(
                resources.files("moderation").joinpath(_MODEL_FILE).read_bytes()
            )
        return _DEFAULT

    @classmethod
    def from_bytes(cls, data: bytes) -> Model:
        if not data.startswith(MAGIC):
            raise ModelError("not a Peerline crisis model file")
        try:
            (length,) = struct.unpack_from("<I", data, len(MAGIC))
            start = len(MAGIC) + 4
            header = json.loads(data[start : start + length])
            body = zlib.decompress(data[start + length :])
        except (struct.error, ValueError, zlib.error) as error:
            raise ModelError(f"damaged model file: {error}") from None
        bits = int(header["bits"])
        heads = [*MAIN_HEADS, *(f"category:{c}" for c in header["categories"])]
        size = 1 << bits
        if len(body) != size * len(heads):
            raise ModelError("damaged model file: table size does not match its header")
        tables = {}
        for index, head in enumerate(heads):
            table = array("b")
            table.frombytes(body[index * size : (index + 1) * size])
            tables[head] = table
        return cls(
            bits=bits,
            bias={h: float(header["bias"][h]) for h in heads},
            scale={h: float(header["scale"][h]) for h in heads},
            tables=tables,
            categories=tuple(header["categories"]),
            header=header,
            version=hashlib.sha256(data).hexdigest()[:12],
        )

    @classmethod
    def empty(cls) -> Model:
        """A model that knows nothing and has no overlay: `scan` with it is the rules alone."""
        bits = 4
        header = {
            "bits": bits,
            "bias": dict.fromkeys(MAIN_HEADS, 0.0),
            "scale": dict.fromkeys(MAIN_HEADS, 1.0),
            "categories": [],
        }
        return cls.from_bytes(cls.to_bytes(header, [bytes(1 << bits)] * len(MAIN_HEADS)))

    @staticmethod
    def to_bytes(header: dict[str, Any], tables: list[bytes]) -> bytes:
        encoded = json.dumps(header, sort_keys=True).encode()
        body = zlib.compress(b"".join(tables), 9)
        return MAGIC + struct.pack("<I", len(encoded)) + encoded + body

    # ---- scoring ------------------------------------------------------------------------

    def _feature(self, key: str | tuple[str, str]) -> tuple[int, int, int]:
        """The urgent sum, risk sum and feature count of a word (its n-grams and itself) or
        of a pair of neighbouring words, remembered: both repeat from message to message."""
        cached = self._cache.get(key)
        if cached is None:
            urgent, risk = self.tables["urgent"], self.tables["risk"]
            if isinstance(key, str):
                buckets = word_buckets(key, self.mask)
            else:
                buckets = [pair_bucket(key[0], key[1], self.mask)]
            cached = (
                sum(map(urgent.__getitem__, buckets)),
                sum(map(risk.__getitem__, buckets)),
                len(buckets),
            )
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = cached
        return cached

    def score(self, normal: str) -> Scores:
        """Scores of a message in normal form (moderation.normalize)."""
        # features.split_words, sentence by sentence; word_of is inlined (a call a word
        # was a tenth of the scan), and tests check both read the same words.
        sentences = [
            [
                NUMBER_SHAPE if len(token) > LONGEST_KEPT_NUMBER and token.isdigit() else token
                for token in sentence.split(" ")
                if token
            ]
            for sentence in normal.split("\n")
        ]
        count = sum(map(len, sentences))
        if not count:
            return NO_SCORES
        if count <= WINDOW_WORDS:
            return self._score_whole(sentences, count)
        return self._score_units(normal, count)

    def _score_whole(self, sentences: list[list[str]], count: int) -> Scores:
        """A message that is one unit (features.units): plain sums, no prefix arrays."""
        cache_get = self._cache.get
        u = r = n = 0
        for words in sentences:
            keys: Iterable[str | tuple[str, str]] = chain(words, pairwise(words))
            for key in keys:
                cached = cache_get(key) or self._feature(key)
                u += cached[0]
                r += cached[1]
                n += cached[2]
        norm = math.sqrt(n)
        return Scores(
            urgent=u / norm * self.scale["urgent"] + self.bias["urgent"],
            risk=r / norm * self.scale["risk"] + self.bias["risk"],
            best=(0, count),
        )

    def _score_units(self, normal: str, count: int) -> Scores:
        """A longer message: every unit, from prefix sums over its words."""
        words, sentence_of = split_words(normal)
        cache_get = self._cache.get
        # Prefix sums over words of each word's own features plus the pair it starts (a pair
        # ends a unit's sums one word early, below, since the last word's pair leaves it).
        u_sum = [0] * (count + 1)
        r_sum = [0] * (count + 1)
        n_sum = [0] * (count + 1)
        pu_sum = [0] * (count + 1)
        pr_sum = [0] * (count + 1)
        pn_sum = [0] * (count + 1)
        u = r = n = pu = pr = pn = 0
        last = count - 1
        for i, word in enumerate(words):
            cached = cache_get(word) or self._feature(word)
            u += cached[0]
            r += cached[1]
            n += cached[2]
            if i < last and sentence_of[i + 1] == sentence_of[i]:
                pair = (word, words[i + 1])
                cached = cache_get(pair) or self._feature(pair)
                pu += cached[0]
                pr += cached[1]
                pn += cached[2]
            u_sum[i + 1] = u
            r_sum[i + 1] = r
            n_sum[i + 1] = n
            pu_sum[i + 1] = pu
            pr_sum[i + 1] = pr
            pn_sum[i + 1] = pn
        best_u = best_r = -math.inf
        best: tuple[int, int] = (0, count)
        for start, end in units(sentence_of):
            pair_end = end - 1
            norm = math.sqrt(n_sum[end] - n_sum[start] + pn_sum[pair_end] - pn_sum[start])
            su = (u_sum[end] - u_sum[start] + pu_sum[pair_end] - pu_sum[start]) / norm
            sr = (r_sum[end] - r_sum[start] + pr_sum[pair_end] - pr_sum[start]) / norm
            if su > best_u:
                best_u = su
            if sr > best_r:
                best_r, best = sr, (start, end)
        return Scores(
            urgent=best_u * self.scale["urgent"] + self.bias["urgent"],
            risk=best_r * self.scale["risk"] + self.bias["risk"],
            best=best,
        )

    def category(self, normal: str, scores: Scores) -> str | None:
        """The kind of danger in the unit that scored highest."""
        if not self.categories or scores.best == (0, 0):
            return None
        words, sentence_of = split_words(normal)
        buckets = unit_buckets(words, sentence_of, *scores.best, self.mask)
        if not buckets:
            return None
        norm = math.sqrt(len(buckets))

        def logit(category: str) -> float:
            head = f"category:{category}"
            table = self.tables[head]
            return sum(map(table.__getitem__, buckets)) / norm * self.scale[head] + self.bias[head]

        return max(self.categories, key=logit)


_DEFAULT: Model | None = None


def _sigmoid(x: float) -> float:
    if x < -30:
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))
