"""`hubchaos run` end to end: real emulator processes, real Locust users, real faults.

The quickstart doubles as the calibration run of the kill-primary drill: what the suite
measured must agree with the members' own ground-truth logs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest
from chaos_support import wait_until
from drill_support import LiveDrill, hubchaos, pause_a_secondary, scenario
from report_support import check_causal_anatomy

from chaos.runclaims import claim_run, claims_dir
from contract import rundir
from reports.calibration import calibrate
from reports.summary import Summary
from reports.verdicts import Verdict

QUICKSTART = Path(__file__).parent.parent / "scenarios" / "quickstart.yaml"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("drill") / "quickstart"
    return hubchaos("run", QUICKSTART, "--out", out), out


def assert_passed_or_saturated(summary: Summary) -> None:
    """Every SLO passed, or is unknown because the machine running the drill was saturated in
    the window it was judged on (reports/host.py); what does not depend on timing passed."""
    for r in summary.results:
        saturated = r.verdict is Verdict.UNKNOWN and (r.error or "").startswith("measuring host saturated")
        assert r.verdict is Verdict.PASS or (saturated and r.timed), r.explanation


def judged(result: subprocess.CompletedProcess[str], out: Path) -> Summary:
    """A drill's summary, once it passed (or was saturated) and exited as its verdict says."""
    assert (out / rundir.SUMMARY).is_file(), result.stdout[-3000:] + result.stderr[-3000:]
    summary = Summary.read(out / rundir.SUMMARY)
    assert_passed_or_saturated(summary)
    assert result.returncode == summary.exit_code, result.stdout[-3000:] + result.stderr[-3000:]
    return summary


def test_quickstart_passes_with_a_verdict_table(
    quickstart: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, out = quickstart
    assert (out / rundir.SUMMARY).is_file(), result.stdout + result.stderr
    summary = Summary.read(out / rundir.SUMMARY)
    assert_passed_or_saturated(summary)
    assert result.returncode == summary.exit_code, result.stdout + result.stderr
    assert f"quickstart: {summary.verdict.value.upper()}" in result.stdout
    assert "rto[f1]" in result.stdout
    for name in (
        rundir.SCENARIO,
        rundir.RUN_INFO,
        rundir.EVENTS,
        rundir.LEDGER,
        rundir.FAULTS,
        rundir.PROBES,
        rundir.DISCOVERY,
        rundir.VERIFICATION,
        rundir.SUMMARY,
        rundir.JUNIT,
    ):
        assert (out / name).is_file(), name
    info = json.loads((out / rundir.RUN_INFO).read_text())
    assert info["status"] == "completed"
    assert [m["name"] for m in info["members"]] == ["m0", "m1", "m2"]
    verification = json.loads((out / rundir.VERIFICATION).read_text())
    assert verification["acked_missing"] == []
    assert pq.read_metadata(out / rundir.LEDGER).num_rows > 100


def test_kill_primary_agrees_with_ground_truth(
    quickstart: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, out = quickstart
    summary = Summary.read(out / rundir.SUMMARY)
    [fault] = summary.faults
    assert fault.kind == "kill" and fault.members == [fault.primary_before]
    check_causal_anatomy(summary)
    calibration = calibrate(out, summary)
    assert {r.metric for r in calibration.rows} == {"election", "rto"}
    for row in calibration.rows:
        assert row.ground_truth_s is not None and row.measured_s is not None, row
        assert row.within, (
            f"{row.metric}: measured {row.measured_s:.3f} s, ground truth {row.ground_truth_s:.3f} s"
        )


def test_report_reanalyses_without_a_cluster(
    quickstart: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, out = quickstart
    again = hubchaos("report", out)
    assert again.returncode == Summary.read(out / rundir.SUMMARY).exit_code, again.stderr
    # Judged whatever the host did, so that the impossible target fails rather than being unknown.
    impossible = hubchaos(
        "report", out, "--set", "slos.rto_s.single_node=1ms", "--set", "slos.saturation=null"
    )
    assert impossible.returncode == 1
    assert "fail" in impossible.stdout


def test_malformed_scenario_exits_2_with_one_line_and_no_run_directory(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nworkload:\n  users: lots\n")
    out = tmp_path / "run"
    result = hubchaos("run", bad, "--out", out)
    assert result.returncode == 2
    expected = f"hubchaos: {bad}:3: workload.users: Input should be a valid integer, unable to parse string"
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith(expected)
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_impossible_slo_exits_1_and_stages_shape_the_load(tmp_path: Path) -> None:
    path = scenario(
        tmp_path,
        "impossible",
        """\
target: {backend: local, members: 1}
workload:
  stages: [{duration: 3s, users: 1}, {duration: 4s, users: 3, spawn_rate: 3}]
  corpus: {users: 10, prompts: 50, stores: 2, vectors_per_store: 5, embedding_dim: 8}
slos:
  latency_ms: {"*": {avg_ms: 0.001}}
  saturation: null  # judged however busy the machine is: this drill must fail
""",
    )
    out = tmp_path / "run"
    result = hubchaos("run", path, "--out", out)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "impossible: FAIL" in result.stdout
    # The load followed its stages: the one user of the first stage is the canary (a fixed
    # count), the hub's users join when the second stage raises the count to three.
    events = pq.read_table(out / rundir.EVENTS, columns=["t_start", "user_class"]).to_pandas()
    first_hub = events.loc[events.user_class != "CanaryUser", "t_start"].min()
    assert first_hub - events.t_start.min() >= 2.5


@pytest.mark.parametrize(("w", "expect_loss"), [("1", True), ("majority", False)])
def test_freeze_primary_lost_writes_are_the_rolled_back_ones(
    tmp_path: Path, w: str, expect_loss: bool
) -> None:
    path = scenario(
        tmp_path,
        "freeze",
        f"""\
target:
  backend: local
  members: 3
  settings: {{electionTimeoutMillis: 1000, heartbeatIntervalMillis: 200}}
workload:
  users: 6
  duration: 30s
  corpus: {{users: 20, prompts: 100, stores: 2, vectors_per_store: 5, embedding_dim: 8}}
  driver: {{w: {w}}}
  canary: {{write_concern: {w}}}
faults:
  - {{at: 8s, kind: pause, target: primary, heal_after: 8s}}
""",
    )
    out = tmp_path / "run"
    result = hubchaos("run", path, "--out", out)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    summary = Summary.read(out / rundir.SUMMARY)
    assert summary.faults[0].election is not None, "a new primary must be elected while the old one is frozen"
    check_causal_anatomy(summary)
    lost = json.loads((out / rundir.VERIFICATION).read_text())["acked_missing"]
    if not expect_loss:
        assert lost == []
    if summary.rollback is None:
        # The frozen primary held no entry the others lacked (a busy machine can freeze it between
        # two replicated writes): nothing was rolled back, so nothing acknowledged may be lost.
        assert lost == []
        return
    # Every lost acknowledged write is in a rollback file, and every acknowledged write in a
    # rollback file is either lost or was written again after the rollback.
    assert summary.rollback.lost_elsewhere == 0
    assert summary.rollback.lost_in_rollback == len(lost)
    assert summary.rollback.acked == len(lost) + summary.rollback.rolled_back_present


def _member_pids(out: Path) -> dict[str, int]:
    return {p.name: int((p / "db" / "mongod.lock").read_text()) for p in (out / "members").iterdir()}


def _gone(pids: dict[str, int]) -> bool:
    return not any(
        psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids.values()
    )


@pytest.mark.usefixtures("heals_alone")
def test_a_killed_drill_is_healed_and_stopped_by_heal_even_without_its_run_directory(
    tmp_path: Path,
) -> None:
    """SIGKILL the runner while a member is frozen, then delete the run directory (as a CI
    workspace cleanup does): `hubchaos heal` alone resumes the member and stops the members the
    drill left running, found from the state directory."""
    path = scenario(tmp_path, "killed", pause_a_secondary())
    state = tmp_path / "state"
    env = {**os.environ, "HUBCHAOS_STATE_DIR": str(state)}
    out = tmp_path / "run"
    # A live run here already holds the id `run` (another CI job's `--out .../run`, say).
    held = claim_run(state, out.name)
    drill = LiveDrill(path, out, env)
    wait_until(lambda: '"action":"inject"' in _read(out / rundir.FAULTS), 120, "the pause")
    drill.proc.kill()
    drill.finish()
    [paused] = json.loads(_read(out / rundir.FAULTS).splitlines()[0])["members"]
    pids = _member_pids(out)
    assert psutil.Process(pids[paused]).status() == psutil.STATUS_STOPPED
    assert json.loads((out / rundir.RUN_INFO).read_text())["run_id"] == "run-2"
    shutil.rmtree(out)

    healed = hubchaos("heal", timeout=120, env=env)
    assert healed.returncode == 0, healed.stdout + healed.stderr
    assert f"pause on {paused}" in healed.stdout
    assert "stopped cluster drill-run-2 (local, 3 members) of run run-2" in healed.stdout
    assert _gone(pids)
    assert not list((state / "clusters").glob("*/cluster.json"))
    # The killed run's id is free again; the live holder keeps its own.
    assert [p.name for p in claims_dir(state).iterdir()] == [held.run]


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""
