from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import RedisServer, new_prefix, start_redis


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = start_redis()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def prefix() -> str:
    """A fresh key prefix per test: tests never touch (or flush) keys they did not make."""
    return new_prefix()
