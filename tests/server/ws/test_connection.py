from __future__ import annotations

import asyncio

import pytest

from server.core.people import Person
from server.core.protocol import CloseCode
from server.ws import connection
from server.ws.connection import OUTBOX_MAX_FRAMES, SEND_TIMEOUT_SECONDS, Connection

PERSON = Person("pid", "Quiet Harbor 41", "participant", ("participant",), "digest")


class RecordingSocket:
    def __init__(self, stall: bool = False) -> None:
        self.sent: list[str] = []
        self.closed: tuple[int, str | None] | None = None
        self.stall = stall

    async def send_text(self, data: str) -> None:
        if self.stall:
            await asyncio.sleep(3600)
        self.sent.append(data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_reader_that_stops_reading_is_closed_with_4001() -> None:
    socket = RecordingSocket(stall=True)
    conn = Connection("c", PERSON, socket)
    conn.start()
    for i in range(OUTBOX_MAX_FRAMES + 2):
        conn.send(f"frame {i}")
    await settle()
    assert conn.closed and conn.close_code == CloseCode.TOO_SLOW
    assert socket.closed is not None and socket.closed[0] == CloseCode.TOO_SLOW
    await conn.drain_and_stop()


async def test_delivery_is_in_order_and_exactly_once_per_id() -> None:
    socket = RecordingSocket()
    conn = Connection("c", PERSON, socket)
    conn.start()
    conn.begin_join("r")
    conn.deliver("r", (5, 0), "m5")  # arrives while history is being read
    conn.deliver("r", (6, 0), "m6")
    conn.finish_join("r", (5, 0), live=True)  # history ended at 5
    conn.deliver("r", (6, 0), "m6")  # the same message again (replay overlap)
    conn.deliver("r", (4, 0), "m4")  # an old one
    conn.deliver("r", (7, 0), "m7")
    conn.deliver("other", (8, 0), "not joined")
    await settle()
    assert socket.sent == ["m6", "m7"]
    await conn.drain_and_stop()


async def test_own_message_waits_for_the_ack() -> None:
    socket = RecordingSocket()
    conn = Connection("c", PERSON, socket)
    conn.start()
    conn.begin_join("r")
    conn.finish_join("r", (0, 0), live=True)
    conn.hold()
    conn.deliver("r", (1, 0), "message 1")  # pub/sub beat the script reply
    conn.send("ack 1")
    conn.release()
    await settle()
    assert socket.sent == ["ack 1", "message 1"]
    await conn.drain_and_stop()


async def test_after_a_page_with_more_live_messages_wait_for_the_next_page() -> None:
    socket = RecordingSocket()
    conn = Connection("c", PERSON, socket)
    conn.start()
    conn.begin_join("r")
    conn.finish_join("r", (200, 0), live=False)
    conn.deliver("r", (900, 0), "live")
    await settle()
    assert socket.sent == []
    await conn.drain_and_stop()


async def test_stopping_right_after_a_close_still_sends_the_close_code() -> None:
    # Regression: the handler returned before the close task ran, and the peer saw 1006.
    socket = RecordingSocket()
    conn = Connection("c", PERSON, socket)
    conn.start()
    conn.close(CloseCode.UNSUPPORTED_DATA, "text frames only")
    await conn.drain_and_stop()
    assert socket.closed == (CloseCode.UNSUPPORTED_DATA, "text frames only")


async def test_a_flushing_close_sends_what_was_queued_first() -> None:
    socket = RecordingSocket()
    conn = Connection("c", PERSON, socket)
    conn.start()
    conn.send("explanation")
    conn.close(CloseCode.POLICY, "session erased", flush=True)
    await conn.wait_closed()
    assert socket.sent == ["explanation"]
    assert socket.closed == (CloseCode.POLICY, "session erased")


async def test_a_write_hung_past_the_send_timeout_closes_the_socket_with_4001() -> None:
    socket = RecordingSocket(stall=True)
    conn = Connection("c", PERSON, socket)
    conn.start()
    conn.send("frame")
    await settle()
    began = conn.writing_since
    assert began > 0  # the writer is inside a send that does not return
    assert not conn.stalled(began + SEND_TIMEOUT_SECONDS - 0.1)
    assert not conn.closed
    assert conn.stalled(began + SEND_TIMEOUT_SECONDS)
    await settle()
    assert conn.closed and conn.close_code == CloseCode.TOO_SLOW
    assert socket.closed is not None and socket.closed[0] == CloseCode.TOO_SLOW
    assert not conn.stalled(began + 2 * SEND_TIMEOUT_SECONDS)  # once only
    await conn.drain_and_stop()


class ResumingSocket(RecordingSocket):
    """A peer whose close frame can go out only once it reads again, some time later."""

    def __init__(self) -> None:
        super().__init__(stall=True)
        self.reading = asyncio.Event()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        await self.reading.wait()
        await super().close(code, reason)


async def test_a_slow_reader_that_reads_again_gets_its_close_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The close frame once had SEND_TIMEOUT_SECONDS to go out and was then dropped: a reader
    # that caught up later drained its backlog and sat on an open socket that carried nothing.
    monkeypatch.setattr(connection, "SEND_TIMEOUT_SECONDS", 0.01)
    socket = ResumingSocket()
    conn = Connection("c", PERSON, socket)
    conn.start()
    for i in range(OUTBOX_MAX_FRAMES + 2):
        conn.send(f"frame {i}")
    await settle()
    assert conn.closed and conn.close_code == CloseCode.TOO_SLOW
    await asyncio.sleep(0.05)
    socket.reading.set()
    await conn.drain_and_stop()
    assert socket.closed is not None and socket.closed[0] == CloseCode.TOO_SLOW


async def test_an_idle_or_quick_socket_is_never_stalled() -> None:
    socket = RecordingSocket()
    conn = Connection("c", PERSON, socket)
    conn.start()
    assert not conn.stalled(1e9)  # nothing being written
    conn.send("a")
    await settle()
    assert socket.sent == ["a"] and conn.writing_since == 0.0
    assert not conn.stalled(1e9)
    await conn.drain_and_stop()
