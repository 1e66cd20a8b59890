"""The command line and uvicorn settings the peers share, so they run on Peerline's stack.

Peerline serves on uvicorn's defaults, which here resolve to uvloop, httptools and the
websockets sans-I/O protocol; the peers name the same three explicitly. (uvicorn's
`ws="websockets"` is the legacy implementation, deprecated since websockets 14: using it
would compare WebSocket layers rather than chat servers.)
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis

REDIS_URL_ENV = "PEERLINE_REDIS_URL"  # the same variable Peerline reads, so one env serves all
# Like Peerline (R7 drains for 10 s); a peer has no state to save, so 5 s is plenty.
GRACEFUL_SHUTDOWN_SECONDS = 5
# As Peerline's store (server/store/redis.py): 32 connections, and a burst waits up to 5 s
# for one. redis-py's default pool instead raises "Too many connections" past 100 commands
# in flight, which an overloaded peer reaches, and then drops messages (socket.io) or the
# socket (broadcaster): that would measure a default, not the design.
REDIS_POOL_CONNECTIONS = 32
REDIS_POOL_WAIT_SECONDS = 5.0


class _DropConnectionChatter(logging.Filter):
    """At INFO uvicorn logs every WebSocket accept and close; with thousands of participants
    that is most of the log and some of the CPU. Startup and shutdown lines still pass
    (bench/procs.py looks for "Finished server process")."""

    def filter(self, record: logging.LogRecord) -> bool:
        template = str(record.msg)
        return not (template.startswith('%s - "WebSocket') or template.startswith("connection "))


def redis_url() -> str:
    url = os.environ.get(REDIS_URL_ENV)
    if not url:
        sys.exit(f"set {REDIS_URL_ENV} to the Redis the server processes share")
    return url


def redis_client(url: str, **options: Any) -> Redis:
    """A client owning a waiting pool; the peers' pub/sub connection comes from it too."""
    pool = BlockingConnectionPool.from_url(
        url, max_connections=REDIS_POOL_CONNECTIONS, timeout=REDIS_POOL_WAIT_SECONDS, **options
    )
    return Redis.from_pool(pool)


def serve(app: Any, description: str, argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_per_message_deflate=False,  # as Peerline: compression costs CPU the bench would count
        access_log=False,
        log_level="info",  # for uvicorn's startup and shutdown lines; chatter is filtered
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        server_header=False,
    )
    logging.getLogger("uvicorn.error").addFilter(_DropConnectionChatter())
    uvicorn.Server(config).run()
