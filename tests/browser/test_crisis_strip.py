"""The crisis strip on a 360 x 740 phone, in a real browser (issue 13).

A participant writes something that reads as a crisis. Their page shows a compact strip
above the chat: 988 to call and to text, 911 to call, the 988 web chat as a real link, each
line once, and the chat keeps its composer and the last message in view. The strip folds to
one bar and opens again (a real button with aria-expanded, by mouse and by keyboard); it goes
when the person leaves the room it was raised in, and when the supporter ends the private
chat it was raised in. A message in Spanish gets the strip in Spanish, with the Spanish lines.
Screenshots go to SHOTS for a person to look at.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, Participant, StaffAccount
from tests.browser.test_console import ask_for_support, log_in, open_console, wait_console

pytestmark = pytest.mark.browser

People = Callable[..., Participant]
Accounts = Callable[..., StaffAccount]
SHOTS = Path(os.environ.get("PEERLINE_SHOTS", "/tmp/peerline-shots"))
# A 360 x 740 phone must still show this much of the message list beside the strip: about
# five lines of text, enough to follow the chat.
MIN_MESSAGES_PX = 120


def tag() -> str:
    return secrets.token_hex(3)


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name))


def box(page: Any, selector: str) -> dict[str, float]:
    found = page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not laid out"
    return dict(found)


def assert_chat_usable(person: Participant, last: str) -> None:
    """At phone size: the strip is wholly on screen and does not scroll inside itself; below
    it, the composer and the last message are in view; Quick exit is on top and tappable."""
    page = person.page
    height = PHONE["height"]
    strip = box(page, "#crisis-panel")
    assert strip["y"] >= 0 and strip["y"] + strip["height"] <= height, strip
    inner = page.evaluate(
        "(() => { const s = document.getElementById('crisis-panel');"
        " return s.scrollHeight - s.clientHeight; })()"
    )
    assert inner <= 1, f"the strip scrolls inside itself by {inner}px"
    composer = box(page, "#composer")
    assert composer["y"] >= strip["y"] + strip["height"], (strip, composer)
    assert composer["y"] + composer["height"] <= height, f"the composer is off screen: {composer}"
    listing = box(page, "#messages")
    assert listing["height"] >= MIN_MESSAGES_PX, f"the chat is squeezed to {listing['height']}px"
    message = box(page, f'#messages li.msg:has-text("{last}")')
    top, bottom = listing["y"], listing["y"] + listing["height"]
    assert top - 1 <= message["y"] and message["y"] + message["height"] <= bottom + 1, (
        f"the last message is not in view: {message} in {listing}"
    )
    exit_button = box(page, "#quick-exit")
    assert exit_button["y"] + exit_button["height"] <= strip["y"] + 1
    on_top = page.evaluate(
        "(() => { const b = document.getElementById('quick-exit').getBoundingClientRect();"
        " return document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2).id; })()"
    )
    assert on_top == "quick-exit"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_english_strip_keeps_the_chat_usable_folds_and_goes_on_leave(people: People) -> None:
    writer = people(PHONE)
    writer.accept()
    writer.join()
    for n in range(1, 5):
        writer.say(f"day {n}: went to a meeting, talked to my sponsor {tag()}")
    words = f"i want to kill myself tonight {tag()}"
    writer.say(words)
    page = writer.page
    strip = page.locator("#crisis-panel")
    expect(strip).to_be_visible(timeout=3000)
    expect(writer.messages(words)).to_have_count(1)
    expect(page.locator("#messages li.msg.pending")).to_have_count(0)
    expect(strip).to_have_attribute("lang", "en")
    expect(strip).to_contain_text("only you see this")

    # Each line once: 988 to call and to text, 911 to call, the 988 chat as a real link.
    for href in ("tel:988", "sms:988", "tel:911", "tel:18006624357"):
        expect(strip.locator(f'a[href="{href}"]')).to_have_count(1)
        expect(strip.locator(f'a[href="{href}"]')).to_be_visible()
    expect(strip.locator('a[href="tel:911"]')).to_have_text("Call 911")
    expect(strip.locator('a[href="sms:988"]')).to_have_text("Text 988")
    chat = strip.get_by_role("link", name="Chat at 988lifeline.org")
    expect(chat).to_have_attribute("href", "https://988lifeline.org/chat/")
    expect(chat).to_have_attribute("rel", "noopener noreferrer")
    assert strip.inner_text().count("911") == 1, strip.inner_text()
    expect(strip.locator(".strip-item")).to_have_count(3)  # the English lines only
    expect(strip).not_to_contain_text("Línea")
    shot(page, "strip-en.png")
    assert_chat_usable(writer, words)

    # Folded: one bar; the chat gets the room back; the bar opens it again.
    fold = page.locator("#crisis-fold")
    expect(fold).to_have_attribute("aria-expanded", "true")
    page.get_by_role("button", name="Hide the crisis lines").click()
    expect(fold).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#crisis-body")).to_be_hidden()
    expect(page.get_by_role("button", name="Show crisis lines", exact=True)).to_be_visible()
    bar = box(page, "#crisis-panel")
    assert bar["height"] <= 56, f"the folded bar is {bar['height']}px tall"
    shot(page, "strip-folded.png")
    assert_chat_usable(writer, words)
    # By keyboard, as a screen-reader user would: the same button, Enter and Space.
    fold.focus()
    page.keyboard.press("Enter")
    expect(fold).to_have_attribute("aria-expanded", "true")
    expect(strip.locator('a[href="tel:988"]')).to_be_visible()
    page.keyboard.press("Space")
    expect(fold).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("Enter")
    expect(page.locator("#crisis-body")).to_be_visible()

    # Leaving the room it was raised in takes it away; it does not follow to the rooms list.
    page.get_by_role("button", name="Leave room").click()
    expect(page.get_by_role("heading", name="Rooms")).to_be_visible()
    expect(strip).to_be_hidden()
    writer.join("Early days")
    expect(strip).to_be_hidden()
    writer.assert_only_app_requests()


def test_spanish_message_gets_the_strip_in_spanish(people: People) -> None:
    writer = people(PHONE)
    writer.accept()
    writer.join("Early days")
    writer.say(f"hola, hoy fue un día difícil {tag()}")
    words = f"ya no quiero vivir, esta noche me voy a tomar todas las pastillas {tag()}"
    writer.say(words)
    page = writer.page
    strip = page.locator("#crisis-panel")
    expect(strip).to_be_visible(timeout=3000)
    expect(writer.messages(words)).to_have_count(1)
    expect(page.locator("#messages li.msg.pending")).to_have_count(0)
    expect(strip).to_have_attribute("lang", "es")
    expect(page.locator("#crisis-title")).to_have_text("Ayuda · solo tú ves esto")
    expect(page.locator("#crisis-text")).to_contain_text("Gratis y confidencial")
    expect(strip).to_contain_text("988 Línea de Prevención del Suicidio y Crisis")
    expect(strip.locator(".strip-detail")).to_have_text("Para español oprime 2")
    expect(strip.locator('a[href="tel:988"]')).to_have_text("Llamar al 988")
    expect(strip.locator('a[href="sms:988"]')).to_have_text("Texto al 988")
    expect(strip.locator('a[href="tel:911"]')).to_have_text("Llamar al 911")
    expect(strip.get_by_role("link", name="Chat en 988lineadevida.org")).to_have_attribute(
        "href", "https://988lineadevida.org/"
    )
    expect(strip.locator(".strip-item")).to_have_count(3)  # the Spanish lines only
    expect(strip).not_to_contain_text("Lifeline")
    expect(strip).not_to_contain_text("Emergency")
    shot(page, "strip-es.png")
    assert_chat_usable(writer, words)

    page.get_by_role("button", name="Ocultar las líneas de crisis").click()
    expect(page.get_by_role("button", name="Ver líneas de crisis")).to_have_attribute(
        "aria-expanded", "false"
    )
    shot(page, "strip-es-folded.png")
    page.get_by_role("button", name="Ver líneas de crisis").click()
    expect(strip.locator('a[href="tel:988"]')).to_be_visible()
    writer.assert_only_app_requests()


def test_strip_goes_when_the_supporter_ends_the_private_chat(
    people: People, staff_account: Accounts
) -> None:
    writer = people(PHONE)
    writer.accept()
    ask_for_support(writer, f"rough night {tag()}")
    account = staff_account(role="supporter", name=f"Sup {tag()}")
    supporter = people(DESKTOP)
    open_console(supporter)
    log_in(supporter, account)
    wait_console(supporter)
    supporter.page.locator("#queue li.ticket").get_by_role(
        "button", name=re.compile("^Claim")
    ).click()
    page = writer.page
    expect(page.locator("#chat-title")).to_have_text("Private chat with a supporter")

    words = f"i have the pills lined up and i am going to take them all tonight {tag()}"
    writer.say(words)
    strip = page.locator("#crisis-panel")
    expect(strip).to_be_visible(timeout=3000)
    expect(writer.messages(words)).to_have_count(1)
    expect(page.locator("#messages li.msg.pending")).to_have_count(0)
    assert_chat_usable(writer, words)
    # Folded or not, it goes with the chat.
    page.get_by_role("button", name="Hide the crisis lines").click()
    expect(page.locator("#crisis-fold")).to_have_attribute("aria-expanded", "false")

    pane = supporter.page.locator(".chat-pane:not([hidden])")
    pane.get_by_role("button", name="End chat").click()
    dialog = supporter.page.locator("#end-dialog")
    # An urgent flag is open in this chat: the console asks for a confirmation first.
    dialog.get_by_label("I have checked they are safe, or handed them on").check()
    dialog.get_by_role("button", name="End chat anyway").click()
    expect(page.get_by_role("heading", name="The supporter ended this chat.")).to_be_visible()
    expect(strip).to_be_hidden()
    # "Get help now" in the header still has every line.
    page.locator("header").get_by_role("button", name="Get help now").click()
    expect(page.locator("#help-dialog").locator('a[href="tel:988"]')).to_have_count(1)
    writer.assert_only_app_requests()
    supporter.assert_only_app_requests()


def test_a_program_without_an_emergency_line_still_says_where_to_turn(people: People) -> None:
    """The strip as the page renders any notice: a program whose lines hold no emergency
    number gets the emergency sentence; an unknown language is shown in English."""
    writer = people(PHONE)
    writer.accept()
    writer.join()
    page = writer.page
    page.evaluate(
        """import("/static/participant/crisis.js").then((crisis) => crisis.showCrisis({
            type: "notice", room: "general", kind: "crisis_resources", lang: "fr", text: "",
            resources: [{name: "Warmline", contact: "Call 1-855-771-9276", note: ""}],
        }))"""
    )
    strip = page.locator("#crisis-panel")
    expect(strip).to_be_visible()
    expect(strip).to_have_attribute("lang", "en")
    expect(strip.locator('a[href="tel:18557719276"]')).to_have_text("Call 1-855-771-9276")
    expect(strip.locator(".strip-item").last).to_have_text(
        "Call your local emergency number if you or someone near you is in danger."
    )
    expect(page.locator("#crisis-text")).to_have_text("Free and confidential, 24/7.")
    writer.assert_only_app_requests()
