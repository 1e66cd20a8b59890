"""Settings from the environment and the program file, read and validated once.

Only `server/__main__.py` calls these loaders, for `serve` and for the staff and audit
commands; no other module reads `os.environ`.
A bad value fails at start with a message that names the variable, never later.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Literal

from server.config_pages import ConfigError, EmailPage, PageTarget, WebhookPage, parse_pages

# Re-exported: the rest of the server names these from here.
__all__ = ["ConfigError", "EmailPage", "PageTarget", "WebhookPage"]

# Room ids appear in Redis keys and URLs, so they are kept to a small, safe alphabet.
ROOM_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
SECONDS_PER_DAY = 86_400


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Resource:
    name: str
    contact: str
    note: str
    # The language of this line's staff and its words ("en", "es"); "" for any language (an
    # emergency number). A crisis notice carries the lines in its reader's language.
    lang: str = ""
    # An https:// page where the line also answers by web chat; "" when it has none.
    chat: str = ""


# A language subtag as in BCP 47, lower case ("en", "es", "haw"): enough to match a message's
# language, and safe to put in a page's lang attribute.
RESOURCE_LANG_PATTERN = re.compile(r"^[a-z]{2,3}$")
RESOURCE_CHAT_PATTERN = re.compile(r"^https://[^\s/?#@]+\.[^\s/?#@]+(/\S*)?$")


def _resource(r: Mapping[str, object], i: int, where: str) -> Resource:
    ctx = f"{where}: resources[{i}]."
    values: dict[str, str] = {}
    for key in ("name", "contact"):
        value = r.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{ctx}{key} must be a non-empty string")
        values[key] = value
    lang = r.get("lang", "")
    if not isinstance(lang, str) or not (lang == "" or RESOURCE_LANG_PATTERN.match(lang)):
        raise ConfigError(f'{ctx}lang must be a lower-case language code such as "en" or "es"')
    chat = r.get("chat", "")
    if not isinstance(chat, str) or not (chat == "" or RESOURCE_CHAT_PATTERN.match(chat)):
        raise ConfigError(f"{ctx}chat must be an https:// address")
    return Resource(values["name"], values["contact"], str(r.get("note", "")), lang, chat)


@dataclass(frozen=True, slots=True)
class Room:
    id: str
    name: str
    description: str
    access: Literal["open", "invite"]
    # SHA-256 digests of the invite codes; plaintext codes never stay in memory past loading.
    invite_digests: tuple[bytes, ...] = ()

    def accepts_invite(self, code: str) -> bool:
        digest = hashlib.sha256(code.encode()).digest()
        # Compare against every digest so timing does not reveal which one matched.
        matched = False
        for candidate in self.invite_digests:
            matched |= hmac.compare_digest(candidate, digest)
        return matched


@dataclass(frozen=True, slots=True)
class Canned:
    title: str
    text: str


DEFAULT_TOPICS = ("cravings", "relapse", "stress", "family", "housing or work", "other")
DEFAULT_OUTCOMES = ("listened and supported", "shared resources", "crisis line given", "other")


@dataclass(frozen=True, slots=True)
class Program:
    name: str
    consent_version: str
    consent_text: str
    resources: tuple[Resource, ...]
    rooms: tuple[Room, ...]
    ack_seconds: int
    quick_exit_url: str
    canned: tuple[Canned, ...] = ()
    wrapup_topics: tuple[str, ...] = DEFAULT_TOPICS
    wrapup_outcomes: tuple[str, ...] = DEFAULT_OUTCOMES
    # Issue 13: an urgent alert nobody took this long after it was raised is paged out of
    # band; a flagged person silent this long raises a "silence" alert.
    page_after_seconds: int = 120
    silence_minutes: float = 10.0  # fractions allowed (tests use seconds' worth)
    pages: tuple[PageTarget, ...] = ()

    def room(self, room_id: str) -> Room | None:
        for room in self.rooms:
            if room.id == room_id:
                return room
        return None


@dataclass(frozen=True, slots=True)
class Settings:
    redis_url: str | None
    data_keys: str | None
    allowed_origins: tuple[str, ...]
    config_path: str | None
    retention_seconds: float
    rate_per_minute: float
    rate_burst: int
    ping_seconds: float
    cookie_secure: bool
    purge_seconds: float
    sessions_per_address_per_hour: int
    metrics_token: str | None
    redis_prefix: str
    program: Program = field(repr=False)
    # Reverse proxies whose X-Forwarded-For is believed (addresses and CIDRs); none by default.
    trusted_proxies: tuple[IPNetwork, ...] = ()
    # Seconds a request has to arrive whole, headers and body (server/cli/deadline.py).
    read_deadline_seconds: float = 10.0
    # WebSocket upgrades from one client address in a minute, across processes.
    upgrades_per_address_per_minute: int = 120
    # Invite codes one session, and one address, may try in a minute (each is counted).
    invite_attempts_per_minute: int = 10
    # Staff login attempts from one client address in a minute, any username (issue 11).
    logins_per_address_per_minute: int = 30
    # Failed logins of one username from one address before its back-off (A2, issue 11).
    login_failures_per_address: int = 5
    # Without PEERLINE_REDIS_URL: the embedded Redis's folder (server/store/embedded.py).
    data_dir: str = "peerline-data"
    log_level: str = "INFO"
    # Where staff reach this server from outside: pages link to `<public_url>/console`.
    public_url: str = "http://127.0.0.1:8000"
    # The paging secrets named by the program file (env variable name -> value).
    page_secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> Settings:
        config_path = env.get("PEERLINE_CONFIG") or None
        program = load_program(config_path)
        origins = tuple(
            o.strip().rstrip("/") for o in env.get("PEERLINE_ALLOWED_ORIGINS", "").split(",")
        )
        return cls(
            redis_url=env.get("PEERLINE_REDIS_URL") or None,
            data_keys=env.get("PEERLINE_DATA_KEYS") or None,
            allowed_origins=tuple(o for o in origins if o),
            config_path=config_path,
            retention_seconds=_positive(env, "PEERLINE_RETENTION_DAYS", 30.0) * SECONDS_PER_DAY,
            rate_per_minute=_positive(env, "PEERLINE_RATE_PER_MINUTE", 100.0),
            rate_burst=_whole(env, "PEERLINE_RATE_BURST", 10),
            ping_seconds=_positive(env, "PEERLINE_PING_SECONDS", 20.0),
            cookie_secure=_boolean(env, "PEERLINE_COOKIE_SECURE", True),
            # Hourly keeps trimmed content at most an hour past its retention deadline.
            purge_seconds=_positive(env, "PEERLINE_PURGE_SECONDS", 3600.0),
            # P1/W6: enough for a shared clinic Wi-Fi, not for a script minting identities.
            sessions_per_address_per_hour=_whole(env, "PEERLINE_SESSIONS_PER_ADDRESS_PER_HOUR", 30),
            metrics_token=env.get("PEERLINE_METRICS_TOKEN") or None,
            redis_prefix=env.get("PEERLINE_REDIS_PREFIX", "pl:"),
            program=program,
            trusted_proxies=_networks(env, "PEERLINE_TRUSTED_PROXIES"),
            read_deadline_seconds=_positive(env, "PEERLINE_READ_DEADLINE_SECONDS", 10.0),
            # A clinic's Wi-Fi with 40 phones reconnecting at once after an outage (3 tabs
            # at most each) stays below 120; a script opening sockets in a loop does not.
            upgrades_per_address_per_minute=_whole(
                env, "PEERLINE_UPGRADES_PER_ADDRESS_PER_MINUTE", 120
            ),
            # A person typing a code from a flyer gets it right in a few tries; 4,700
            # guesses a second once came from one address.
            invite_attempts_per_minute=_whole(env, "PEERLINE_INVITE_ATTEMPTS_PER_MINUTE", 10),
            # A clinic's staff behind one NAT at a shift change make a few logins a minute
            # (30 at once pass); 200 bogus logins from one address are mostly refused before
            # any hashing.
            logins_per_address_per_minute=_whole(env, "PEERLINE_LOGINS_PER_ADDRESS_PER_MINUTE", 30),
            # A2: five free tries per name and address, then 1 s, 2 s, 4 s ... up to 15 min.
            login_failures_per_address=_whole(env, "PEERLINE_LOGIN_FAILURES_PER_ADDRESS", 5),
            data_dir=env.get("PEERLINE_DATA_DIR") or "peerline-data",
            log_level=_log_level(env),
            public_url=_public_url(env),
            page_secrets=_page_secrets(env, program),
        )


def _public_url(env: Mapping[str, str]) -> str:
    raw = env.get("PEERLINE_PUBLIC_URL") or "http://127.0.0.1:8000"
    if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", raw):
        raise ConfigError(f"PEERLINE_PUBLIC_URL must be an http(s) URL, got {raw!r}")
    return raw.rstrip("/")


def _page_secrets(env: Mapping[str, str], program: Program) -> dict[str, str]:
    """Each secret a page target names must be set: a page that cannot sign or log in would
    fail at 3 a.m., so it fails at start instead."""
    found = {}
    for i, target in enumerate(program.pages):
        name = target.secret_env if isinstance(target, WebhookPage) else target.password_env
        if not name:
            continue
        value = env.get(name, "")
        if not value:
            raise ConfigError(f"escalation.page[{i}]: the environment variable {name} is not set")
        found[name] = value
    return found


def _log_level(env: Mapping[str, str]) -> str:
    level = env.get("PEERLINE_LOG_LEVEL", "INFO").upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError("PEERLINE_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
    return level


def _networks(env: Mapping[str, str], name: str) -> tuple[IPNetwork, ...]:
    networks = []
    for item in env.get(name, "").split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise ConfigError(f"{name}: {item.strip()!r} is not an address or CIDR") from None
    return tuple(networks)


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not value > 0:
        raise ConfigError(f"{name} must be greater than zero, got {raw!r}")
    return value


def _whole(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, got {raw!r}")
    return value


def _boolean(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def load_program(path: str | None) -> Program:
    if path is None:
        text = importlib_resources.files("server").joinpath("demo_program.toml").read_text("utf-8")
        where = "built-in demo program"
    else:
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise ConfigError(f"PEERLINE_CONFIG: cannot read {path}: {exc.strerror}") from None
        where = path
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    return parse_program(data, where)


def parse_program(data: Mapping[str, object], where: str = "program file") -> Program:
    def need_str(table: Mapping[str, object], key: str, ctx: str) -> str:
        value = table.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: {ctx}{key} must be a non-empty string")
        return value

    def need_table(key: str) -> Mapping[str, object]:
        value = data.get(key)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: [{key}] is required")
        return value

    def tables(key: str) -> list[Mapping[str, object]]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ConfigError(f"{where}: [[{key}]] must be a list of tables")
        return value

    consent = need_table("consent")
    resources = tuple(_resource(r, i, where) for i, r in enumerate(tables("resources")))
    if not resources:
        # A participant must always be one tap from a crisis line.
        raise ConfigError(f"{where}: at least one [[resources]] entry is required")

    rooms: list[Room] = []
    for i, r in enumerate(tables("rooms")):
        ctx = f"rooms[{i}]."
        room_id = need_str(r, "id", ctx)
        if room_id.startswith("dm-"):
            raise ConfigError(f"{where}: {ctx}id {room_id!r}: ids starting dm- are direct rooms")
        if not ROOM_ID_PATTERN.match(room_id):
            raise ConfigError(f"{where}: {ctx}id {room_id!r} must match {ROOM_ID_PATTERN.pattern}")
        if any(existing.id == room_id for existing in rooms):
            raise ConfigError(f"{where}: room id {room_id!r} appears twice")
        access = r.get("access", "open")
        if access not in ("open", "invite"):
            raise ConfigError(f'{where}: {ctx}access must be "open" or "invite"')
        codes = r.get("invite_codes", [])
        if not isinstance(codes, list) or not all(isinstance(c, str) and c for c in codes):
            raise ConfigError(f"{where}: {ctx}invite_codes must be a list of strings")
        if access == "invite" and not codes:
            raise ConfigError(f"{where}: {ctx}an invite-only room needs invite_codes")
        rooms.append(
            Room(
                id=room_id,
                name=need_str(r, "name", ctx),
                description=str(r.get("description", "")),
                access="invite" if access == "invite" else "open",
                invite_digests=tuple(_invite_digest(c, where) for c in codes),
            )
        )

    escalation = data.get("escalation", {})
    if not isinstance(escalation, dict):
        raise ConfigError(f"{where}: [escalation] must be a table")
    ack_seconds = escalation.get("ack_seconds", 60)
    if not isinstance(ack_seconds, int) or ack_seconds <= 0:
        raise ConfigError(f"{where}: escalation.ack_seconds must be a positive whole number")

    page_after = _positive_int(escalation, "page_after_seconds", 120, where)
    silence = escalation.get("silence_minutes", 10)
    if (
        isinstance(silence, bool)
        or not isinstance(silence, int | float)
        or not 0 < silence <= 10_080
    ):
        raise ConfigError(
            f"{where}: escalation.silence_minutes must be a number above 0, at most a week"
        )
    pages = parse_pages(escalation.get("page", []), where)

    quick_exit = data.get("quick_exit_url", "https://www.weather.gov/")
    if not isinstance(quick_exit, str) or not quick_exit.startswith(("https://", "http://")):
        raise ConfigError(f"{where}: quick_exit_url must be an http(s) URL")

    canned = tuple(
        Canned(need_str(c, "title", f"canned[{i}]."), need_str(c, "text", f"canned[{i}]."))
        for i, c in enumerate(tables("canned"))
    )
    wrapup = data.get("wrapup", {})
    if not isinstance(wrapup, dict):
        raise ConfigError(f"{where}: [wrapup] must be a table")

    def choices(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = wrapup.get(key, list(default))
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and v.strip() and len(v) <= 200 for v in value)
        ):
            raise ConfigError(f"{where}: wrapup.{key} must be a list of short non-empty strings")
        return tuple(value)

    return Program(
        canned=canned,
        wrapup_topics=choices("topics", DEFAULT_TOPICS),
        wrapup_outcomes=choices("outcomes", DEFAULT_OUTCOMES),
        name=need_str(data, "name", ""),
        consent_version=need_str(consent, "version", "consent."),
        consent_text=need_str(consent, "text", "consent."),
        resources=resources,
        rooms=tuple(rooms),
        ack_seconds=ack_seconds,
        quick_exit_url=quick_exit,
        page_after_seconds=page_after,
        silence_minutes=float(silence),
        pages=pages,
    )


def _positive_int(table: Mapping[str, object], key: str, default: int, where: str) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{where}: escalation.{key} must be a positive whole number")
    return value


def _invite_digest(code: str, where: str) -> bytes:
    if code.startswith("sha256:"):
        try:
            digest = bytes.fromhex(code.removeprefix("sha256:"))
        except ValueError:
            digest = b""
        if len(digest) != 32:
            raise ConfigError(f"{where}: invite code {code[:12]}... is not a SHA-256 hex digest")
        return digest
    return hashlib.sha256(code.encode()).digest()
