"""History pages bounded by encoded size: the pure rule, then a room full of the longest
messages a person can write, joined and resumed over a real in-process socket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from server.config import Settings
from server.core.protocol import MAX_TEXT_CHARS
from server.ws.connection import OUTBOX_MAX_CHARS
from server.ws.paging import HISTORY_MAX_CHARS, OUTBOX_HEADROOM_CHARS, bound_history, history_budget
from tests.server.services.test_chat import BASE, cookie


def entries(*sizes: int | None) -> list[tuple[tuple[int, int], str | None]]:
    return [((n + 1, 0), None if size is None else "x" * size) for n, size in enumerate(sizes)]


def test_a_forward_page_keeps_the_oldest_that_fit_and_says_more() -> None:
    page = bound_history(entries(40, 40, 40), forward=True, budget=85)
    assert [len(m) for m in page.messages] == [40, 40]
    assert page.cursor == (2, 0) and page.cut


def test_a_forward_page_that_fits_is_whole() -> None:
    page = bound_history(entries(40, None, 40), forward=True, budget=1_000)
    assert len(page.messages) == 2 and page.cursor == (3, 0) and not page.cut


def test_a_forward_page_with_no_room_moves_nothing_and_says_more() -> None:
    page = bound_history(entries(40), forward=True, budget=0)
    assert page == type(page)([], None, True)


def test_the_latest_page_keeps_the_newest_and_the_cursor_at_the_newest() -> None:
    page = bound_history(entries(40, 40, 40), forward=False, budget=85)
    assert len(page.messages) == 2
    assert page.cursor == (3, 0) and not page.cut  # nothing later was left out


def test_the_budget_leaves_room_in_a_busy_outbox() -> None:
    assert history_budget(0) == HISTORY_MAX_CHARS
    assert history_budget(OUTBOX_MAX_CHARS) == 0
    busy = OUTBOX_MAX_CHARS - OUTBOX_HEADROOM_CHARS - 1_000
    assert history_budget(busy) == 1_000


@pytest.fixture
def client(app_env: dict[str, str]) -> Iterator[TestClient]:
    # A loose rate: the test fills a room quickly on purpose.
    settings = Settings.from_environ(
        {**app_env, "PEERLINE_RATE_PER_MINUTE": "100000", "PEERLINE_RATE_BURST": "1000"}
    )
    with TestClient(create_app(settings), base_url=BASE) as c:
        yield c


def frames_until(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        frame = ws.receive_json()
        if frame["type"] == kind:
            return frame


def test_a_room_of_the_longest_messages_never_closes_a_joiner(client: TestClient) -> None:
    # Quotes are escaped to two characters each: 200 such messages make 1.6 million
    # characters, which once went out as one `joined` page and closed every resumer with 4001.
    heavy = '"' * MAX_TEXT_CHARS
    headers = {"origin": BASE, "cookie": cookie(client)}
    with client.websocket_connect("/ws", headers=headers) as writer:
        assert writer.receive_json()["type"] == "hello"
        writer.send_json({"type": "join", "room": "general"})
        frames_until(writer, "joined")
        writer.send_json({"type": "say", "room": "general", "text": "before", "nonce": "n0"})
        start = frames_until(writer, "ack")["id"]
        for n in range(200):
            writer.send_json(
                {"type": "say", "room": "general", "text": heavy, "nonce": f"n{n + 1}"}
            )
            frames_until(writer, "ack")

    headers = {"origin": BASE, "cookie": cookie(client)}
    with client.websocket_connect("/ws", headers=headers) as reader:
        assert reader.receive_json()["type"] == "hello"
        reader.send_json({"type": "join", "room": "general"})
        latest = frames_until(reader, "joined")
        assert len(json.dumps(latest)) <= HISTORY_MAX_CHARS + 1_000
        assert latest["more"] is False and latest["history"]

        got, since, pages = 0, start, 0
        while True:
            reader.send_json({"type": "join", "room": "general", "since": since})
            page = frames_until(reader, "joined")
            pages += 1
            assert len(json.dumps(page)) <= HISTORY_MAX_CHARS + 1_000
            got += len(page["history"])
            if page["history"]:
                since = page["history"][-1]["id"]
            if not page["more"]:
                break
            assert pages < 20, "paging does not end"
        assert got == 200 and pages >= 6
        reader.send_json({"type": "ping", "ref": "still-open"})
        assert frames_until(reader, "pong")["ref"] == "still-open"
