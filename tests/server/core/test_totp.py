"""TOTP acceptance: the current and the previous 30 s step only (SECURITY.md A3, T16)."""

from __future__ import annotations

import pyotp
import pytest

from server.core.totp import matching_step, new_secret, otpauth_uri, step_of

NOW = 1_795_000_015.0  # 15 s into a step


def code_at(secret: str, t: float) -> str:
    return str(pyotp.TOTP(secret).at(t))


def test_current_and_previous_step_accepted() -> None:
    secret = new_secret()
    assert matching_step(secret, code_at(secret, NOW), NOW) == step_of(NOW)
    assert matching_step(secret, code_at(secret, NOW - 30), NOW) == step_of(NOW) - 1


# A fixed secret: with a random one, another step shares a code one time in a million.
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.mark.parametrize("offset", [-60, -90, 30, 60])
def test_older_and_future_steps_refused(offset: int) -> None:
    code = code_at(SECRET, NOW + offset)
    assert code not in (code_at(SECRET, NOW), code_at(SECRET, NOW - 30))  # a real test
    assert matching_step(SECRET, code, NOW) is None


@pytest.mark.parametrize(
    "code", ["", "12345", "1234567", "abcdef", "\uff11\uff12\uff13\uff14\uff15\uff16", " 12345"]
)
def test_malformed_codes_refused(code: str) -> None:
    assert matching_step(new_secret(), code, NOW) is None


def test_secret_is_160_bits_and_uri_names_the_issuer() -> None:
    secret = new_secret()
    assert len(secret) == 32  # base32: 32 characters x 5 bits = 160 bits
    uri = otpauth_uri(secret, "alice")
    assert uri.startswith("otpauth://totp/Peerline:alice?") and f"secret={secret}" in uri
