"""Abuse limits keyed on a keyed hash of the client address, never the address itself.

The HMAC key lives only in this process's memory and is replaced every day, so a stored
counter key cannot be turned back into an address once its day is over (SECURITY.md P1).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SALT_LIFETIME_SECONDS = 86_400  # P1: rotate daily so hashed IPv4s cannot be brute-forced later


class AddressHasher:
    def __init__(self, now: float) -> None:
        self._key = secrets.token_bytes(32)
        self._born = now

    def digest(self, address: str, now: float) -> str:
        if now - self._born >= SALT_LIFETIME_SECONDS:
            self._key = secrets.token_bytes(32)
            self._born = now
        return hmac.new(self._key, address.encode(), hashlib.sha256).hexdigest()[:32]
