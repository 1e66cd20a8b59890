"""The benchmark itself works: a short, small run completes and counts every delivery.

Never asserts a timing: this machine's speed is not what these tests are about.
"""

from __future__ import annotations

import json
import subprocess
import sys
from array import array
from collections import Counter
from pathlib import Path

import pytest

from bench.load import LoadSpec, aggregate
from tests.support import ROOT, RedisServer


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_a_short_run_delivers_everything_once(redis_server: RedisServer, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--processes",
            "2",
            "--participants",
            "10",
            "--rooms",
            "2",
            "--rate",
            "2",
            "--warmup",
            "1",
            "--duration",
            "3",
            "--quiet",
            "1",
            "--redis-url",
            redis_server.url,
            "--json-out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=80,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(out.read_text())
    assert "failed" not in report
    res = report["results"]
    assert res["messages_acked"] > 0
    assert res["delivered"] > 0
    assert res["delivered"] == res["expected_deliveries"]
    assert res["lost"] == 0
    assert res["duplicates"] == 0
    assert res["messages_unacked"] == 0
    assert res["errors"] == {} and res["unexpected_closes"] == {}
    assert [s["clean_shutdown"] for s in report["servers"]] == [True, True]
    # It ran on someone else's Redis: it deleted its own keys (by prefix) and nothing else.
    assert report["redis"]["private"] is False
    assert report["redis"]["keys_deleted"] > 0
    assert "Delivery latency" in run.stdout


def _part(acked: list[int], receipts: dict[tuple[int, int], int], dups: int = 0) -> dict:
    empty = array("q").tobytes()
    return {
        "acked": array("q", acked).tobytes(),
        "receipts": receipts,
        "sent_measured": len(acked),
        "sent_warmup": 0,
        "send_failures": 0,
        "unacked_measured": 0,
        "deliveries_warmup": 0,
        "duplicates": dups,
        "reordered": 0,
        "id_regressions": 0,
        "foreign": 0,
        "latency_same": array("q", [1_000_000]).tobytes(),
        "latency_cross": empty,
        "ack_latency": empty,
        "schedule_lag": empty,
        "loop_lag": empty,
        "errors": {},
        "closes": {},
        "drain_seconds": 0.0,
    }


def test_the_accounting_sees_a_missing_and_a_repeated_delivery() -> None:
    # 4 participants, 2 servers, 1 room: members 0 and 2 on server 0, 1 and 3 on server 1.
    spec = LoadSpec(servers=("ws://a/ws", "ws://b/ws"), participants=4, rooms=("r",), duration=1.0)
    message = 0 << 32 | 7  # participant 0's 8th message
    receipts: Counter[tuple[int, int]] = Counter({(message, 0): 2, (message, 1): 1})
    result = aggregate(spec, [_part([message], dict(receipts), dups=1)])
    assert result["expected_deliveries"] == 4
    assert result["delivered"] == 3
    assert result["lost"] == 1
    assert result["lost_cross_process"] == 1 and result["lost_same_process"] == 0
    assert result["duplicates"] == 1


def _run_json(*args: str) -> dict[str, object]:
    run = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report: dict[str, object] = json.loads(run.stdout)
    return report


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_the_alert_benchmark_completes() -> None:
    report = _run_json("bench.alerts", "--alerts", "6")
    assert report["alerts"] == 6  # every urgent message reached the console


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_the_login_benchmark_completes() -> None:
    report = _run_json(
        "bench.logins", "--logins", "3", "--rounds", "1", "--sequential", "2", "--quiet", "1"
    )
    assert report["during_logins"]["deliveries"] and report["quiet"]["deliveries"]  # type: ignore[index]


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_the_login_flood_benchmark_completes() -> None:
    report = _run_json("bench.logins", "--flood", "--bogus", "20", "--rounds", "1")
    for label in ("one_address", "many_addresses"):
        (only,) = report[label]["rounds"]  # type: ignore[index]
        assert only["real_login_status"] == 200
        assert sum(only["bogus_statuses"].values()) == only["bogus_sent"] >= 20
    # From one address, at most the per-address burst (30) got to be checked.
    assert report["one_address"]["rounds"][0]["bogus_statuses"].get("401", 0) <= 32  # type: ignore[index]
