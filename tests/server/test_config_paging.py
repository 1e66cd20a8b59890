"""server/config.py, issue 13: the paging keys of [escalation] and PEERLINE_PUBLIC_URL. Every
bad value stops the start with a message naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import ConfigError, EmailPage, Settings, WebhookPage, parse_program
from tests.server.test_config import with_

WEBHOOK = {"kind": "webhook", "url": "https://pager.example.org/hook", "secret_env": "PAGE_KEY"}
EMAIL = {
    "kind": "email",
    "smtp_host": "smtp.example.org",
    "smtp_port": 587,
    "from": "peerline@example.org",
    "to": ["oncall@example.org"],
}


def escalation(**table: object) -> dict[str, object]:
    return with_(escalation={"ack_seconds": 60, **table})


def test_defaults_page_nobody_after_two_minutes_and_watch_ten_minutes_of_silence() -> None:
    program = parse_program(escalation())
    assert (program.page_after_seconds, program.silence_minutes, program.pages) == (120, 10, ())


def test_webhook_and_email_targets_are_read_in_order() -> None:
    program = parse_program(
        escalation(
            page_after_seconds=30,
            silence_minutes=0.5,
            page=[
                WEBHOOK,
                {**EMAIL, "starttls": False, "username": "u", "password_env": "SMTP_PASS"},
            ],
        )
    )
    assert program.page_after_seconds == 30 and program.silence_minutes == 0.5
    assert program.pages == (
        WebhookPage(url="https://pager.example.org/hook", secret_env="PAGE_KEY"),
        EmailPage(
            smtp_host="smtp.example.org",
            smtp_port=587,
            sender="peerline@example.org",
            to=("oncall@example.org",),
            starttls=False,
            username="u",
            password_env="SMTP_PASS",
        ),
    )
    # STARTTLS unless the file says otherwise: a page crosses the internet.
    assert parse_program(escalation(page=[EMAIL])).pages[0] == EmailPage(
        "smtp.example.org", 587, "peerline@example.org", ("oncall@example.org",)
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"page_after_seconds": 0}, "escalation.page_after_seconds must be a positive"),
        ({"page_after_seconds": "120"}, "escalation.page_after_seconds must be a positive"),
        ({"page_after_seconds": True}, "escalation.page_after_seconds must be a positive"),
        ({"silence_minutes": 0}, "escalation.silence_minutes must be a number above 0"),
        ({"silence_minutes": -1.5}, "escalation.silence_minutes must be a number above 0"),
        ({"silence_minutes": float("nan")}, "escalation.silence_minutes must be a number"),
        ({"silence_minutes": float("inf")}, "escalation.silence_minutes must be a number"),
        ({"silence_minutes": "10"}, "escalation.silence_minutes must be a number"),
        ({"page": {"kind": "webhook"}}, r"\[\[escalation.page\]\] must be a list of tables"),
        ({"page": ["https://x"]}, r"\[\[escalation.page\]\] must be a list of tables"),
        ({"page": [{"kind": "sms"}]}, r'escalation.page\[0\].kind must be "webhook" or "email"'),
        ({"page": [{**WEBHOOK, "url": ""}]}, r"page\[0\].url must be a non-empty string"),
        ({"page": [{**WEBHOOK, "url": "ftp://x"}]}, r"page\[0\].url must be an http\(s\) URL"),
        ({"page": [{**WEBHOOK, "url": "https://"}]}, r"page\[0\].url must be an http\(s\) URL"),
        ({"page": [{k: v for k, v in WEBHOOK.items() if k != "secret_env"}]}, "secret_env must"),
        ({"page": [{**WEBHOOK, "secret_env": "lower case"}]}, "secret_env must name an env"),
        ({"page": [{**EMAIL, "smtp_host": ""}]}, r"page\[0\].smtp_host must be a non-empty"),
        ({"page": [{**EMAIL, "smtp_port": 0}]}, "smtp_port must be a whole number from 1"),
        ({"page": [{**EMAIL, "smtp_port": 70000}]}, "smtp_port must be a whole number from 1"),
        ({"page": [{**EMAIL, "smtp_port": "587"}]}, "smtp_port must be a whole number from 1"),
        ({"page": [{**EMAIL, "from": "nobody"}]}, r"page\[0\].from must be an email address"),
        ({"page": [{**EMAIL, "to": []}]}, r"page\[0\].to must be a non-empty list"),
        ({"page": [{**EMAIL, "to": "a@b.org"}]}, r"page\[0\].to must be a non-empty list"),
        (
            {"page": [{**EMAIL, "to": ["a@b.org\r\nBcc: x@y.org"]}]},
            r"page\[0\].to must be an email address",
        ),
        ({"page": [{**EMAIL, "starttls": "yes"}]}, "starttls must be true or false"),
        ({"page": [{**EMAIL, "username": "u"}]}, "username and password_env go together"),
        ({"page": [{**EMAIL, "password_env": "P"}]}, "username and password_env go together"),
        ({"page": [WEBHOOK, {"kind": "pager"}]}, r"escalation.page\[1\].kind"),
    ],
)
def test_bad_paging_values_fail_with_a_message_naming_the_key(
    table: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_program(escalation(**table))


def program_file(tmp_path: Path, pages: str) -> str:
    path = tmp_path / "program.toml"
    path.write_text(
        'name = "Harbor"\n[consent]\nversion = "1"\ntext = "t"\n'
        '[[resources]]\nname = "988"\ncontact = "988"\n'
        "[escalation]\nack_seconds = 60\n" + pages
    )
    return str(path)


def test_the_secrets_come_from_the_environment_and_must_be_set(tmp_path: Path) -> None:
    path = program_file(
        tmp_path,
        '[[escalation.page]]\nkind = "webhook"\nurl = "https://x.example/h"\n'
        'secret_env = "HOOK_KEY"\n'
        '[[escalation.page]]\nkind = "email"\nsmtp_host = "m.example"\nfrom = "a@x.example"\n'
        'to = ["b@x.example"]\nusername = "peerline"\npassword_env = "MAIL_PASS"\n',
    )
    env = {"PEERLINE_CONFIG": path, "HOOK_KEY": "k1", "MAIL_PASS": "p1"}
    settings = Settings.from_environ(env)
    assert dict(settings.page_secrets) == {"HOOK_KEY": "k1", "MAIL_PASS": "p1"}
    assert "k1" not in repr(settings) and "p1" not in repr(settings)
    with pytest.raises(ConfigError, match=r"escalation.page\[0\]: .*HOOK_KEY is not set"):
        Settings.from_environ({**env, "HOOK_KEY": ""})
    with pytest.raises(ConfigError, match=r"escalation.page\[1\]: .*MAIL_PASS is not set"):
        Settings.from_environ({k: v for k, v in env.items() if k != "MAIL_PASS"})


def test_public_url_defaults_to_the_local_server_and_must_be_http() -> None:
    assert Settings.from_environ({}).public_url == "http://127.0.0.1:8000"
    url = Settings.from_environ({"PEERLINE_PUBLIC_URL": "https://chat.example.org/"}).public_url
    assert url == "https://chat.example.org"
    for bad in ("chat.example.org", "javascript:alert(1)", "https://", "https://a b"):
        with pytest.raises(ConfigError, match="PEERLINE_PUBLIC_URL must be an http"):
            Settings.from_environ({"PEERLINE_PUBLIC_URL": bad})
