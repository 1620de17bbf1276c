"""The guide's alert rules (alerts/ai-hub.rules.yml): valid for Prometheus (`promtool check
rules`), each alert firing on synthetic series as its rule says (`promtool test rules`), and a
drill's `for:` overrides written into a copy Prometheus still accepts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_support import require

from chaos.monitoring.rules import (
    parse_prometheus_duration,
    prometheus_duration,
    read_rule_files,
    write_for_drill,
)
from chaos.monitoring.spec import SHIPPED_RULES
from chaos.scenario.load import loads
from contract.errors import ScenarioError

ROOT = Path(__file__).parent.parent
GUIDE_ALERTS = {
    "PrimaryUnavailable",
    "ReplicationLagCritical",
    "ConnectionFailuresHigh",
    "ErrorRateHigh",
    "SlowQueries",
    "ConnectionCountHigh",
}


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require("promtool"), *args], capture_output=True, text=True, cwd=cwd, check=False)


def test_the_shipped_rules_are_valid_prometheus_rules() -> None:
    checked = promtool("check", "rules", str(SHIPPED_RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert {r.name for r in read_rule_files([SHIPPED_RULES])} >= GUIDE_ALERTS


def test_each_alert_fires_on_synthetic_series_as_its_rule_says() -> None:
    tested = promtool("test", "rules", "ai-hub.rules.test.yml", cwd=SHIPPED_RULES.parent / "tests")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    tests = yaml.safe_load((SHIPPED_RULES.parent / "tests" / "ai-hub.rules.test.yml").read_text())
    exercised = {
        t["alertname"] for case in tests["tests"] for t in case["alert_rule_test"] if t["exp_alerts"]
    }
    assert exercised == {r.name for r in read_rule_files([SHIPPED_RULES])}


def test_a_drill_shortens_for_in_a_copy_prometheus_accepts(tmp_path: Path) -> None:
    files, rules = write_for_drill([SHIPPED_RULES], {"PrimaryUnavailable": 2.0, "*": 10.0}, tmp_path)
    checked = promtool("check", "rules", *map(str, files))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    evaluated = {r.name: r for r in read_rule_files(files)}
    assert evaluated["PrimaryUnavailable"].for_s == 2.0
    assert evaluated["ErrorRateHigh"].for_s == 10.0
    by_name = {r.name: r for r in rules}
    assert (by_name["PrimaryUnavailable"].for_s, by_name["PrimaryUnavailable"].for_in_file_s) == (2.0, 30.0)
    assert by_name["ErrorRateHigh"].expr == evaluated["ErrorRateHigh"].expr


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("1m", 60), ("1h30m", 5400), ("500ms", 0.5), ("2d", 172800)]
)
def test_prometheus_durations_read_and_write(text: str, seconds: float) -> None:
    assert parse_prometheus_duration(text) == seconds
    assert parse_prometheus_duration(prometheus_duration(seconds)) == seconds


def test_a_bad_prometheus_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        parse_prometheus_duration("1m30")


SCENARIO = """
name: pager
faults: [{at: 10s, kind: kill}]
alerts:
"""


def scenario(alerts: str, tmp_path: Path | None = None) -> object:
    return loads(SCENARIO + alerts + "\n", file=str(tmp_path / "s.yaml") if tmp_path else "s.yaml")


def test_a_scenario_names_alerts_of_its_rules_and_kinds_of_its_faults() -> None:
    loaded = scenario(
        "  for: {PrimaryUnavailable: 5s}\n  expect: {kill: [PrimaryUnavailable], f1: [MemberDown]}"
    )
    assert loaded.alerts is not None and loaded.alerts.for_ == {"PrimaryUnavailable": 5.0}


@pytest.mark.parametrize(
    ("alerts", "message"),
    [
        ("  for: {PrimaryDown: 5s}", "for.PrimaryDown: no alerting rule 'PrimaryDown'"),
        ("  expect: {kill: [Nope]}", "expect.kill: no alerting rule 'Nope'"),
        ("  expect: {stop: [MemberDown]}", "alerts.expect.stop: neither a fault kind of this scenario"),
        ("  expect: {f2: [MemberDown]}", "nor a fault id (f1..f1)"),
        ("  rules: [missing.rules.yml]", "missing.rules.yml: no such file"),
        ("  scrape_interval: 0s", "greater than or equal to 0.1"),
    ],
)
def test_bad_alerts_sections_are_refused_by_name(alerts: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="alerts") as caught:
        scenario(alerts, tmp_path)
    assert message in str(caught.value)


def test_rule_files_are_relative_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "mine.yml").write_text(
        "groups:\n- name: g\n  rules:\n  - alert: Mine\n    expr: up == 0\n    for: 1m\n"
    )
    loaded = scenario("  rules: [mine.yml]\n  expect: {kill: [Mine]}", tmp_path)
    assert loaded.alerts is not None and loaded.alerts.rules == [tmp_path / "mine.yml"]
