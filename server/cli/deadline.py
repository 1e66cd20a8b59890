"""A read deadline for HTTP requests in the server `peerline serve` starts.

uvicorn times out idle keep-alive connections, but not a request that is being sent: 500
connections that sent half their headers stayed open for over 70 s (a slow-loris). This
protocol gives every request `deadline_seconds` (PEERLINE_READ_DEADLINE_SECONDS, default 10)
from its first byte (or from the connection, for the first) to arrive whole, headers and
body; past that the connection is closed. A WebSocket upgrade ends the deadline: the socket
has its own pings. HTTP parsing stays uvicorn's (httptools); only the timer is ours.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class ReadDeadlineProtocol(HttpToolsProtocol):
    deadline_seconds = 10.0  # set from the settings; a phone on a poor network sends well within
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.deadline_seconds, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()
