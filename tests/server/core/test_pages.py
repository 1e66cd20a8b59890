"""The paging rules on a fake clock: when an alert is paged, when a failure is tried again,
what a page says (no words, no pseudonym, no room id), its signature, and silence."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac

import orjson

from server.core.pages import (
    FIRST_RETRY_MS,
    MAX_RETRY_MS,
    PAGE_NO_CONSOLE,
    PAGE_NOT_TAKEN,
    REASON_SILENCE,
    PageCheck,
    PageFacts,
    Written,
    delivery_member,
    email_text,
    page_reason,
    parse_delivery,
    retry_at_ms,
    signature,
    silence_broken,
    silence_due_ms,
    target_name,
    verify,
    webhook_body,
)

AFTER = 120_000
FACTS = PageFacts(
    escalation="e-abc",
    level="urgent",
    category="overdose",
    reason="message",
    rung=2,
    since_ms=1_700_000_000_000,
    program="Harbor Peer Support",
    console_url="https://chat.example.org/console",
)


def open_alert(created: int = 0, taken: bool = False, paged: bool = False) -> PageCheck:
    return PageCheck("e-1", created, taken, paged)


def test_with_no_console_open_anywhere_an_alert_is_paged_at_once() -> None:
    assert page_reason(open_alert(1_000), 1_000, consoles_open=False, page_after_ms=AFTER) == (
        PAGE_NO_CONSOLE
    )


def test_with_consoles_open_it_is_paged_once_page_after_has_passed() -> None:
    assert page_reason(open_alert(0), AFTER - 1, True, AFTER) == ""
    assert page_reason(open_alert(0), AFTER, True, AFTER) == PAGE_NOT_TAKEN


def test_a_taken_or_already_paged_alert_is_not_paged() -> None:
    assert page_reason(open_alert(0, taken=True), 10 * AFTER, False, AFTER) == ""
    assert page_reason(open_alert(0, paged=True), 10 * AFTER, False, AFTER) == ""


def test_retries_double_from_two_seconds_to_a_minute_and_never_stop() -> None:
    now = 5_000
    delays = [retry_at_ms(now, n) - now for n in range(1, 9)]
    assert delays == [2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]
    assert delays[0] == FIRST_RETRY_MS
    assert retry_at_ms(now, 10_000) - now == MAX_RETRY_MS  # no overflow after days down
    assert retry_at_ms(now, 0) - now == FIRST_RETRY_MS


def test_the_webhook_body_has_exactly_the_documented_fields() -> None:
    body = orjson.loads(webhook_body(FACTS))
    assert body == {
        "type": "alert",
        "escalation": "e-abc",
        "level": "urgent",
        "category": "overdose",
        "reason": "message",
        "rung": 2,
        "since": 1_700_000_000_000,
        "program": "Harbor Peer Support",
        "console_url": "https://chat.example.org/console",
    }


def test_pages_have_no_field_for_words_names_or_rooms() -> None:
    # PageFacts has no place for them: a page cannot carry what it was never given.
    assert set(PageFacts.__dataclass_fields__) == {
        "escalation", "level", "category", "reason", "rung", "since_ms", "program",
        "console_url",
    }  # fmt: skip
    body = orjson.loads(webhook_body(FACTS))
    assert not {"room", "room_name", "excerpt", "text", "name", "pid", "from"} & set(body)
    subject, text = email_text(FACTS)
    assert "e-abc" in text and "https://chat.example.org/console" in text
    assert "overdose" in subject and "Harbor Peer Support" in subject


def test_the_signature_is_hmac_sha256_of_the_exact_body() -> None:
    body = webhook_body(FACTS)
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert signature("s3cret", body) == "sha256=" + expected
    assert verify("s3cret", body, signature("s3cret", body))
    assert not verify("other", body, signature("s3cret", body))
    assert not verify("s3cret", body + b" ", signature("s3cret", body))


def test_a_silence_email_says_why() -> None:
    silence = dataclasses.replace(FACTS, reason="silence")
    assert silence.reason == REASON_SILENCE
    assert "gone silent" in email_text(silence)[1]
    assert "urgent message" in email_text(FACTS)[1]


def test_delivery_names_round_trip() -> None:
    assert parse_delivery(delivery_member("e-abc", 3)) == ("e-abc", 3)
    assert target_name("webhook", 0) == "webhook-0"


def test_silence_ends_when_the_person_or_any_staff_member_writes() -> None:
    assert not silence_broken("p1", [])
    assert not silence_broken("p1", [Written("p2", "participant")])
    assert silence_broken("p1", [Written("p2", "participant"), Written("p1", "participant")])
    assert silence_broken("p1", [Written("s1", "supporter")])
    assert silence_broken("p1", [Written("s2", "facilitator")])


def test_silence_is_due_silence_minutes_after_the_flag() -> None:
    assert silence_due_ms(1_000, 10) == 601_000
    assert silence_due_ms(1_000, 0.05) == 4_000
