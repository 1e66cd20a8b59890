from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT, running_server


def peerline(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PEERLINE_")}
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=ROOT,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_keys_generate_prints_one_id_and_256_bit_key() -> None:
    result = peerline("keys", "generate")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    key_id, _, key = lines[0].partition(":")
    assert key_id and len(base64.b64decode(key)) == 32
    assert peerline("keys", "generate").stdout != result.stdout


def test_redis_without_keys_refuses_to_start_with_a_reason() -> None:
    result = peerline("serve", "--port", "1", env={"PEERLINE_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert result.returncode == 2
    assert "PEERLINE_DATA_KEYS is required" in result.stderr


def test_bad_settings_refuse_to_start_naming_the_variable(tmp_path: Path) -> None:
    result = peerline("serve", "--port", "1", env={"PEERLINE_RATE_BURST": "lots"})
    assert result.returncode == 2 and "PEERLINE_RATE_BURST" in result.stderr
    folder = tmp_path / "data"
    bad_keys = peerline(
        "serve",
        "--port",
        "1",
        env={"PEERLINE_DATA_KEYS": "k:secretish", "PEERLINE_DATA_DIR": str(folder)},
    )
    assert bad_keys.returncode == 2 and "secretish" not in bad_keys.stderr
    assert "PEERLINE_DATA_KEYS" in bad_keys.stderr
    assert not folder.exists()  # refused before the embedded Redis's folder was made


def test_embedded_mode_says_so_in_its_first_log_line() -> None:
    with running_server() as server:
        folder = server.env["PEERLINE_DATA_DIR"]
    lines = [json.loads(line) for line in server.log_text().splitlines()]
    first = lines[0]
    assert first["msg"].startswith("embedded Redis: ") and folder in first["msg"]
    assert first["ts"].endswith("+00:00")  # UTC
    # The key made beside the data comes with a warning that it protects nothing there.
    warning = next(line for line in lines if line["level"] == "warning")
    assert "PEERLINE_DATA_KEYS is unset" in warning["msg"] and "production" in warning["msg"]


def test_a_bad_log_level_is_refused_cleanly() -> None:
    result = peerline("serve", "--port", "1", env={"PEERLINE_LOG_LEVEL": "loud"})
    assert result.returncode == 2 and "PEERLINE_LOG_LEVEL" in result.stderr
    assert "Traceback" not in result.stderr


def test_scan_reads_json_lines_and_answers_in_order() -> None:
    lines = [
        {"id": 1, "text": "this traffic is killing me"},
        {"id": "b", "text": "hes not breathing and his lips are blue"},
        {"id": 3, "text": "picked up my 90 day chip today!"},
    ]
    stdin = "".join(json.dumps(line) + "\n" for line in lines) + "not json\n"
    result = subprocess.run(
        [sys.executable, "-m", "server", "scan"],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == [1, "b", 3, None]
    assert [o.get("label") for o in out[:3]] == ["none", "urgent", "none"]
    assert out[1]["evidence"] and 0 <= out[1]["score"] <= 1
    assert out[3]["error"] == "bad_line"


def test_staff_commands_on_a_folder_with_no_key_refuse_with_a_reason(tmp_path: Path) -> None:
    # A command never makes the data key (the server would not seal with it): it says how
    # to get one and exits 2, without starting anything.
    result = peerline("staff", "list", env={"PEERLINE_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 2 and "no data key" in result.stderr
    assert "PEERLINE_DATA_KEYS" in result.stderr and "Traceback" not in result.stderr


def test_a_staff_command_with_a_bad_setting_names_it(tmp_path: Path) -> None:
    env = {"PEERLINE_DATA_DIR": str(tmp_path / "data"), "PEERLINE_RETENTION_DAYS": "soon"}
    result = peerline("staff", "list", env=env)
    assert result.returncode == 2 and "PEERLINE_RETENTION_DAYS" in result.stderr
