"""An alerting rule as a drill's Prometheus evaluated it: read from a scenario's rule files when
the scenario is validated, recorded in the run directory's alerts.json (`rundir.AlertsRecord`).
Apart from rundir.py so that reading a scenario needs no pyarrow."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class AlertRule:
    """One alerting rule as Prometheus evaluated it in the drill."""

    name: str
    group: str
    file: str  # the rule file the scenario named
    expr: str
    for_s: float  # as evaluated in this drill
    for_in_file_s: float  # as the rule file says; differs when the scenario overrides it
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
