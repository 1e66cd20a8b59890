"""The supporter console and the participant's one-to-one chat, in a real browser.

A participant asks for a supporter; a supporter logs in to /console with a password and a
TOTP code the test computes, sees the ticket, claims it, they talk both ways, the supporter
writes a private note (which never reaches the participant), ends the chat, and the
participant answers the feedback prompt. Also: a wrong code, logging out, resuming after a
reload. Every page talks only to the app's own origin, with no CSP violation or page error.
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

from tests.browser.conftest import DESKTOP, PHONE, Participant, StaffAccount, wait_until

pytestmark = pytest.mark.browser

People = Callable[..., Participant]
Accounts = Callable[..., StaffAccount]
SCREENSHOT_CONSOLE = "/tmp/peerline-console-1000.png"
SCREENSHOT_CONSOLE_ENDED = "/tmp/peerline-console-ended-1000.png"
SCREENSHOT_WAITING = "/tmp/peerline-waiting-360.png"
SCREENSHOT_FEEDBACK = "/tmp/peerline-feedback-360.png"
SCREENSHOT_LOGIN = "/tmp/peerline-console-login-1000.png"
SCREENSHOT_CONSOLE_PHONE = "/tmp/peerline-console-360.png"
SCREENSHOT_ROOMS = "/tmp/peerline-rooms-support-360.png"


def tag() -> str:
    return secrets.token_hex(4)


def record_frames(person: Participant, event: str = "framereceived") -> list[str]:
    """Every WebSocket frame the page receives (or, with "framesent", sends), as text: to
    prove what never arrives, or what the page sent."""
    frames: list[str] = []

    def on_socket(ws: Any) -> None:
        ws.on(event, lambda payload: frames.append(str(payload)))

    person.page.on("websocket", on_socket)
    return frames


def open_console(person: Participant) -> None:
    person.page.goto(f"{person.base}/console")
    expect(person.page.get_by_role("heading", name="Staff login")).to_be_visible()


def log_in(person: Participant, account: StaffAccount, code: str | None = None) -> None:
    page = person.page
    page.get_by_label("Username").fill(account.username)
    page.get_by_label("Password").fill(account.password)
    page.get_by_label("Authenticator code").fill(code or account.code())
    page.get_by_role("button", name="Log in").click()


def wait_connected(page: Any) -> None:
    wait_until(page, "Boolean(window.__peerlineConsole && window.__peerlineConsole.isConnected())")


def wait_console(person: Participant) -> None:
    expect(person.page.locator("#view-console")).to_be_visible()
    wait_connected(person.page)


def ask_for_support(person: Participant, topic: str) -> None:
    page = person.page
    expect(page.locator("#support-offer")).to_be_visible()
    page.get_by_label("What would you like to talk about?").fill(topic)
    page.get_by_role("button", name="Talk one-to-one with a supporter").click()
    expect(page.get_by_role("heading", name="Waiting for a supporter")).to_be_visible()
    expect(page.locator("#waiting-status")).to_contain_text("Your request has been sent")


def test_one_to_one_chat_from_request_to_feedback(people: People, staff_account: Accounts) -> None:
    account = staff_account(name=f"Sam {tag()}")
    participant = people(PHONE)
    participant_frames = record_frames(participant)
    pseudonym = participant.accept()
    topic = f"cravings tonight {tag()}"
    ask_for_support(participant, topic)

    # The waiting view: what to do if in danger now, always there; no place in a queue.
    waiting = participant.page.locator("#view-waiting")
    expect(waiting).to_contain_text("In danger right now?")
    expect(waiting.locator("#waiting-resources")).to_contain_text("988")
    expect(waiting.get_by_role("button", name="Stop waiting")).to_be_visible()
    assert not re.search(r"position|ahead of you|in line|#\d", waiting.inner_text(), re.I)
    participant.page.screenshot(path=SCREENSHOT_WAITING, full_page=True)
    width = participant.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the waiting view scrolls sideways: {width}px"

    supporter = people(DESKTOP)
    open_console(supporter)
    log_in(supporter, account)
    wait_console(supporter)
    console = supporter.page
    expect(console.locator("#me-name")).to_have_text(account.name)

    # The ticket is in the queue, with its priority in words and a waiting time.
    ticket = console.locator("#queue li.ticket", has_text=topic)
    expect(ticket).to_be_visible()
    expect(ticket.locator(".prio")).to_have_text("Normal")
    expect(ticket.locator(".waited")).to_have_text(re.compile(r"waiting (just now|\d+ min)"))
    expect(console).to_have_title(re.compile(r"\(\d+ waiting\)"))
    ticket.get_by_role("button", name=re.compile("^Claim")).click()

    # Both sides are now in the private chat.
    pane = console.locator(".chat-pane:not([hidden])")
    expect(pane).to_be_visible()
    expect(pane.locator(".pane-sub")).to_contain_text(topic)
    expect(participant.page.locator("#chat-title")).to_have_text("Private chat with a supporter")
    expect(console.locator("#queue li.ticket", has_text=topic)).to_have_count(0)

    # The supporter inserts a canned reply, then writes; Enter sends.
    pane.get_by_label("Canned reply").select_option(label="Welcome")
    pane.get_by_role("button", name="Insert").click()
    box = pane.get_by_label("Message to the participant")
    expect(box).to_have_value(re.compile("peer supporter"))
    box.fill(f"Hi, I'm here with you {tag()}")
    hello = box.input_value()
    box.press("Enter")
    on_participant = participant.messages(hello)
    expect(on_participant).to_have_count(1)
    expect(on_participant.locator(".msg-who")).to_have_text(account.name)
    expect(on_participant.locator(".msg-role")).to_have_text("Supporter")
    expect(pane.locator("li.msg", has_text=hello)).to_have_count(1)

    # The participant answers; the supporter sees it, marked as the participant's.
    answer = f"Thanks, it's been a hard night <b>{tag()}</b>"
    participant.say(answer)
    on_console = pane.locator("li.msg", has_text=answer)
    expect(on_console).to_have_count(1)
    expect(on_console.locator(".msg-role")).to_have_text("Participant")
    expect(on_console.locator(".msg-text")).to_have_text(answer)
    expect(participant.messages(answer)).to_have_count(1)

    # Typing hints go both ways (each side sends one at most every 2 s, and both just wrote).
    participant.page.wait_for_timeout(2_100)
    participant.page.locator("#composer-text").press_sequentially("Hm", delay=20)
    expect(pane.locator(".typing")).to_have_text(f"{pseudonym} is typing…")
    participant.page.locator("#composer-text").fill("")
    box.press_sequentially("Ok", delay=20)
    expect(participant.page.locator("#typing")).to_have_text(f"{account.name} is typing…")
    box.fill("")

    # A private note: shown to staff, marked as staff only, never sent to the participant.
    note = f"private note, staff only {tag()}"
    notes = pane.locator("aside.notes")
    expect(notes).to_contain_text("never shown to the participant")
    notes.get_by_label("New note").fill(note)
    notes.get_by_role("button", name="Add note").click()
    expect(notes.locator("li.note", has_text=note)).to_have_count(1)
    console.screenshot(path=SCREENSHOT_CONSOLE, full_page=True)

    # The supporter ends the chat (after a confirmation).
    pane.get_by_role("button", name="End chat").click()
    dialog = console.locator("#end-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="End chat").click()
    expect(pane.locator(".ended-note")).to_be_visible()

    # The participant is told, and asked for optional feedback.
    page = participant.page
    expect(page.get_by_role("heading", name="The supporter ended this chat.")).to_be_visible()
    expect(page.locator("#composer")).to_be_hidden()
    form = page.locator("#feedback-form")
    expect(form).to_be_visible()
    participant.page.screenshot(path=SCREENSHOT_FEEDBACK, full_page=True)
    form.get_by_label("4").check()
    form.get_by_label("Anything you want to add?").fill("It helped to talk.")
    form.get_by_role("button", name="Send").click()
    expect(page.locator("#feedback-thanks")).to_have_text("Thank you.")
    expect(form).to_be_hidden()

    # The supporter's wrap-up.
    wrap = pane.locator("form.wrapup")
    expect(wrap).to_be_visible()
    wrap.get_by_label("Topic").select_option("cravings")
    wrap.get_by_label("Outcome").select_option("shared resources")
    wrap.get_by_label("Referral given").check()
    wrap.get_by_role("button", name="Save wrap-up").click()
    expect(wrap).to_contain_text("Wrap-up saved")
    console.screenshot(path=SCREENSHOT_CONSOLE_ENDED, full_page=True)

    # The note never reached the participant: not on the page, not in any frame it received.
    assert note not in page.content()
    assert not [f for f in participant_frames if note in f], "a staff note reached a participant"
    assert participant_frames, "the participant's frames were not recorded"

    participant.assert_only_app_requests()
    supporter.assert_only_app_requests()


def test_wrong_code_is_refused(people: People, staff_account: Accounts) -> None:
    account = staff_account()
    supporter = people()
    open_console(supporter)
    good = account.code()
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    log_in(supporter, account, code=wrong)
    status = supporter.page.locator("#login-status")
    expect(status).to_contain_text("did not work")
    expect(supporter.page.locator("#view-console")).to_be_hidden()
    expect(supporter.page.locator("#bar-tools")).to_be_hidden()
    supporter.page.screenshot(path=SCREENSHOT_LOGIN)
    supporter.assert_only_app_requests()


def test_keyboard_login_resume_and_logout(people: People, staff_account: Accounts) -> None:
    account = staff_account()
    supporter = people()
    open_console(supporter)
    page = supporter.page

    # Keyboard only: the fields come in order and Enter in the code field logs in.
    page.get_by_label("Username").focus()
    page.keyboard.type(account.username)
    page.keyboard.press("Tab")
    page.keyboard.type(account.password)
    page.keyboard.press("Tab")
    page.keyboard.type(account.code())
    page.keyboard.press("Enter")
    wait_console(supporter)

    # Every control in the header is reachable with Tab.
    reached: set[str] = set()
    page.evaluate("document.activeElement && document.activeElement.blur()")
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.add(
            page.evaluate("document.activeElement.id || document.activeElement.textContent")
        )
    assert {"status-available", "sound-on", "logout"} <= reached, reached

    # Away, then Available again: the server confirms each.
    page.get_by_label("Away").check()
    expect(page.locator("body")).to_have_attribute("data-available", "no")
    page.get_by_label("Available").check()
    expect(page.locator("body")).to_have_attribute("data-available", "yes")

    # A reload resumes the session without a new login.
    page.reload()
    wait_console(supporter)
    expect(page.locator("#me-name")).to_have_text(account.name)

    # Log out: back to the login form, and the session is gone for good.
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Staff login")).to_be_visible()
    expect(page.locator("#view-console")).to_be_hidden()
    status = page.evaluate("fetch('/api/staff/me').then((r) => r.status)")
    assert status == 401
    supporter.assert_only_app_requests()


def test_console_is_usable_on_a_phone(people: People, staff_account: Accounts) -> None:
    account = staff_account()
    supporter = people(PHONE)
    open_console(supporter)
    log_in(supporter, account)
    wait_console(supporter)
    page = supporter.page
    participant = people(PHONE)
    participant.accept()
    topic = f"on a phone {tag()}"
    ask_for_support(participant, topic)
    page.locator("#queue li.ticket", has_text=topic).get_by_role(
        "button", name=re.compile("^Claim")
    ).click()
    pane = page.locator(".chat-pane:not([hidden])")
    words = f"hello from a small screen {tag()}"
    pane.get_by_label("Message to the participant").fill(words)
    pane.get_by_role("button", name="Send").click()
    expect(participant.messages(words)).to_have_count(1)
    for control in ("Send", "Transfer", "End chat", "Add note"):
        button = pane.get_by_role("button", name=control)
        button.scroll_into_view_if_needed()
        expect(button).to_be_in_viewport()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the console scrolls sideways at 360 px: {width}px"
    page.screenshot(path=SCREENSHOT_CONSOLE_PHONE, full_page=True)
    supporter.assert_only_app_requests()


def test_participant_can_stop_waiting(people: People) -> None:
    participant = people(PHONE)
    participant.accept()
    participant.page.screenshot(path=SCREENSHOT_ROOMS, full_page=True)
    ask_for_support(participant, f"just checking {tag()}")
    # A reload keeps the person waiting (the request is sent again, same ticket).
    participant.page.reload()
    expect(participant.page.get_by_role("heading", name="Waiting for a supporter")).to_be_visible()
    expect(participant.page.locator("#waiting-status")).to_contain_text("request has been sent")
    participant.page.get_by_role("button", name="Stop waiting").click()
    expect(participant.page.get_by_role("heading", name="Rooms")).to_be_visible()
    expect(participant.page.locator("#rooms-status")).to_contain_text("You stopped waiting")
    participant.assert_only_app_requests()


def test_new_ticket_cue_and_transfer_between_supporters(
    people: People, staff_account: Accounts
) -> None:
    first_account = staff_account(name=f"Ash {tag()}")
    second_account = staff_account(name=f"Bo {tag()}")
    first, second = people(), people()
    for person, account in ((first, first_account), (second, second_account)):
        open_console(person)
        log_in(person, account)
        wait_console(person)

    # A request that arrives while the console is open is highlighted, labelled and announced.
    participant = people(PHONE)
    participant_frames = record_frames(participant)
    participant.accept()
    topic = f"lonely today {tag()}"
    ask_for_support(participant, topic)
    ticket = first.page.locator("#queue li.ticket", has_text=topic)
    expect(ticket).to_have_class(re.compile(r"\bis-new\b"))
    expect(ticket.locator(".new-badge")).to_have_text("New")
    expect(first.page.locator("#announce")).to_contain_text("New request waiting")
    ticket.get_by_role("button", name=re.compile("^Claim")).click()
    pane = first.page.locator(".chat-pane:not([hidden])")
    expect(pane).to_be_visible()
    expect(participant.page.locator("#chat-title")).to_have_text("Private chat with a supporter")

    hello = f"Hello from Ash {tag()}"
    pane.get_by_label("Message to the participant").fill(hello)
    pane.get_by_role("button", name="Send").click()
    expect(participant.messages(hello)).to_have_count(1)
    note = f"warm handover: likes to be asked about sleep {tag()}"
    pane.get_by_label("New note").fill(note)
    pane.get_by_role("button", name="Add note").click()
    expect(pane.locator("li.note", has_text=note)).to_have_count(1)

    # Transfer to the other supporter, picked from the roster of who is online.
    pane.get_by_role("button", name="Transfer").click()
    dialog = first.page.locator("#transfer-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label(re.compile(re.escape(second_account.name))).check()
    dialog.get_by_role("button", name="Transfer").click()
    expect(first.page.locator("#chat-tabs li")).to_have_count(0)
    expect(first.page.locator("#queue-status")).to_contain_text("was transferred")

    # The second supporter has the chat, with its history and the earlier note.
    second.page.locator("#chat-tabs button").first.click()
    other = second.page.locator(".chat-pane:not([hidden])")
    expect(other.locator("li.msg", has_text=hello)).to_have_count(1)
    expect(other.locator("li.note", has_text=note)).to_have_count(1)
    reply = f"Hi, I'm Bo, taking over from Ash {tag()}"
    other.get_by_label("Message to the participant").fill(reply)
    other.get_by_role("button", name="Send").click()
    on_participant = participant.messages(reply)
    expect(on_participant.locator(".msg-who")).to_have_text(second_account.name)

    # Back to the queue: the first supporter can claim the same chat again.
    other.get_by_role("button", name="Transfer").click()
    second.page.locator("#transfer-dialog").get_by_label("Back to the queue").check()
    second.page.locator("#transfer-dialog").get_by_role("button", name="Transfer").click()
    expect(second.page.locator("#chat-tabs li")).to_have_count(0)
    again = first.page.locator("#queue li.ticket", has_text="Transferred").first
    expect(again).to_be_visible()
    again.get_by_role("button", name=re.compile("^Claim")).click()
    back = first.page.locator(".chat-pane:not([hidden])")
    expect(back.locator("li.msg", has_text=reply)).to_have_count(1)

    assert not [f for f in participant_frames if note in f], "a staff note reached a participant"
    for person in (first, second, participant):
        person.assert_only_app_requests()


def test_several_chats_unread_counts_and_reconnect(people: People, staff_account: Accounts) -> None:
    account = staff_account()
    supporter = people()
    sent = record_frames(supporter, "framesent")
    open_console(supporter)
    log_in(supporter, account)
    wait_console(supporter)
    console = supporter.page

    # Two people ask; the supporter takes both.
    alex, blair = people(PHONE), people(PHONE)
    topics = {}
    for person, label in ((alex, "alex"), (blair, "blair")):
        person.accept()
        topics[label] = f"{label} topic {tag()}"
        ask_for_support(person, topics[label])
        ticket = console.locator("#queue li.ticket", has_text=topics[label])
        ticket.get_by_role("button", name=re.compile("^Claim")).click()
        expect(person.page.locator("#chat-title")).to_have_text("Private chat with a supporter")
    tabs = console.locator("#chat-tabs button")
    expect(tabs).to_have_count(2)
    # The chat claimed last is the one open; Alex's waits in its tab.
    alex_tab = console.locator("#chat-tabs button", has_text=topics["alex"])
    expect(alex_tab).not_to_have_attribute("aria-current", "true")

    # Alex writes: Alex's tab counts it as unread, and so does the title.
    words = f"are you still there {tag()}"
    alex.say(words)
    expect(alex_tab.locator(".unread")).to_have_text("1")
    expect(alex_tab).to_have_attribute("aria-label", re.compile("1 unread"))
    expect(console).to_have_title(re.compile(r"1 unread"))
    alex_tab.click()
    pane = console.locator(".chat-pane:not([hidden])")
    expect(pane.locator("li.msg", has_text=words)).to_have_count(1)
    expect(alex_tab.locator(".unread")).to_have_count(0)
    expect(console).not_to_have_title(re.compile("unread"))

    # Using the page tells the server the person is active (at most once a minute).
    pane.get_by_label("Message to the participant").press("a")
    pane.get_by_label("Message to the participant").press("b")
    console.wait_for_timeout(200)
    actives = [f for f in sent if '"type":"active"' in f.replace(" ", "")]
    assert len(actives) == 1, actives

    # The socket drops: the console reconnects by itself, and nothing said meanwhile is lost.
    console.evaluate("window.__peerlineConsole.dropSocket()")
    during = f"while you were away {tag()}"
    alex.say(during)
    mine = f"sent while reconnecting {tag()}"
    pane.get_by_label("Message to the participant").fill(mine)
    pane.get_by_role("button", name="Send").click()
    wait_connected(console)
    expect(pane.locator("li.msg", has_text=during)).to_have_count(1)
    expect(alex.messages(mine)).to_have_count(1)
    expect(pane.locator("li.msg", has_text=mine)).to_have_count(1)
    expect(pane.locator("li.msg.pending")).to_have_count(0)

    # Blair reloads the page: the private chat comes back (hello lists it), history included.
    for_blair = f"for blair {tag()}"
    blair_tab = console.locator("#chat-tabs button", has_text=topics["blair"])
    blair_tab.click()
    blair_pane = console.locator(".chat-pane:not([hidden])")
    blair_pane.get_by_label("Message to the participant").fill(for_blair)
    blair_pane.get_by_label("Message to the participant").press("Enter")
    expect(blair.messages(for_blair)).to_have_count(1)
    blair.page.reload()
    expect(blair.page.locator("#chat-title")).to_have_text("Private chat with a supporter")
    expect(blair.messages(for_blair)).to_have_count(1)

    for person in (supporter, alex, blair):
        person.assert_only_app_requests()


def test_session_ended_elsewhere_shows_the_login_form(
    people: People, staff_account: Accounts
) -> None:
    account = staff_account()
    supporter = people()
    open_console(supporter)
    log_in(supporter, account)
    wait_console(supporter)
    # A second tab of the same browser (same session) logs out: the first tab's socket is
    # closed by the server (1008) and it shows the login form, with nothing left on screen.
    other = supporter.context.new_page()
    supporter.watch(other)
    other.goto(f"{supporter.base}/console")
    expect(other.locator("#view-console")).to_be_visible()
    other.get_by_role("button", name="Log out").click()
    expect(other.get_by_role("heading", name="Staff login")).to_be_visible()
    page = supporter.page
    expect(page.get_by_role("heading", name="Staff login")).to_be_visible(timeout=5_000)
    expect(page.locator("#login-note")).to_contain_text("Your session has ended")
    expect(page.locator("#view-console")).to_be_hidden()
    supporter.assert_only_app_requests()


# ---- issue 13: what the supporter sees of a crisis, and the console's fixes ----------------

WIDE = {"width": 1024, "height": 700}  # a small laptop: the composer must fit without scrolling
SHOTS = Path(os.environ.get("PEERLINE_SHOTS", "/tmp"))
URGENT = "I have the pills counted out and I'm taking them tonight"


def claim(console: Any, person: Participant, topic: str) -> None:
    person.accept()
    ask_for_support(person, topic)
    ticket = console.locator("#queue li.ticket", has_text=topic)
    ticket.get_by_role("button", name=re.compile("^Claim")).click()
    expect(person.page.locator("#chat-title")).to_have_text("Private chat with a supporter")


def take_every_alert(page: Any) -> None:
    """The supporter is the only staff online, so an urgent message's alert climbs to them:
    they take it and close the card, as they would (the chat is theirs already)."""
    cards = page.locator(".alert-card")
    expect(cards.first).to_be_visible()
    while cards.count():
        card = cards.first
        card.get_by_role("button", name="I'm taking this").click()
        card.get_by_role("button", name="Close").click()


def assert_composer_in_view(page: Any) -> None:
    assert page.evaluate("window.scrollY") == 0
    pane = page.locator(".chat-pane:not([hidden])")
    for control in (pane.locator("textarea").first, pane.get_by_role("button", name="Send")):
        box = control.bounding_box()
        assert box is not None
        assert box["y"] >= 0 and box["y"] + box["height"] <= WIDE["height"], box
        assert box["x"] + box["width"] <= WIDE["width"], box


def test_the_supporter_sees_a_crisis_in_their_chat(people: People, staff_account: Accounts) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    account = staff_account(name=f"Robin {tag()}")
    supporter = people(WIDE)
    open_console(supporter)
    log_in(supporter, account)
    wait_console(supporter)
    console = supporter.page
    # "Your chats" comes first in the side column.
    first = console.evaluate(
        "document.querySelector('.side .panel').getAttribute('aria-labelledby')"
    )
    assert first == "chats-title"

    casey, drew, ellis = people(PHONE), people(PHONE), people(PHONE)
    topics = {"casey": f"can't sleep {tag()}", "drew": f"court date {tag()}"}
    topics["ellis"] = f"new job stress {tag()}"
    claim(console, casey, topics["casey"])
    claim(console, drew, topics["drew"])
    claim(console, ellis, topics["ellis"])
    casey_tab = console.locator("#chat-tabs button", has_text=topics["casey"])
    drew_tab = console.locator("#chat-tabs button", has_text=topics["drew"])
    ellis_tab = console.locator("#chat-tabs button", has_text=topics["ellis"])

    hello = f"Hi, I'm Robin. What's on your mind? {tag()}"
    casey_tab.click()
    pane = console.locator(".chat-pane:not([hidden])")
    pane.get_by_label("Message to the participant").fill(hello)
    pane.get_by_label("Message to the participant").press("Enter")
    expect(casey.messages(hello)).to_have_count(1)
    drew.say(f"I'm nervous about tomorrow {tag()}")
    ellis_tab.click()

    # Casey writes something urgent while the supporter looks at another chat.
    casey.say(URGENT)
    take_every_alert(console)
    expect(casey_tab.locator(".tab-urgency")).to_have_text("Urgent")
    expect(casey_tab).to_have_attribute("aria-label", re.compile(r"^Urgent, .*1 unread"))
    expect(drew_tab.locator(".unread")).to_have_text("1")
    expect(drew_tab.locator(".tab-urgency")).to_have_count(0)
    casey_tab.click()
    flagged = pane.locator("li.msg.is-flagged", has_text=URGENT)
    expect(flagged).to_have_class(re.compile(r"\bflag-urgent\b"))
    expect(flagged.locator(".flag-mark")).to_contain_text("Urgent")
    expect(pane.locator(".flag-note")).to_contain_text("reads as a crisis")
    assert_composer_in_view(console)
    console.screenshot(path=str(SHOTS / "console-urgent-1024x700.png"))
    # The participant sees their words, and never the mark.
    expect(casey.messages(URGENT)).to_have_count(1)
    assert "flag" not in casey.page.locator("#messages").inner_html()

    # A reload: the topics come back from the server, and so does the mark (from history).
    console.reload()
    wait_console(supporter)
    expect(casey_tab).to_be_visible()
    expect(drew_tab).to_be_visible()
    casey_tab.click()
    pane = console.locator(".chat-pane:not([hidden])")
    expect(pane.locator(".pane-sub")).to_contain_text(topics["casey"])
    expect(pane.locator(".pane-sub")).to_contain_text("Urgent")
    expect(pane.locator("li.msg.flag-urgent", has_text=URGENT)).to_have_count(1)
    expect(casey_tab.locator(".tab-urgency")).to_have_text("Urgent")
    assert_composer_in_view(console)
    console.screenshot(path=str(SHOTS / "console-after-reload-1024x700.png"))

    # Drew erases everything: the words go from the supporter's screen at once.
    drew_tab.click()
    drew_pane = console.locator(".chat-pane:not([hidden])")
    gone = f"please forget this {tag()}"
    drew.say(gone)
    expect(drew_pane.locator("li.msg", has_text=gone)).to_have_count(1)
    drew.page.locator("#view-chat").get_by_role("button", name="Erase my messages").click()
    drew.page.get_by_role("button", name="Erase everything").click()
    expect(drew_pane.locator("li.msg", has_text=gone)).to_have_count(0)
    expect(drew_pane.locator("li.msg.system")).to_contain_text("The participant has left")

    # Ending Casey's chat with the urgent flag open needs a deliberate second step.
    casey_tab.click()
    pane = console.locator(".chat-pane:not([hidden])")
    pane.get_by_role("button", name="End chat").click()
    dialog = console.locator("#end-dialog")
    expect(dialog.locator("#end-urgent")).to_be_visible()
    console.screenshot(path=str(SHOTS / "console-end-urgent-1024x700.png"))
    dialog.get_by_role("button", name="End chat anyway").click()
    expect(dialog.locator("#end-urgent-status")).to_contain_text("Tick the box first")
    expect(pane.locator(".ended-note")).to_be_hidden()
    dialog.get_by_label("I have checked they are safe, or handed them on").check()
    dialog.get_by_role("button", name="End chat anyway").click()
    expect(pane.locator(".ended-note")).to_be_visible()
    expect(casey_tab.locator(".tab-urgency")).to_have_count(0)
    # Ellis's chat has no flag: the ordinary confirmation.
    ellis_tab.click()
    console.locator(".chat-pane:not([hidden])").get_by_role("button", name="End chat").click()
    expect(dialog.locator("#end-urgent")).to_be_hidden()
    expect(dialog.get_by_role("button", name="End chat", exact=True)).to_be_visible()
    dialog.get_by_role("button", name="Keep chatting").click()
    for person in (supporter, casey, ellis):
        person.assert_only_app_requests()


def test_a_facilitator_invites_from_a_group_room_alert(
    people: People, staff_account: Accounts
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    account = staff_account("facilitator", name=f"Fran {tag()}")
    facilitator = people(WIDE)
    open_console(facilitator)
    log_in(facilitator, account)
    wait_console(facilitator)
    console = facilitator.page
    console.get_by_label("On call").check()
    expect(console.locator("body")).to_have_attribute("data-on-call", "yes")
    person = people(PHONE)
    pseudonym = person.accept()
    person.join()
    person.say(URGENT)
    card = console.locator(".alert-card", has_text="General recovery")
    card.get_by_role("button", name="I'm taking this").click()
    card.get_by_role("button", name="Invite to a private chat").click()
    expect(card.locator(".alert-status")).to_contain_text("Invitation sent")
    console.screenshot(path=str(SHOTS / "console-alert-invite-1024x700.png"))

    # The person sees who invites them, and accepts.
    prompt = person.page.locator(".invitation")
    expect(prompt).to_be_visible()
    expect(prompt).to_contain_text(account.name)
    expect(prompt).to_contain_text("General recovery")
    person.page.screenshot(path=str(SHOTS / "console-invitation-participant-360.png"))
    prompt.get_by_role("button", name="Accept private chat").click()
    expect(person.page.locator("#chat-title")).to_have_text("Private chat with a supporter")
    expect(prompt).to_be_hidden()

    # The facilitator has the private chat, opened, and they talk.
    tab = console.locator("#chat-tabs button", has_text="Invited from General recovery")
    expect(tab).to_be_visible()
    expect(card).to_have_count(0)
    expect(console.locator("#alert-notes")).to_contain_text("accepted")
    pane = console.locator(".chat-pane:not([hidden])")
    words = f"I saw your message. I'm here with you now. {tag()}"
    pane.get_by_label("Message to the participant").fill(words)
    pane.get_by_role("button", name="Send").click()
    expect(person.messages(words)).to_have_count(1)
    expect(person.messages(words).locator(".msg-role")).to_have_text("Facilitator")
    answer = f"thank you {tag()}"
    person.say(answer)
    expect(pane.locator("li.msg", has_text=answer)).to_have_count(1)
    expect(pane.locator("h2").first).to_have_text(f"Chat with {pseudonym}")
    console.screenshot(path=str(SHOTS / "console-invited-chat-1024x700.png"))
    for who in (facilitator, person):
        who.assert_only_app_requests()


def test_a_facilitator_in_a_group_room_sees_the_flag_and_may_invite(
    people: People, staff_account: Accounts
) -> None:
    account = staff_account("facilitator", name=f"Gale {tag()}")
    facilitator = people(WIDE)
    open_console(facilitator)
    log_in(facilitator, account)
    wait_console(facilitator)
    console = facilitator.page
    console.get_by_role("button", name="Open General recovery").click()
    pane = console.locator(".chat-pane:not([hidden])")
    expect(pane.locator("h2").first).to_have_text("General recovery")
    wait_connected(console)
    person = people(PHONE)
    person.accept()
    person.join()
    worry = f"some days i wish i was dead {tag()}"
    person.say(worry)
    flagged = pane.locator("li.msg.is-flagged", has_text=worry)
    expect(flagged.locator(".flag-level")).to_have_text("Concern")
    # The tab says the highest open flag: an urgent one from the last hour in the room's
    # history (an earlier test's) outranks this concern.
    level = "Urgent" if pane.locator("li.msg.flag-urgent").count() else "Concern"
    expect(console.locator("#chat-tabs button", has_text="General recovery")).to_have_attribute(
        "aria-label", re.compile(f"^{level}, ")
    )
    assert_composer_in_view(console)
    console.screenshot(path=str(SHOTS / "console-group-flag-1024x700.png"))
    flagged.get_by_role("button", name="Invite to a private chat").click()
    prompt = person.page.locator(".invitation")
    expect(prompt).to_contain_text(account.name)
    prompt.get_by_role("button", name="No thanks").click()
    expect(prompt).to_be_hidden()
    expect(console.locator("#queue-status")).to_contain_text("declined the private chat")
    # The group room carries on for the person; nothing of the mark reached them.
    assert "flag" not in person.page.locator("#messages").inner_html()
    for who in (facilitator, person):
        who.assert_only_app_requests()
