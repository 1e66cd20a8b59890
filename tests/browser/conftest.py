"""Browser tests: a real server on Redis and a real headless Chromium driven by Playwright.

One server and one browser serve the whole module; every participant gets its own browser
context (its own cookies and storage), as two people on two phones would.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support import ROOT, RedisServer, ServerProcess, data_keys, new_prefix, start_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
QUICK_EXIT_ORIGIN = "https://www.weather.gov"
DESKTOP = {"width": 1000, "height": 800}
PHONE = {"width": 360, "height": 740}


def server_with_program(
    redis_server: RedisServer, edit: Callable[[str], str]
) -> Iterator[ServerProcess]:
    """For a module's own `app_server` fixture: a server whose program file is the demo
    program changed by `edit` (which must change it)."""
    demo = (ROOT / "server" / "demo_program.toml").read_text(encoding="utf-8")
    program = edit(demo)
    assert program != demo, "the edit left the demo program as it was"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "program.toml"
        path.write_text(program, encoding="utf-8")
        server = start_server(
            {
                "PEERLINE_REDIS_URL": redis_server.url,
                "PEERLINE_REDIS_PREFIX": new_prefix(),
                "PEERLINE_DATA_KEYS": data_keys(),
                "PEERLINE_CONFIG": str(path),
            }
        )
        yield server
        server.stop()


@pytest.fixture(scope="module")
def app_server(redis_server: RedisServer) -> Iterator[ServerProcess]:
    server = start_server(
        {
            "PEERLINE_REDIS_URL": redis_server.url,
            "PEERLINE_REDIS_PREFIX": new_prefix(),
            "PEERLINE_DATA_KEYS": data_keys(),
            # One test floods a room to make a resume page through history; the per-socket
            # rate limit is not what these tests are about.
            "PEERLINE_RATE_PER_MINUTE": "60000",
            "PEERLINE_RATE_BURST": "1000",
            # Every page connects from 127.0.0.1.
            "PEERLINE_UPGRADES_PER_ADDRESS_PER_MINUTE": "10000",
            "PEERLINE_LOGINS_PER_ADDRESS_PER_MINUTE": "10000",
        }
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Chromium. "
            "Install it with `apt-get install -y chromium` (do not use `playwright install`)."
        )
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception:
        playwright.stop()
        raise
    yield chromium
    chromium.close()
    playwright.stop()


def wait_until(page: Any, expression: str, timeout_s: float = 10.0) -> None:
    """Poll a page expression from the test side until it is true.

    Playwright's wait_for_function polls with eval inside the page, which the app's CSP
    (script-src 'self', no 'unsafe-eval') refuses: it works only if the first check passes.
    """
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(50)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


@dataclass
class Participant:
    """One person: a browser context, its page, and everything it asked the network for."""

    base: str
    context: Any
    page: Any
    requests: list[str] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    name: str = ""

    def watch(self, page: Any) -> None:
        page.on("websocket", lambda ws: self.sockets.append(ws.url))
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: (
                self.csp_violations.append(msg.text)
                if "Content Security Policy" in msg.text
                else None
            ),
        )

    # ---- steps a person takes ----------------------------------------------------------------

    def open(self) -> None:
        self.page.goto(self.base)
        self.page.get_by_role("button", name="I accept").wait_for()

    def accept(self) -> str:
        self.open()
        self.page.get_by_role("button", name="I accept").click()
        pseudonym = self.page.locator("#rooms-pseudonym")
        self.page.get_by_role("heading", name="Rooms").wait_for()
        self.name = pseudonym.inner_text().strip()
        assert re.fullmatch(r"\S+ \S+ \d{2}", self.name), self.name
        return self.name

    def join(self, room: str = "General recovery") -> None:
        self.page.get_by_role("button", name=f"Join {room}").click()
        self.page.locator("#chat-title", has_text=room).wait_for()
        wait_until(self.page, "Boolean(window.__peerline && window.__peerline.isConnected())")

    def say(self, text: str) -> None:
        self.page.locator("#composer-text").fill(text)
        self.page.get_by_role("button", name="Send", exact=True).click()

    def messages(self, text: str) -> Any:
        """The shown chat messages whose text contains `text`."""
        return self.page.locator("#messages li.msg", has_text=text)

    # ---- checks ------------------------------------------------------------------------------

    def assert_only_app_requests(self, allowed: tuple[str, ...] = ()) -> None:
        app = origin_of(self.base)
        foreign = [u for u in self.requests if origin_of(u) not in (app, *allowed)]
        assert not foreign, f"requests to other origins: {foreign}"
        foreign_sockets = [u for u in self.sockets if origin_of(u) != app]
        assert not foreign_sockets, f"sockets to other origins: {foreign_sockets}"
        assert not self.page_errors, f"uncaught errors in the page: {self.page_errors}"
        assert not self.csp_violations, f"CSP violations: {self.csp_violations}"


@pytest.fixture
def people(browser: Any, app_server: ServerProcess) -> Iterator[Callable[..., Participant]]:
    made: list[Participant] = []

    def make(viewport: dict[str, int] | None = None) -> Participant:
        context = browser.new_context(viewport=viewport or DESKTOP)
        context.set_default_timeout(10_000)
        page = context.new_page()
        person = Participant(app_server.base, context, page)
        context.on("request", lambda request: person.requests.append(request.url))
        person.watch(page)
        made.append(person)
        return person

    yield make
    for person in made:
        person.context.close()


@dataclass
class StaffAccount:
    """A staff account made with the command line, as an operator would."""

    username: str
    password: str
    totp_secret: str
    name: str

    def code(self) -> str:
        import pyotp

        return str(pyotp.TOTP(self.totp_secret).now())


@pytest.fixture
def staff_account(app_server: ServerProcess) -> Callable[..., StaffAccount]:
    """Makes a new staff account on the test server (a new one per login: a TOTP code is
    accepted once per 30 s step per account)."""

    def make(role: str = "supporter", name: str | None = None) -> StaffAccount:
        username = f"staff-{secrets.token_hex(4)}"
        display = name or f"Supporter {secrets.token_hex(2)}"
        command = [sys.executable, "-m", "server", "staff", "add", username]
        command += ["--role", role, "--name", display, "--json"]
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=app_server.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"staff add failed: {done.stderr}"
        body = json.loads(done.stdout)
        return StaffAccount(username, body["password"], body["totp_secret"], display)

    return make
