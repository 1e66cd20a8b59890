"""A new ticket's priority: its topic's label and the person's recent flags, time passed in."""

from __future__ import annotations

from server.core.triage import RECENT_FLAG_SECONDS, higher, ticket_priority

NOW = 1_764_000_000_000
WINDOW_MS = RECENT_FLAG_SECONDS * 1000


def test_the_topic_label_sets_the_priority() -> None:
    assert ticket_priority("none", {}, NOW) == "normal"
    assert ticket_priority("concern", {}, NOW) == "concern"
    assert ticket_priority("urgent", {}, NOW) == "urgent"


def test_a_flag_within_thirty_minutes_lifts_a_calm_topic() -> None:
    assert ticket_priority("none", {"concern": NOW - WINDOW_MS}, NOW) == "concern"
    assert ticket_priority("none", {"urgent": NOW - 1_000}, NOW) == "urgent"
    assert ticket_priority("concern", {"urgent": NOW - 60_000}, NOW) == "urgent"


def test_an_older_flag_counts_for_nothing() -> None:
    assert ticket_priority("none", {"urgent": NOW - WINDOW_MS - 1}, NOW) == "normal"
    assert ticket_priority("concern", {"urgent": NOW - WINDOW_MS - 1}, NOW) == "concern"


def test_a_recent_flag_never_lowers_the_topic() -> None:
    assert ticket_priority("urgent", {"concern": NOW - 1_000}, NOW) == "urgent"


def test_a_flag_dated_far_in_the_future_is_not_believed() -> None:
    assert ticket_priority("none", {"urgent": NOW + WINDOW_MS + 1}, NOW) == "normal"


def test_unknown_labels_are_ignored() -> None:
    assert ticket_priority("odd", {"none": NOW, "weird": NOW}, NOW) == "normal"


def test_higher_orders_urgent_concern_normal() -> None:
    assert higher("normal", "concern") == "concern"
    assert higher("urgent", "concern") == "urgent"
    assert higher("none", "normal") in ("none", "normal")
    assert higher("concern", "none") == "concern"
