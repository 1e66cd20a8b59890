"""argon2id hashing: parameters, rehash of old hashes, equal work for unknown users (A1)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher, extract_parameters

from server.passwords import HASHES_AT_ONCE, HASHES_WAITING, Passwords

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
