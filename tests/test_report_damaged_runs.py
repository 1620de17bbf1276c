"""Runs that did not end as planned are analysed honestly: nothing measured is never a number."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
from analysis_helpers import healthy, probe_rounds
from click.testing import CliRunner

from chaos.cli import main
from contract import rundir
from contract.errors import ExitCode
from locustfiles.shards import Manifest, StreamShard
from reports.analyse import analyse
from reports.summary import Summary
from reports.synthetic.builder import RunBuilder
from reports.verdicts import Verdict


def test_a_fault_after_the_last_request_is_unknown_not_a_negative_rto(tmp_path: Path) -> None:
    b = RunBuilder()
    healthy(b, 0, 30)
    probe_rounds(b, 0, 30, every=1.0, primary="m0", term=1)
    b.fault("f1", 10.0, heal=12.0)
    b.fault("f2", 45.0, heal=46.0)  # a schedule that fell behind the load
    b.verify()
    summary = analyse(b.write_to(tmp_path))
    rto = {r.slo: r for r in summary.results if r.slo.startswith("rto[")}
    assert rto["rto[f1]"].verdict is Verdict.PASS
    late = rto["rto[f2]"]
    assert late.verdict is Verdict.UNKNOWN and late.measured is None
    assert "after the last recorded request" in (late.error or "")


def _one_kill(tmp_path: Path) -> Path:
    b = RunBuilder()
    healthy(b, 0, 30)
    probe_rounds(b, 0, 30, every=1.0, primary="m0", term=1)
    b.fault("f1", 10.0, heal=12.0)
    b.verify()
    return b.write_to(tmp_path / "run")


def _killed_run(tmp_path: Path, writer_pid: int) -> Path:
    """What a SIGKILLed drill leaves: run.json still `running`, the recordings only as shards
    its writer never closed."""
    run = _one_kill(tmp_path)
    manifest = Manifest(stem="local.0", worker="local", pid=writer_pid)
    for name, shards, schema in (
        (rundir.EVENTS, rundir.EVENTS_SHARDS, rundir.REQUEST_EVENT_SCHEMA),
        (rundir.LEDGER, rundir.LEDGER_SHARDS, rundir.LEDGER_SCHEMA),
    ):
        table = pq.read_table(run / name)
        (run / name).unlink()
        (run / shards).mkdir()
        StreamShard(run / shards / "local.0.arrows", schema).append(table)
        setattr(manifest, "events" if name == rundir.EVENTS else "ledger", table.num_rows)
    manifest.save(run)
    info = json.loads((run / rundir.RUN_INFO).read_text())
    (run / rundir.RUN_INFO).write_text(json.dumps({**info, "status": "running", "ended_at": None}))
    return run


def test_report_merges_a_killed_runs_shards_and_marks_it_interrupted(tmp_path: Path) -> None:
    exited = subprocess.Popen(["true"])
    exited.wait()
    run = _killed_run(tmp_path, writer_pid=exited.pid)
    result = CliRunner().invoke(main, ["report", str(run)], catch_exceptions=False)
    said = " ".join(result.output.split())
    assert (
        "interrupted run: its recordings were never merged; merged 900 events and 300 ledger entries" in said
    )
    assert "(1 shard(s) never closed (local.0))" in said
    assert "interrupted run: run.json still says 'running': the drill ended without finishing" in said
    assert (run / rundir.EVENTS).exists() and (run / rundir.LEDGER).exists()
    summary = Summary.model_validate_json((run / rundir.SUMMARY).read_text())
    assert {r.slo: r.verdict for r in summary.results}["rto[f1]"] is Verdict.PASS
    assert "**Interrupted run:**" in (run / rundir.SUMMARY_MD).read_text()
    assert "Interrupted run:" in (run / rundir.REPORT).read_text()


def test_report_refuses_a_run_whose_writer_still_records(tmp_path: Path) -> None:
    run = _killed_run(tmp_path, writer_pid=os.getpid())
    result = CliRunner().invoke(main, ["report", str(run)])
    assert result.exit_code == ExitCode.USAGE
    assert f"still being recorded (pid {os.getpid()}): report it once the run ends" in result.output
    assert not (run / rundir.EVENTS).exists()


def test_a_lost_faults_record_is_named_and_makes_recovery_unknown(tmp_path: Path) -> None:
    run = _one_kill(tmp_path)
    (run / rundir.FAULTS).unlink()
    result = CliRunner().invoke(main, ["report", str(run)], catch_exceptions=False)
    said = " ".join(result.output.split())
    assert f"absent from the run directory: {rundir.FAULTS}, " in said
    assert "what needs them is unknown" in said
    summary = Summary.model_validate_json((run / rundir.SUMMARY).read_text())
    rto = {r.slo: r for r in summary.results}["rto"]
    assert rto.verdict is Verdict.UNKNOWN
    assert rto.error == (
        f"{rundir.FAULTS} is absent, though {rundir.SCENARIO} declares faults, "
        "so no fault's recovery can be judged"
    )
    assert summary.verdict is Verdict.UNKNOWN and result.exit_code == ExitCode.SLO_FAILED
    (run / rundir.SCENARIO).unlink()  # nothing says whether there were faults: both are named
    assert analyse(run).absent_files[:2] == [rundir.SCENARIO, rundir.FAULTS]
