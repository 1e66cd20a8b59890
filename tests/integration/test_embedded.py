"""`peerline serve` with no PEERLINE_REDIS_URL, as real processes: its own redis-server in
PEERLINE_DATA_DIR, the whole product (console, queue, alerts, review) with one command,
data kept across restarts, one serve per folder, no Redis left behind by a killed serve,
and the staff and audit commands on the same folder."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import redis

from tests.client import Participant
from tests.support import (
    ROOT,
    ServerProcess,
    StaffCredentials,
    free_port,
    http_json,
    lock_is_free,
    new_participant,
    staff_login,
    start_server,
)

pytestmark = pytest.mark.integration


def serve(folder: Path) -> ServerProcess:
    return start_server({"PEERLINE_DATA_DIR": str(folder)})


def peerline(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEERLINE_")}
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=ROOT,
        env={**env, "PEERLINE_DATA_DIR": str(folder)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def redis_children(pid: int) -> list[int]:
    """The redis-server processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_line = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat_line[stat_line.index("(") + 1 : stat_line.rindex(")")]
        parent = int(stat_line[stat_line.rindex(")") + 2 :].split()[1])
        if parent == pid and name.startswith("redis-server"):
            found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


def add_staff(folder: Path, username: str, *roles: str) -> StaffCredentials:
    flags = [arg for role in roles for arg in ("--role", role)]
    added = peerline(folder, "staff", "add", username, *flags, "--json")
    assert added.returncode == 0, added.stderr
    body = json.loads(added.stdout)
    return StaffCredentials(username, body["password"], body["totp_secret"], "")


async def test_one_command_runs_the_whole_product_on_its_own_redis(tmp_path: Path) -> None:
    folder = tmp_path / "data"  # not there yet: serve makes it
    server = serve(folder)
    try:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_ISSOCK((folder / "redis.sock").stat().st_mode)
        assert stat.S_IMODE((folder / "data-keys").stat().st_mode) == 0o600
        client = redis.Redis(unix_socket_path=str(folder / "redis.sock"))
        try:
            assert client.config_get("port")["port"] == "0"  # the unix socket only
        finally:
            client.close()
        with urllib.request.urlopen(server.base + "/", timeout=10) as page:
            assert page.status == 200 and page.headers["content-type"].startswith("text/html")
        _, _, info = http_json("GET", server.base + "/api/info")
        assert isinstance(info, dict) and info["support"] is True
        for path in ("/console", "/review"):
            with urllib.request.urlopen(server.base + path, timeout=10) as page:
                assert page.status == 200

        # The staff side is there: an account made on the command line logs in, sees the
        # queue, and a participant's request reaches it.
        sam = add_staff(folder, "sam", "supporter", "facilitator")
        status, headers, _ = staff_login(server.base, sam)
        assert status == 200
        console = await Participant(
            server, headers["set-cookie"].split(";", 1)[0], staff=True
        ).connect()
        await console.expect("queue")
        person = await Participant(server, new_participant(server.base)).connect()
        await person.send(type="request_support", topic=None, ref="r")
        queued = await person.answer("r")
        assert queued["type"] == "queued"
        while queued["ticket"] not in [
            w["ticket"] for w in (await console.expect("queue"))["waiting"]
        ]:
            pass
        await person.close()
        await console.close()
    finally:
        server.stop()
    log = server.log_text()
    assert "embedded Redis" in log and "PEERLINE_DATA_KEYS is unset" in log


async def test_a_session_and_its_messages_survive_a_restart(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    server = serve(folder)
    try:
        cookie = new_participant(server.base)
        _, _, before = http_json("GET", server.base + "/api/session", headers={"cookie": cookie})
        writer = await Participant(server, cookie).connect()
        await writer.join("general")
        ack = await writer.say("general", "kept across a restart", "n-restart")
        await writer.close()
    finally:
        server.stop()
    assert not (folder / "redis.sock").exists()  # Redis was stopped with the server

    again = serve(folder)
    try:
        status, _, after = http_json("GET", again.base + "/api/session", headers={"cookie": cookie})
        assert status == 200 and after == before
        reader = await Participant(again, cookie).connect()
        joined = await reader.join("general")
        kept = [m for m in joined["history"] if m["id"] == ack["id"]]
        assert [m["text"] for m in kept] == ["kept across a restart"]
        await reader.close()
    finally:
        again.stop()


def test_a_second_serve_on_the_same_folder_exits_2_and_says_why(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    first = serve(folder)
    try:
        second = peerline(folder, "serve", "--port", str(free_port()))
        assert second.returncode == 2
        assert second.stderr.startswith("peerline: PEERLINE_DATA_DIR")
        assert "in use by another peerline process" in second.stderr
        assert f"serve pid {first.process.pid}" in second.stderr
        assert "Traceback" not in second.stderr
        assert http_json("GET", first.base + "/readyz")[0] == 200  # the first one is untouched
    finally:
        first.stop()


def test_a_killed_serve_leaves_no_redis_running(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    server = serve(folder)
    try:
        children = redis_children(server.process.pid)
        assert len(children) == 1
        server.kill()  # SIGKILL: no shutdown code runs in the server
        deadline = time.monotonic() + 5
        while running(children[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running(children[0])
        assert lock_is_free(folder)
    finally:
        server.stop()
    again = serve(folder)  # and the folder serves again at once
    try:
        assert http_json("GET", again.base + "/readyz")[0] == 200
    finally:
        again.stop()


def test_commands_use_a_running_serve_or_start_the_folders_redis(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    # Before any serve: a command makes no data key of its own, and says so.
    refused = peerline(folder, "staff", "list")
    assert refused.returncode == 2 and "no data key" in refused.stderr
    serve(folder).stop()  # the first start makes the folder's key

    # No serve running: the command runs the folder's redis-server for its own duration.
    ann = add_staff(folder, "ann", "moderator")
    listed = peerline(folder, "staff", "list", "--json")
    assert listed.returncode == 0 and [a["username"] for a in json.loads(listed.stdout)] == ["ann"]
    verified = peerline(folder, "audit", "verify")
    assert verified.returncode == 0 and verified.stdout.startswith("ok: ")
    assert not (folder / "redis.sock").exists() and lock_is_free(folder)

    server = serve(folder)
    try:
        assert staff_login(server.base, ann)[0] == 200  # same data, same key
        # With the serve running: the command talks to its Redis.
        bo = add_staff(folder, "bo", "supporter")
        assert staff_login(server.base, bo)[0] == 200
        assert len(redis_children(server.process.pid)) == 1
    finally:
        server.stop()


def test_scripts_serve_says_where_the_data_is_and_how_to_make_the_first_account(
    tmp_path: Path,
) -> None:
    peerline_command = ROOT / ".venv" / "bin" / "peerline"
    # scripts/test (and CI) build that .venv before any test runs; its absence is a broken
    # set-up, said plainly rather than skipped.
    assert peerline_command.exists(), (
        f"{peerline_command} is missing: run the suite through scripts/test, which makes it"
    )
    # The real scripts/serve, beside a _venv.sh that only goes to the checkout (the real one
    # would install the run lock into .venv).
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    shutil.copy(ROOT / "scripts" / "serve", scripts / "serve")
    (scripts / "_venv.sh").write_text(f"cd {shlex.quote(str(ROOT))}\n", encoding="utf-8")
    folder = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEERLINE_")}
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            ["bash", str(scripts / "serve"), "--port", str(free_port())],
            env={**env, "PEERLINE_DATA_DIR": str(folder)},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 30
        while "staff add NAME" not in log_path.read_text() and time.monotonic() < deadline:
            assert server.poll() is None, log_path.read_text()
            time.sleep(0.1)
        said = log_path.read_text()
        assert (
            f"Data folder (the embedded Redis, its append-only file and data key): {folder}\n"
            in said
        )
        command = next(line for line in said.splitlines() if "staff add NAME" in line).strip()
        # The command it prints works as printed, from anywhere.
        made = subprocess.run(
            ["bash", "-c", command.replace("NAME", "first") + " --json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert made.returncode == 0, made.stderr
        assert json.loads(made.stdout)["username"] == "first"
    finally:
        server.terminate()
        server.wait(20)
    assert not (folder / "redis.sock").exists()  # its Redis stopped with it
