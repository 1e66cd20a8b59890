"""Staff password hashing: argon2id from argon2-cffi, off the event loop, a few at a time.

argon2 is slow and memory-hungry on purpose (64 MiB per hash at the default parameters),
so hashes run in worker threads and at most HASHES_AT_ONCE at a time: a burst of logins
waits its turn instead of stalling chat delivery or exhausting memory (A1). At most
HASHES_WAITING more wait for a slot; a verify beyond that is refused at once (HashQueueFull,
answered 429 `busy`) instead of queueing for tens of seconds (issue 11).

An unknown username takes no slot. Checking it against a dummy hash took one of the four
slots the real logins need, so 200 logins with random usernames delayed a real one by
16-36 s. It now sleeps instead, for a time drawn from the recent real verifies of this
process (the argon2 work itself, measured in the worker thread), plus the rounds a real
verify would now wait for a slot. Why a sleep and not a second, smaller argon2 lane: a
dummy lane still burns a core per dummy hash on a 2-core machine (slowing the real slots
through the CPU they share) and, when full, must either queue (the starvation again) or
answer differently from the real path (an oracle for which names exist). The sleep costs no
CPU, and its length follows what a real verify costs on this machine under its current
load, so a failure takes about the same time whether or not the name exists (A2). What it
cannot mimic exactly is a change of load between the samples and now; the samples are the
last VERIFY_SAMPLES real verifies, so they follow the load within a few logins. The queue
bound is the same for both: when it is full, every login, known name or not, is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

HASHES_AT_ONCE = 4  # A1: at most 4 at once, 256 MiB at the default 64 MiB each
# Issue 11: at most 4 more wait, so an admitted login waits at most one round of verifies
# (about 1-2 s on 2 cores under load) before its own; beyond that, 429 `busy` at once.
HASHES_WAITING = 4
VERIFY_SAMPLES = 32  # real verify durations kept to time the dummy work of unknown names
# Hash threads run at a lower CPU priority (Linux nice is per thread, and argon2's own lane
# threads inherit it): a burst of logins then waits for the cores instead of taking them
# from chat delivery (bench/logins.py measures both).
HASH_NICENESS = 10


class HashQueueFull(Exception):
    """HASHES_AT_ONCE verifies run and HASHES_WAITING wait: refused without waiting."""


class VerifySamples:
    """The last `size` durations (s) of the argon2 work of real verifies: pure, no clock."""

    def __init__(self, first: float, size: int = VERIFY_SAMPLES) -> None:
        self._seen: deque[float] = deque([first], maxlen=size)

    def add(self, seconds: float) -> None:
        self._seen.append(seconds)

    def draw(self, rng: random.Random) -> float:
        return rng.choice(self._seen)


def dummy_seconds(work: float, admitted: int) -> float:
    """How long a real verify admitted now would take: the rounds of verifies it would wait
    behind (`admitted` run or wait already), then its own `work`."""
    ahead = max(0, admitted - HASHES_AT_ONCE + 1)
    return work * (1 + math.ceil(ahead / HASHES_AT_ONCE))


class Passwords:
    def __init__(
        self,
        hasher: PasswordHasher | None = None,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        # argon2-cffi's defaults are RFC 9106's second recommendation: argon2id, t=3,
        # m=64 MiB, p=4, 16-byte salt, 32-byte tag; at least what SECURITY.md A1 asks.
        self._hasher = hasher or PasswordHasher()
        self._pool = ThreadPoolExecutor(
            HASHES_AT_ONCE, thread_name_prefix="argon2", initializer=_lower_priority
        )
        self._gate = asyncio.Semaphore(HASHES_AT_ONCE)
        self._admitted = 0  # verifies running or waiting for a slot
        self._rng = rng or random.SystemRandom()
        self._sleep = sleep
        # A hash of nothing anyone knows, made once: its cost is the first sample of what a
        # verify costs (same parameters), until real verifies replace it.
        started = time.perf_counter()
        self._dummy = self._hasher.hash("peerline dummy password for unknown users")
        self._samples = VerifySamples(time.perf_counter() - started)

    @property
    def full(self) -> bool:
        """True when a verify now would be refused with HashQueueFull."""
        return self._admitted >= HASHES_AT_ONCE + HASHES_WAITING

    def hash_now(self, password: str) -> str:
        """Blocking; for the command line."""
        return self._hasher.hash(password)

    async def hash(self, password: str) -> str:
        async with self._gate:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """True when `password` matches `stored`; with `stored` None (an unknown name),
        spends about the time a real verify would take now, without a slot, and returns
        False. Raises HashQueueFull at once, known name or not, when the queue is full."""
        if self.full:
            raise HashQueueFull
        if stored is None:
            await self._sleep(dummy_seconds(self._samples.draw(self._rng), self._admitted))
            return False
        self._admitted += 1
        try:
            async with self._gate:
                loop = asyncio.get_running_loop()
                good, work = await loop.run_in_executor(self._pool, self._verify, stored, password)
        finally:
            self._admitted -= 1
        if work is not None:
            self._samples.add(work)
        return good

    def _verify(self, stored: str, password: str) -> tuple[bool, float | None]:
        """(matches, seconds of argon2 work; None for a stored value that is no hash)."""
        started = time.perf_counter()
        good: bool
        try:
            good = self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError):
            good = False
        except InvalidHashError:
            return False, None
        return good, time.perf_counter() - started

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
