from __future__ import annotations

import base64

import pytest

from server.crypto import InvalidTag, KeyRing, KeyRingError, generate_key_line


def test_round_trip_binds_room_and_message() -> None:
    ring = KeyRing.parse(generate_key_line())
    key_id, blob = ring.seal(b"I made it to a meeting", "general", "17-0")
    assert key_id == ring.current_id
    assert b"meeting" not in blob
    assert ring.open(key_id, blob, "general", "17-0") == b"I made it to a meeting"


@pytest.mark.parametrize(
    ("room", "message"),
    [("other-room", "17-0"), ("general", "18-0"), ("general", "17-1")],
    ids=["moved-room", "moved-message", "moved-sequence"],
)
def test_a_moved_ciphertext_does_not_open(room: str, message: str) -> None:
    ring = KeyRing.parse(generate_key_line())
    key_id, blob = ring.seal(b"secret", "general", "17-0")
    with pytest.raises(InvalidTag):
        ring.open(key_id, blob, room, message)


def test_tampered_or_truncated_blob_fails() -> None:
    ring = KeyRing.parse(generate_key_line())
    key_id, blob = ring.seal(b"secret", "r", "1-0")
    flipped = bytes([blob[0] ^ 1]) + blob[1:]
    for bad in (flipped, blob[:-1], b"", blob[:12]):
        with pytest.raises(InvalidTag):
            ring.open(key_id, bad, "r", "1-0")


def test_a_new_current_key_keeps_old_records_readable() -> None:
    old_line = generate_key_line()
    old = KeyRing.parse(old_line)
    key_id, blob = old.seal(b"before rotation", "r", "1-0")
    new_line = generate_key_line()
    rotated = KeyRing.parse(f"{new_line},{old_line}")
    assert rotated.current_id == new_line.split(":")[0]
    assert rotated.open(key_id, blob, "r", "1-0") == b"before rotation"
    new_id, _ = rotated.seal(b"after", "r", "2-0")
    assert new_id != key_id


def test_a_removed_key_fails_closed() -> None:
    old = KeyRing.parse(generate_key_line())
    key_id, blob = old.seal(b"x", "r", "1-0")
    with pytest.raises(InvalidTag):
        KeyRing.parse(generate_key_line()).open(key_id, blob, "r", "1-0")


def test_nonces_are_never_reused() -> None:
    ring = KeyRing.parse(generate_key_line())
    nonces = {ring.seal(b"same", "r", "1-0")[1][:12] for _ in range(2000)}
    assert len(nonces) == 2000


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "nokey",
        "id:not-base64!",
        "id:" + base64.b64encode(b"short").decode(),
        "bad id:" + base64.b64encode(b"k" * 32).decode(),
        "a:{0},a:{0}".format(base64.b64encode(b"k" * 32).decode()),
    ],
    ids=["empty", "no-colon", "bad-base64", "short-key", "bad-id", "duplicate-id"],
)
def test_malformed_key_rings_are_refused_without_echoing_keys(spec: str) -> None:
    with pytest.raises(KeyRingError) as caught:
        KeyRing.parse(spec)
    secret = spec.partition(":")[2]
    assert not secret or secret not in str(caught.value)


def test_generated_line_is_id_and_256_bit_key() -> None:
    key_id, _, encoded = generate_key_line().partition(":")
    assert len(base64.b64decode(encoded)) == 32
    assert KeyRing.parse(f"{key_id}:{encoded}").current_id == key_id
