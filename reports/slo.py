"""SLO targets: the named profile from the hub's production guide, and a scenario's overrides of it.

A scenario's `slos:` section is an `SLOSpec`: a profile name plus any single value to change.
`SLOSpec.resolve()` merges the two into `SLOTargets`, the complete set the verdicts judge:

    slos:
      profile: ai-hub-production
      rto_s: {single_node: 10s}          # other fault classes keep the profile's values
      latency_ms:
        "*": {p99_ms: 250}               # every operation, on top of the profile's avg_ms: 100
        vectors.query.knn: {avg_ms: 300} # this operation only
      lost_acked_writes: null            # null switches a check off

Every target is a maximum: a measured value passes when it is at most the target. Durations are
numbers in the field's unit (`_s` seconds, `_ms` milliseconds) or strings with a unit ("30s",
"2m", "500ms"); rates are fractions or percentages ("0.1%").
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from reports.durations import parse_duration

ALL_OPERATIONS = "*"


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

    def rto_for(self, fault_class: FaultClass) -> float | None:
        return self.rto_s.get(fault_class)

    def latency_for(self, op: str) -> LatencyTarget:
        """The operation's own targets, each stat falling back to the `*` entry."""
        default = self.latency_ms.get(ALL_OPERATIONS, LatencyTarget())
        own = self.latency_ms.get(op)
        if own is None:
            return default
        return default.model_copy(update=own.model_dump(exclude_none=True))


AI_HUB_PRODUCTION = SLOTargets(
    profile="ai-hub-production",
    rto_s={
        FaultClass.SINGLE_NODE: 30.0,
        FaultClass.REGION: 120.0,
        FaultClass.CLOUD_PROVIDER: 300.0,
        FaultClass.DISASTER: 900.0,
    },
    rpo_s=60.0,
    lost_acked_writes=0,
    latency_ms={ALL_OPERATIONS: LatencyTarget(avg_ms=100.0)},
    error_rate=0.001,
    max_replication_lag_s=10.0,
    slow_op_ms=1000.0,
    throughput_recovery=ThroughputRecoveryTarget(),
    windows=Windows(),
    on_unknown="fail",
)

PROFILES: dict[str, SLOTargets] = {AI_HUB_PRODUCTION.profile: AI_HUB_PRODUCTION}


class SLOSpec(_Strict):
    """A scenario's `slos:` section: a profile and overrides of any single value."""

    profile: str = AI_HUB_PRODUCTION.profile
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

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, name: str) -> str:
        if name not in PROFILES:
            raise ValueError(f"unknown SLO profile {name!r} (known: {', '.join(sorted(PROFILES))})")
        return name

    @field_validator("slow_op_ms", "windows", "on_unknown")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be switched off (null); give a value")
        return value

    def resolve(self) -> SLOTargets:
        """The profile with this spec's overrides merged in (nested sections merge field by field)."""
        merged = _merge(PROFILES[self.profile].model_dump(), self.model_dump(exclude_unset=True))
        return SLOTargets.model_validate(merged)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
