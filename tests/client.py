"""A small WebSocket participant for tests: a background reader and bounded waits."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from tests.support import ServerProcess

WAIT_SECONDS = 5.0


class Participant:
    def __init__(self, server: ServerProcess, cookie: str, *, staff: bool = False) -> None:
        self.server = server
        self.cookie = cookie
        self.staff = staff  # a console socket: `/ws?as=staff` with the staff cookie
        self.ws: ClientConnection | None = None
        self.frames: list[dict[str, Any]] = []
        self._taken: set[int] = set()
        self._arrived = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self.hello: dict[str, Any] = {}

    async def connect(self, server: ServerProcess | None = None) -> Participant:
        self.server = server or self.server
        self.ws = await websockets.connect(
            self.server.ws_url + ("?as=staff" if self.staff else ""),
            origin=self.server.base,  # type: ignore[arg-type]
            additional_headers={"cookie": self.cookie},
            max_size=None,
            open_timeout=WAIT_SECONDS,
        )
        self._reader = asyncio.create_task(self._read(self.ws))
        self.hello = await self.expect("hello")
        return self

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                frame = json.loads(raw)
                self.frames.append(frame)
                self._arrived.set()
        except websockets.ConnectionClosed:
            pass

    async def send(self, **frame: Any) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(frame))

    async def expect(
        self, kind: str, timeout: float = WAIT_SECONDS, **fields: Any
    ) -> dict[str, Any]:
        """The earliest not yet expected frame of this type (and fields), waiting if needed."""
        async with asyncio.timeout(timeout):
            while True:
                for index, frame in enumerate(self.frames):
                    if index in self._taken or frame.get("type") != kind:
                        continue
                    if all(frame.get(k) == v for k, v in fields.items()):
                        self._taken.add(index)
                        return frame
                self._arrived.clear()
                await self._arrived.wait()

    async def answer(self, ref: str, timeout: float = WAIT_SECONDS) -> dict[str, Any]:
        """The earliest not yet taken frame that echoes `ref`, whatever its type."""
        async with asyncio.timeout(timeout):
            while True:
                for index, frame in enumerate(self.frames):
                    if index not in self._taken and frame.get("ref") == ref:
                        self._taken.add(index)
                        return frame
                self._arrived.clear()
                await self._arrived.wait()

    async def join(self, room: str, since: str | None = None, **extra: Any) -> dict[str, Any]:
        await self.send(type="join", room=room, since=since, **extra)
        return await self.expect("joined", room=room)

    async def say(self, room: str, text: str, nonce: str) -> dict[str, Any]:
        await self.send(type="say", room=room, text=text, nonce=nonce)
        return await self.expect("ack", nonce=nonce)

    async def closed(self, timeout: float = WAIT_SECONDS) -> int | None:
        assert self.ws is not None
        async with asyncio.timeout(timeout):
            await self.ws.wait_closed()
        return self.ws.close_code

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await self._reader

    def messages(self, room: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == "message" and f.get("room") == room]
