"""Every YAML a user hands the suite goes through the bounded reader (contract/safeyaml.py), not
only scenarios: alert rule files, check-driver option files and a run directory's scenario.yaml
are refused like a hostile scenario, in one line naming the file (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from analysis_helpers import healthy, probe_rounds
from click.testing import CliRunner

from chaos.cli import main
from chaos.scenario.load import loads
from contract import rundir
from contract.errors import ExitCode, ScenarioError
from reports.analyse import analyse
from reports.synthetic.builder import RunBuilder


def laughs(levels: int = 5, indent: str = "") -> str:
    """Aliases of aliases: 9**levels values from a few hundred bytes. Five levels (59,049) are over
    the reader's budget yet small enough that a reader without one survives them, so that these
    tests fail rather than exhaust the machine where the budget is missing."""
    lines = [f"{indent}l0: &l0 [{', '.join(['lol'] * 9)}]"]
    lines += [f"{indent}l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


DEEP = "a: " + "[" * 5000 + "]" * 5000 + "\n"


def test_an_alert_rule_file_is_read_within_the_budgets(tmp_path: Path) -> None:
    rules = tmp_path / "evil.rules.yml"
    rules.write_text(
        "groups:\n- name: g\n  rules:\n  - alert: Laughs\n    expr: up == 0\n    labels:\n"
        + laughs(indent="      ")
    )
    scenario = (
        "name: t\ntarget: {backend: local, members: 3}\nworkload: {users: 2, duration: 60s}\n"
        "faults:\n  - {at: 10s, kind: kill, target: primary, heal_after: 5s}\n"
        "alerts:\n  rules: [evil.rules.yml]\n"
    )
    with pytest.raises(ScenarioError) as refused:
        loads(scenario, str(tmp_path / "s.yaml"))
    message = str(refused.value)
    assert f"alert rules {rules}:" in message and "expands to more than" in message
    assert "\n" not in message


@pytest.mark.parametrize(("text", "said"), [(laughs(), "expands to more than"), (DEEP, "nested deeper")])
def test_a_check_driver_options_file_is_read_within_the_budgets(text: str, said: str, tmp_path: Path) -> None:
    options = tmp_path / "options.yaml"
    options.write_text(text)
    result = CliRunner().invoke(main, ["check-driver", str(options)])
    assert result.exit_code == ExitCode.USAGE, result.output
    out = result.output.strip()
    assert out.startswith(f"hubchaos: {options}:1: ") and said in out, out
    assert len(out.splitlines()) == 1


@pytest.fixture
def hostile_run(tmp_path: Path) -> Path:
    b = RunBuilder()
    healthy(b, 0, 30)
    probe_rounds(b, 0, 30, every=1.0, primary="m0", term=1)
    b.verify()
    run = b.write_to(tmp_path / "run")
    (run / rundir.SCENARIO).write_text("name: t\n" + laughs())
    return run


def test_a_hostile_scenario_in_a_run_directory_is_a_scenario_error_naming_it(hostile_run: Path) -> None:
    with pytest.raises(ScenarioError, match="expands to more than") as refused:
        analyse(hostile_run)
    assert str(refused.value).startswith(f"{hostile_run / rundir.SCENARIO}:")


def test_report_refuses_a_hostile_scenario_in_one_line(hostile_run: Path) -> None:
    result = CliRunner().invoke(main, ["report", str(hostile_run)])
    assert result.exit_code == ExitCode.USAGE, result.output
    out = result.output.strip()
    assert out.startswith(f"hubchaos: {hostile_run / rundir.SCENARIO}:") and len(out.splitlines()) == 1
    assert not (hostile_run / rundir.SUMMARY).exists()
