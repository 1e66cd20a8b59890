"""Staff password hashing: argon2id from argon2-cffi, off the event loop, a few at a time.

argon2 is slow and memory-hungry on purpose (64 MiB per hash at the default parameters),
so hashes run in worker threads and at most HASHES_AT_ONCE at a time: a burst of logins
waits its turn instead of stalling chat delivery or exhausting memory (A1).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

HASHES_AT_ONCE = 4  # A1: at most 4 at once, 256 MiB at the default 64 MiB each
# Hash threads run at a lower CPU priority (Linux nice is per thread, and argon2's own lane
# threads inherit it): a burst of logins then waits for the cores instead of taking them
# from chat delivery (bench/logins.py measures both).
HASH_NICENESS = 10


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        # argon2-cffi's defaults are RFC 9106's second recommendation: argon2id, t=3,
        # m=64 MiB, p=4, 16-byte salt, 32-byte tag; at least what SECURITY.md A1 asks.
        self._hasher = hasher or PasswordHasher()
        self._pool = ThreadPoolExecutor(
            HASHES_AT_ONCE, thread_name_prefix="argon2", initializer=_lower_priority
        )
        self._gate = asyncio.Semaphore(HASHES_AT_ONCE)
        # A hash of nothing anyone knows: an unknown username is checked against it, so a
        # failure takes the same time whether or not the account exists (A2).
        self._dummy = self._hasher.hash("peerline dummy password for unknown users")

    def hash_now(self, password: str) -> str:
        """Blocking; for the command line."""
        return self._hasher.hash(password)

    async def hash(self, password: str) -> str:
        async with self._gate:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """True when `password` matches `stored`; with `stored` None, spends the same time
        and returns False."""
        async with self._gate:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._pool, self._verify, stored or self._dummy, password, stored is not None
            )

    def _verify(self, stored: str, password: str, real: bool) -> bool:
        try:
            return self._hasher.verify(stored, password) and real
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _lower_priority() -> None:
    # On Linux, PRIO_PROCESS with 0 names the calling thread only; elsewhere this may lower
    # the whole process or be refused, and hashing simply runs at normal priority.
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, HASH_NICENESS)
