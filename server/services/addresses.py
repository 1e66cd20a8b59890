"""Abuse limits keyed on a keyed hash of the client address, never the address itself.

The HMAC key is a random key of the day, shared through the store by every process (so a
limit counts across processes) and kept nowhere else: the store forgets it a day and an hour
after the day began, so a stored counter key cannot be turned back into an address once its
day is over (SECURITY.md P1).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Sequence

from server.config import IPNetwork
from server.store import Store

SALT_LIFETIME_SECONDS = (
    86_400  # P1: a new key each day, so hashed IPv4s cannot be brute-forced later
)
# The key outlives its day by the longest window a counter keyed with it runs (an hour).
KEY_GRACE_SECONDS = 3_600


class AddressHasher:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._day = -1
        self._key = b""

    async def digest(self, address: str, now: float) -> str:
        day = int(now // SALT_LIFETIME_SECONDS)
        if day != self._day:
            self._key = await self._store.shared_key(
                f"addr:{day}", SALT_LIFETIME_SECONDS + KEY_GRACE_SECONDS
            )
            self._day = day
        return hmac.new(self._key, address.encode(), hashlib.sha256).hexdigest()[:32]


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]
) -> str:
    """The address a limit is keyed on. Only when the TCP peer is a trusted proxy does it
    come from X-Forwarded-For: the rightmost entry that is not itself a trusted proxy (each
    proxy appends the address it saw; the entries left of it are whatever the client sent).
    An untrusted peer's header is ignored: anyone can send one."""
    if peer is None:
        return "unknown"
    if not forwarded_for or not _trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _trusted(address: str, trusted: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
