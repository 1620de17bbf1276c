"""The pager drill (scenarios/alerts.yaml) against real Prometheus: a primary kill fires
PrimaryUnavailable and a secondary's slowed link fires ReplicationLagCritical, each with its
time to fire after injection, recorded so that the analysis needs no Prometheus.

Real emulator members in network namespaces (root, for the degrade fault), a Locust master and
one worker (so the endpoint's request counts come through worker reports), Debian's prometheus.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from chaos_support import needs_root
from prometheus_support import require

from contract import rundir
from contract.rundir import ExporterInfo
from reports.load import load_run
from reports.summary import Summary

ROOT = Path(__file__).parent.parent
pytestmark = [pytest.mark.slow, needs_root]


def test_a_primary_kill_and_a_slow_link_fire_their_alerts(tmp_path: Path) -> None:
    require("prometheus")
    out = tmp_path / "run"
    env = {**os.environ, "HUBCHAOS_STATE_DIR": str(tmp_path / "state")}
    command = [
        sys.executable,
        "-m",
        "chaos",
        "run",
        "scenarios/alerts.yaml",
        "--out",
        str(out),
        "--workers",
        "1",
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=400, cwd=ROOT, env=env, check=False
    )
    assert (out / rundir.SUMMARY).is_file(), result.stdout + result.stderr
    summary = Summary.read(out / rundir.SUMMARY)
    alerts = summary.alerts
    assert alerts is not None and alerts.error is None, alerts
    assert alerts.prometheus_version.startswith("2."), alerts.prometheus_version

    expected = {(e.kind, e.alert): e for e in alerts.expected}
    kill = expected[("kill", "PrimaryUnavailable")]
    lag = expected[("degrade", "ReplicationLagCritical")]
    # Fired, after the injection and not before its own condition held for the drill's `for:`.
    assert kill.time_to_fire_s is not None, alerts.firing
    assert lag.time_to_fire_s is not None, alerts.firing
    rules = {r.name: r for r in alerts.rules}
    assert kill.pending_after_s is not None and lag.pending_after_s is not None
    assert kill.time_to_fire_s >= kill.pending_after_s + rules["PrimaryUnavailable"].for_s - 1.0
    assert lag.time_to_fire_s >= lag.pending_after_s + rules["ReplicationLagCritical"].for_s - 1.0
    # The report says the drill shortened the rules' `for:`, with the file's value beside it.
    assert rules["PrimaryUnavailable"].for_s == 2.0 and rules["PrimaryUnavailable"].for_in_file_s == 30.0
    assert all(r.health == "ok" for r in alerts.rules), [(r.name, r.last_error) for r in alerts.rules]
    judged = {r.slo: r for r in summary.results if r.category == "alert_fired"}
    assert judged[f"alert_fired[{kill.fault_id}].PrimaryUnavailable"].measured == kill.time_to_fire_s
    assert any(r.slo == "false_alarms" for r in summary.results)
    assert (out / rundir.REPORT).read_text().count("PrimaryUnavailable") >= 2

    # The endpoint counted the worker's requests (it reports them to the master every 3 s), none
    # twice; a report the worker sends as it stops may come after the endpoint stopped.
    exporter = rundir.read_json(out / rundir.EXPORTER, ExporterInfo)
    assert exporter.url.startswith("http://127.0.0.1:")
    recorded = len(load_run(out).events)
    assert exporter.requests_counted is not None
    assert 0.9 * recorded <= exporter.requests_counted <= recorded, (exporter.requests_counted, recorded)
    # Prometheus was stopped with the drill.
    assert not any("prometheus" in p.name() for p in psutil.process_iter() if _in(p, out))

    # What the analysis reads (it needs no Prometheus): every evaluation's samples.
    assert json.loads((out / rundir.ALERTS).read_text())["alerts"]["resultType"] == "matrix"


def _in(process: psutil.Process, run_dir: Path) -> bool:
    try:
        return any(str(run_dir) in arg for arg in process.cmdline())
    except psutil.Error:
        return False
