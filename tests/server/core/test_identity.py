from __future__ import annotations

import re

from server.core.identity import new_id, new_pseudonym, new_token, token_digest


def test_pseudonyms_are_two_words_and_a_number() -> None:
    for _ in range(200):
        assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+ [1-9][0-9]", new_pseudonym())


def test_pseudonyms_vary() -> None:
    assert len({new_pseudonym() for _ in range(200)}) > 150


def test_tokens_carry_at_least_128_bits_and_only_digests_are_kept() -> None:
    token = new_token()
    assert len(token) >= 43  # 32 bytes in URL-safe base64
    assert token_digest(token) != token
    assert re.fullmatch(r"[0-9a-f]{64}", token_digest(token))
    assert len({new_token() for _ in range(1000)}) == 1000


def test_ids_are_128_bit_hex() -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", new_id())
