"""The load generator's clients for the peers in bench/peers/ (see `bench.load.ChatClient`).

Both peers are minimal: no credentials, no acknowledgements (`acks = False`), no message
ids. The socket.io client speaks Engine.IO v4 / Socket.IO v5 itself over the same
`websockets` client as PeerlineClient, so the generator costs the same per frame for every
server and stays light (no python-socketio client, no second event loop library).
"""

from __future__ import annotations

import json
from typing import Any

from bench.load import ChatClient, LoadError, LoadSpec, PeerlineClient

# How many frames open() reads while waiting for an answer before giving up; the server
# sends nothing else to a socket that has not joined, so this is only a guard.
MAX_SETUP_FRAMES = 1000


async def _connect(url: str, spec: LoadSpec) -> Any:
    from websockets.asyncio.client import connect

    # The same options as PeerlineClient.open, so only the servers differ.
    return await connect(
        url,
        compression=None,
        proxy=None,
        open_timeout=spec.setup_timeout,
        ping_interval=None,  # the server pings; the client library answers
        close_timeout=2,
        max_queue=4096,  # never let the client library push back on the server
    )


# ---- python-socketio ----------------------------------------------------------------------

# Engine.IO packet types lead every frame: 0 open, 2 ping, 3 pong, 4 message; a Socket.IO
# packet follows a 4: 0 connect, 2 event, 4 connect error. python-socketio writes JSON
# without spaces, so its `message` events start exactly like this.
SIO_MESSAGE_HEAD = '42["message",'
SIO_PING = "2"
SIO_PONG = "3"


def _sio_event(name: str, data: Any) -> str:
    return "42" + json.dumps([name, data], separators=(",", ":"))


class SocketIOClient(ChatClient):
    """bench/peers/socketio_app.py: `join` -> `joined`, `say` -> `message` to the room."""

    acks = False

    async def open(self, i: int, url: str, room: str, credentials: Any) -> Any:
        ws = await _connect(url, self.spec)
        try:
            opened = await ws.recv()
            if not isinstance(opened, str) or not opened.startswith("0{"):
                raise LoadError(f"first frame was not an Engine.IO open packet: {opened!r}")
            await ws.send("40")  # connect to the default namespace
            await self._until(ws, lambda f: f.startswith("40{"), "the namespace connect")
            await ws.send(_sio_event("join", room))
            await self._until(ws, lambda f: f.startswith('42["joined"'), f"joined {room}")
            return ws
        except BaseException:
            await ws.close()
            raise

    @staticmethod
    async def _until(ws: Any, wanted: Any, what: str) -> None:
        for _ in range(MAX_SETUP_FRAMES):
            frame = await ws.recv()
            if not isinstance(frame, str):
                continue
            if wanted(frame):
                return
            if frame == SIO_PING:  # a slow setup can span a heartbeat
                await ws.send(SIO_PONG)
            elif frame.startswith("44"):
                raise LoadError(f"socket.io refused {what}: {frame}")
        raise LoadError(f"no answer for {what}")

    def say(self, room: str, text: str, nonce: str) -> str:
        return _sio_event("say", {"room": room, "text": text, "nonce": nonce})

    def parse(self, raw: str | bytes) -> tuple[str, Any, Any]:
        if isinstance(raw, bytes):
            return "other", None, None  # binary attachments: this protocol sends none
        if raw.startswith(SIO_MESSAGE_HEAD):
            return "message", json.loads(raw[2:])[1]["text"], None
        if raw == SIO_PING:
            return "reply", SIO_PONG, None
        if raw.startswith("42"):  # an event written some other way (spaces): check properly
            event = json.loads(raw[2:])
            if event and event[0] == "message" and len(event) > 1:
                return "message", event[1]["text"], None
        return "other", None, None


# ---- Starlette + broadcaster --------------------------------------------------------------

BROADCASTER_MESSAGE_HEAD = '{"type": "message", "text": '  # exactly how the peer writes it


class BroadcasterClient(ChatClient):
    """bench/peers/broadcaster_app.py: JSON frames `join` -> `joined`, `say` -> `message`."""

    acks = False

    async def open(self, i: int, url: str, room: str, credentials: Any) -> Any:
        ws = await _connect(url, self.spec)
        try:
            await ws.send(json.dumps({"type": "join", "room": room}))
            for _ in range(MAX_SETUP_FRAMES):
                frame = json.loads(await ws.recv())
                if frame.get("type") == "joined" and frame.get("room") == room:
                    return ws
            raise LoadError(f"no joined frame for {room}")
        except BaseException:
            await ws.close()
            raise

    say = PeerlineClient.say  # the baseline speaks Peerline's `say` frame on purpose

    def parse(self, raw: str | bytes) -> tuple[str, Any, Any]:
        if isinstance(raw, str) and raw.startswith(BROADCASTER_MESSAGE_HEAD):
            return "message", json.loads(raw)["text"], None
        frame = json.loads(raw)
        if isinstance(frame, dict) and frame.get("type") == "message":
            return "message", frame.get("text", ""), None
        return "other", None, None  # joined


CLIENTS: dict[str, type[ChatClient]] = {
    "socketio": SocketIOClient,
    "broadcaster": BroadcasterClient,
}
