"""Encryption at rest: an AES-256-GCM key ring with key ids and associated data.

Every stored text is sealed with the current key; the record keeps the key id so that older
records stay readable after a new key is put first in PEERLINE_DATA_KEYS. The associated data
binds the key id, the room and the message id, so a ciphertext moved to another room or
message fails to open (InvalidTag) instead of showing words where they were never written.
Keys live only in this process's memory; they are never written to Redis or logs.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96-bit random nonces: NIST SP 800-38D caps these at 2**32 uses per key
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

__all__ = ["InvalidTag", "KeyRing", "KeyRingError", "generate_key_line"]


class KeyRingError(ValueError):
    """PEERLINE_DATA_KEYS is malformed; the message never contains key material."""


@dataclass(frozen=True)
class KeyRing:
    current_id: str
    _keys: dict[str, AESGCM] = field(repr=False)

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        keys: dict[str, AESGCM] = {}
        order: list[str] = []
        for position, item in enumerate(part.strip() for part in spec.split(",")):
            if not item:
                continue
            key_id, sep, encoded = item.partition(":")
            if not sep or not KEY_ID_PATTERN.match(key_id):
                raise KeyRingError(
                    f"PEERLINE_DATA_KEYS entry {position + 1} must look like ID:BASE64 "
                    "(run `peerline keys generate`)"
                )
            try:
                raw = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise KeyRingError(
                    f"PEERLINE_DATA_KEYS key {key_id!r} is not valid base64"
                ) from None
            if len(raw) != KEY_BYTES:
                raise KeyRingError(f"PEERLINE_DATA_KEYS key {key_id!r} must be 32 bytes")
            if key_id in keys:
                raise KeyRingError(f"PEERLINE_DATA_KEYS names key {key_id!r} twice")
            keys[key_id] = AESGCM(raw)
            order.append(key_id)
        if not order:
            raise KeyRingError("PEERLINE_DATA_KEYS holds no key")
        return cls(order[0], keys)

    @classmethod
    def ephemeral(cls) -> KeyRing:
        key_id = "tmp" + secrets.token_hex(4)
        return cls(key_id, {key_id: AESGCM(AESGCM.generate_key(bit_length=256))})

    def seal(self, plaintext: bytes, *context: str) -> tuple[str, bytes]:
        """Encrypt with the current key; returns (key id, nonce || ciphertext || tag)."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        aad = _associated_data(self.current_id, context)
        return self.current_id, nonce + self._keys[self.current_id].encrypt(nonce, plaintext, aad)

    def open(self, key_id: str, blob: bytes, *context: str) -> bytes:
        """Decrypt a sealed blob; raises InvalidTag if it was altered, moved or the key is gone."""
        key = self._keys.get(key_id)
        if key is None or len(blob) < NONCE_BYTES + 16:
            raise InvalidTag
        return key.decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], _associated_data(key_id, context)
        )

    def has_key(self, key_id: str) -> bool:
        return key_id in self._keys


def _associated_data(key_id: str, context: tuple[str, ...]) -> bytes:
    # NUL cannot occur in key ids, room ids or stream ids, so the join is unambiguous.
    return "\x00".join((key_id, *context)).encode()


def generate_key_line() -> str:
    key_id = secrets.token_hex(4)
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"
