"""`peerline staff ...` against real Redis: every command, every refusal, nothing changed
by a refusal."""

from __future__ import annotations

import json
import subprocess
import sys

import pyotp
import pytest

from tests.integration.conftest import redis_env
from tests.support import ROOT, RedisServer, http_json, start_server

pytestmark = pytest.mark.integration


def staff(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", "staff", *args],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_staff_commands_end_to_end(redis_server: RedisServer) -> None:
    env = redis_env(redis_server)
    added = staff(env, "add", "sam", "--role", "supporter", "--role", "facilitator", "--json")
    assert added.returncode == 0, added.stderr
    first = json.loads(added.stdout)
    assert set(first) == {"username", "password", "totp_secret", "otpauth_uri"}
    assert len(first["password"]) >= 15 and len(first["totp_secret"]) == 32
    assert first["otpauth_uri"].startswith("otpauth://totp/Peerline:sam?")

    # Refusals say why, exit 2, and change nothing.
    for args, stdin, why in (
        (("add", "sam", "--role", "supporter"), "", "taken"),
        (("add", "Bad Name", "--role", "supporter"), "", "username"),
        (("add", "ann", "--role", "police"), "", "unknown role"),
        (("add", "ann", "--role", "admin", "--password-stdin"), "password123\n", "15"),
        (("add", "ann", "--role", "admin", "--password-stdin"), "passwordpassword\n", "common"),
        (("disable", "nobody"), "", "no account"),
    ):
        refused = staff(env, *args, stdin=stdin)
        assert refused.returncode == 2 and why in refused.stderr, refused.stderr
    listed = json.loads(staff(env, "list", "--json").stdout)
    assert listed == [
        {
            "username": "sam",
            "name": listed[0]["name"],
            "roles": ["supporter", "facilitator"],
            "disabled": False,
        }
    ]
    assert listed[0]["name"].startswith("Supporter ")
    assert first["password"] not in staff(env, "list").stdout

    server = start_server(env)
    try:
        base = server.base

        def login(password: str, secret: str) -> int:
            body = {"username": "sam", "password": password, "totp": pyotp.TOTP(secret).now()}
            return http_json("POST", f"{base}/api/staff/login", body, {"origin": base})[0]

        chosen = "a long chosen passphrase of ours"
        reset = staff(env, "reset-password", "sam", "--password-stdin", stdin=chosen + "\n")
        assert reset.returncode == 0 and chosen not in reset.stdout
        totp = json.loads(staff(env, "reset-totp", "sam", "--json").stdout)
        assert totp["totp_secret"] != first["totp_secret"]
        assert login(first["password"], totp["totp_secret"]) == 401  # old password
        assert login(chosen, first["totp_secret"]) == 401  # old secret
        assert login(chosen, totp["totp_secret"]) == 200
        assert staff(env, "disable", "sam").returncode == 0
        assert json.loads(staff(env, "list", "--json").stdout)[0]["disabled"] is True
        assert staff(env, "enable", "sam").returncode == 0
    finally:
        server.stop()
