"""SLO targets: a named profile (data: reports/profiles.py, reports/slo_profiles/), and a
scenario's overrides of it.

A scenario's `slos:` section is an `SLOSpec`: a profile (a name, or the path of a profile file)
plus any single value to change. `SLOSpec.resolve()` merges the two into `SLOTargets`, the
complete set the verdicts judge:

    slos:
      profile: ai-hub-production         # or ./my-profile.yaml
      rto_s: {single_node: 10s}          # other fault classes keep the profile's values
      latency_ms:
        "*": {p99_ms: 250}               # every operation, on top of the profile's avg_ms: 100
        vectors.query.knn: {avg_ms: 300} # this operation only
      lost_acked_writes: null            # null switches a check off
      saturation: {share: 10%}           # when a busy measuring host makes verdicts unknown
      checks: {my_pkg.checks:queue_depth: {max: 10}}   # registered checks and their targets
      known_failures:                    # SLOs these settings are known to fail, and why
        failover_errors: "5 s serverSelectionTimeoutMS < the election"

A known failure (an SLO id such as `rto[f1]`, a category such as `latency`, or a check named
under `checks:` such as `failover_errors`) still fails, and says why, but does not fail the run:
a drill that exists to show what the production settings do can gate a pipeline on everything
else. One that passes says it did not reproduce.

Every target is a maximum: a measured value passes when it is at most the target. Durations are
numbers in the field's unit (`_s` seconds, `_ms` milliseconds) or strings with a unit ("30s",
"2m", "500ms"); rates are fractions or percentages ("0.1%").
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from contract.durations import parse_duration
from contract.errors import UsageError, describe_validation_error
from contract.registry import Registry
from reports.profiles import load_profile, merge

ALL_OPERATIONS = "*"
# The checks every run gets, in this order (reports.checks); others run when `checks:` names them.
BUILTIN_CHECKS = ("faults", "data_loss", "latency", "error_rate", "replication_lag")
# The categories of the built-in checks' results (a known failure names one, or a check under `checks:`).
BUILTIN_CATEGORIES = (
    "rto", "throughput_recovery", "lost_acked_writes", "rpo", "latency", "error_rate", "replication_lag",
)  # fmt: skip


def _check_function(found: object) -> Any:
    if not callable(found):
        raise TypeError(f"an SLO check is a function (CheckContext) -> list[SLOResult], not {found!r}")
    return found


# Built-in checks that run only when the targets name them (reports/failover_errors.py,
# reports/recovery.py, reports/alert_checks.py).
OPTIONAL_CHECKS = {
    "failover_errors": "reports.failover_errors:failover_errors_checks",
    "restore_rto": "reports.recovery:restore_rto_check",
    "restore_rpo": "reports.recovery:restore_rpo_check",
    "backup_integrity": "reports.recovery:backup_integrity_check",
    "alert_fired": "reports.alert_checks:alert_fired_checks",
    "false_alarms": "reports.alert_checks:false_alarm_checks",
}

# SLO checks by name: the built-in ones, entry points `hubchaos.checks`, or `module:function`.
CHECKS: Registry[Any] = Registry(
    "SLO check",
    "hubchaos.checks",
    {name: f"reports.checks:{name}_checks" for name in BUILTIN_CHECKS} | OPTIONAL_CHECKS,
    check=_check_function,
)


class FaultClass(StrEnum):
    """Which recovery-time target a fault is judged against (see `reports.faults.fault_class`)."""

    SINGLE_NODE = "single_node"  # one member lost: automatic recovery
    REGION = "region"  # a region (several members) lost: automatic failover
    CLOUD_PROVIDER = "cloud_provider"  # a provider lost: manual cross-cloud failover
    DISASTER = "disaster"  # every member lost: restore


def _duration(value: Any, unit_seconds: float) -> Any:
    """A string with a unit ("30s", "2m", "500ms") in the field's unit; a number is already in it."""
    if not isinstance(value, str):
        return value
    try:
        return float(value)
    except ValueError:
        return parse_duration(value) / unit_seconds


def _fraction(value: Any) -> Any:
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100
        except ValueError:
            raise ValueError(f"expected a fraction or a percentage such as '0.1%', got {value!r}") from None
    return value


Seconds = Annotated[float, BeforeValidator(lambda v: _duration(v, 1.0)), Field(ge=0)]
Millis = Annotated[float, BeforeValidator(lambda v: _duration(v, 1e-3)), Field(ge=0)]
Fraction = Annotated[float, BeforeValidator(_fraction), Field(ge=0, le=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LatencyTarget(_Strict):
    """Steady-state latency of one operation (successful operations only)."""

    avg_ms: Millis | None = None
    p95_ms: Millis | None = None
    p99_ms: Millis | None = None


class ThroughputRecoveryTarget(_Strict):
    """After a fault, per-second throughput must be back to `fraction` of the pre-fault median."""

    fraction: Annotated[Fraction, Field(gt=0)] = 0.9
    # Time allowed after injection; None judges it against the fault class's RTO target.
    within_s: Seconds | None = None


class Windows(_Strict):
    """How long periods are, relative to a fault, when measurements are judged."""

    # Writes "stay available" when they do for this long (see reports.availability), with at
    # most this share of the writes in that time failing or stalling.
    stable_s: Annotated[Seconds, Field(gt=0)] = 10.0
    stable_tolerance: Fraction = 0.001
    # After a heal, the recovery phase lasts this long before steady state resumes.
    recovery_s: Seconds = 30.0
    # The pre-fault throughput median is taken over this long before injection.
    baseline_s: Annotated[Seconds, Field(gt=0)] = 30.0


class Saturation(_Strict):
    """When the host running the drill counts as saturated (reports/host.py): a second in which
    a load-generating or member process used `process_cpu` of a core or more, or the run queue
    held more than `run_queue_per_core` runnable threads per core while the cores were busy
    `host_cpu` of that second or more. A judged window with `share` of its seconds saturated or
    more gets *unknown* verdicts instead of pass or fail."""

    process_cpu: Annotated[float, Field(gt=0)] = 0.9
    run_queue_per_core: Annotated[float, Field(gt=0)] = 1.0
    # The run queue is one instant per second: members, probes and Locust wake together, so it
    # overflows for a moment on an idle host; only with the cores busy did threads wait long.
    host_cpu: Annotated[Fraction, Field(gt=0)] = 0.9
    share: Annotated[Fraction, Field(gt=0)] = 0.2


class SLOTargets(_Strict):
    """The complete, resolved targets. None means "not checked"."""

    profile: str
    rto_s: dict[FaultClass, Seconds | None]
    rpo_s: Seconds | None
    lost_acked_writes: Annotated[int, Field(ge=0)] | None
    latency_ms: dict[str, LatencyTarget]
    error_rate: Fraction | None
    max_replication_lag_s: Seconds | None
    slow_op_ms: Annotated[Millis, Field(gt=0)]
    throughput_recovery: ThroughputRecoveryTarget | None
    windows: Windows
    # What an unknown verdict (no data, or an analyser error) does to the exit code.
    on_unknown: Literal["fail", "pass"]
    description: str = ""
    # None: verdicts are judged however busy the measuring host was.
    saturation: Saturation | None = Saturation()
    # Targets of registered checks beyond the built-in ones (reports.checks), by check name;
    # null switches one off.
    checks: dict[str, Any] = Field(default_factory=dict)
    # SLO id or category -> why these settings are known to fail it (reports.checks.mark_known).
    known_failures: dict[str, Annotated[str, Field(min_length=1)]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_failures_name_checks(self) -> SLOTargets:
        check_known_failures(self.known_failures, self.checks)
        return self

    @field_validator("checks")
    @classmethod
    def _known_checks(cls, checks: dict[str, Any]) -> dict[str, Any]:
        for name, params in checks.items():
            if name in BUILTIN_CHECKS:
                raise ValueError(f"{name} is a built-in check: set its targets in their own fields")
            if params is not None:
                try:
                    found = CHECKS.get(name)
                except UsageError as exc:
                    raise ValueError(str(exc)) from None
                # A check that declares its target's model (`Params`) has it checked here.
                model = getattr(found, "Params", None)
                if model is not None:
                    try:
                        model.model_validate(params)
                    except ValidationError as exc:
                        raise ValueError(f"{name}.{describe_validation_error(exc)}") from None
        return checks

    def rto_for(self, fault_class: FaultClass) -> float | None:
        return self.rto_s.get(fault_class)

    def latency_for(self, op: str) -> LatencyTarget:
        """The operation's own targets, each stat falling back to the `*` entry."""
        default = self.latency_ms.get(ALL_OPERATIONS, LatencyTarget())
        own = self.latency_ms.get(op)
        if own is None:
            return default
        return default.model_copy(update=own.model_dump(exclude_none=True))


DEFAULT_PROFILE = "ai-hub-production"


def check_known_failures(known: dict[str, str], checks: dict[str, Any]) -> None:
    """Each known failure names a built-in category or a check switched on under `checks:`."""
    running = {*BUILTIN_CATEGORIES, *(name for name, params in checks.items() if params is not None)}
    for key in known:
        if key.split("[", 1)[0] not in running:
            names = ", ".join(sorted(running))
            raise ValueError(f"known_failures.{key}: no check of this run is called that (known: {names})")


@cache
def profile_targets(ref: str) -> SLOTargets:
    """A profile's complete targets (a name, or an absolute path); ValueError naming the
    profile and field when it cannot be used."""
    data = load_profile(ref)
    try:
        return SLOTargets.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"SLO profile {ref}: {describe_validation_error(exc)}") from None


class SLOSpec(_Strict):
    """A scenario's `slos:` section: a profile and overrides of any single value."""

    profile: str = DEFAULT_PROFILE
    rto_s: dict[FaultClass, Seconds | None] | None = None
    rpo_s: Seconds | None = None
    lost_acked_writes: Annotated[int, Field(ge=0)] | None = None
    latency_ms: dict[str, LatencyTarget] | None = None
    error_rate: Fraction | None = None
    max_replication_lag_s: Seconds | None = None
    slow_op_ms: Annotated[Millis, Field(gt=0)] | None = None
    throughput_recovery: ThroughputRecoveryTarget | None = None
    windows: Windows | None = None
    on_unknown: Literal["fail", "pass"] | None = None
    checks: dict[str, Any] | None = None
    saturation: Saturation | None = None
    known_failures: dict[str, Annotated[str, Field(min_length=1)]] | None = None

    @model_validator(mode="after")
    def _known_failures_name_checks(self) -> SLOSpec:
        # Against the profile's checks and this spec's, by name: resolving would import the checks.
        checks = {**profile_targets(self.profile).checks, **(self.checks or {})}
        check_known_failures(self.known_failures or {}, checks)
        return self

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, ref: str) -> str:
        profile_targets(ref)  # a bad profile is refused with the scenario, not at analysis
        return ref

    @field_validator("slow_op_ms", "windows", "on_unknown")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be switched off (null); give a value")
        return value

    def resolve(self) -> SLOTargets:
        """The profile with this spec's overrides merged in (nested sections merge field by field)."""
        own = self.model_dump(exclude_unset=True, exclude={"profile"})
        return SLOTargets.model_validate(merge(profile_targets(self.profile).model_dump(), own))
