"""The console shows why an alert came and where to reach the person (issue 13), with the
paging and triage of the server behind it: an alert raised because a flagged person went
quiet says so, and an alert raised by a support request's topic (it has no room) sends the
taker to the queue instead of offering a room that does not exist."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, Participant, StaffAccount, server_with_program
from tests.browser.test_console import ask_for_support, log_in, open_console, wait_console
from tests.support import RedisServer, ServerProcess

pytestmark = pytest.mark.browser

People = Callable[..., Participant]
Accounts = Callable[..., StaffAccount]

SILENCE_SECONDS = 3  # the program's silence_minutes, in seconds: short enough for a test
URGENT = "i have the pills counted out and im taking them all tonight"


@pytest.fixture(scope="module")
def app_server(redis_server: RedisServer) -> Iterator[ServerProcess]:
    yield from server_with_program(
        redis_server,
        lambda demo: demo.replace(
            "[escalation]\n", f"[escalation]\nsilence_minutes = {SILENCE_SECONDS / 60}\n", 1
        ),
    )


def on_call_facilitator(people: People, staff_account: Accounts) -> Participant:
    account = staff_account(role="facilitator", name=f"Fac {secrets.token_hex(2)}")
    person = people(DESKTOP)
    open_console(person)
    log_in(person, account)
    wait_console(person)
    person.page.get_by_label("On call").click()
    expect(person.page.get_by_label("On call")).to_be_checked()
    return person


def test_an_alert_for_silence_after_a_flag_says_so(people: People, staff_account: Accounts) -> None:
    fac = on_call_facilitator(people, staff_account)
    writer = people(PHONE)
    writer.accept()
    writer.join()
    words = f"{URGENT} {secrets.token_hex(3)}"
    writer.say(words)
    cards = fac.page.locator("#alerts .alert-card", has_text=words)
    # First the alert the message raised, then, after the writer's silence, a second one
    # that says why it came (its excerpt is the same flagged message).
    expect(cards).to_have_count(2, timeout=SILENCE_SECONDS * 1000 + 10_000)
    silence = cards.filter(has=fac.page.locator(".alert-why"))
    expect(silence).to_have_count(1)
    expect(silence.locator(".alert-why")).to_have_text("Gone quiet after a flagged message")
    expect(fac.page.locator("#alert-live")).to_contain_text("Gone quiet after a flagged message")
    fac.assert_only_app_requests()


def test_an_alert_from_a_support_topic_sends_the_taker_to_the_queue(
    people: People, staff_account: Accounts
) -> None:
    fac = on_call_facilitator(people, staff_account)
    asker = people(PHONE)
    asker.accept()
    topic = f"{URGENT} {secrets.token_hex(3)}"
    ask_for_support(asker, topic)
    card = fac.page.locator("#alerts .alert-card", has_text=topic)
    expect(card).to_have_count(1, timeout=5000)
    expect(card.locator(".alert-room")).to_have_text("In Support request")
    card.get_by_role("button", name="I'm taking this").click()
    expect(card.locator(".alert-status")).to_contain_text(re.compile("claim it to reach them"))
    expect(card.get_by_role("button", name="Open the room")).to_be_hidden()
    expect(card.get_by_role("button", name="Invite to a private chat")).to_be_hidden()
    fac.assert_only_app_requests()
