"""The alert drill's checks, run when the targets name them under `checks:` (reports/alerts.py
says what is measured):

    alert_fired[<fault>].<alert>   each expected alert's time to fire ≤ its target, given as
                                   `{PrimaryUnavailable: 30s, "*": 1m}` (a bare duration is
                                   "*"); an alert without a target must fire within its
                                   fault's horizon
    false_alarms                   the number of alerts fired in steady state ≤ `{max: 0}`
                                   (or a bare number)

Both are unknown when the drill ran no Prometheus or Prometheus could not be asked.
"""

from __future__ import annotations

from typing import Any

from contract.durations import parse_duration
from reports.checks import CheckContext
from reports.verdicts import Check, SLOResult


def _no_record(ctx: CheckContext) -> str | None:
    outcome = ctx.analysis.alerts
    if outcome.error is not None:
        return outcome.error
    if outcome.value is None:
        return "the drill ran no Prometheus (no alerts.json: give the scenario alerts: or --prometheus)"
    if outcome.value.error is not None:
        return f"Prometheus could not be asked: {outcome.value.error}"
    return None


def _targets(params: Any) -> dict[str, float]:
    if params is None or params == {}:
        return {}
    if not isinstance(params, dict):
        return {"*": parse_duration(params)}
    return {str(name): parse_duration(value) for name, value in params.items()}


def alert_fired_checks(ctx: CheckContext) -> list[SLOResult]:
    targets = _targets(ctx.params)
    missing = _no_record(ctx)
    if missing is not None:
        return [Check("alert_fired", "alert_fired", "expected alerts fired", "s").unknown(missing, None)]
    summary = ctx.analysis.alerts.value
    assert summary is not None
    if not summary.expected:
        what = "expected alerts fired"
        return [Check("alert_fired", "alert_fired", what, "s").unknown("no fault expects an alert", None)]
    results = []
    for e in summary.expected:
        target = targets.get(e.alert, targets.get("*", e.watched_s))
        what = f"time for {e.alert} to fire after {e.fault_id} ({e.kind})"
        check = Check(f"alert_fired[{e.fault_id}].{e.alert}", "alert_fired", what, "s", fault_id=e.fault_id)
        if e.time_to_fire_s is None:
            results.append(check.never(e.watched_s, target))
        else:
            results.append(check.judge(e.time_to_fire_s, target))
    return results


def false_alarm_checks(ctx: CheckContext) -> list[SLOResult]:
    params = ctx.params
    limit = float(params.get("max", 0) if isinstance(params, dict) else params or 0)
    check = Check("false_alarms", "false_alarms", "alerts fired in steady state", "alerts")
    missing = _no_record(ctx)
    if missing is not None:
        return [check.unknown(missing, limit)]
    summary = ctx.analysis.alerts.value
    assert summary is not None
    return [check.judge(float(len(summary.false_alarms)), limit)]
