"""The scenario file: what a drill runs against, what traffic it drives, what it breaks, and
what it must meet. Each section is owned by the part of the suite that uses it:

    name / description      what the drill is and what it proves
    target:                 chaos.target (backend, members, replica-set settings)
    workload:               run shape (users, spawn rate, duration or stages, workers) plus
                            locustfiles.settings.WorkloadSettings (seed, corpus, mix, driver, ...)
    faults:                 a timeline of chaos.faults.specs kinds with `at`, `every`/`repeat`,
                            `heal_after` and an optional SLO class
    slos:                   reports.slo.SLOSpec (a named profile plus overrides)
    probes:                 replSetGetStatus cadence
    outputs:                where run directories go, what is rendered
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chaos.errors import UsageError
from chaos.faults.specs import KINDS, FaultSpec, parse_fault
from chaos.faults.targeting import ROLES
from chaos.target import LocalTarget, Target
from locustfiles.settings import WorkloadSettings
from reports.durations import Duration
from reports.slo import FaultClass, SLOSpec


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stage(_Model):
    """One step of a load shape: hold `users` for `duration`, reached at `spawn_rate` users/s."""

    duration: Duration
    users: Annotated[int, Field(ge=0, le=10_000)]
    spawn_rate: Annotated[float, Field(gt=0)] = 10.0


# The run's own fields; every other key of `workload:` belongs to WorkloadSettings.
_RUN_FIELDS = ("users", "spawn_rate", "duration", "stages", "workers")


class Workload(_Model):
    users: Annotated[int, Field(ge=1, le=10_000)] = 20
    spawn_rate: Annotated[float, Field(gt=0)] = 10.0
    duration: Annotated[Duration, Field(gt=0, le=24 * 3600)] = 60.0
    # A load shape replaces users/spawn_rate/duration when given.
    stages: list[Stage] | None = None
    # Local Locust worker processes (0: users run in the runner's own process).
    workers: Annotated[int, Field(ge=0, le=64)] = 0
    settings: WorkloadSettings = Field(default_factory=WorkloadSettings)

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "settings" in data:
            return data
        run = {k: v for k, v in data.items() if k in _RUN_FIELDS}
        run["settings"] = {k: v for k, v in data.items() if k not in _RUN_FIELDS}
        return run

    @field_validator("stages")
    @classmethod
    def _some_stage(cls, stages: list[Stage] | None) -> list[Stage] | None:
        if stages is not None and not stages:
            raise ValueError("stages, when given, needs at least one stage")
        return stages

    @property
    def total_duration(self) -> float:
        return sum(s.duration for s in self.stages) if self.stages else self.duration


class FaultStep(_Model):
    """One entry of the fault timeline, times relative to the start of the load."""

    at: Duration
    kind: str
    target: str = "primary"
    params: dict[str, Any] = Field(default_factory=dict)
    # Heal this long after injection (None: at the end of the load).
    heal_after: Duration | None = None
    every: Annotated[Duration, Field(gt=0)] | None = None
    repeat: Annotated[int, Field(ge=1, le=1000)] = 1
    slo_class: FaultClass | None = None
    fault: FaultSpec | None = None  # filled in by validation from kind/target/params

    @model_validator(mode="before")
    @classmethod
    def _build_fault(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "fault" in data:
            return data
        kind = data.get("kind")
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r} (known: {', '.join(KINDS)})")
        params = data.get("params") or {}
        if not isinstance(params, dict):
            raise ValueError("params must be a mapping of the fault kind's parameters")
        try:
            fault = parse_fault({"kind": kind, "target": data.get("target", "primary"), **params})
        except UsageError as exc:
            raise ValueError(str(exc)) from None
        return {**data, "fault": fault}

    @model_validator(mode="after")
    def _repeat_needs_every(self) -> FaultStep:
        if self.repeat > 1 and self.every is None:
            raise ValueError("repeat needs every: the interval between repetitions")
        if self.every is not None and self.heal_after is not None and self.heal_after >= self.every:
            raise ValueError("heal_after must be shorter than every, so each repetition heals first")
        return self

    def occurrences(self) -> list[float]:
        """Injection times of every repetition, in seconds from the start of the load."""
        return [self.at + i * (self.every or 0.0) for i in range(self.repeat)]


class Probes(_Model):
    interval: Annotated[Duration, Field(gt=0.01, le=60)] = 0.25


class Outputs(_Model):
    dir: Path = Path("runs")
    html: bool = True
    junit: bool = True
    markdown: bool = True


class Scenario(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    description: str = ""
    target: Target = Field(default_factory=LocalTarget)
    workload: Workload = Field(default_factory=Workload)
    faults: list[FaultStep] = Field(default_factory=list)
    slos: SLOSpec = Field(default_factory=SLOSpec)
    probes: Probes = Field(default_factory=Probes)
    outputs: Outputs = Field(default_factory=Outputs)
    # After the load: how long to wait for the cluster to become healthy before verifying.
    drain_timeout: Annotated[Duration, Field(gt=0)] = 60.0

    @model_validator(mode="after")
    def _faults_fit(self) -> Scenario:
        total = self.workload.total_duration
        for i, step in enumerate(self.faults):
            last = step.occurrences()[-1]
            if last >= total:
                raise ValueError(f"faults[{i}] is injected at {last:g} s, after the load ends at {total:g} s")
            problem = _unknown_target(step.target, self.target)
            if problem:
                raise ValueError(f"faults[{i}] {problem}")
        return self


def _unknown_target(target: str, cluster: Target) -> str | None:
    """Names and regions checked against the members the scenario declares (roles resolve when
    the fault fires; compose and external members are only known then)."""
    if not cluster.members or target in ROLES or target.startswith("secondary:"):
        return None
    names = [m.name for m in cluster.members]
    if target.startswith("region:"):
        regions = sorted({m.region for m in cluster.members if m.region})
        region = target.removeprefix("region:")
        if region in regions:
            return None
        return f"targets region {region!r}, which no member is in (regions: {', '.join(regions) or 'none'})"
    unknown = [t.strip() for t in target.split(",") if t.strip() not in names]
    if unknown:
        return (
            f"targets {', '.join(unknown)}: not a member ({', '.join(names)}) "
            f"nor one of {', '.join(ROLES)}, secondary:<n>, region:<name>"
        )
    return None
