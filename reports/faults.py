"""Faults as intervals: inject and heal paired by `fault_id`, each with its SLO class and horizon.

Fault class (which RTO target applies), in order of precedence:
  1. `params.slo_class` when the fault carries one (a `FaultClass` value);
  2. a target `region:<x>` is a region outage, `provider:<x>` or `cloud:<x>` a cloud-provider outage;
  3. a fault that hit every member of the set (or targets `all`) is a disaster;
  4. a fault that hit one member (or none: a stepdown, a fail point) is a single-node failure;
  5. any other fault that hit several members counts as a region outage.

Horizon: what happens after a fault is charged to it until the next fault is injected after it
has been healed (or the run ends). Faults that overlap thus share the rest of their episode,
and a fault never healed keeps its horizon to the end of the run. A fault whose injection failed
has an empty horizon.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contract.errors import AnalysisError
from contract.rundir import FAULTS, FaultAction, FaultEvent
from reports.members import MemberNames
from reports.slo import FaultClass

_TARGET_PREFIX_CLASS = {
    "region:": FaultClass.REGION,
    "provider:": FaultClass.CLOUD_PROVIDER,
    "cloud:": FaultClass.CLOUD_PROVIDER,
}
_ALL_TARGETS = frozenset({"all", "*"})


@dataclass(slots=True)
class Fault:
    fault_id: str
    kind: str
    target: str
    members: list[str]
    t_inject: float
    injected: bool  # False: the inject action failed, so nothing was broken
    fault_class: FaultClass
    class_source: str  # "params" or "derived"
    primary_before: str | None = None
    t_heal: float | None = None  # None: never healed
    inject_error: str | None = None
    heal_error: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    horizon_end: float = 0.0  # set by pair_faults
    overlaps: list[str] = field(default_factory=list)
    colour: str | None = None  # the kind's own colour for its windows in the report

    @property
    def active_until(self) -> float:
        return self.t_heal if self.t_heal is not None else float("inf")


def fault_class(
    target: str, members: list[str], params: dict[str, Any], all_members: list[str]
) -> tuple[FaultClass, str]:
    """The fault's class and where it came from ("params" or "derived"; see the module docstring)."""
    declared = params.get("slo_class")
    if declared is not None:
        try:
            return FaultClass(declared), "params"
        except ValueError:
            known = ", ".join(c.value for c in FaultClass)
            raise ValueError(f"params.slo_class {declared!r} is not one of {known}") from None
    for prefix, cls in _TARGET_PREFIX_CLASS.items():
        if target.startswith(prefix):
            return cls, "derived"
    hit = set(members)
    if target in _ALL_TARGETS or (len(all_members) > 1 and hit >= set(all_members)):
        return FaultClass.DISASTER, "derived"
    if len(hit) <= 1:
        return FaultClass.SINGLE_NODE, "derived"
    return FaultClass.REGION, "derived"


def pair_faults(events: list[FaultEvent], names: MemberNames, run_end: float) -> list[Fault]:
    """Faults in injection order, with heal times, classes, horizons and overlaps filled in."""
    injects: dict[str, FaultEvent] = {}
    heals: dict[str, FaultEvent] = {}
    for e in events:
        book = injects if e.action == FaultAction.INJECT else heals
        if e.action not in (FaultAction.INJECT, FaultAction.HEAL):
            raise AnalysisError(f"{FAULTS}: fault {e.fault_id}: unknown action {e.action!r}")
        if e.fault_id in book:
            raise AnalysisError(f"{FAULTS}: fault {e.fault_id} has more than one {e.action} record")
        book[e.fault_id] = e
    for fault_id in heals.keys() - injects.keys():
        raise AnalysisError(f"{FAULTS}: fault {fault_id} has a heal record but no inject record")

    faults: list[Fault] = []
    for inject in sorted(injects.values(), key=lambda e: e.t_wall):
        members = [names.canonical(m) or m for m in inject.members]
        try:
            cls, source = fault_class(inject.target, members, inject.params, names.names)
        except ValueError as exc:
            raise AnalysisError(f"{FAULTS}: fault {inject.fault_id}: {exc}") from None
        heal = heals.get(inject.fault_id)
        if heal is not None and heal.t_wall < inject.t_wall:
            raise AnalysisError(f"{FAULTS}: fault {inject.fault_id} is healed before it is injected")
        faults.append(
            Fault(
                fault_id=inject.fault_id,
                kind=inject.kind,
                target=inject.target,
                members=members,
                t_inject=inject.t_wall,
                injected=inject.outcome == "ok",
                fault_class=cls,
                class_source=source,
                primary_before=names.canonical(inject.primary),
                t_heal=heal.t_wall if heal is not None else None,
                inject_error=inject.error,
                heal_error=heal.error if heal is not None and heal.outcome != "ok" else None,
                params=dict(inject.params),
                colour=inject.colour,
            )
        )
    _set_horizons([f for f in faults if f.injected], run_end)
    for f in faults:
        if not f.injected:  # it broke nothing, so nothing is charged to it
            f.horizon_end = f.t_inject
    return faults


def _set_horizons(faults: list[Fault], run_end: float) -> None:
    for f in faults:
        later = [g.t_inject for g in faults if g is not f and g.t_inject >= f.active_until]
        f.horizon_end = min([*later, run_end])
        f.overlaps = [
            g.fault_id
            for g in faults
            if g is not f and g.t_inject < f.active_until and f.t_inject < g.active_until
        ]
