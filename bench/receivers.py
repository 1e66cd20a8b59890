"""Real page receivers on 127.0.0.1 for the paging tests and benchmark: an HTTP server that
records each webhook (in a thread, http.server) and an SMTP server that records each email
(aiosmtpd's Controller, in a thread). Each records the arrival on time.perf_counter().

The webhook receiver answers `status` (200 by default; set 500 to fail every delivery), and
`down()` stops listening altogether (connection refused) until `up()`, on the same port.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True, slots=True)
class Hook:
    at: float  # perf_counter at arrival
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered


@dataclass(frozen=True, slots=True)
class Mail:
    at: float
    sender: str
    recipients: tuple[str, ...]
    raw: bytes

    @property
    def subject(self) -> str:
        return str(email.message_from_bytes(self.raw, policy=email.policy.default)["subject"])

    @property
    def text(self) -> str:
        message = email.message_from_bytes(self.raw, policy=email.policy.default)
        body = message.get_body(("plain",))  # type: ignore[attr-defined]
        return str(body.get_content()) if body is not None else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class WebhookReceiver:
    port: int = field(default_factory=free_port)
    status: int = 200
    hooks: list[Hook] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def up(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                status = receiver.status
                with receiver._lock:
                    receiver.hooks.append(
                        Hook(
                            time.perf_counter(),
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            status,
                        )
                    )
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the records are what matter

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def delivered(self) -> list[Hook]:
        """The webhooks answered with a 2xx, in arrival order."""
        with self._lock:
            return [h for h in self.hooks if 200 <= h.status < 300]

    def clear(self) -> None:
        with self._lock:
            self.hooks.clear()


class _Handler:
    def __init__(self, inbox: list[Mail]) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        self.inbox.append(
            Mail(time.perf_counter(), envelope.mail_from, tuple(envelope.rcpt_tos), bytes(raw))
        )
        return "250 OK"


@dataclass
class MailReceiver:
    port: int = field(default_factory=free_port)
    inbox: list[Mail] = field(default_factory=list)
    _controller: Controller | None = None

    def up(self) -> MailReceiver:
        self._controller = Controller(_Handler(self.inbox), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def down(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def clear(self) -> None:
        self.inbox.clear()


def paging_program(
    tmp: Path,
    hook: WebhookReceiver,
    mail: MailReceiver,
    *,
    ack_seconds: int,
    page_after_seconds: int,
    silence_minutes: float,
    secret_env: str = "PAGE_SECRET",
) -> str:
    """The demo program with an [escalation] table that pages `hook` and `mail`; returns
    the path of the file written in `tmp`."""
    demo = (Path(__file__).resolve().parent.parent / "server" / "demo_program.toml").read_text()
    table = f"""ack_seconds = {ack_seconds}
page_after_seconds = {page_after_seconds}
silence_minutes = {silence_minutes}

[[escalation.page]]
kind = "webhook"
url = "{hook.url}"
secret_env = "{secret_env}"

[[escalation.page]]
kind = "email"
smtp_host = "127.0.0.1"
smtp_port = {mail.port}
from = "peerline@example.org"
to = ["oncall@example.org"]
starttls = false
"""
    program = demo.replace("ack_seconds = 60\n", table)
    assert program != demo, "the demo program no longer has `ack_seconds = 60` to replace"
    path = tmp / "program.toml"
    path.write_text(program)
    return str(path)
