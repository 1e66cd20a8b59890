"""Time-based one-time passwords (RFC 6238) through pyotp, with our acceptance rule.

pyotp computes the codes; this module decides which steps count: the current 30 s step
and the one before it only (A3), never a future one. Replay (a step accepted once per
account) is enforced by the account store, which remembers the last accepted step.
"""

from __future__ import annotations

import hmac

import pyotp

STEP_SECONDS = 30  # RFC 6238's default, and what every authenticator app assumes
DIGITS = 6
ISSUER = "Peerline"


def new_secret() -> str:
    """A base32 secret of 160 bits from a CSPRNG (A3, RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def otpauth_uri(secret: str, username: str, issuer: str = ISSUER) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=username, issuer_name=issuer
    )


def step_of(now: float) -> int:
    return int(now // STEP_SECONDS)


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The step `code` belongs to, if it is the current or the previous one."""
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = step_of(now)
    found = None
    # Both candidates are always computed and compared, so timing says nothing of which.
    for step in (current, current - 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code) and found is None:
            found = step
    return found
