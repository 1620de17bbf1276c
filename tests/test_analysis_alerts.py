"""The alert analysis on synthetic Prometheus answers with hand-computed results: firing
intervals, time to fire after each fault, alerts that never fired, false alarms, and the
checks that judge them (reports/alerts.py, reports/alert_checks.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports.alerts import AlertsSummary, firing_intervals
from reports.analyse import analyse
from reports.synthetic.builder import RunBuilder
from reports.verdicts import Verdict

CHECKS = {"checks": {"alert_fired": {"PrimaryUnavailable": "10s", "*": "30s"}, "false_alarms": {"max": 0}}}


def drill(slos: dict[str, object] | None = None) -> RunBuilder:
    """100 s of canary writes; f1 kills the primary at 20 s (healed at 35 s), f2 slows a link
    at 60 s (healed at 80 s); recovery windows last 30 s by default, so 0-20 s is steady."""
    run = RunBuilder(slos=slos if slos is not None else CHECKS)
    run.series("canary.write", 0.0, 100.0, every=0.5, is_write=True)
    run.fault("f1", 20.0, heal=35.0, kind="kill")
    run.fault("f2", 60.0, heal=80.0, kind="degrade", target="m2", members=["m2"])
    run.alert_drill(-5.0, 110.0, {"kill": ["PrimaryUnavailable"], "f2": ["ReplicationLagCritical"]})
    return run


def alerts_of(run: RunBuilder, tmp_path: Path) -> tuple[AlertsSummary, dict[str, object]]:
    summary = analyse(run.write_to(tmp_path / "run"))
    assert summary.alerts is not None
    return summary.alerts, {
        r.slo: r for r in summary.results if r.category in ("alert_fired", "false_alarms")
    }


def test_time_to_fire_is_from_injection_to_the_first_firing_evaluation(tmp_path: Path) -> None:
    run = drill()
    run.fired("PrimaryUnavailable", 24.0, 33.0, pending=22.0, severity="critical")
    run.fired("ReplicationLagCritical", 75.0, 79.0, pending=71.0, member="m2")
    alerts, results = alerts_of(run, tmp_path)
    by_alert = {e.alert: e for e in alerts.expected}
    assert by_alert["PrimaryUnavailable"].time_to_fire_s == pytest.approx(4.0)
    assert by_alert["PrimaryUnavailable"].pending_after_s == pytest.approx(2.0)
    assert by_alert["ReplicationLagCritical"].time_to_fire_s == pytest.approx(15.0)
    assert [i.duration_s for i in alerts.firing] == pytest.approx([10.0, 5.0])  # to the evaluation after
    assert alerts.firing[1].labels == {"member": "m2"} and alerts.firing[1].fault_ids == ["f2"]
    assert results["alert_fired[f1].PrimaryUnavailable"].verdict is Verdict.PASS
    assert results["alert_fired[f2].ReplicationLagCritical"].verdict is Verdict.PASS
    assert results["false_alarms"].verdict is Verdict.PASS and results["false_alarms"].measured == 0


def test_an_expected_alert_that_never_fired_fails_and_a_slow_one_misses_its_target(tmp_path: Path) -> None:
    run = drill()
    run.fired("PrimaryUnavailable", 32.0, 40.0, severity="critical")  # 12 s: over the 10 s target
    alerts, results = alerts_of(run, tmp_path)
    lag = next(e for e in alerts.expected if e.alert == "ReplicationLagCritical")
    assert lag.time_to_fire_s is None and lag.pending_after_s is None
    assert results["alert_fired[f1].PrimaryUnavailable"].verdict is Verdict.FAIL
    assert results["alert_fired[f1].PrimaryUnavailable"].measured == pytest.approx(12.0)
    never = results["alert_fired[f2].ReplicationLagCritical"]
    assert never.verdict is Verdict.FAIL and never.lower_bound
    assert never.target == 30.0  # the "*" target


def test_alerts_firing_in_steady_state_are_false_alarms(tmp_path: Path) -> None:
    run = drill()
    run.fired("SlowQueries", 5.0, 9.0)  # before any fault
    run.fired("ErrorRateHigh", 40.0, 70.0)  # in f1's recovery: not a false alarm, however long
    alerts, results = alerts_of(run, tmp_path)
    assert [(i.alert, i.phase.value) for i in alerts.false_alarms] == [("SlowQueries", "steady")]
    assert results["false_alarms"].verdict is Verdict.FAIL and results["false_alarms"].measured == 1


def test_an_alert_already_firing_at_injection_was_not_fired_by_the_fault(tmp_path: Path) -> None:
    run = drill()
    run.fired("PrimaryUnavailable", 15.0, 30.0)
    alerts, _ = alerts_of(run, tmp_path)
    assert next(e for e in alerts.expected if e.fault_id == "f1").time_to_fire_s is None


def test_a_gap_of_more_than_two_evaluations_ends_an_interval(tmp_path: Path) -> None:
    run = drill()
    run.fired("MemberDown", 62.0, 64.0, member="m2")
    run.fired("MemberDown", 68.0, 70.0, member="m2")
    assert run.alerts is not None
    starts = [i[2] - run.origin for i in firing_intervals(run.alerts)]
    assert starts == [62.0, 68.0]


def test_checks_are_unknown_without_prometheus(tmp_path: Path) -> None:
    run = RunBuilder(slos=CHECKS)
    run.series("canary.write", 0.0, 10.0, every=0.5, is_write=True)
    summary = analyse(run.write_to(tmp_path / "run"))
    assert summary.alerts is None
    judged = {r.slo: r for r in summary.results if r.category in ("alert_fired", "false_alarms")}
    assert {r.verdict for r in judged.values()} == {Verdict.UNKNOWN}
    assert "no Prometheus" in (judged["false_alarms"].error or "")


def test_a_prometheus_that_could_not_answer_makes_the_checks_unknown(tmp_path: Path) -> None:
    run = drill()
    assert run.alerts is not None
    run.alerts.error = "Prometheus query: connection refused"
    alerts, results = alerts_of(run, tmp_path)
    assert alerts.error is not None
    assert {r.verdict for r in results.values()} == {Verdict.UNKNOWN}
