"""`hubchaos compare`: when a candidate regresses from its baseline, and the command as a CI gate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from analysis_helpers import kill_primary_run
from click.testing import CliRunner, Result
from report_support import check_self_contained, parse
from test_report_html import PAYLOAD

from chaos.cli import main
from contract import rundir
from contract.errors import ExitCode, UsageError
from reports.analyse import analyse
from reports.compare import Status, Tolerance, compare, read_summary
from reports.html import render_comparison
from reports.markdown import comparison_summary
from reports.summary import Summary
from reports.verdicts import Check, SLOResult


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Summary:
    return analyse(kill_primary_run().write_to(tmp_path_factory.mktemp("base")))


def with_results(summary: Summary, *results: SLOResult) -> Summary:
    return summary.model_copy(update={"results": list(results)})


def latency(measured: float, target: float = 100.0, op: str = "prompts.get") -> SLOResult:
    return Check(f"latency[{op}].avg_ms", "latency", f"avg latency of {op}", "ms", op=op).judge(
        measured, target
    )


def rto(measured: float, target: float = 30.0) -> SLOResult:
    return Check("rto[f1]", "rto", "RTO of f1", "s", fault_id="f1").judge(measured, target)


def statuses(baseline: Summary, candidate: Summary, tolerance: Tolerance | None = None) -> dict[str, Status]:
    return {r.slo: r.status for r in compare(baseline, candidate, tolerance or Tolerance()).rows}


def test_the_same_run_does_not_regress(base: Summary) -> None:
    comparison = compare(base, base, Tolerance())
    assert not comparison.regressed and comparison.warnings == []
    assert [r.slo for r in comparison.rows] == [r.slo for r in base.results]
    assert {r.status for r in comparison.rows} == {Status.UNCHANGED}


@pytest.mark.parametrize(
    ("before", "after", "status"),
    [
        (50.0, 59.0, Status.UNCHANGED),  # within 10 ms
        (50.0, 61.0, Status.REGRESSED),  # beyond 10 ms (10 % of 50 is less)
        (500.0, 545.0, Status.UNCHANGED),  # within 10 % of 500 (more than 10 ms)
        (500.0, 560.0, Status.REGRESSED),
        (50.0, 30.0, Status.IMPROVED),
        (95.0, 101.0, Status.REGRESSED),  # within the tolerance, but the target is now missed
    ],
)
def test_the_tolerance_is_the_larger_of_relative_and_absolute(
    base: Summary, before: float, after: float, status: Status
) -> None:
    target = 1000.0 if before >= 500 else 100.0
    got = statuses(with_results(base, latency(before, target)), with_results(base, latency(after, target)))
    assert got == {"latency[prompts.get].avg_ms": status}


def test_tolerances_are_configurable_per_unit(base: Summary) -> None:
    baseline, candidate = with_results(base, rto(2.0)), with_results(base, rto(2.8))
    assert statuses(baseline, candidate) == {"rto[f1]": Status.UNCHANGED}  # 1 s allowed
    strict = Tolerance.parse(["s=0.5s", "relative=5%"])
    assert strict.s == 0.5 and strict.relative == 0.05
    assert statuses(baseline, candidate, strict) == {"rto[f1]": Status.REGRESSED}


def test_a_guarantee_no_longer_verified_regresses(base: Summary) -> None:
    unknown = Check("rto[f1]", "rto", "RTO of f1", "s", fault_id="f1").unknown(
        "probes.parquet is absent", 30.0
    )
    got = statuses(with_results(base, rto(2.0), latency(10)), with_results(base, unknown))
    assert got == {"rto[f1]": Status.REGRESSED, "latency[prompts.get].avg_ms": Status.REGRESSED}
    row = compare(with_results(base, rto(2.0)), with_results(base, unknown), Tolerance()).rows[0]
    assert row.reason == "could not be measured in the candidate (probes.parquet is absent)"


def test_slos_new_in_the_candidate_regress_only_when_they_fail(base: Summary) -> None:
    baseline = with_results(base, rto(2.0))
    candidate = with_results(base, rto(2.0), latency(10, op="a"), latency(150, op="b"))
    assert statuses(baseline, candidate) == {
        "rto[f1]": Status.UNCHANGED,
        "latency[a].avg_ms": Status.ADDED,
        "latency[b].avg_ms": Status.REGRESSED,
    }


def test_deltas_and_a_changed_target_are_reported(base: Summary) -> None:
    (row,) = compare(
        with_results(base, latency(40, 100)), with_results(base, latency(80, 200)), Tolerance()
    ).rows
    assert row.delta == 40 and row.relative == 1.0 and row.allowed == 10.0 and row.target == 200
    assert row.status is Status.REGRESSED
    assert row.reason == "worse by +40 ms (tolerance 10 ms); the target changed from 100 ms"


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("relative", "expected KEY=VALUE"),
        ("percent=3", "KEY one of relative, s, ms, ratio, writes"),
        ("relative=150%", "relative: Input should be less than or equal to 1"),
        ("ms=fast", "ms: Value error, expected a number or a duration"),
        ("writes=-1", "writes: Input should be greater than or equal to 0"),
    ],
)
def test_bad_tolerances_are_one_clear_error(assignment: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        Tolerance.parse([assignment])


def hubchaos(*args: str | Path) -> Result:
    """The command in this process (click's runner), as a shell would call it."""
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_the_installed_command_is_registered(tmp_path: Path) -> None:
    run_dir = kill_primary_run().write_to(tmp_path / "run")
    analyse(run_dir).write(run_dir / rundir.SUMMARY)
    result = subprocess.run(
        [sys.executable, "-m", "chaos", "compare", run_dir, run_dir],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "no regression" in result.stdout


def test_the_cli_gates_on_regressions_and_writes_reports(tmp_path: Path) -> None:
    baseline = kill_primary_run(outage_s=2.0).write_to(tmp_path / "baseline")
    slower = kill_primary_run(outage_s=6.0)
    slower.faults[0].kind = f"kill {PAYLOAD}"  # a string the comparison must escape
    candidate = slower.write_to(tmp_path / "candidate")
    for run_dir in (baseline, candidate):
        analyse(run_dir).write(run_dir / rundir.SUMMARY)

    same = hubchaos("compare", baseline, baseline / rundir.SUMMARY)
    assert same.exit_code == 0, same.stderr
    assert "no regression" in same.stdout

    html_out, md_out = tmp_path / "cmp.html", tmp_path / "cmp.md"
    worse = hubchaos("compare", baseline, candidate, "--out", html_out, "--out", md_out)
    assert worse.exit_code == 1, worse.stdout + worse.stderr
    assert "regressed rto[f1]: worse by +4" in worse.stdout
    html = html_out.read_text()
    assert PAYLOAD not in html and "<script" not in html
    rows = {r[0]: r for r in parse(html).tables["slos"]}
    assert rows["rto[f1]"][8] == "regressed" and rows["rto[f1]"][6].startswith("+4")
    assert "| ❌ regressed | rto\\[f1\\] |" in md_out.read_text()

    loose = hubchaos(
        "compare",
        baseline,
        candidate,
        "--tolerance",
        "s=10",
        "--tolerance",
        "relative=5%",
        "--tolerance",
        "errors=100",
    )
    assert loose.exit_code == 0, loose.stdout


def test_runs_of_different_scenarios_are_refused_unless_asked_for(tmp_path: Path) -> None:
    baseline = kill_primary_run().write_to(tmp_path / "baseline")
    other = kill_primary_run()
    other.scenario = "another"
    candidate = other.write_to(tmp_path / "candidate")
    for run_dir in (baseline, candidate):
        analyse(run_dir).write(run_dir / rundir.SUMMARY)
    refused = CliRunner().invoke(main, ["compare", str(baseline), str(candidate)])
    assert refused.exit_code == ExitCode.USAGE
    assert "the runs are of different scenarios (synthetic and another)" in refused.output
    anyway = hubchaos("compare", baseline, candidate, "--any-scenario")
    assert anyway.exit_code == 0, anyway.output
    assert "different scenarios" in anyway.output


def test_the_comparison_page_is_self_contained(base: Summary) -> None:
    comparison = compare(base, with_results(base, *base.results[:-1]), Tolerance())
    rows = check_self_contained(render_comparison(comparison)).tables["slos"]
    assert [r[0] for r in rows] == [r.slo for r in base.results]
    assert rows[-1][8] == "regressed" and rows[-1][9] == "not checked in the candidate"
    assert comparison_summary(comparison).startswith(f"## ❌ {base.run.scenario}: REGRESSED")


def bad_input(folder: Path, kind: str) -> Path:
    if kind == "old schema":
        (folder / "old.json").write_text(json.dumps({"schema_version": 0, "run": {}}))
        return folder / "old.json"
    if kind == "torn":
        (folder / "torn.json").write_text('{"schema_version": 1, "run":')
        return folder / "torn.json"
    return folder / "absent" if kind == "absent" else folder


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("absent", "baseline {d}/absent: no such run"),
        ("not analysed", "baseline {d}: no summary.json in it (run `hubchaos report` first)"),
        ("old schema", "baseline {d}/old.json: a summary of schema 0; this hubchaos reads schema 1"),
        ("torn", "baseline {d}/torn.json: not a summary of schema 1 (Invalid JSON"),
    ],
)
def test_bad_input_is_exit_2_with_one_line(tmp_path: Path, kind: str, message: str) -> None:
    other = kill_primary_run().write_to(tmp_path / "other")
    analyse(other).write(other / rundir.SUMMARY)
    folder = tmp_path / "bad"
    folder.mkdir()
    result = hubchaos("compare", bad_input(folder, kind), other)
    assert result.exit_code == 2
    assert result.stderr.startswith("hubchaos: " + message.format(d=folder)), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    with pytest.raises(UsageError):
        read_summary(bad_input(folder, kind), "baseline")


def test_an_unwritable_out_or_unknown_suffix_is_bad_input(tmp_path: Path) -> None:
    run_dir = kill_primary_run().write_to(tmp_path / "run")
    analyse(run_dir).write(run_dir / rundir.SUMMARY)
    wrong = hubchaos("compare", run_dir, run_dir, "--out", tmp_path / "cmp.pdf")
    assert wrong.exit_code == 2 and "expected a .html or .md file" in wrong.stderr
    missing = hubchaos("compare", run_dir, run_dir, "--out", tmp_path / "no" / "such" / "cmp.md")
    assert missing.exit_code == 2 and "cannot be written" in missing.stderr
