"""The side-by-side benchmark (bench/compare.py) runs end to end and loses nothing.

The smoke run is what CI runs: every kind of scenario (fixed, two processes, idle, ramp)
against every server, tiny and short. It asserts that each run completed and lost nothing,
never a timing. The pure parts (ratios, the clean-step rule, rotation) get unit tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.compare import SERVERS, SMOKE, markdown, ratios, rotated, step_is_clean
from tests.support import ROOT


@pytest.mark.integration
@pytest.mark.timeout(400)
def test_the_smoke_run_completes_for_every_server_and_loses_nothing(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.compare", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=380,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    [path] = tmp_path.glob("compare-*.json")
    report = json.loads(path.read_text())
    assert list(report["runs"]) == list(SMOKE)
    for name, scenario_run in report["runs"].items():
        assert sorted(scenario_run["servers"]) == sorted(SERVERS), name
        for kind, row in scenario_run["servers"].items():
            where = f"{name}/{kind}"
            if scenario_run["scenario"]["ramp"]:
                assert row["steps"], where
                for step in row["steps"]:
                    assert "error" not in step, where
                    assert step["lost"] == 0 and step["unacked"] == 0, where
                    assert step["delivered_per_s"] > 0, where
                assert row["saturation_deliveries_per_s"] is not None, where
                continue
            res = row["detail"]["results"]
            assert res["lost"] == 0 and res["duplicates"] == 0, where
            assert res["messages_unacked"] == 0 and res["send_failures"] == 0, where
            assert res["errors"] == {} and res["unexpected_closes"] == {}, where
            assert all(s["clean_shutdown"] for s in row["shutdown"]), where
            if scenario_run["scenario"]["idle"]:
                assert res["messages_sent"] == 0, where
                assert all(s["rss_mib"] for s in row["detail"]["servers"]), where
            else:
                assert res["delivered"] == res["expected_deliveries"] > 0, where
    # The two-process scenario really spread each room over both processes.
    two = report["runs"]["groups-2p"]["servers"]["peerline"]["detail"]
    assert two["scenario"]["processes"] == 2
    assert two["results"]["latency_cross_process"]["count"] > 0
    assert Path(report["chart"]).stat().st_size > 10_000  # a PNG with a plot in it
    table = (tmp_path / path.name.replace(".json", ".md")).read_text()
    assert table.startswith("Command: ") and "\n| scenario | server |" in table
    assert report["machine"]["cores"] and report["redis_version"]
    assert report["command"].endswith("--smoke --out " + str(tmp_path))


@pytest.mark.integration
@pytest.mark.timeout(200)
def test_processes_runs_a_scenario_on_n_processes_with_its_rooms_the_declared_size(
    tmp_path: Path,
) -> None:
    command = [sys.executable, "-m", "bench.compare", "--smoke", "--out", str(tmp_path)]
    command += ["--scenarios", "pairs", "--servers", "peerline,broadcaster", "--processes", "3"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    [path] = tmp_path.glob("compare-*.json")
    pairs = json.loads(path.read_text())["runs"]["pairs"]
    assert pairs["scenario"]["processes"] == 3
    for kind, row in pairs["servers"].items():
        detail = row["detail"]
        assert detail["scenario"]["processes"] == len(detail["servers"]) == 3, kind
        assert detail["scenario"]["members_per_room"] == [2] * SMOKE["pairs"].rooms, kind
        res = detail["results"]
        assert res["latency_cross_process"]["count"] > 0, kind
        assert res["delivered"] == res["expected_deliveries"] > 0 and res["lost"] == 0, kind


def test_processes_out_of_range_is_refused() -> None:
    for bad in ("0", "33"):
        run = subprocess.run(
            [sys.executable, "-m", "bench.compare", "--smoke", "--processes", bad],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 2 and "--processes must be 1 to 32" in run.stderr


def _step(lost: int = 0, p99: float | None = 5.0, unacked: int = 0, errors: Any = None) -> dict:
    return {
        "results": {
            "lost": lost,
            "expected_deliveries": 100,
            "messages_unacked": unacked,
            "send_failures": 0,
            "errors": errors or {},
            "unexpected_closes": {},
            "latency": {"p99_ms": p99} if p99 is not None else {"count": 0},
        }
    }


def test_a_ramp_step_is_clean_only_without_loss_errors_or_a_slow_p99() -> None:
    assert step_is_clean(_step()) == (True, "clean")
    assert step_is_clean(_step(lost=1))[0] is False
    assert step_is_clean(_step(unacked=1))[0] is False
    assert step_is_clean(_step(errors={"rate_limited": 1}))[0] is False
    assert step_is_clean(_step(p99=100.0)) == (False, "p99 100.0 ms")
    assert step_is_clean(_step(p99=None))[0] is False  # nothing measured is not clean


def test_servers_take_turns_so_drift_hits_all_alike() -> None:
    servers = ["peerline", "socketio", "broadcaster"]
    firsts = [rotated(servers, k)[0] for k in range(3)]
    assert sorted(firsts) == sorted(servers)
    assert all(sorted(rotated(servers, k)) == sorted(servers) for k in range(5))


def test_ratios_come_from_one_run_and_are_missing_when_a_side_is() -> None:
    def ramp(**sat: float) -> dict:
        return {
            "servers": {
                k: {
                    "saturation_deliveries_per_s": v,
                    "saturation_step": {"p99_ms": 40.0, "server_cpu_percent": [90.0]},
                    "steps": [{}],
                    "stopped_because": "p99 120 ms",
                }
                for k, v in sat.items()
            },
            "scenario": {"ramp": True, "idle": False, "processes": 1},
        }

    runs = {
        "ramp-pairs": ramp(peerline=10_000, socketio=4_000, broadcaster=10_000),
        "ramp-pairs-2p": ramp(peerline=18_000),
    }
    out = ratios(runs)
    assert out["pairs_saturation_vs_socketio"] == 2.5
    assert out["pairs_saturation_vs_broadcaster"] == 1.0
    assert out["second_process_gain_pairs"] == 1.8
    assert out["groups_saturation_vs_socketio"] is None
    table = markdown({"runs": runs, "ratios": out})
    assert "| ramp-pairs | peerline | 10,000 |" in table
    assert "| pairs_saturation_vs_socketio | 2.50 |" in table


def test_profile_shares_count_own_and_total_time_without_the_root_chain() -> None:
    from bench.profile import top_functions

    collapsed = "\n".join(
        [
            "main (server/__main__.py:1);run (asyncio/runners.py:2);send (uvicorn/ws.py:3) 6",
            "main (server/__main__.py:1);run (asyncio/runners.py:2);say (server/services/chat.py:4) 3",
            "main (server/__main__.py:1);run (asyncio/runners.py:2) 1",
        ]
    )
    top = top_functions(collapsed)
    assert top["own"][:2] == [
        ("send (uvicorn/ws.py)", 60.0),
        ("say (server/services/chat.py)", 30.0),
    ]
    assert dict(top["total"]) == {
        "send (uvicorn/ws.py)": 60.0,
        "say (server/services/chat.py)": 30.0,
    }
