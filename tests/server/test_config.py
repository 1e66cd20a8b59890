from __future__ import annotations

from pathlib import Path

import pytest

from server.config import ConfigError, Settings, load_program, parse_program

BASE = {
    "name": "Harbor",
    "consent": {"version": "v1", "text": "Read me."},
    "resources": [{"name": "988", "contact": "Call or text 988"}],
    "rooms": [{"id": "general", "name": "General", "access": "open"}],
}


def with_(**changes: object) -> dict[str, object]:
    data = dict(BASE)
    data.update(changes)
    return data


def test_demo_program_has_real_us_resources_and_an_invite_room() -> None:
    program = load_program(None)
    contacts = " ".join(r.contact for r in program.resources)
    assert "988" in contacts and "1-800-662-4357" in contacts and "911" in contacts
    assert any(room.access == "invite" for room in program.rooms)
    assert program.room("officers") is not None
    assert program.room("officers").accepts_invite("blue-harbor-demo")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({k: v for k, v in BASE.items() if k != "consent"}, "[consent] is required"),
        (with_(resources=[]), "at least one [[resources]]"),
        (with_(rooms=[{"id": "Bad Id", "name": "x"}]), "must match"),
        (with_(rooms=[{"id": "a", "name": "x"}, {"id": "a", "name": "y"}]), "appears twice"),
        (with_(rooms=[{"id": "a", "name": "x", "access": "secret"}]), "access must be"),
        (with_(rooms=[{"id": "a", "name": "x", "access": "invite"}]), "needs invite_codes"),
        (
            with_(
                rooms=[{"id": "a", "name": "x", "access": "invite", "invite_codes": ["sha256:zz"]}]
            ),
            "SHA-256",
        ),
        (with_(escalation={"ack_seconds": 0}), "ack_seconds"),
        (with_(quick_exit_url="javascript:alert(1)"), "quick_exit_url"),
        (with_(name=""), "name must be"),
        (with_(rooms=[{"id": "dm-lobby", "name": "x"}]), "direct rooms"),
        (with_(resources=[{"name": "988", "contact": "988", "lang": "Spanish"}]), "lang must be"),
        (with_(resources=[{"name": "988", "contact": "988", "lang": "ES"}]), "lang must be"),
        (with_(resources=[{"name": "988", "contact": "988", "lang": 1}]), "lang must be"),
        (with_(resources=[{"name": "988", "contact": "988", "chat": "http://x.org"}]), "chat must"),
        (with_(resources=[{"name": "988", "contact": "988", "chat": "javascript:x"}]), "chat must"),
        (with_(resources=[{"name": "988", "contact": ""}]), "resources[0].contact must be"),
    ],
    ids=[
        "no-consent",
        "no-resources",
        "bad-room-id",
        "duplicate-room",
        "bad-access",
        "invite-without-codes",
        "bad-digest",
        "bad-ack",
        "bad-exit-url",
        "no-name",
        "direct-room-id",
        "resource-lang-word",
        "resource-lang-upper-case",
        "resource-lang-not-text",
        "resource-chat-http",
        "resource-chat-script",
        "resource-no-contact",
    ],
)
def test_bad_program_files_fail_with_a_message_naming_the_field(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_program(data)


def test_resources_may_carry_a_language_and_a_chat_page() -> None:
    program = parse_program(
        with_(
            resources=[
                {"name": "988", "contact": "Call or text 988", "lang": "en"},
                {
                    "name": "988 Línea",
                    "contact": "Llama al 988",
                    "lang": "es",
                    "chat": "https://988lineadevida.org/",
                },
                {"name": "Emergency", "contact": "911"},
            ]
        )
    )
    assert [(r.lang, r.chat) for r in program.resources] == [
        ("en", ""),
        ("es", "https://988lineadevida.org/"),
        ("", ""),
    ]


def test_invite_codes_may_be_plain_or_digests() -> None:
    import hashlib

    digest = hashlib.sha256(b"code-b").hexdigest()
    program = parse_program(
        with_(
            rooms=[
                {
                    "id": "a",
                    "name": "x",
                    "access": "invite",
                    "invite_codes": ["code-a", f"sha256:{digest}"],
                }
            ]
        )
    )
    room = program.room("a")
    assert room is not None
    assert room.accepts_invite("code-a") and room.accepts_invite("code-b")
    assert not room.accepts_invite("code-c")


def test_settings_defaults() -> None:
    s = Settings.from_environ({})
    assert s.redis_url is None and s.data_keys is None
    assert s.retention_seconds == 30 * 86_400
    assert (s.rate_per_minute, s.rate_burst, s.ping_seconds) == (100, 10, 20)
    assert s.cookie_secure is True and s.allowed_origins == ()


def test_settings_parse_and_validate(tmp_path: Path) -> None:
    s = Settings.from_environ(
        {
            "PEERLINE_ALLOWED_ORIGINS": "https://a.example, https://b.example/",
            "PEERLINE_RETENTION_DAYS": "0.5",
            "PEERLINE_COOKIE_SECURE": "false",
        }
    )
    assert s.allowed_origins == ("https://a.example", "https://b.example")
    assert s.retention_seconds == 43_200
    assert s.cookie_secure is False
    for name, value in [
        ("PEERLINE_RETENTION_DAYS", "-1"),
        ("PEERLINE_RATE_BURST", "many"),
        ("PEERLINE_COOKIE_SECURE", "perhaps"),
    ]:
        with pytest.raises(ConfigError, match=name):
            Settings.from_environ({name: value})
    bad = tmp_path / "p.toml"
    bad.write_text("name = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Settings.from_environ({"PEERLINE_CONFIG": str(bad)})
    with pytest.raises(ConfigError, match="cannot read"):
        Settings.from_environ({"PEERLINE_CONFIG": str(tmp_path / "missing.toml")})


def test_login_limit_settings() -> None:
    s = Settings.from_environ({})
    assert (s.logins_per_address_per_minute, s.login_failures_per_address) == (30, 5)
    s = Settings.from_environ(
        {
            "PEERLINE_LOGINS_PER_ADDRESS_PER_MINUTE": "10000",
            "PEERLINE_LOGIN_FAILURES_PER_ADDRESS": "3",
        }
    )
    assert (s.logins_per_address_per_minute, s.login_failures_per_address) == (10_000, 3)
    for name in ("PEERLINE_LOGINS_PER_ADDRESS_PER_MINUTE", "PEERLINE_LOGIN_FAILURES_PER_ADDRESS"):
        for value in ("0", "lots"):
            with pytest.raises(ConfigError, match=name):
                Settings.from_environ({name: value})
