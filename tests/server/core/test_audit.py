"""The audit record and hash chain, without Redis: every edit, gap, reorder and cut is found."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping

import pytest

from server.core.audit import (
    ANCHOR_MISMATCH,
    BROKEN_LINK,
    GENESIS,
    HASH_MISMATCH,
    HEAD_MISMATCH,
    MALFORMED,
    MAX_REASON_CHARS,
    MISSING,
    OUT_OF_ORDER,
    SYSTEM,
    AuditFieldError,
    AuditRecord,
    MalformedRecord,
    canonical,
    format_head,
    make_record,
    parse_anchor,
    parse_head,
    verify_entries,
)

Entry = tuple[str, Mapping[str, str]]
STAFF = "3f2a" * 8
ACTIONS = ("room.open", "transcript.view", "escalation.view", "escalation.ack", "flag.dismiss")


def chain(n: int) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    seq, prev = 0, GENESIS
    for i in range(n):
        extra = {"minutes": str(i)} if i % 3 == 0 else {}
        record = make_record(
            seq,
            prev,
            1_700_000_000_000 + i,
            STAFF if i % 4 else SYSTEM,
            ACTIONS[i % len(ACTIONS)],
            f"room-{i:04x}",
            reason=f"case {i}: ¿está bien? ✓" if i % 2 else "",
            extra=extra,
        )
        records.append(record)
        seq, prev = record.seq, record.hash
    return records


def entries(records: list[AuditRecord]) -> list[Entry]:
    return [(f"{1000 + r.seq}-0", r.fields()) for r in records]


def head_of(records: list[AuditRecord]) -> str | None:
    return format_head(records[-1].seq, records[-1].hash) if records else None


def test_a_long_chain_verifies() -> None:
    records = chain(500)
    assert [r.seq for r in records] == list(range(1, 501))
    assert records[0].prev == GENESIS
    assert all(b.prev == a.hash for a, b in itertools.pairwise(records))
    result = verify_entries(entries(records), head_of(records))
    assert result.ok and result.count == 500 and result.head == records[-1].hash
    assert result.why is None and result.bad_seq is None


def test_an_empty_log_verifies_and_a_head_without_records_does_not() -> None:
    assert verify_entries([], None).ok
    record = chain(1)[0]
    lost = verify_entries([], format_head(1, record.hash))
    assert not lost.ok and lost.why == HEAD_MISMATCH and lost.bad_seq == 1


def test_the_hash_is_sha256_of_canonical_sorted_compact_utf8_json() -> None:
    record = make_record(0, GENESIS, 5, STAFF, "room.open", "r1", "¿por qué?", {"b": "2", "a": "1"})
    body = canonical(1, 5, STAFF, "room.open", "r1", "¿por qué?", {"a": "1", "b": "2"}, GENESIS)
    assert record.hash == hashlib.sha256(body).hexdigest()
    text = body.decode("utf-8")
    assert " " not in text.replace("¿por qué?", "") and "¿por qué?" in text
    parsed = json.loads(text)
    assert list(parsed) == sorted(parsed) and list(parsed["extra"]) == ["a", "b"]
    assert parsed["prev"] == GENESIS and parsed["seq"] == 1 and parsed["at"] == 5


def test_fields_round_trip_through_strings() -> None:
    for record in chain(12):
        fields = record.fields()
        assert all(isinstance(v, str) for v in fields.values())
        assert AuditRecord.from_fields(fields) == record


def test_any_change_to_any_field_of_any_record_is_found() -> None:
    records = chain(12)
    good = entries(records)
    head = head_of(records)
    checked = 0
    for index, (entry_id, fields) in enumerate(good):
        for name, value in fields.items():
            for forged in _forgeries(name, value):
                tampered = list(good)
                tampered[index] = (entry_id, {**fields, name: forged})
                result = verify_entries(tampered, head)
                assert not result.ok, (index, name, forged)
                assert result.count == index, (index, name)  # found at that record
                checked += 1
        # A field dropped or added is found too.
        for name in fields:
            dropped = {k: v for k, v in fields.items() if k != name}
            tampered = [*good[:index], (entry_id, dropped), *good[index + 1 :]]
            assert not verify_entries(tampered, head).ok, (index, name)
        added = {**fields, "x.note": "added"}
        tampered = [*good[:index], (entry_id, added), *good[index + 1 :]]
        assert verify_entries(tampered, head).why == HASH_MISMATCH
    assert checked > 12 * 9


def _forgeries(name: str, value: str) -> list[str]:
    if name in {"seq", "at", "v"}:
        return [str(int(value) + 1), f"0{value}", f" {value}"]
    if name in {"hash", "prev"}:
        flipped = ("1" if value[0] == "0" else "0") + value[1:]
        return [flipped] + ([value.upper()] if value.upper() != value else [])
    return [value + "x", value[:-1] if value else "x", value.upper() + "Ä"]


def test_an_edit_with_its_own_hash_recomputed_breaks_the_next_link() -> None:
    records = chain(10)
    forged = make_record(4, records[3].hash, records[4].at_ms, STAFF, "room.open", "other-room")
    tampered = entries(records)
    tampered[4] = ("1005-0", forged.fields())
    result = verify_entries(tampered, head_of(records))
    assert not result.ok and result.why == BROKEN_LINK and result.bad_seq == 6
    assert result.bad_id == "1006-0" and result.count == 5


def test_deleting_a_middle_record_is_found() -> None:
    records = chain(10)
    gone = entries(records)
    del gone[4]
    result = verify_entries(gone, head_of(records))
    assert not result.ok and result.why == MISSING and result.bad_seq == 5
    assert result.bad_id == "1006-0" and result.count == 4


def test_reordering_is_found() -> None:
    records = chain(10)
    swapped = entries(records)
    swapped[4], swapped[5] = swapped[5], swapped[4]
    result = verify_entries(swapped, head_of(records))
    assert not result.ok and result.why == MISSING and result.bad_seq == 5
    repeated = entries(records)
    repeated.insert(6, repeated[3])
    result = verify_entries(repeated, head_of(records))
    assert not result.ok and result.why == OUT_OF_ORDER and result.bad_seq == 4


def test_cutting_off_the_newest_records_is_found_against_the_head() -> None:
    records = chain(10)
    head = head_of(records)
    cut = entries(records)[:8]
    assert verify_entries(cut, head_of(records[:8])).ok  # the chain alone cannot tell
    result = verify_entries(cut, head)
    assert not result.ok and result.why == HEAD_MISMATCH and result.bad_seq == 9
    assert result.count == 8
    # Deleting the head too is no cover: records without a head do not verify.
    assert verify_entries(entries(records), None).why == HEAD_MISMATCH
    # Nor is appending a record the head does not vouch for.
    extra = make_record(10, records[-1].hash, 1, STAFF, "room.open", "r")
    longer = [*entries(records), ("2000-0", extra.fields())]
    assert verify_entries(longer, head).why == HEAD_MISMATCH
    assert verify_entries(entries(records), "garbage").why == HEAD_MISMATCH


def test_a_rewritten_chain_is_found_only_against_an_anchor_kept_elsewhere() -> None:
    records = chain(10)
    anchor = (7, records[6].hash)
    assert verify_entries(entries(records), head_of(records), anchor).ok
    # Someone with write access rebuilds everything from record 5 on and moves the head.
    rebuilt = records[:4]
    for i in range(4, 10):
        last = rebuilt[-1]
        rebuilt.append(make_record(last.seq, last.hash, 9, STAFF, "room.open", f"x{i}"))
    assert verify_entries(entries(rebuilt), head_of(rebuilt)).ok  # an unkeyed chain's limit
    result = verify_entries(entries(rebuilt), head_of(rebuilt), anchor)
    assert not result.ok and result.why == ANCHOR_MISMATCH and result.bad_seq == 7
    # An anchor beyond the end of a cut-and-rebuilt log is missing, also a failure.
    short = verify_entries(entries(records[:5]), head_of(records[:5]), anchor)
    assert not short.ok and short.why == ANCHOR_MISMATCH


def test_malformed_entries_are_reported_not_raised() -> None:
    records = chain(3)
    bad = entries(records)
    bad[1] = ("1002-0", {"v": "1", "seq": "two"})
    result = verify_entries(bad, head_of(records))
    assert not result.ok and result.why == MALFORMED and result.bad_seq == 2
    future = entries(records)
    future[0] = ("1001-0", {**future[0][1], "v": "2"})
    assert verify_entries(future, head_of(records)).why == MALFORMED


@pytest.mark.parametrize(
    ("actor", "action", "target", "reason", "extra"),
    [
        ("", "room.open", "r1", "", {}),
        ("staff member", "room.open", "r1", "", {}),
        (STAFF, "Room Open", "r1", "", {}),
        (STAFF, "room.open", "", "", {}),
        (STAFF, "room.open", "i want to die tonight", "", {}),  # content as a target
        (STAFF, "room.open", "r" * 129, "", {}),
        (STAFF, "room.open", "r1", "x" * (MAX_REASON_CHARS + 1), {}),
        (STAFF, "room.open", "r1", "\udc80", {}),  # not encodable as UTF-8
        (STAFF, "room.open", "r1", "", {"Text": "a"}),
        (STAFF, "room.open", "r1", "", {"seq": "a b c"}),  # content as an extra value
        (STAFF, "room.open", "r1", "", {"v": "x" * 129}),
        (STAFF, "room.open", "r1", "", {f"k{i}": "v" for i in range(9)}),
    ],
)
def test_records_that_could_carry_content_or_break_the_format_are_refused(
    actor: str, action: str, target: str, reason: str, extra: dict[str, str]
) -> None:
    with pytest.raises(AuditFieldError):
        make_record(0, GENESIS, 1, actor, action, target, reason, extra)


def test_the_limits_themselves_are_allowed() -> None:
    record = make_record(
        0,
        GENESIS,
        0,
        SYSTEM,
        "escalation.rung",
        "esc:" + "a" * 124,
        "x" * MAX_REASON_CHARS,
        {f"k{i}": "v" * 128 for i in range(8)},
    )
    assert verify_entries(entries([record]), head_of([record])).ok


def test_heads_and_anchors_parse_strictly() -> None:
    digest = "ab" * 32
    assert parse_head(format_head(12, digest)) == (12, digest)
    assert parse_anchor(f"12:{digest}") == parse_anchor(f" 12 {digest}\n") == (12, digest)
    for bad in ("", "12", f"x:{digest}", f"012 {digest}", f"12 {digest[:-1]}", f"-1 {digest}"):
        with pytest.raises(MalformedRecord):
            parse_head(bad)
