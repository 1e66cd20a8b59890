"""The `[[escalation.page]]` tables of the program file: where an alert goes when no console
takes it (issue 13, docs/paging.md). Parsed here, below server/config.py, which keeps the
settings; nothing here reads the environment (config.py checks the secrets are set)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal


class ConfigError(ValueError):
    """A setting or the program file is invalid; the message names which."""


# ---- out-of-band paging (issue 13): where an alert goes when no console takes it -------------

ENV_NAME_PATTERN = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
# An address for the SMTP envelope and headers: no spaces, no line breaks (header injection).
EMAIL_PATTERN = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+$")


@dataclass(frozen=True, slots=True)
class WebhookPage:
    """A signed JSON POST (docs/paging.md); the HMAC key is read from `secret_env`."""

    url: str
    secret_env: str
    kind: Literal["webhook"] = "webhook"


@dataclass(frozen=True, slots=True)
class EmailPage:
    smtp_host: str
    smtp_port: int
    sender: str
    to: tuple[str, ...]
    starttls: bool = True
    username: str = ""
    password_env: str = ""
    kind: Literal["email"] = "email"


PageTarget = WebhookPage | EmailPage


def parse_pages(value: object, where: str) -> tuple[PageTarget, ...]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{where}: [[escalation.page]] must be a list of tables")
    return tuple(_page(t, f"{where}: escalation.page[{i}]") for i, t in enumerate(value))


def _page(table: Mapping[str, object], ctx: str) -> PageTarget:
    def text(key: str, default: str | None = None) -> str:
        value = table.get(key, default)
        if not isinstance(value, str) or (default is None and not value.strip()):
            raise ConfigError(f"{ctx}.{key} must be a non-empty string")
        return value

    def env_name(key: str, required: bool) -> str:
        value = text(key, None if required else "")
        if value and not ENV_NAME_PATTERN.match(value):
            raise ConfigError(f"{ctx}.{key} must name an environment variable (A-Z, 0-9, _)")
        return value

    def address(value: object, key: str) -> str:
        if not isinstance(value, str) or not EMAIL_PATTERN.match(value):
            raise ConfigError(f"{ctx}.{key} must be an email address, got {value!r}")
        return value

    kind = table.get("kind")
    if kind == "webhook":
        url = text("url")
        if not re.match(r"^https?://[^\s/?#]+", url):
            raise ConfigError(f"{ctx}.url must be an http(s) URL")
        return WebhookPage(url=url, secret_env=env_name("secret_env", True))
    if kind == "email":
        port = table.get("smtp_port", 587)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigError(f"{ctx}.smtp_port must be a whole number from 1 to 65535")
        to = table.get("to")
        if not isinstance(to, list) or not to:
            raise ConfigError(f"{ctx}.to must be a non-empty list of email addresses")
        starttls = table.get("starttls", True)
        if not isinstance(starttls, bool):
            raise ConfigError(f"{ctx}.starttls must be true or false")
        username, password_env = text("username", ""), env_name("password_env", False)
        if bool(username) != bool(password_env):
            raise ConfigError(f"{ctx}: username and password_env go together")
        return EmailPage(
            smtp_host=text("smtp_host"),
            smtp_port=port,
            sender=address(table.get("from"), "from"),
            to=tuple(address(a, "to") for a in to),
            starttls=starttls,
            username=username,
            password_env=password_env,
        )
    raise ConfigError(f'{ctx}.kind must be "webhook" or "email"')
