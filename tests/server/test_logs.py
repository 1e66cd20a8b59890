from __future__ import annotations

import json
import logging

from server.logs import DropClientAddresses, JsonFormatter


def record(name: str, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)


def test_uvicorn_lines_with_client_addresses_are_dropped() -> None:
    keep = DropClientAddresses()
    assert not keep.filter(
        record("uvicorn.error", '%s - "WebSocket %s" [accepted]', "203.0.113.9:5555", "/ws")
    )
    assert not keep.filter(record("uvicorn.error", "connection open"))
    assert keep.filter(record("uvicorn.error", "Started server process [%d]", 1))
    assert keep.filter(record("server.app", "connection pool ready"))


def test_exceptions_are_logged_by_type_and_place_never_by_message() -> None:
    try:
        raise ValueError("a participant's words")
    except ValueError:
        import sys

        rec = logging.LogRecord(
            "server.services.chat", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    line = json.loads(JsonFormatter().format(rec))
    assert line["exception"] == "ValueError" and "test_logs.py" in line["where"]
    assert "participant's words" not in json.dumps(line)
