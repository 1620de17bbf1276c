"""`analyse(run_dir)` on whole synthetic runs: verdicts, exit codes and the files written."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from analysis_helpers import healthy, kill_primary_run, probe_rounds

from contract import rundir
from contract.errors import AnalysisError, ExitCode
from reports.analyse import analyse, write_outputs
from reports.summary import Summary
from reports.synthetic.builder import RunBuilder
from reports.verdicts import Verdict


def results(summary: Summary) -> dict[str, tuple[Verdict, float | None]]:
    return {r.slo: (r.verdict, r.measured) for r in summary.results}


def test_a_run_with_no_failures_at_all_passes(tmp_path: Path) -> None:
    b = RunBuilder()
    healthy(b, 0, 60)
    probe_rounds(b, 0, 60, every=1.0, primary="m0", term=1)
    b.verify()
    summary = analyse(b.write_to(tmp_path))
    assert summary.verdict is Verdict.PASS and summary.exit_code == ExitCode.OK
    got = results(summary)
    assert set(got) == {
        "lost_acked_writes",
        "rpo",
        "latency[canary.write].avg_ms",
        "latency[prompts.get].avg_ms",
        "error_rate[steady]",
        "replication_lag",
    }
    assert got["latency[prompts.get].avg_ms"] == (Verdict.PASS, pytest.approx(20.0))
    assert got["error_rate[steady]"] == (Verdict.PASS, 0.0)
    assert summary.faults == [] and [p.phase for p in summary.phases] == ["steady"]
    assert summary.counts.requests == 1800 and summary.counts.canary_writes == 600


def test_a_kill_primary_drill_is_measured_and_fails_only_on_the_errors_it_surfaced(tmp_path: Path) -> None:
    summary = analyse(kill_primary_run().write_to(tmp_path))
    failed = [r for r in summary.results if r.verdict is not Verdict.PASS]
    # Its reads failed for 2 s: 40 errors reached the application (the canary's are its own).
    assert [(r.slo, r.measured) for r in failed] == [("failover_errors[f1]", 40.0)]
    assert failed[0].explanation == (
        "errors surfaced in f1 (kill primary, single_node): 40 errors > target 0 errors"
    )
    (f,) = summary.faults
    assert f.detection is not None and f.detection.at.after_s == pytest.approx(0.01)
    assert f.election is not None and f.election.at.after_s == pytest.approx(1.5)
    assert f.rediscovery is not None and f.rediscovery.first.after_s == pytest.approx(1.9)
    assert f.rto_s == pytest.approx(2.01)
    assert f.canary is not None and f.canary.unavailable_s == pytest.approx(32.01 - 29.91)
    assert f.throughput is not None and f.throughput.recovered is not None
    assert f.throughput.recovered.after_s == 2.0
    got = results(summary)
    assert got["rto[f1]"] == (Verdict.PASS, pytest.approx(2.01))
    assert got["throughput_recovery[f1]"] == (Verdict.PASS, 2.0)
    rto = next(r for r in summary.results if r.slo == "rto[f1]")
    assert rto.target == 30.0 and rto.margin == pytest.approx(27.99)
    assert "RTO of f1 (kill primary, single_node): 2.01 s ≤ target 30 s" in rto.explanation


def test_a_failure_that_never_recovers_fails(tmp_path: Path) -> None:
    b = RunBuilder()
    healthy(b, 0, 30)
    b.series("canary.write", 30, 60, every=0.1, is_write=True, ok=False)
    b.series("prompts.get", 30, 60, every=0.05, ok=False)
    b.fault("f1", 30.0)
    b.verify()
    summary = analyse(b.write_to(tmp_path))
    assert summary.verdict is Verdict.FAIL and summary.exit_code == ExitCode.SLO_FAILED
    rto = next(r for r in summary.results if r.slo == "rto[f1]")
    assert rto.verdict is Verdict.FAIL and rto.lower_bound
    assert rto.measured == pytest.approx(29.96)  # observed from 30 to the last completion
    assert "not within the 30 s observed" in rto.explanation
    assert results(summary)["throughput_recovery[f1]"][0] is Verdict.FAIL
    assert summary.faults[0].rto_s is None


def test_two_overlapping_faults(tmp_path: Path) -> None:
    b = RunBuilder()
    healthy(b, 0, 30)
    b.series("canary.write", 30, 32, every=0.1, is_write=True, ok=False)
    healthy(b, 32, 35)
    b.series("canary.write", 35, 38, every=0.1, is_write=True, ok=False)
    healthy(b, 38, 90)
    b.fault("f1", 30.0, heal=50.0)
    b.fault("f2", 35.0, heal=45.0, members=["m1"], primary="m1")
    b.verify()
    summary = analyse(b.write_to(tmp_path))
    rto = {f.fault_id: f.rto_s for f in summary.faults}
    assert rto == {"f1": pytest.approx(2.01), "f2": pytest.approx(3.01)}
    assert [f.overlaps for f in summary.faults] == [["f2"], ["f1"]]
    assert [(p.phase, p.fault_ids) for p in summary.phases] == [
        ("steady", ()),
        ("fault", ("f1",)),
        ("fault", ("f1", "f2")),
        ("fault", ("f1",)),  # f2 recovers from 45 but f1 is still active
        ("recovery", ("f1", "f2")),
        ("recovery", ("f1",)),
        ("steady", ()),
    ]


def test_events_slightly_out_of_order_give_the_same_analysis(tmp_path: Path) -> None:
    ordered = analyse(kill_primary_run().write_to(tmp_path / "ordered"))
    b = kill_primary_run()
    rng = random.Random(3)
    for i in range(0, len(b.events) - 1, 2):  # writers flush out of order by a few events
        if rng.random() < 0.5:
            b.events[i], b.events[i + 1] = b.events[i + 1], b.events[i]
    rng.shuffle(b.probes)
    rng.shuffle(b.faults)
    shuffled = analyse(b.write_to(tmp_path / "shuffled"))
    assert shuffled.faults == ordered.faults
    assert shuffled.results == ordered.results
    assert shuffled.latency == ordered.latency


def test_events_and_ledger_in_small_row_groups_give_the_same_analysis(tmp_path: Path) -> None:
    whole = analyse(kill_primary_run().write_to(tmp_path / "whole"))
    run = kill_primary_run().write_to(tmp_path / "groups")
    for name in (rundir.EVENTS, rundir.LEDGER):  # read a group at a time, fault windows across groups
        pq.write_table(pq.read_table(run / name), run / name, row_group_size=50)
    assert pq.read_metadata(run / rundir.EVENTS).num_row_groups > 20
    grouped = analyse(run)
    assert grouped.model_dump(exclude={"generated_at"}) == whole.model_dump(exclude={"generated_at"})


def test_missing_optional_files_make_their_verdicts_unknown(tmp_path: Path) -> None:
    b = kill_primary_run()
    b.slos = {"checks": {"failover_errors": None}}  # the surfaced errors would fail the run
    b.probes, b.discovery, b.verification = [], [], None
    summary = analyse(b.write_to(tmp_path))
    assert summary.absent_files == [
        "probes.parquet",
        "discovery.jsonl",
        "resources.parquet",
        "verification.json",
    ]
    got = {r.slo: r for r in summary.results}
    for slo in ("lost_acked_writes", "rpo", "replication_lag"):
        assert got[slo].verdict is Verdict.UNKNOWN, slo
    assert got["lost_acked_writes"].error == (
        "verification.json is absent: the ledger was not checked against the cluster"
    )
    assert got["replication_lag"].error == "probes.parquet is absent from the run directory"
    assert got["rto[f1]"].verdict is Verdict.PASS  # the events alone still measure it
    assert summary.verdict is Verdict.UNKNOWN and summary.exit_code == ExitCode.SLO_FAILED
    f = summary.faults[0]
    assert f.election is None and any(n.startswith("election: probes.parquet") for n in f.notes)


def test_unknown_may_be_configured_to_pass(tmp_path: Path) -> None:
    b = kill_primary_run()
    b.probes, b.verification = [], None
    b.slos = {"on_unknown": "pass", "checks": {"failover_errors": None}}
    summary = analyse(b.write_to(tmp_path))
    assert summary.verdict is Verdict.UNKNOWN and summary.exit_code == ExitCode.OK


def test_an_impossible_slo_fails(tmp_path: Path) -> None:
    b = kill_primary_run()
    b.slos = {"rto_s": {"single_node": "100ms"}, "latency_ms": {"prompts.get": {"p99_ms": 1}}}
    summary = analyse(b.write_to(tmp_path))
    got = results(summary)
    assert got["rto[f1]"][0] is Verdict.FAIL
    assert got["latency[prompts.get].p99_ms"][0] is Verdict.FAIL
    assert summary.exit_code == ExitCode.SLO_FAILED


def test_an_analyser_that_raises_yields_unknown_with_its_error(tmp_path: Path) -> None:
    b = kill_primary_run()
    b.verify(acked_missing=["not-in-ledger"])
    summary = analyse(b.write_to(tmp_path))
    rpo = next(r for r in summary.results if r.slo == "rpo")
    assert rpo.verdict is Verdict.UNKNOWN
    assert rpo.error == "verification.json names writes the ledger lacks: not-in-ledger"
    assert [(e.analyser, e.error) for e in summary.analyser_errors] == [("rpo", rpo.error)]
    lost = next(r for r in summary.results if r.slo == "lost_acked_writes")
    assert lost.verdict is Verdict.FAIL and lost.measured == 1


def test_a_fault_whose_injection_failed_is_unknown(tmp_path: Path) -> None:
    b = RunBuilder()
    healthy(b, 0, 60)
    b.fault("f1", 30.0, outcome="error")
    b.verify()
    summary = analyse(b.write_to(tmp_path))
    rto = next(r for r in summary.results if r.slo == "rto[f1]")
    assert rto.verdict is Verdict.UNKNOWN and "injection failed" in (rto.error or "")
    assert [p.phase for p in summary.phases] == ["steady"]
    write_outputs(tmp_path, summary)
    assert Summary.read(tmp_path / rundir.SUMMARY) == summary


def test_a_summary_of_another_schema_or_none_at_all_is_refused(tmp_path: Path) -> None:
    run_dir = kill_primary_run().write_to(tmp_path)
    write_outputs(run_dir, analyse(run_dir))
    path = run_dir / rundir.SUMMARY
    path.write_text(path.read_text().replace('"schema_version": 1', '"schema_version": 2'))
    with pytest.raises(
        AnalysisError, match=r"summary.json: not a summary of schema 1 \(schema_version: Input"
    ):
        Summary.read(path)
    path.unlink()
    with pytest.raises(AnalysisError, match=r"summary\.json: cannot be read"):
        Summary.read(path)


def test_outputs_round_trip_and_junit_has_one_case_per_slo(tmp_path: Path) -> None:
    b = kill_primary_run()
    b.slos = {"rto_s": {"single_node": "1s"}, "checks": {"failover_errors": None}}
    b.probes = []
    run_dir = b.write_to(tmp_path)
    summary = analyse(run_dir)
    write_outputs(run_dir, summary)
    assert Summary.read(run_dir / rundir.SUMMARY) == summary

    suite = ET.parse(run_dir / rundir.JUNIT).getroot().find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [r.slo for r in summary.results]
    # RTO, and throughput recovery judged against the same 1 s, fail; the lag is unknown.
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == (str(len(cases)), "2", "1")
    failure = next(c for c in cases if c.get("name") == "rto[f1]").find("failure")
    assert failure is not None and failure.text == "measured 2.01 s, target ≤ 1 s, margin -1.01 s"
    error = next(c for c in cases if c.get("name") == "replication_lag").find("error")
    assert error is not None and error.text == "probes.parquet is absent from the run directory"
