from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from bench.receivers import MailReceiver, WebhookReceiver
from tests.integration.sockets import close_all
from tests.support import RedisServer, ServerProcess, data_keys, new_prefix, start_server


@pytest.fixture(autouse=True)
async def close_sockets() -> AsyncIterator[None]:
    """Sockets opened through tests/integration/sockets.py close after every test."""
    yield
    await close_all()


def redis_env(redis: RedisServer, **extra: str) -> dict[str, str]:
    return {
        "PEERLINE_REDIS_URL": redis.url,
        "PEERLINE_REDIS_PREFIX": new_prefix(),
        "PEERLINE_DATA_KEYS": data_keys(),
        # Every test connects from 127.0.0.1: the per-address limits are lifted here and
        # tested with their own settings.
        "PEERLINE_SESSIONS_PER_ADDRESS_PER_HOUR": "10000",
        "PEERLINE_UPGRADES_PER_ADDRESS_PER_MINUTE": "10000",
        "PEERLINE_LOGINS_PER_ADDRESS_PER_MINUTE": "10000",
        **extra,
    }


@pytest.fixture(scope="module")
def pair(redis_server: RedisServer) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two server processes on one Redis, sharing keys and prefix."""
    env = redis_env(redis_server)
    first = start_server(env)
    second = start_server(env)
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture(scope="module")
def receivers() -> Iterator[tuple[WebhookReceiver, MailReceiver]]:
    """A webhook receiver and an SMTP server on 127.0.0.1 for the paging tests."""
    hook, mail = WebhookReceiver().up(), MailReceiver().up()
    yield hook, mail
    hook.down()
    mail.down()
