"""`peerline staff ...`: staff accounts from the command line (the program admin's tool).

Accounts live in Redis: run these with the servers' environment (PEERLINE_REDIS_URL,
PEERLINE_REDIS_PREFIX and PEERLINE_DATA_KEYS: the TOTP secret is sealed with the data key),
or, without PEERLINE_REDIS_URL, with the same PEERLINE_DATA_DIR as `peerline serve`: the
command then uses the running serve's embedded Redis, or starts it for its own duration
(server/store/embedded.py). A first password and a TOTP secret are printed once and stored
only as an argon2id hash and a sealed secret.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections.abc import Mapping
from typing import TextIO

from redis.asyncio import Redis

from server.config import ConfigError, Settings
from server.core.events import Close, to_json
from server.core.identity import new_id
from server.core.people import default_display_name, new_password, parse_roles, password_problem
from server.core.totp import new_secret, otpauth_uri
from server.crypto import KeyRing, KeyRingError
from server.services.passwords import Passwords
from server.store import StoreUnavailable, embedded
from server.store.accounts import Account, StaffStore, UsernameTaken
from server.store.keys import KeySpace

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAX_NAME_CHARS = 60


class CommandError(Exception):
    """A refusal with a message for the person at the terminal; nothing was changed."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    staff = sub.add_parser("staff", help="staff accounts (the servers' Redis or data folder)")
    cmds = staff.add_subparsers(dest="staff_command", required=True)
    add = cmds.add_parser("add", help="create an account; prints its password and TOTP secret")
    add.add_argument("username")
    add.add_argument("--role", action="append", required=True, help="repeat for several roles")
    add.add_argument("--name", help='display name shown to others (default e.g. "Supporter 7")')
    add.add_argument("--json", action="store_true", help="print one JSON object")
    add.add_argument("--password-stdin", action="store_true", help="read the password")
    listing = cmds.add_parser("list", help="list accounts (no secrets)")
    listing.add_argument("--json", action="store_true")
    for name, text in (
        ("disable", "disable an account and close its sessions and sockets"),
        ("enable", "enable a disabled account"),
    ):
        cmds.add_parser(name, help=text).add_argument("username")
    reset = cmds.add_parser("reset-password", help="new password; ends the account's sessions")
    reset.add_argument("username")
    reset.add_argument("--json", action="store_true")
    reset.add_argument("--password-stdin", action="store_true")
    totp = cmds.add_parser("reset-totp", help="new TOTP secret; ends the account's sessions")
    totp.add_argument("username")
    totp.add_argument("--json", action="store_true")


def run(args: argparse.Namespace, env: Mapping[str, str], stdin: TextIO, out: TextIO) -> int:
    try:
        settings = Settings.from_environ(env)
        where = "PEERLINE_REDIS_URL" if settings.redis_url else "the embedded Redis"
        with embedded.attached(settings) as settings:
            assert settings.redis_url is not None  # attached() always gives one
            keys = KeyRing.parse(settings.data_keys or "")
            return asyncio.run(
                _run(args, settings.redis_url, settings.redis_prefix, keys, stdin, out)
            )
    except (CommandError, ConfigError, KeyRingError, embedded.EmbeddedError) as exc:
        print(f"peerline: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable:
        print(f"peerline: Redis does not answer at {where}", file=sys.stderr)
        return 2


async def _run(
    args: argparse.Namespace, url: str, prefix: str, keys: KeyRing, stdin: TextIO, out: TextIO
) -> int:
    redis = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        admin = _Admin(StaffStore(redis, prefix), redis, prefix, keys, stdin, out)
        command = args.staff_command.replace("-", "_")
        await getattr(admin, command)(args)
        return 0
    finally:
        await redis.aclose()


class _Admin:
    def __init__(
        self,
        staff: StaffStore,
        redis: Redis,
        prefix: str,
        keys: KeyRing,
        stdin: TextIO,
        out: TextIO,
    ) -> None:
        self.staff = staff
        self.redis = redis
        self.prefix = prefix
        self.keys = keys
        self.stdin = stdin
        self.out = out
        self.passwords = Passwords()

    async def add(self, args: argparse.Namespace) -> None:
        username = args.username
        if not USERNAME_PATTERN.match(username):
            raise CommandError(f"a username matches {USERNAME_PATTERN.pattern}")
        try:
            roles = parse_roles(args.role)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        name = (args.name or default_display_name(roles)).strip()
        if not name or len(name) > MAX_NAME_CHARS:
            raise CommandError(f"a display name has 1 to {MAX_NAME_CHARS} characters")
        password = self._password(args, username)
        secret = new_secret()
        uid = new_id()
        key_id, blob = self.keys.seal(secret.encode(), "totp", uid)
        account = Account(
            uid=uid,
            username=username,
            name=name,
            roles=roles,
            password_hash=self.passwords.hash_now(password),
            totp_key_id=key_id,
            totp_blob=blob,
            created_ms=int(time.time() * 1000),
        )
        try:
            await self.staff.add(account)
        except UsernameTaken:
            raise CommandError(f"the username {username!r} is taken") from None
        self._print_secrets(args, username, password, secret, name=name, roles=roles)

    async def list(self, args: argparse.Namespace) -> None:
        rows = [
            {
                "username": a.username,
                "name": a.name,
                "roles": list(a.roles),
                "disabled": a.disabled,
            }
            for a in await self.staff.all()
        ]
        if args.json:
            print(json.dumps(rows), file=self.out)
            return
        for row in rows:
            state = "disabled" if row["disabled"] else "active"
            roles = ",".join(row["roles"])  # type: ignore[arg-type]
            print(f"{row['username']}\t{row['name']}\t{roles}\t{state}", file=self.out)

    async def disable(self, args: argparse.Namespace) -> None:
        account = await self._account(args.username)
        await self.staff.save(account.with_(disabled=True))
        await self._end_sessions(account)
        print(f"disabled {account.username}; its sessions are closed", file=self.out)

    async def enable(self, args: argparse.Namespace) -> None:
        account = await self._account(args.username)
        await self.staff.save(account.with_(disabled=False))
        print(f"enabled {account.username}", file=self.out)

    async def reset_password(self, args: argparse.Namespace) -> None:
        account = await self._account(args.username)
        password = self._password(args, account.username)
        await self.staff.save(account.with_(password_hash=self.passwords.hash_now(password)))
        await self._end_sessions(account)
        if args.json:
            print(json.dumps({"username": account.username, "password": password}), file=self.out)
        elif not args.password_stdin:
            print(f"new password for {account.username}: {password}", file=self.out)
        else:
            print(f"password of {account.username} changed", file=self.out)

    async def reset_totp(self, args: argparse.Namespace) -> None:
        account = await self._account(args.username)
        secret = new_secret()
        key_id, blob = self.keys.seal(secret.encode(), "totp", account.uid)
        await self.staff.reset_totp(account.with_(totp_key_id=key_id, totp_blob=blob))
        await self._end_sessions(account)
        uri = otpauth_uri(secret, account.username)
        if args.json:
            body = {"username": account.username, "totp_secret": secret, "otpauth_uri": uri}
            print(json.dumps(body), file=self.out)
        else:
            print(f"TOTP secret: {secret}\n{uri}", file=self.out)

    # ---- helpers --------------------------------------------------------------------------

    async def _account(self, username: str) -> Account:
        account = await self.staff.by_username(username)
        if account is None:
            raise CommandError(f"no account named {username!r}")
        return account

    def _password(self, args: argparse.Namespace, username: str) -> str:
        if not args.password_stdin:
            return new_password()
        password = self.stdin.readline().rstrip("\n")
        problem = password_problem(password, username)
        if problem is not None:
            raise CommandError(problem)
        return password

    async def _end_sessions(self, account: Account) -> None:
        await self.staff.delete_sessions_of(account.uid)
        # Every server process closes this person's sockets (PROTOCOL.md: within a second).
        event = json.dumps(to_json(Close(who=account.uid)))
        await self.redis.publish(KeySpace(self.prefix).control, event)

    def _print_secrets(
        self,
        args: argparse.Namespace,
        username: str,
        password: str,
        secret: str,
        *,
        name: str,
        roles: tuple[str, ...],
    ) -> None:
        uri = otpauth_uri(secret, username)
        if args.json:
            body = {
                "username": username,
                "password": password,
                "totp_secret": secret,
                "otpauth_uri": uri,
            }
            print(json.dumps(body), file=self.out)
            return
        shown = "(as typed)" if args.password_stdin else password
        print(
            f"created {username} ({name}; {', '.join(roles)})\n"
            f"password: {shown}\n"
            f"TOTP secret: {secret}\n"
            f"{uri}\n"
            "Give these to the person over a safe channel; they are not shown again.",
            file=self.out,
        )
