"""SLO profiles as YAML (by name or path, extending one another) and checks composed from a
registry: built-in ones always, others when a profile or scenario names them."""

from __future__ import annotations

from pathlib import Path

import pytest
from analysis_helpers import healthy, probe_rounds
from click.testing import CliRunner

from chaos.cli import main
from chaos.scenario.load import load
from contract.errors import ScenarioError
from reports.analyse import analyse
from reports.html.report import render_report
from reports.junit import junit_tree
from reports.markdown import run_summary
from reports.slo import DEFAULT_PROFILE, SLOSpec, profile_targets
from reports.synthetic.builder import RunBuilder
from reports.verdicts import Verdict

RECOVERY_CHECKS = {
    "restore_rto": {"max": "15m"},
    "restore_rpo": {"max": "1m"},
    "backup_integrity": {"max_problems": 0},
}
CHILD = """\
name: stricter
description: the hub's targets with a tighter error rate
extends: {parent}
error_rate: 0.01%
latency_ms: {{"*": {{p99_ms: 250}}}}
checks:
  tests.plugin_checks:canary_failures: {{max: 0}}
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_the_shipped_profile_is_a_data_file() -> None:
    targets = profile_targets(DEFAULT_PROFILE)
    assert targets.profile == DEFAULT_PROFILE and targets.description
    # The guide's complete-disaster targets (reports/recovery.py); they judge only runs that restore.
    assert targets.checks == {"failover_errors": {"max": 0}} | RECOVERY_CHECKS


def test_a_profile_file_extends_another_by_name_and_by_relative_path(tmp_path: Path) -> None:
    child = profile_targets(str(write(tmp_path / "child.yaml", CHILD.format(parent=DEFAULT_PROFILE))))
    base = profile_targets(DEFAULT_PROFILE)
    assert (child.profile, child.error_rate, child.rpo_s) == ("stricter", 0.0001, base.rpo_s)
    # nested sections merge: the parent's avg_ms stays beside the child's p99_ms
    assert child.latency_ms["*"].model_dump(exclude_none=True) == {"avg_ms": 100.0, "p99_ms": 250.0}
    (tmp_path / "sub").mkdir()
    grandchild = write(tmp_path / "sub" / "g.yaml", "name: g\nextends: ../child.yaml\nrpo_s: 5s\n")
    g = profile_targets(str(grandchild))
    assert (g.profile, g.error_rate, g.rpo_s) == ("g", 0.0001, 5.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("extends: ai-hub-production\nrpo_s: soon\n", "rpo_s: Value error, expected a number or a duration"),
        ("extends: nope\n", "unknown SLO profile 'nope' (known: ai-hub-production)"),
        ("extends: self.yaml\n", "extends itself"),
        ("error_rate: 1%\n", "rto_s: Field required"),
        ("extends: ai-hub-production\nchecks: {tests.plugin_checks:nothing: {}}\n", "has no nothing"),
        ("extends: ai-hub-production\n[", "invalid YAML"),
    ],
)
def test_a_bad_profile_is_refused_with_the_scenario(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path / "self.yaml", text)
    scenario = write(tmp_path / "s.yaml", "name: s\nslos:\n  profile: self.yaml\n")
    with pytest.raises(ScenarioError) as err:
        load(scenario)
    assert str(err.value).startswith(f"{scenario}:3: slos.profile: ") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_scenario_names_a_profile_file_relative_to_itself(tmp_path: Path) -> None:
    (tmp_path / "slo").mkdir()
    write(tmp_path / "slo" / "child.yaml", CHILD.format(parent=DEFAULT_PROFILE))
    scenario = write(tmp_path / "s.yaml", "name: s\nslos:\n  profile: slo/child.yaml\n  rpo_s: 2s\n")
    targets = load(scenario).slos.resolve()
    assert (targets.profile, targets.error_rate, targets.rpo_s) == ("stricter", 0.0001, 2.0)
    plugin = {"tests.plugin_checks:canary_failures": {"max": 0}}
    assert targets.checks == {"failover_errors": {"max": 0}} | plugin | RECOVERY_CHECKS


def _run(tmp_path: Path, checks: dict[str, object], failed_canaries: int = 0) -> RunBuilder:
    b = RunBuilder(slos={"profile": DEFAULT_PROFILE, "checks": checks})
    healthy(b, 0, 60)
    for i in range(failed_canaries):
        b.request(30 + i * 0.1, op="canary.write", ok=False, is_write=True)
    probe_rounds(b, 0, 60, every=1.0, primary="m0", term=1)
    b.verify()
    return b


def test_a_named_check_runs_after_the_built_in_ones_and_judges_the_run(tmp_path: Path) -> None:
    checks = {"tests.plugin_checks:canary_failures": {"max": 0}}
    passed = analyse(_run(tmp_path, checks).write_to(tmp_path / "a"))
    assert [r.slo for r in passed.results][-1] == "canary_failures"
    assert passed.results[-1].verdict is Verdict.PASS and passed.verdict is Verdict.PASS
    failed = analyse(_run(tmp_path, checks, failed_canaries=3).write_to(tmp_path / "b"))
    last = failed.results[-1]
    assert (last.verdict, last.measured, failed.verdict) == (Verdict.FAIL, 3.0, Verdict.FAIL)


def test_a_check_that_raises_is_unknown_and_null_switches_one_off(tmp_path: Path) -> None:
    checks = {"tests.plugin_checks:broken": {}, "tests.plugin_checks:canary_failures": None}
    summary = analyse(_run(tmp_path, checks).write_to(tmp_path / "a"))
    (result,) = [r for r in summary.results if r.category == "tests.plugin_checks:broken"]
    assert result.verdict is Verdict.UNKNOWN and result.error == "RuntimeError: the check itself failed"
    assert not [r for r in summary.results if r.slo == "canary_failures"]
    assert summary.verdict is Verdict.UNKNOWN and summary.exit_code == 1


def test_built_in_checks_are_not_named_under_checks() -> None:
    with pytest.raises(ValueError, match="latency is a built-in check"):
        SLOSpec.model_validate({"checks": {"latency": {}}}).resolve()


def test_profiles_command_lists_profiles_checks_kinds_and_backends(tmp_path: Path) -> None:
    out = CliRunner().invoke(main, ["profiles"])
    assert out.exit_code == 0, out.output
    for expected in ("ai-hub-production", "built in", "faults", "replication_lag", "partition", "compose"):
        assert expected in out.output
    shown = CliRunner().invoke(
        main, ["profiles", str(write(tmp_path / "c.yaml", CHILD.format(parent=DEFAULT_PROFILE)))]
    )
    assert (
        shown.exit_code == 0 and "profile: stricter" in shown.output and "error_rate: 0.0001" in shown.output
    )
    missing = CliRunner().invoke(main, ["profiles", "nope"])
    assert missing.exit_code == 2 and "unknown SLO profile 'nope'" in missing.output


def test_a_known_failure_keeps_its_fail_and_reason_and_does_not_fail_the_run(tmp_path: Path) -> None:
    checks = {"tests.plugin_checks:canary_failures": {"max": 0}}
    b = _run(tmp_path, checks, failed_canaries=3)
    # By the check's name, and the same failures in the error rate by SLO id.
    b.slos["known_failures"] = {
        "tests.plugin_checks:canary_failures": "canaries write to a frozen member",
        "error_rate[steady]": "the canaries",
    }
    run_dir = b.write_to(tmp_path / "a")
    summary = analyse(run_dir)
    assert '<span class="badge fail known">fail (known)</span>' in render_report(run_dir, summary)
    (rate,) = [r for r in summary.results if r.slo == "error_rate[steady]"]
    assert rate.known_failure == "the canaries"
    last = summary.results[-1]
    assert (last.verdict, last.label, last.measured) == (Verdict.FAIL, "fail (known)", 3.0)
    assert last.explanation.endswith("; known failure: canaries write to a frozen member")
    assert (summary.verdict, summary.exit_code) == (Verdict.PASS, 0)
    markdown = run_summary(summary)
    assert markdown.startswith("## ✅") and "2 fail (known)" in markdown and "⚠️ fail (known)" in markdown
    case = junit_tree(summary).getroot().find(".//testcase[@name='canary_failures']")
    assert case is not None and case.find("skipped") is not None and case.find("failure") is None


def test_a_known_failure_that_did_not_reproduce_passes_and_says_so(tmp_path: Path) -> None:
    b = _run(tmp_path, {"tests.plugin_checks:canary_failures": {"max": 0}})
    b.slos["known_failures"] = {"tests.plugin_checks:canary_failures": "canaries write to a frozen member"}
    last = analyse(b.write_to(tmp_path / "a")).results[-1]
    assert (last.verdict, last.known_failure) == (Verdict.PASS, None)
    assert last.explanation.endswith("a known failure that did not reproduce")


def test_a_known_failure_must_name_a_check_the_run_has(tmp_path: Path) -> None:
    scenario = write(tmp_path / "s.yaml", "name: s\nslos:\n  known_failures: {failover_erors: why}\n")
    with pytest.raises(ScenarioError) as err:
        load(scenario)
    assert "known_failures.failover_erors: no check of this run is called that" in str(err.value)
    assert "failover_errors" in str(err.value) and "\n" not in str(err.value)
    # A fault id must be one the timeline injects (primary-kill injects f1 only).
    shipped = Path(__file__).parent.parent / "scenarios" / "primary-kill.yaml"
    ok = load(shipped, ['slos.known_failures={"rto[f1]": "why"}']).slos.resolve()
    assert ok.known_failures["rto[f1]"] == "why"
    with pytest.raises(ScenarioError, match=r"known_failures.rto\[f2\]: the fault timeline injects f1..f1"):
        load(shipped, ['slos.known_failures={"rto[f2]": "why"}'])
    with pytest.raises(ScenarioError, match="at least 1 character"):
        load(shipped, ['slos.known_failures={"rto[f1]": ""}'])  # a known failure says why
