from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import RedisServer, data_keys, new_prefix, start_redis


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


@pytest.fixture
def app_env(redis_url: str, prefix: str) -> dict[str, str]:
    """The environment of an in-process app on the test Redis, under this test's prefix:
    `create_app(Settings.from_environ({**app_env, ...}))`."""
    return {
        "PEERLINE_REDIS_URL": redis_url,
        "PEERLINE_REDIS_PREFIX": prefix,
        "PEERLINE_DATA_KEYS": data_keys(),
    }
