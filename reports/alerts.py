"""Which alerts a real Prometheus fired during an alert drill, against the fault windows.

Read from `alerts.json` alone (Prometheus' own answers, recorded by the drill): every
evaluation's `ALERTS` sample, so an alert's firing interval runs from the first evaluation that
found it firing to the evaluation after the last (the one that found it resolved), and
`ALERTS_FOR_STATE`, whose value is when the alert's condition first held (pending since).

    time to fire    from a fault's injection to the first firing of an alert the scenario
                    expects of it (`alerts.expect`: by fault kind or fault id), among those that
                    start firing in the fault's horizon (reports/faults.py); an alert already
                    firing at the injection was not fired by it
    never fired     an expected alert with no such interval
    false alarm     a firing interval that starts in a steady phase (reports/phases.py): no
                    fault was active or recovering

The checks that judge these are in reports/alert_checks.py.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from contract.rundir import AlertsRecord
from reports.faults import Fault
from reports.phases import Phase, PhaseWindow, window_index
from reports.results import Result

# Samples further apart than this many evaluation intervals belong to separate intervals.
GAP_INTERVALS = 2.5
_OWN_LABELS = ("__name__", "alertname", "alertstate")


class AlertRuleView(Result):
    name: str
    group: str
    file: str
    expr: str
    severity: str | None
    for_s: float  # in this drill
    for_in_file_s: float  # as the rule file says
    health: str | None  # Prometheus' verdict on the rule: ok, err, unknown
    last_error: str | None

    @property
    def overridden(self) -> bool:
        return self.for_s != self.for_in_file_s


class AlertInterval(Result):
    alert: str
    labels: dict[str, str]  # the alert's labels but its name and state
    start: float  # the first evaluation that found it firing
    end: float  # the evaluation that found it resolved (or the last one recorded)
    pending_since: float | None  # when its condition first held
    phase: Phase  # the phase it started firing in
    fault_ids: list[str]  # the faults active or recovering then

    @property
    def duration_s(self) -> float:
        return self.end - self.start


class ExpectedAlert(Result):
    fault_id: str
    kind: str
    alert: str
    t_inject: float
    watched_s: float  # how long after injection a firing was attributed to this fault
    fired_at: float | None
    time_to_fire_s: float | None  # None: it never fired
    pending_after_s: float | None  # from injection to the condition first holding


class AlertsSummary(Result):
    prometheus_version: str
    scrape_interval_s: float
    evaluation_interval_s: float
    rules: list[AlertRuleView]
    firing: list[AlertInterval]  # every firing interval, in time order
    expected: list[ExpectedAlert]
    false_alarms: list[AlertInterval]
    error: str | None = None  # Prometheus could not be asked: nothing above is complete


def _series(answer: dict[str, Any]) -> list[tuple[dict[str, str], np.ndarray, np.ndarray]]:
    """(labels, times, values) of each series of a matrix answer."""
    if not answer:
        return []
    if answer.get("resultType") != "matrix":
        raise ValueError(f"alerts.json: expected a matrix answer, got {answer.get('resultType')!r}")
    found = []
    for series in answer.get("result", []):
        values = np.array(series.get("values") or [], dtype=float).reshape(-1, 2)
        found.append((dict(series.get("metric", {})), values[:, 0], values[:, 1]))
    return found


def _key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in labels.items() if k not in _OWN_LABELS))


def firing_intervals(record: AlertsRecord) -> list[tuple[str, dict[str, str], float, float, float | None]]:
    """(alert, labels, start, end, pending since) of every firing interval, in time order."""
    step = record.evaluation_interval_s
    since: dict[tuple[tuple[str, str], ...], tuple[np.ndarray, np.ndarray]] = {}
    for labels, times, values in _series(record.for_state):
        since[(("alertname", labels.get("alertname", "")), *_key(labels))] = (times, values)
    intervals = []
    for labels, times, _ in _series(record.alerts):
        if labels.get("alertstate") != "firing" or not len(times):
            continue
        name = labels.get("alertname", "")
        own = dict(_key(labels))
        breaks = np.flatnonzero(np.diff(times) > GAP_INTERVALS * step) + 1
        for run in np.split(times, breaks):
            start, last = float(run[0]), float(run[-1])
            pending = None
            state = since.get((("alertname", name), *_key(labels)))
            if state is not None:
                at = np.searchsorted(state[0], start, side="right") - 1
                pending = float(state[1][at]) if at >= 0 else None
            intervals.append((name, own, start, min(last + step, max(record.end, last)), pending))
    return sorted(intervals, key=lambda i: (i[2], i[0]))


def alert_analysis(
    record: AlertsRecord, faults: list[Fault], windows: list[PhaseWindow], run_end: float
) -> AlertsSummary:
    health = {str(h.get("name")): h for h in record.rule_health}
    rules = [
        AlertRuleView(
            name=r.name,
            group=r.group,
            file=r.file,
            expr=r.expr,
            severity=r.labels.get("severity"),
            for_s=r.for_s,
            for_in_file_s=r.for_in_file_s,
            health=health.get(r.name, {}).get("health"),
            last_error=health.get(r.name, {}).get("lastError") or None,
        )
        for r in record.rules
    ]
    raw = firing_intervals(record)
    where = window_index(np.array([i[2] for i in raw]), windows) if raw else np.array([], dtype=int)
    firing = [
        AlertInterval(
            alert=name,
            labels=labels,
            start=start,
            end=end,
            pending_since=pending,
            phase=windows[w].phase,
            fault_ids=list(windows[w].fault_ids),
        )
        for (name, labels, start, end, pending), w in zip(raw, where, strict=True)
    ]
    return AlertsSummary(
        prometheus_version=record.prometheus_version,
        scrape_interval_s=record.scrape_interval_s,
        evaluation_interval_s=record.evaluation_interval_s,
        rules=rules,
        firing=firing,
        expected=_expected(record, faults, firing, run_end),
        false_alarms=[i for i in firing if i.phase is Phase.STEADY],
        error=record.error,
    )


def _expected(
    record: AlertsRecord, faults: list[Fault], firing: list[AlertInterval], run_end: float
) -> list[ExpectedAlert]:
    by_alert: dict[str, list[AlertInterval]] = defaultdict(list)
    for interval in firing:
        by_alert[interval.alert].append(interval)
    expected = []
    for fault in (f for f in faults if f.injected):
        names = dict.fromkeys(
            name for key in (fault.kind, fault.fault_id) for name in record.expect.get(key, [])
        )
        # The last fault's horizon ends with the load; alerts may fire after it, while recorded.
        until = fault.horizon_end if fault.horizon_end < run_end else max(record.end, run_end)
        for name in names:
            first = next((i for i in by_alert[name] if fault.t_inject <= i.start <= until), None)
            expected.append(
                ExpectedAlert(
                    fault_id=fault.fault_id,
                    kind=fault.kind,
                    alert=name,
                    t_inject=fault.t_inject,
                    watched_s=until - fault.t_inject,
                    fired_at=first.start if first else None,
                    time_to_fire_s=first.start - fault.t_inject if first else None,
                    pending_after_s=(
                        first.pending_since - fault.t_inject
                        if first is not None and first.pending_since is not None
                        else None
                    ),
                )
            )
    return expected
