"""Structured, UTC log lines. Callers never pass message text, tokens, keys or addresses."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type and where it happened, never its message: exception texts
            # can carry user input.
            line["exception"] = record.exc_info[0].__name__
            tb = record.exc_info[2]
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            if tb is not None:
                code = tb.tb_frame.f_code
                line["where"] = f"{code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
        return json.dumps(line)


class DropClientAddresses(logging.Filter):
    """uvicorn logs `ADDR:PORT - "WebSocket /ws" [accepted]` and connection chatter on its
    error logger; those lines carry a participant's IP address (P1), so they never pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("uvicorn"):
            return True
        template = str(record.msg)
        return not (template.startswith('%s - "WebSocket') or template.startswith("connection "))


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(DropClientAddresses())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log would record client addresses (P1); it is off and stays silenced.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
