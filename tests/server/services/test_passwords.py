"""argon2id hashing: parameters, rehash of old hashes, equal time for unknown users without
a slot, and a bounded queue that refuses at once (A1, A2, issue 11)."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Literal

import pytest
from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import VerifyMismatchError

from server.services.passwords import (
    HASHES_AT_ONCE,
    HASHES_WAITING,
    VERIFY_SAMPLES,
    HashQueueFull,
    Passwords,
    dummy_seconds,
)

PASSWORD = "correct horse battery staple"


async def test_hashes_are_argon2id_at_least_the_recommended_strength() -> None:
    passwords = Passwords()
    stored = await passwords.hash(PASSWORD)
    params = extract_parameters(stored)
    assert stored.startswith("$argon2id$")
    assert params.memory_cost >= 65_536 and params.time_cost >= 3 and params.parallelism >= 4
    assert params.salt_len >= 16 and params.hash_len >= 32
    assert await passwords.verify(stored, PASSWORD)
    assert not await passwords.verify(stored, PASSWORD + "!")
    passwords.close()


async def test_unknown_user_is_checked_against_a_dummy_and_fails() -> None:
    passwords = Passwords()
    assert not await passwords.verify(None, PASSWORD)
    assert not await passwords.verify(None, "peerline dummy password for unknown users")
    passwords.close()


async def test_old_parameters_need_a_rehash() -> None:
    passwords = Passwords()
    old = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1).hash(PASSWORD)
    assert passwords.needs_rehash(old)
    assert await passwords.verify(old, PASSWORD)
    assert not passwords.needs_rehash(await passwords.hash(PASSWORD))
    passwords.close()


async def test_garbage_hash_is_a_failure_not_an_error() -> None:
    passwords = Passwords()
    assert not await passwords.verify("not a hash", PASSWORD)
    passwords.close()


async def test_at_most_four_hashes_run_at_once() -> None:
    running = peak = 0

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            try:
                return super().verify(hash, password)
            finally:
                running -= 1

    passwords = Passwords(Counting())
    stored = passwords.hash_now(PASSWORD)
    admitted = HASHES_AT_ONCE + HASHES_WAITING
    results = await asyncio.gather(*(passwords.verify(stored, PASSWORD) for _ in range(admitted)))
    assert all(results)
    assert peak <= HASHES_AT_ONCE
    passwords.close()


class Gated(PasswordHasher):
    """verify blocks until the test opens the gate, then takes `work` seconds (no argon2)."""

    def __init__(self, work: float = 0.0) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.work = work

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        assert self.gate.wait(10)
        started = time.perf_counter()
        time.sleep(self.work)
        assert time.perf_counter() - started < self.work + 0.09, "the machine is too busy"
        if password != PASSWORD:
            raise VerifyMismatchError
        return True


async def until_admitted(passwords: Passwords, count: int) -> None:
    for _ in range(500):
        if passwords._admitted >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} verifies were never admitted")


async def test_a_full_queue_refuses_at_once_known_name_or_not() -> None:
    hasher = Gated()
    passwords = Passwords(hasher)
    stored = passwords.hash_now(PASSWORD)
    admitted = HASHES_AT_ONCE + HASHES_WAITING
    queued = [asyncio.create_task(passwords.verify(stored, PASSWORD)) for _ in range(admitted)]
    await until_admitted(passwords, admitted)
    assert passwords.full
    for candidate in (stored, None):  # an unknown name is refused the same way
        started = time.perf_counter()
        with pytest.raises(HashQueueFull):
            await passwords.verify(candidate, PASSWORD)
        assert time.perf_counter() - started < 0.05  # at once, not after a wait
    hasher.gate.set()
    assert all(await asyncio.gather(*queued))
    assert not passwords.full
    assert await passwords.verify(stored, PASSWORD)
    passwords.close()


async def test_an_unknown_name_takes_no_slot_and_as_long_as_a_real_verify() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    hasher = Gated(work=0.2)
    hasher.gate.set()
    passwords = Passwords(hasher, rng=random.Random(7), sleep=sleep)
    stored = passwords.hash_now(PASSWORD)
    for _ in range(VERIFY_SAMPLES):  # every sample now is a real verify of about 0.2 s
        assert await passwords.verify(stored, PASSWORD)
    assert not await passwords.verify(None, PASSWORD)
    assert slept and 0.2 <= slept[-1] < 0.3
    # With every slot taken by real verifies, an unknown name still answers (no slot), and
    # waits about what a real one would: one round for a slot, then its own work.
    hasher.gate.clear()
    running = [asyncio.create_task(passwords.verify(stored, PASSWORD)) for _ in range(4)]
    await until_admitted(passwords, HASHES_AT_ONCE)
    assert not await asyncio.wait_for(passwords.verify(None, PASSWORD), 1.0)
    assert 0.4 <= slept[-1] < 0.6
    hasher.gate.set()
    assert all(await asyncio.gather(*running))
    passwords.close()


def test_dummy_time_adds_the_rounds_a_real_verify_would_wait() -> None:
    assert dummy_seconds(1.0, 0) == 1.0
    assert dummy_seconds(1.0, HASHES_AT_ONCE - 1) == 1.0  # a slot is free
    assert dummy_seconds(1.0, HASHES_AT_ONCE) == 2.0  # waits for one to end
    assert dummy_seconds(1.0, HASHES_AT_ONCE + HASHES_WAITING - 1) == 2.0  # behind 4 at most
