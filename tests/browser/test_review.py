"""The moderators' review page (/review) in a real browser, against the real server.

Participants write messages the detector flags; a moderator logs in, sees each flagged
message with the five messages before and after it (the flagged one marked), dismisses one,
mutes the writer of another (who is then told they cannot send, and keeps their words),
warns a third, bans a fourth (after a confirmation; the banned page shows a calm final screen
with the crisis lines and does not reconnect). A lexicon entry added on the page changes what
is flagged, and retiring it changes it back. Every page talks only to the app's own origin,
with no CSP violation or page error.
"""

from __future__ import annotations

import random
import re
import secrets
import string
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, Participant, StaffAccount
from tests.browser.test_console import ask_for_support, log_in
from tests.browser.test_crisis import facilitator

pytestmark = pytest.mark.browser

People = Callable[..., Participant]
Accounts = Callable[..., StaffAccount]
SCREENSHOT_REVIEW = "/tmp/peerline-review-1000.png"
SCREENSHOT_LEXICON = "/tmp/peerline-lexicon-1000.png"
SCREENSHOT_REVIEW_PHONE = "/tmp/peerline-review-360.png"
SCREENSHOT_BANNED = "/tmp/peerline-banned-360.png"


def tag() -> str:
    return secrets.token_hex(3)


def letters(n: int = 7) -> str:
    # Letters only: digits would be read as leetspeak by the detector's normaliser.
    return "".join(random.choice(string.ascii_lowercase) for _ in range(n))


def moderator(
    people: People, staff_account: Accounts, viewport: dict[str, int] = DESKTOP
) -> Participant:
    account = staff_account(role="moderator", name=f"Mod {tag()}")
    person = people(viewport)
    page = person.page
    page.goto(f"{person.base}/review")
    expect(page.get_by_role("heading", name="Moderator login")).to_be_visible()
    log_in(person, account)
    expect(page.get_by_role("tab", name="Flagged and reported")).to_be_visible()
    expect(page.locator("#items-status")).to_have_text("")
    return person


def confirmed(person: Participant, text: str) -> Any:
    """The writer's own message once the server acknowledged it."""
    return person.page.locator("#messages li.msg[data-id]", has_text=text)


def write_flagged(person: Participant, text: str) -> None:
    person.say(text)
    expect(confirmed(person, text)).to_have_count(1)
    panel = person.page.locator("#crisis-panel")
    expect(panel).to_be_visible()
    panel.get_by_role("button", name="Hide the crisis lines").click()
    expect(panel.locator("#crisis-body")).to_be_hidden()


def write_plain(person: Participant, text: str) -> None:
    person.say(text)
    expect(confirmed(person, text)).to_have_count(1)


def item(reviewer: Participant, writer: Participant, text: str) -> Any:
    """The review list's entry for the writer's message (the list names messages by id: the
    words stay sealed until a moderator opens the item)."""
    message_id = confirmed(writer, text).get_attribute("data-id")
    assert message_id
    return reviewer.page.locator(f'#items li button[data-message="{message_id}"]')


def act(reviewer: Participant, action: str, reason: str) -> None:
    page = reviewer.page
    page.locator("#action-form").get_by_label(action).check()
    page.locator("#action-reason").fill(reason)
    page.locator("#action-submit").click()


def test_review_context_dismiss_mute_warn(people: People, staff_account: Accounts) -> None:
    t = tag()
    first = people(DESKTOP)
    first.accept()
    first.join()
    second = people(PHONE)
    second.accept()
    second.join()
    for i in (1, 2, 3):
        write_plain(first, f"before {i} {t}")
    flagged_first = f"I keep thinking about suicide {t}"
    write_flagged(first, flagged_first)
    write_plain(second, f"after 1 {t}")
    write_plain(first, f"after 2 {t}")
    flagged_second = f"honestly I wish I was dead {t}"
    write_flagged(second, flagged_second)

    reviewer = moderator(people, staff_account)
    page = reviewer.page
    expect(item(reviewer, first, flagged_first)).to_have_count(1)
    expect(item(reviewer, second, flagged_second)).to_have_count(1)
    expect(item(reviewer, first, flagged_first)).to_contain_text("concern")
    expect(item(reviewer, first, flagged_first)).to_contain_text("General recovery")

    # The detail: context around the message, the message marked, what matched.
    item(reviewer, first, flagged_first).click()
    context = page.locator("#context")
    target = context.locator("li.is-target")
    expect(target).to_have_count(1)
    expect(target).to_contain_text(flagged_first)
    expect(target).to_contain_text("Flagged message")
    expect(target).to_have_attribute("aria-current", "true")
    expect(page.locator("#detail-meta")).to_contain_text("thinking about suicide")
    expect(page.locator("#detail-meta")).to_contain_text(first.name)
    shown = context.locator("li.msg").all_inner_texts()
    position = {
        label: next(i for i, text in enumerate(shown) if label in text)
        for label in (f"before 1 {t}", f"before 3 {t}", flagged_first, f"after 2 {t}")
    }
    assert position[f"before 1 {t}"] < position[f"before 3 {t}"] < position[flagged_first]
    assert position[flagged_first] < position[f"after 2 {t}"]
    assert len(shown) <= 11, shown
    page.screenshot(path=SCREENSHOT_REVIEW, full_page=True)

    # No action is chosen for the moderator, and a reason is required.
    expect(page.locator("#action-form input[name=action]:checked")).to_have_count(0)
    page.locator("#action-submit").click()
    expect(page.locator("#action-status")).to_contain_text("Choose an action")
    page.locator("#action-form").get_by_label("Dismiss").check()
    page.locator("#action-submit").click()
    expect(page.locator("#action-status")).to_contain_text("Give a reason")

    # Dismiss: gone from the open list, still in "All" as dismissed.
    act(reviewer, "Dismiss", "a worry, not a crisis; followed up in the room")
    expect(page.locator("#items-status")).to_contain_text("dismissed")
    expect(item(reviewer, first, flagged_first)).to_have_count(0)
    page.get_by_label("All", exact=True).check()
    expect(item(reviewer, first, flagged_first)).to_contain_text("Dismissed")
    page.get_by_label("Open", exact=True).check()
    expect(item(reviewer, first, flagged_first)).to_have_count(0)

    # Mute the second writer for 10 minutes: their next message is refused, words kept.
    item(reviewer, second, flagged_second).click()
    expect(page.locator("#context li.is-target")).to_contain_text(flagged_second)
    page.locator("#action-form").get_by_label("Mute the writer").check()
    page.get_by_label("Mute for").fill("10")
    act(reviewer, "Mute the writer", "repeated posts after a warning")
    expect(page.locator("#items-status")).to_contain_text("muted")
    blocked = f"can I talk again {t}"
    second.say(blocked)
    expect(second.page.locator("#chat-status")).to_contain_text("You can't send messages right now")
    expect(second.page.locator("#composer-text")).to_have_value(blocked)
    expect(second.messages(blocked)).to_have_count(0)

    # Warn the first writer about a new message: they see the moderators' words in the chat.
    flagged_third = f"I wish I was dead tonight {t}"
    write_flagged(first, flagged_third)
    page.get_by_role("button", name="Refresh").click()
    item(reviewer, first, flagged_third).click()
    expect(page.locator("#context li.is-target")).to_contain_text(flagged_third)
    page.locator("#action-form").get_by_label("Warn the writer").check()
    warning = f"Please reach out to a supporter if tonight is hard {t}."
    page.get_by_label("Words the writer will see").fill(warning)
    act(reviewer, "Warn the writer", "check-in message")
    expect(page.locator("#items-status")).to_contain_text("warned")
    notice = first.page.locator("#messages li.notice-moderation")
    expect(notice).to_contain_text(warning)
    expect(notice).to_contain_text("From the moderators")

    page.set_viewport_size(PHONE)
    page.get_by_label("All", exact=True).check()
    expect(item(reviewer, first, flagged_third)).to_contain_text("Warned")
    page.screenshot(path=SCREENSHOT_REVIEW_PHONE, full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the review page scrolls sideways: {width}px"
    for person in (first, second, reviewer):
        person.assert_only_app_requests()


def test_ban_after_confirmation_ends_the_session_calmly(
    people: People, staff_account: Accounts
) -> None:
    t = tag()
    writer = people(PHONE)
    writer.accept()
    writer.join("Early days")
    flagged = f"I keep thinking about suicide and nobody cares {t}"
    write_flagged(writer, flagged)
    sockets_before = len(writer.sockets)

    reviewer = moderator(people, staff_account)
    page = reviewer.page
    item(reviewer, writer, flagged).click()
    expect(page.locator("#context li.is-target")).to_contain_text(flagged)
    act(reviewer, "Ban the writer", "threats in several rooms")
    dialog = page.locator("#ban-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(writer.name)
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator("#items-status")).not_to_contain_text("banned")
    page.locator("#action-submit").click()
    dialog.get_by_role("button", name="Ban").click()
    expect(page.locator("#items-status")).to_contain_text("banned")

    ended = writer.page.locator("#view-ended")
    expect(ended).to_be_visible()
    expect(
        ended.get_by_role("heading", name="This session was closed by the program's moderators.")
    ).to_be_visible()
    expect(ended.locator('a[href="tel:988"]')).to_be_visible()
    expect(ended.get_by_role("button", name="Try to reconnect")).to_be_hidden()
    writer.page.screenshot(path=SCREENSHOT_BANNED)
    writer.page.wait_for_timeout(2500)
    assert len(writer.sockets) == sockets_before, "the banned page tried to reconnect"
    for person in (writer, reviewer):
        person.assert_only_app_requests()


def test_a_removed_message_leaves_every_screen(people: People, staff_account: Accounts) -> None:
    t = tag()
    writer, reader = people(PHONE), people(PHONE)
    for person in (writer, reader):
        person.accept()
        person.join("Early days")
    flagged = f"I keep thinking about suicide and nobody cares {t}"
    write_flagged(writer, flagged)
    expect(reader.messages(flagged)).to_have_count(1)

    reviewer = moderator(people, staff_account)
    page = reviewer.page
    item(reviewer, writer, flagged).click()
    expect(page.locator("#context li.is-target")).to_contain_text(flagged)
    act(reviewer, "Remove the message", "the writer asked us to take it down")
    expect(page.locator("#items-status")).to_contain_text("removed")
    for person in (writer, reader):
        expect(person.messages(flagged)).to_have_count(0)
    expect(reader.page.locator("#chat-status")).to_have_text("A moderator removed a message.")
    for person in (writer, reader, reviewer):
        person.assert_only_app_requests()


def test_a_crisis_resolved_with_who_took_its_alert(people: People, staff_account: Accounts) -> None:
    taker = facilitator(people, staff_account)
    writer = people(PHONE)
    writer.accept()
    writer.join()
    words = f"my friend isnt breathing and his lips are blue {letters()}"
    write_flagged(writer, words)
    card = taker.page.locator("#alerts .alert-card", has_text=words)
    card.get_by_role("button", name="I'm taking this").click()
    expect(card).to_contain_text("You took this")

    reviewer = moderator(people, staff_account)
    page = reviewer.page
    item(reviewer, writer, words).click()
    meta = page.locator("#detail-meta")
    expect(meta).to_contain_text(f"Taken by {taker.name}")
    expect(meta).to_contain_text("paged: no")
    expect(page.locator("#action-form input[name=action]:checked")).to_have_count(0)
    expect(page.locator("#action-submit")).to_have_text("Apply")
    act(reviewer, "Resolve", "the facilitator called; the friend is safe")
    expect(page.locator("#items-status")).to_contain_text("resolved")
    page.get_by_label("All", exact=True).check()
    expect(item(reviewer, writer, words)).to_contain_text("Resolved")
    expect(page.locator("#action-done")).to_contain_text("Resolved")
    for person in (writer, taker, reviewer):
        person.assert_only_app_requests()


def test_a_flagged_support_topic_is_reviewed_without_a_room(
    people: People, staff_account: Accounts
) -> None:
    writer = people(PHONE)
    writer.accept()
    topic = f"some days i wish i was dead {letters()}"
    ask_for_support(writer, topic)
    expect(writer.page.locator("#crisis-panel")).to_be_visible()  # resources at once

    reviewer = moderator(people, staff_account)
    page = reviewer.page
    entry = page.locator("#items li button", has_text="Support topic")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("Support request")
    entry.click()
    expect(page.locator("#detail-title")).to_have_text("Flagged support request topic")
    expect(page.locator("#detail-meta")).to_contain_text(topic)
    expect(page.locator("#context")).to_contain_text("there is no conversation")
    expect(page.locator("#remove-choice")).to_be_hidden()
    act(reviewer, "Dismiss", "a hard day, talking to a supporter")
    expect(page.locator("#items-status")).to_contain_text("dismissed")
    for person in (writer, reviewer):
        person.assert_only_app_requests()


def test_lexicon_entry_changes_what_is_flagged(people: People, staff_account: Accounts) -> None:
    word = f"zorb{letters()}"
    phrase = f"{word} quennic"
    writer = people(DESKTOP)
    writer.accept()
    writer.join("Family and friends")
    panel = writer.page.locator("#crisis-panel")

    before = f"the {phrase} came back today"
    write_plain(writer, before)
    expect(panel).to_be_hidden()

    reviewer = moderator(people, staff_account)
    page = reviewer.page
    page.get_by_role("tab", name="Lexicon").click()
    expect(page.locator("#lex-entries li").first).to_be_visible()
    page.locator("#lex-search").fill("breathing")
    expect(page.locator("#lex-entries li").first).to_contain_text("built in")

    # Add an entry (with the help for the pattern syntax at hand).
    page.get_by_text("How a pattern is written").click()
    expect(page.locator(".pattern-help")).to_contain_text("up to six other words")
    entry_id = f"test.{word}"
    page.locator("#lex-id").fill(entry_id)
    page.locator("#lex-pattern").fill(phrase)
    page.locator("#lex-category").select_option("suicide")
    page.locator("#lex-severity").select_option("concern")
    page.locator("#lex-note").fill("a code word the group uses")
    page.locator("#lex-reason").fill("reported by facilitators")
    page.get_by_role("button", name="Add entry").click()
    expect(page.locator("#lex-add-status")).to_contain_text(f"Added {entry_id}")
    added = page.locator("#lex-entries li", has_text=entry_id)
    expect(added).to_have_count(1)
    expect(added).to_contain_text("added by a moderator")
    page.screenshot(path=SCREENSHOT_LEXICON, full_page=True)

    # The same words are now flagged: resources at once, and an item to review.
    now_flagged = f"the {phrase} is back tonight"
    write_flagged(writer, now_flagged)
    page.get_by_role("tab", name="Flagged and reported").click()
    page.get_by_role("button", name="Refresh").click()
    expect(item(reviewer, writer, now_flagged)).to_have_count(1)

    # A duplicate id is refused with the server's reason.
    page.get_by_role("tab", name="Lexicon").click()
    page.locator("#lex-id").fill(entry_id)
    page.locator("#lex-pattern").fill(phrase)
    page.locator("#lex-reason").fill("again")
    page.get_by_role("button", name="Add entry").click()
    expect(page.locator("#lex-add-status")).to_contain_text("Not added")

    # Retire it (with a reason): the words are no longer flagged.
    page.locator("#lex-search").fill(entry_id)
    page.get_by_role("button", name=f"Retire {entry_id}").click()
    dialog = page.locator("#retire-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Retire").click()
    expect(page.locator("#retire-status")).to_contain_text("Give a reason")
    dialog.get_by_label("Reason").fill("false alarms")
    dialog.get_by_role("button", name="Retire").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#lex-status")).to_contain_text(f"Retired {entry_id}")
    expect(page.locator("#lex-entries li", has_text=entry_id)).to_have_count(0)
    after = f"the {phrase} left again"
    write_plain(writer, after)
    expect(panel.locator("#crisis-body")).to_be_hidden()  # still folded: no new notice
    for person in (writer, reviewer):
        person.assert_only_app_requests()


def test_review_page_is_for_moderators_only(people: People, staff_account: Accounts) -> None:
    account = staff_account(role="supporter")
    person = people(DESKTOP)
    page = person.page
    page.goto(f"{person.base}/review")
    log_in(person, account)
    expect(page.get_by_role("heading", name="This page is for moderators")).to_be_visible()
    expect(page.get_by_role("tab", name="Lexicon")).to_be_hidden()
    assert re.search(r"/review$", page.url)
    person.assert_only_app_requests()
