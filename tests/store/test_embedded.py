"""The embedded Redis in-process (server/store/embedded.py): a real redis-server in a
temporary folder, and every refusal, each with the reason it gives."""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

import pytest
import redis

from server.config import Settings
from server.crypto import KeyRing, KeyRingError, generate_key_line
from server.store import embedded
from server.store.embedded import EmbeddedError, FolderBusy
from tests.support import lock_is_free


def settings_for(folder: Path, **env: str) -> Settings:
    return Settings.from_environ({"PEERLINE_DATA_DIR": str(folder), **env})


def fake_redis_server(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake-redis-server"
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="ascii")
    path.chmod(0o755)
    return str(path)


def test_serving_runs_a_private_redis_on_a_unix_socket_only(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    with embedded.serving(settings_for(folder)) as running:
        assert running.redis_url == f"unix://{folder / 'redis.sock'}?db=0"
        assert running.data_keys and KeyRing.parse(running.data_keys)
        client = redis.Redis(unix_socket_path=str(folder / "redis.sock"))
        try:
            assert client.ping()
            config = client.config_get("port") | client.config_get("append*")
            assert config["port"] == "0"  # no TCP listener at all
            assert config["appendonly"] == "yes" and config["appendfsync"] == "everysec"
            assert client.config_get("save")["save"] == ""
        finally:
            client.close()
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE((folder / "data-keys").stat().st_mode) == 0o600
        assert stat.S_IMODE((folder / "redis.sock").stat().st_mode) == 0o700
        assert not lock_is_free(folder)
        # A command on the same folder uses this Redis and this key.
        with embedded.attached(settings_for(folder)) as command:
            assert (command.redis_url, command.data_keys) == (running.redis_url, running.data_keys)
    assert not (folder / "redis.sock").exists()  # Redis shut down and removed it
    assert lock_is_free(folder)
    with embedded.serving(settings_for(folder)) as again:
        assert again.data_keys == running.data_keys  # made once, used on every start


def test_the_redis_url_and_data_keys_of_the_environment_pass_through(tmp_path: Path) -> None:
    env = {"PEERLINE_REDIS_URL": "redis://127.0.0.1:1/0", "PEERLINE_DATA_KEYS": "x"}
    with embedded.serving(settings_for(tmp_path / "data", **env)) as settings:
        assert settings.redis_url == "redis://127.0.0.1:1/0" and settings.data_keys == "x"
    assert not (tmp_path / "data").exists()


def test_data_keys_from_the_environment_are_used_and_no_key_file_is_made(tmp_path: Path) -> None:
    ring = generate_key_line()
    folder = tmp_path / "data"
    with embedded.serving(settings_for(folder, PEERLINE_DATA_KEYS=ring)) as settings:
        assert settings.data_keys == ring
    assert not (folder / "data-keys").exists()


def test_a_folder_is_brought_back_to_0700_and_a_key_file_to_0600(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    (folder / "data-keys").write_text(generate_key_line() + "\n", encoding="ascii")
    (folder / "data-keys").chmod(0o644)
    with embedded.serving(settings_for(folder)):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE((folder / "data-keys").stat().st_mode) == 0o600


# ---- refusals: each raises EmbeddedError (peerline exits 2) and says why -------------------


def test_a_second_serve_on_a_held_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o700)
    fd = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, b"4242 serve\n")
        with (
            pytest.raises(
                FolderBusy, match=r"in use by another peerline process \(serve pid 4242\)"
            ),
            embedded.serving(settings_for(folder)),
        ):
            pass
    finally:
        os.close(fd)


def test_no_redis_server_anywhere_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded.shutil, "which", lambda name: None)
    monkeypatch.setattr(embedded.sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setattr(embedded.importlib.util, "find_spec", lambda name: None)
    with (
        pytest.raises(EmbeddedError, match="no redis-server to run"),
        embedded.serving(settings_for(tmp_path / "data")),
    ):
        pass
    assert lock_is_free(tmp_path / "data")


def test_a_redis_server_that_stops_at_start_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fake_redis_server(tmp_path, "exit 3")
    monkeypatch.setattr(embedded, "find_redis_server", lambda: fake)
    with (
        pytest.raises(EmbeddedError, match=r"stopped at start \(exit status 3\)"),
        embedded.serving(settings_for(tmp_path / "data")),
    ):
        pass
    assert lock_is_free(tmp_path / "data")


def test_a_redis_server_that_never_answers_is_stopped_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fake_redis_server(tmp_path, "exec sleep 60")
    monkeypatch.setattr(embedded, "find_redis_server", lambda: fake)
    monkeypatch.setattr(embedded, "START_TIMEOUT_SECONDS", 0.5)
    with (
        pytest.raises(EmbeddedError, match="did not answer"),
        embedded.serving(settings_for(tmp_path / "data")),
    ):
        pass
    # The fake held the lock (it is passed on to redis-server): free again means it is gone.
    assert lock_is_free(tmp_path / "data")


def test_a_folder_path_too_long_for_a_unix_socket_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / ("x" * 120)
    with (
        pytest.raises(EmbeddedError, match="too long a path"),
        embedded.serving(settings_for(folder)),
    ):
        pass
    assert not folder.exists()


def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder")
    with (
        pytest.raises(EmbeddedError, match="is not a folder"),
        embedded.serving(settings_for(tmp_path / "data")),
    ):
        pass


def test_a_command_never_makes_a_data_key(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    with pytest.raises(EmbeddedError, match="no data key"), embedded.attached(settings_for(folder)):
        pass
    assert not (folder / "data-keys").exists()
    with embedded.attached(settings_for(folder), keys=False) as settings:  # the audit log's way
        assert settings.data_keys is None and settings.redis_url


def test_a_damaged_key_file_is_refused_without_showing_it(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o700)
    (folder / "data-keys").write_text("k1:notbase64secretish\n", encoding="ascii")
    with (
        pytest.raises(EmbeddedError, match="data-keys") as refused,
        embedded.serving(settings_for(folder)),
    ):
        pass
    assert "secretish" not in str(refused.value)


def test_bad_data_keys_are_refused_before_anything_is_made(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    with (
        pytest.raises(KeyRingError),
        embedded.serving(settings_for(folder, PEERLINE_DATA_KEYS="k:secretish")),
    ):
        pass
    assert not folder.exists()
