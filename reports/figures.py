"""The figures of one fault that a campaign puts in distributions.

Each is read from a run's summary: a fault's anatomy, or (lost writes) the data loss charged to
it. None when the run could not measure it; the fault's notes say why. A new figure is one more
entry of `FIGURES`: the campaign's summary and page show every entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reports.results import Result
from reports.slo import FaultClass
from reports.summary import FaultAnatomy, Summary


@dataclass(frozen=True, slots=True)
class FaultFigure:
    key: str
    label: str
    unit: str  # s, writes
    measure: Callable[[FaultAnatomy, Summary], float | None]


def _lost_writes(fault: FaultAnatomy, summary: Summary) -> float | None:
    if summary.rpo is None:  # the ledger was not verified
        return None
    return float(sum(loss.lost for loss in summary.rpo.per_fault if loss.fault_id == fault.fault_id))


FIGURES: tuple[FaultFigure, ...] = (
    FaultFigure("rto", "RTO", "s", lambda f, _: f.rto_s),
    FaultFigure("election", "election", "s", lambda f, _: f.election.at.after_s if f.election else None),
    FaultFigure("detection", "detection", "s", lambda f, _: f.detection.at.after_s if f.detection else None),
    FaultFigure(
        "rediscovery",
        "driver rediscovery",
        "s",
        lambda f, _: f.rediscovery.first.after_s if f.rediscovery else None,
    ),
    FaultFigure(
        "failed_writes", "failed writes", "writes", lambda f, _: float(f.writes.failed) if f.writes else None
    ),
    FaultFigure("lost_writes", "lost acknowledged writes", "writes", _lost_writes),
)


class FaultPoint(Result):
    """One fault of a run, as a campaign counts it."""

    fault_id: str
    kind: str
    fault_class: FaultClass
    injected: bool
    values: dict[str, float | None]  # a FIGURES key -> the value (None: not measured)

    @property
    def group(self) -> str:
        """Faults are grouped by kind and SLO class: `kill · single_node`."""
        return f"{self.kind} · {self.fault_class.value}"


def fault_points(summary: Summary) -> list[FaultPoint]:
    return [
        FaultPoint(
            fault_id=f.fault_id,
            kind=f.kind,
            fault_class=f.fault_class,
            injected=f.injected,
            values={fig.key: fig.measure(f, summary) if f.injected else None for fig in FIGURES},
        )
        for f in summary.faults
    ]
