"""The scenario file: what a drill runs against, what traffic it drives, what it breaks, and
what it must meet. Each section is owned by the part of the suite that uses it:

    name / description      what the drill is and what it proves
    target:                 chaos.target (backend, members, replica-set settings)
    workload:               run shape (users, spawn rate, duration or stages, local workers and
                            remote ones: remote.workers, remote.bind) plus
                            locustfiles.settings.WorkloadSettings (seed, corpus, mix, driver,
                            and the user classes: locustfile, user_classes)
    faults:                 a timeline of chaos.faults.kinds (a name or module:Class) with `at`,
                            `every`/`repeat`, `heal_after` and an optional SLO class
    runbook:                operator actions (chaos.runbook.actions, a name or module:Class),
                            each after its trigger (`at`, or `after` a fault or earlier step)
                            and an operator delay
    slos:                   reports.slo.SLOSpec (a named profile plus overrides)
    campaign:               the drill repeated (chaos.campaign): runs, injections per run, fail_fast
    alerts:                 chaos.monitoring.spec (a real Prometheus evaluating alert rules)
    probes:                 replSetGetStatus cadence
    outputs:                where run directories go, what is rendered
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, field_validator, model_validator

from chaos.endpoint import ANY_HOST, LOCUST_PORT, Endpoint
from chaos.faults.kind import FaultSpec
from chaos.faults.kinds import parse_fault
from chaos.faults.targeting import ROLES
from chaos.monitoring.spec import AlertsSpec
from chaos.runbook.actions import parse_step
from chaos.runbook.step import FAULT_ID, STEP_ID, PlannedStep, RunbookStep
from chaos.target import LocalTarget, TargetBase, validate_target
from contract.durations import Duration
from contract.errors import UsageError
from locustfiles.settings import WorkloadSettings
from reports.options import RenderOptions
from reports.slo import FaultClass, SLOSpec

# A fault id inside an SLO id: failover_errors[f2], alert_fired[f1].PrimaryUnavailable
FAULT_IN_SLO = re.compile(r"\[f(\d+)\]")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _with_model(
    data: Any, key: str, field: str, expected: str, parse: Callable[[str, dict[str, Any]], BaseModel]
) -> Any:
    """An entry's raw data with `field` set to the model its `key` names, built from `params`
    (a fault step's kind, a runbook entry's action); a bad one is a ValueError naming it."""
    if not isinstance(data, dict) or field in data:
        return data
    name = data.get(key)
    if not isinstance(name, str):
        raise ValueError(f"{key}: {expected}")
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise ValueError(f"params must be a mapping of the {key}'s parameters")
    try:
        return {**data, field: parse(name, params)}
    except UsageError as exc:
        raise ValueError(str(exc)) from None


class Stage(_Model):
    """One step of a load shape: hold `users` for `duration`, reached at `spawn_rate` users/s."""

    duration: Duration
    users: Annotated[int, Field(ge=0, le=10_000)]
    spawn_rate: Annotated[float, Field(gt=0)] = 10.0


# The run's own fields; every other key of `workload:` belongs to WorkloadSettings.
_RUN_FIELDS = ("users", "spawn_rate", "duration", "stages", "workers", "remote")
CONSTANT_LOAD = ("users", "spawn_rate", "duration")  # a load without stages


# Repetitions closer than this cannot be injected in time nor told apart by the analysis.
MIN_EVERY_S = 1.0


class RemoteWorkers(_Model):
    """Locust workers on other machines (`hubchaos worker --master HOST:PORT`): the master binds
    `bind` and the load starts once `workers` of them joined, or the run fails after `join_timeout`."""

    workers: Annotated[int, Field(ge=1, le=64)]
    bind: str = f"{ANY_HOST}:{LOCUST_PORT}"
    join_timeout: Annotated[Duration, Field(gt=0, le=3600)] = 120.0

    @field_validator("bind", mode="before")
    @classmethod
    def _endpoint(cls, bind: Any) -> str:
        # A bare port or host:port may arrive as a YAML number.
        return str(Endpoint.parse(str(bind)))

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint.parse(self.bind)


class Workload(_Model):
    users: Annotated[int, Field(ge=1, le=10_000)] = 20
    spawn_rate: Annotated[float, Field(gt=0)] = 10.0
    duration: Annotated[Duration, Field(gt=0, le=MAX_LOAD_S)] = 60.0
    # A load shape replaces users/spawn_rate/duration when given.
    stages: list[Stage] | None = None
    # Local Locust worker processes (0 and no remote ones: users run in the runner's own process).
    workers: Annotated[int, Field(ge=0, le=64)] = 0
    remote: RemoteWorkers | None = None
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

    @model_validator(mode="after")
    def _one_shape(self) -> Workload:
        # Beside a load shape these would be ignored without a word (`--set workload.users=10`
        # on a staged scenario sizes nothing down).
        given = [f for f in CONSTANT_LOAD if f in self.model_fields_set]
        if self.stages is not None and given:
            raise ValueError(
                f"{', '.join(given)} cannot be given with stages, which replace them: set each "
                "stage's own (workload.stages.N.users, ...)"
            )
        return self

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
    fault: SerializeAsAny[FaultSpec] | None = None  # filled in by validation from kind/target/params

    @model_validator(mode="before")
    @classmethod
    def _build_fault(cls, data: Any) -> Any:
        return _with_model(
            data,
            "kind",
            "fault",
            "a fault kind's name (kill, pause, partition, ...) or module:Class",
            lambda kind, params: parse_fault(
                {"kind": kind, "target": data.get("target", "primary"), **params}
            ),
        )

    @model_validator(mode="after")
    def _repeat_needs_every(self) -> FaultStep:
        if self.repeat > 1 and self.every is None:
            raise ValueError("repeat needs every: the interval between repetitions")
        if self.every is not None and self.every < MIN_EVERY_S:
            raise ValueError(
                f"every must be at least {MIN_EVERY_S:g} s: an injection itself takes a moment, and "
                "the analysis cannot tell faults closer than that apart"
            )
        if self.every is not None and self.heal_after is not None and self.heal_after >= self.every:
            raise ValueError("heal_after must be shorter than every, so each repetition heals first")
        return self

    def occurrences(self) -> list[float]:
        """Injection times of every repetition, in seconds from the start of the load."""
        return [self.at + i * (self.every or 0.0) for i in range(self.repeat)]

    def active_for(self, load_s: float) -> float:
        """How long each occurrence stays active: until healed, or until the load ends."""
        assert self.fault is not None
        for lasts in (self.heal_after, self.fault.heals_itself_after()):
            if lasts is not None:
                return lasts
        return load_s


class RunbookEntry(_Model):
    """One operator action. Its trigger is `at` (from the start of the load), or `after` a fault
    (`f1`: its injection) or an earlier step (`r1`: its end), by default the previous step's end
    (the load's start for the first); it runs `operator_delay` after the trigger (by default
    the action's own: 60 s for force_reconfig, else 0)."""

    action: str
    at: Duration | None = None
    after: str | None = None
    operator_delay: Annotated[Duration, Field(ge=0)] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    step: SerializeAsAny[RunbookStep] | None = None  # filled in by validation from action/params

    @model_validator(mode="before")
    @classmethod
    def _build_step(cls, data: Any) -> Any:
        return _with_model(
            data,
            "action",
            "step",
            "a runbook action's name (force_reconfig, wait_healthy, ...) or module:Class",
            lambda action, params: parse_step({"action": action, **params}),
        )

    @model_validator(mode="after")
    def _one_trigger(self) -> RunbookEntry:
        if self.at is not None and self.after is not None:
            raise ValueError("give at or after, not both")
        if self.after is not None and not (STEP_ID.match(self.after) or FAULT_ID.match(self.after)):
            raise ValueError(f"after {self.after!r}: a fault (f1, f2, ...) or an earlier step (r1, r2, ...)")
        return self

    def planned(self, index: int) -> PlannedStep:
        """The step as the player runs it, `r<index + 1>`."""
        assert self.step is not None
        delay = self.operator_delay if self.operator_delay is not None else type(self.step).operator_delay
        return PlannedStep(f"r{index + 1}", self.step, self.at, self.after, delay)


class Probes(_Model):
    interval: Annotated[Duration, Field(gt=0.01, le=60)] = 0.25


class Outputs(RenderOptions):
    """Where run directories go, and the renderers reports.render runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dir: Path = Path("runs")


MAX_LOAD_S = 24 * 3600


class Campaign(_Model):
    """`campaign:`: the drill repeated, for distributions instead of one anecdote. `runs` drills
    one after another (each its own cluster), each playing the load and the fault timeline
    `injections` times back to back (so one run holds that many injections of each fault)."""

    runs: Annotated[int, Field(ge=1, le=1000)] = 1
    injections: Annotated[int, Field(ge=1, le=100)] = 1
    fail_fast: bool = False  # stop after the first run whose verdict is not a pass


class Scenario(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    description: str = ""
    target: SerializeAsAny[TargetBase] = Field(default_factory=LocalTarget)
    workload: Workload = Field(default_factory=Workload)
    faults: list[FaultStep] = Field(default_factory=list)
    runbook: list[RunbookEntry] = Field(default_factory=list)
    slos: SLOSpec = Field(default_factory=SLOSpec)
    probes: Probes = Field(default_factory=Probes)
    alerts: AlertsSpec | None = None
    outputs: Outputs = Field(default_factory=Outputs)
    campaign: Campaign | None = None
    # After the load: how long to wait for the cluster to become healthy before verifying.
    drain_timeout: Annotated[Duration, Field(gt=0)] = 60.0

    @field_validator("target", mode="before")
    @classmethod
    def _backend_model(cls, data: Any) -> Any:
        return validate_target(data)

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
            assert step.fault is not None
            refusal = self.target.destructive_refusal() if step.fault.destructive else None
            if refusal:
                raise ValueError(f"faults[{i}] ({step.kind}) is destructive, and {refusal}")
        injections = sum(len(step.occurrences()) for step in self.faults)
        for i, entry in enumerate(self.runbook):
            if entry.at is not None and entry.at >= total:
                raise ValueError(
                    f"runbook[{i}] is triggered at {entry.at:g} s, after the load ends at {total:g} s"
                )
            fault = FAULT_ID.match(entry.after or "")
            if fault and not 1 <= int(fault.group(1)) <= injections:
                raise ValueError(
                    f"runbook[{i}] after {entry.after}: the fault timeline injects f1..f{injections}"
                )
            step = STEP_ID.match(entry.after or "")
            if step and not 1 <= int(step.group(1)) <= i:
                raise ValueError(
                    f"runbook[{i}] after {entry.after}: only earlier steps (r1..r{i}) can be waited for"
                )
        if self.alerts is not None:
            kinds = {step.kind for step in self.faults}
            for key in self.alerts.expect:
                fault = FAULT_ID.match(key)
                if key not in kinds and not (fault and 1 <= int(fault.group(1)) <= injections):
                    raise ValueError(
                        f"alerts.expect.{key}: neither a fault kind of this scenario "
                        f"({', '.join(sorted(kinds)) or 'none'}) nor a fault id (f1..f{injections})"
                    )
        for key in self.slos.known_failures or {}:
            fault = FAULT_IN_SLO.search(key)
            if fault and not 1 <= int(fault.group(1)) <= injections:
                raise ValueError(
                    f"slos.known_failures.{key}: the fault timeline injects "
                    + (f"f1..f{injections}" if injections else "no fault")
                )
        _no_overlaps(self.faults, self.target, total)
        return self

    @model_validator(mode="after")
    def _campaign_fits(self) -> Scenario:
        injections = self.campaign.injections if self.campaign else 1
        if injections == 1:
            return self
        for i, step in enumerate(self.faults):
            if step.heal_after is None:
                raise ValueError(
                    f"faults[{i}] has no heal_after: campaign.injections plays the timeline again, "
                    "so every fault must heal within it"
                )
        total = self.workload.total_duration * injections
        if total > MAX_LOAD_S:
            raise ValueError(
                f"campaign.injections {injections} x the load's {self.workload.total_duration:g} s "
                f"is {total:g} s, more than 24 h"
            )
        return self


def _no_overlaps(steps: list[FaultStep], cluster: TargetBase, load_s: float) -> None:
    """Two faults of one layer on one member at once are refused where the members are known
    now (names and regions; a role such as `primary` resolves when the fault fires, and the
    injector refuses the second fault then)."""
    seen: list[tuple[int, str, set[str], float, float]] = []  # step, layer, members, start, end
    for i, step in enumerate(steps):
        assert step.fault is not None
        members = _static_members(step.target, cluster)
        if not members:
            continue
        layer = step.fault.layer_name()
        for at in step.occurrences():
            end = min(at + step.active_for(load_s), load_s)
            for j, other_layer, others, start, other_end in seen:
                shared = sorted(members & others)
                if layer == other_layer and shared and at < other_end and start < end:
                    both = step.kind if step.kind == steps[j].kind else f"{steps[j].kind} and {step.kind}"
                    where = f"faults[{i}]" if j != i else f"faults[{i}] (its repetition at {at:g} s)"
                    raise ValueError(
                        f"{where} overlaps faults[{j}] on {', '.join(shared)} ({both} from {start:g} s "
                        f"to {other_end:g} s): one member takes one {layer} fault at a time (faults "
                        "of different layers, say a process and a network fault, may overlap)"
                    )
            seen.append((i, layer, members, at, end))


def _static_members(target: str, cluster: TargetBase) -> set[str]:
    """The members a target names whatever the cluster's state (empty for roles)."""
    if target in ROLES or target.startswith("secondary:"):
        return set()
    if target.startswith("region:"):
        return {m.name for m in cluster.members if m.region == target.removeprefix("region:")}
    return {t.strip() for t in target.split(",") if t.strip()}


def _role_problem(target: str, members: int) -> str | None:
    """A role that can never resolve on a set of this size."""
    if target.startswith("secondary:"):
        ordinal = target.removeprefix("secondary:")
        if not ordinal.isdigit() or int(ordinal) < 1:
            return f"targets {target}: secondary:<n> counts from 1"
        if int(ordinal) > members - 1:
            return f"targets {target}: a set of {members} members has at most {members - 1} secondaries"
    if target in ("secondary", "secondaries") and members == 1:
        return f"targets {target}: a set of 1 member has no secondary"
    if target == "minority" and (members - 1) // 2 == 0:
        return f"targets {target}: a set of {members} member{'s' if members > 1 else ''} has no minority"
    return None


def _unknown_target(target: str, cluster: TargetBase) -> str | None:
    """Names, regions and roles checked against the members the scenario declares (compose and
    external members are only known when the cluster is reached)."""
    if not cluster.members:
        return None
    if target in ROLES or target.startswith("secondary:"):
        return _role_problem(target, len(cluster.members))
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
