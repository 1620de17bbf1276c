"""The campaign runner's bookkeeping with a stand-in for the drill (tests/campaign_standin.py),
a real child process that copies a prepared run directory or waits for a signal: --fail-fast,
a SIGTERM passed on to the running drill, and --resume after it and after a crash."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from analysis_helpers import kill_primary_run

from chaos.campaign.runner import Campaign
from chaos.scenario.load import loads
from contract import campaigndir
from contract.campaigndir import CampaignStatus, RunStatus
from contract.errors import UsageError
from reports.analyse import analyse

STANDIN = (sys.executable, str(Path(__file__).parent / "campaign_standin.py"))
SCENARIO = """\
name: kills
target: {backend: local, members: 3}
workload: {duration: 5s, seed: 7}
faults: [{at: 1s, kind: kill, target: primary, heal_after: 2s}]
outputs: {html: false}
campaign: {runs: 3}
"""


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An analysed run that passes (a 2 s outage against a 30 s RTO target) and one that fails (1 s)."""
    root = tmp_path_factory.mktemp("templates")
    made = {}
    for name, target in (("pass", "30s"), ("fail", "1s")):
        b = kill_primary_run(2.0)
        b.slos = {"rto_s": {"single_node": target}}
        b.write_to(root / name)
        analyse(root / name).write(root / name / campaigndir.SUMMARY)
        made[name] = root / name
    return made


def campaign(
    path: Path, monkeypatch: pytest.MonkeyPatch, plan: dict[int, str], fail_fast: bool = False
) -> Campaign:
    monkeypatch.setenv("STANDIN", json.dumps(plan))
    scenario = loads(SCENARIO.replace("runs: 3", f"runs: 3, fail_fast: {str(fail_fast).lower()}"))
    created = Campaign.create(scenario, ["hubchaos", "run", "kills.yaml"], path, lambda _: None)
    created.drill = STANDIN
    return created


def resumed(path: Path, monkeypatch: pytest.MonkeyPatch, plan: dict[int, str]) -> Campaign:
    monkeypatch.setenv("STANDIN", json.dumps(plan))
    again = Campaign.resume(path, False, lambda _: None)
    again.drill = STANDIN
    return again


def test_fail_fast_stops_after_the_first_run_that_misses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, templates: dict[str, Path]
) -> None:
    plan = {
        7: f"copy:{templates['pass']}:0",
        8: f"copy:{templates['fail']}:1",
        9: f"copy:{templates['pass']}:0",
    }
    summary = campaign(tmp_path / "c", monkeypatch, plan, fail_fast=True).run()
    info = summary.campaign
    assert (
        info.status == CampaignStatus.STOPPED and info.note == "Stopped after run 2 (fail fast): it exited 1."
    )
    assert [(r.index, r.seed, r.exit_code) for r in info.runs] == [(1, 7, 0), (2, 8, 1)]
    assert summary.exit_code == 1 and summary.notes == ["1 of 3 planned runs did not run (stopped)"]
    assert [r.failed_in for r in summary.slos if r.slo == "rto[f1]"] == [["c-run002"]]
    assert not (tmp_path / "c" / "runs" / "c-run003").exists()


def test_a_signal_stops_the_run_and_resume_runs_it_again_under_a_new_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, templates: dict[str, Path]
) -> None:
    path = tmp_path / "c"
    ok = f"copy:{templates['pass']}:0"
    first = campaign(path, monkeypatch, {7: ok, 8: "hang"})
    waiting = path / "runs" / "c-run002" / "waiting"

    def terminate_when_waiting() -> None:
        deadline = time.monotonic() + 30
        while not waiting.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)  # to the campaign, which passes it on to the drill

    threading.Thread(target=terminate_when_waiting, daemon=True).start()
    summary = first.run()
    info = summary.campaign
    assert info.status == CampaignStatus.INTERRUPTED and "SIGTERM" in (info.note or "")
    assert [(r.run_id, r.status, r.exit_code) for r in info.runs] == [
        ("c-run001", RunStatus.COMPLETED, 0),
        ("c-run002", RunStatus.INTERRUPTED, 3),
    ]
    assert summary.exit_code == 3 and [r.run_id for r in summary.runs] == ["c-run001"]

    # A second attempt at run 2 cut short by a crash: a run directory without a record.
    (path / "runs" / "c-run002-2").mkdir()
    held = resumed(path, monkeypatch, {})
    with pytest.raises(UsageError, match="the campaign is still running"):
        Campaign.resume(path, False, lambda _: None)
    held.lock.release()
    summary = resumed(path, monkeypatch, {8: ok, 9: ok}).run()
    info = summary.campaign
    assert info.status == CampaignStatus.COMPLETED and len(info.resumed_at) == 2
    assert [(r.run_id, r.seed) for r in info.counted()] == [
        ("c-run001", 7),
        ("c-run002-3", 8),
        ("c-run003", 9),
    ]
    assert info.not_counted() == ["c-run002", "c-run002-2"]
    assert summary.exit_code == 0 and summary.groups[0].injected == 3
