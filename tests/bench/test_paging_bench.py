"""bench/paging.py works: a short run pages every alert once, through an outage too.

Never asserts a timing: this machine's speed is not what this test is about.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support import ROOT


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_a_short_run_pages_every_alert_once_through_an_outage() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.paging", "--alerts", "3", "--outage", "3",
         "--outage-alerts", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert report["alerts"] == 3 and report["consoles_open"] == 0
    assert set(report["message_to_webhook_ms"]) == {"p50", "p99", "max"}
    outage = report["outage"]
    assert (outage["alerts"], outage["webhooks_delivered"], outage["emails_delivered"]) == (2, 2, 2)
    assert outage["lost"] == 0 and outage["sent_twice"] == 0
    for alert in outage["per_alert"]:
        assert alert["states"] == ["sent", "sent"] and alert["webhook_attempts"] >= 2
