"""Two runs' SLOs side by side, baseline against candidate, for a CI gate (`hubchaos compare`).

Every SLO target is a maximum, so a larger measured value is worse. A row *regresses* when:

- the candidate's value is worse than the baseline's by more than the tolerance: the larger of
  `relative` x |baseline| and the absolute allowance of the SLO's unit (s, ms, ratio, writes, errors),
  so that small values are not judged by noise and large ones not by a fixed amount;
- the candidate fails a target the baseline met, or fails an SLO the baseline did not check;
- the candidate could not measure (unknown) or did not check an SLO the baseline measured:
  a guarantee that is no longer verified is not kept.

A value better by more than the tolerance is *improved*; anything else is unchanged. SLOs are
matched by id (`rto[f1]`, `latency[prompts.get].avg_ms`, ...), so runs of the same scenario
compare fault by fault.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contract import rundir
from contract.errors import AnalysisError, UsageError, describe_validation_error
from reports.formatting import percent, signed, value
from reports.results import Result
from reports.slo import Fraction, Millis, Seconds
from reports.summary import SCHEMA_VERSION, Summary
from reports.verdicts import SLOResult, Verdict


class Tolerance(BaseModel):
    """How much worse a candidate may be: the larger of the relative and the unit's absolute share."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    relative: Fraction = 0.10  # of the baseline's value
    s: Seconds = 1.0
    ms: Millis = 10.0
    ratio: Fraction = 0.0005  # error rates: 0.05 percentage points
    writes: Annotated[int, Field(ge=0)] = 0
    errors: Annotated[int, Field(ge=0)] = 0  # errors an application surfaced (failover_errors)

    def allowed(self, unit: str, baseline: float) -> float:
        absolute = {
            "s": self.s,
            "ms": self.ms,
            "ratio": self.ratio,
            "writes": float(self.writes),
            "errors": float(self.errors),
        }
        return max(absolute.get(unit, 0.0), self.relative * abs(baseline))

    def describe(self) -> str:
        return (
            f"Tolerance: {percent(self.relative)} of the baseline or {value(self.s, 's')}, "
            f"{value(self.ms, 'ms')}, {value(self.ratio, 'ratio')}, {value(self.writes, 'writes')}, "
            f"{value(self.errors, 'errors')} by unit, whichever is larger"
        )

    @classmethod
    def parse(cls, assignments: Iterable[str]) -> Tolerance:
        """From `KEY=VALUE` strings (relative=5%, s=2, ms=20, ratio=0.1%, writes=1, errors=3); UsageError
        when bad."""
        fields: dict[str, object] = {}
        for assignment in assignments:
            key, sep, raw = assignment.partition("=")
            if not sep or key not in cls.model_fields:
                keys = ", ".join(cls.model_fields)
                raise UsageError(f"--tolerance {assignment!r}: expected KEY=VALUE with KEY one of {keys}")
            fields[key] = _number(raw)
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            raise UsageError(f"--tolerance {describe_validation_error(exc)}") from None


def _number(raw: str) -> object:
    """A plain number as a number; anything else ("5%", "500ms") as given, for the field to parse."""
    try:
        return float(raw)
    except ValueError:
        return raw


class Status(StrEnum):
    REGRESSED = "regressed"
    IMPROVED = "improved"
    UNCHANGED = "unchanged"
    ADDED = "added"  # checked by the candidate only, and met or unknown there

    @property
    def mark(self) -> str:
        return "❌ regressed" if self is Status.REGRESSED else self.value


class ComparedSLO(Result):
    slo: str
    unit: str
    target: float | None  # the candidate's (the baseline's when the candidate lacks the SLO)
    baseline: float | None
    candidate: float | None
    baseline_verdict: Verdict | None  # None: not checked in that run
    candidate_verdict: Verdict | None
    delta: float | None  # candidate - baseline; positive is worse
    relative: float | None  # delta / |baseline|
    allowed: float | None  # the tolerance applied
    status: Status
    reason: str


class RunRef(Result):
    run_id: str
    scenario: str
    verdict: Verdict
    started_at: float


class Comparison(Result):
    baseline: RunRef
    candidate: RunRef
    tolerance: Tolerance
    rows: list[ComparedSLO]
    warnings: list[str]

    @property
    def regressed(self) -> bool:
        return any(r.status is Status.REGRESSED for r in self.rows)

    @property
    def regressions(self) -> list[ComparedSLO]:
        return [r for r in self.rows if r.status is Status.REGRESSED]


def read_summary(path: Path, role: str) -> Summary:
    """A run directory's summary.json (or that file itself); UsageError naming `role` when bad."""
    file = path / rundir.SUMMARY if path.is_dir() else path
    if not file.is_file():
        where = "no summary.json in it (run `hubchaos report` first)" if path.is_dir() else "no such run"
        raise UsageError(f"{role} {path}: {where}")
    try:
        version = json.loads(file.read_text()).get("schema_version")
    except (OSError, ValueError, AttributeError):
        version = None  # Summary.read names what is wrong
    if version is not None and version != SCHEMA_VERSION:
        raise UsageError(
            f"{role} {file}: a summary of schema {version}; this hubchaos reads schema {SCHEMA_VERSION}"
        )
    try:
        return Summary.read(file)
    except AnalysisError as exc:
        raise UsageError(f"{role} {file}: {str(exc).removeprefix(file.name + ': ')}") from None


def compare(baseline: Summary, candidate: Summary, tolerance: Tolerance) -> Comparison:
    before = {r.slo: r for r in baseline.results}
    after = {r.slo: r for r in candidate.results}
    order = list(before) + [slo for slo in after if slo not in before]
    warnings = []
    if baseline.run.scenario != candidate.run.scenario:
        warnings.append(
            f"The runs are of different scenarios ({baseline.run.scenario} and {candidate.run.scenario})."
        )
    if baseline.slos.profile != candidate.slos.profile:
        warnings.append(f"The SLO profiles differ ({baseline.slos.profile} and {candidate.slos.profile}).")
    return Comparison(
        baseline=_ref(baseline),
        candidate=_ref(candidate),
        tolerance=tolerance,
        rows=[_row(slo, before.get(slo), after.get(slo), tolerance) for slo in order],
        warnings=warnings,
    )


def _ref(summary: Summary) -> RunRef:
    run = summary.run
    return RunRef(
        run_id=run.run_id, scenario=run.scenario, verdict=summary.verdict, started_at=run.started_at
    )


@dataclass(frozen=True, slots=True)
class _Judgement:
    status: Status
    reason: str
    delta: float | None = None
    relative: float | None = None
    allowed: float | None = None


def _row(slo: str, base: SLOResult | None, cand: SLOResult | None, tolerance: Tolerance) -> ComparedSLO:
    either = cand or base
    assert either is not None
    judged = _judge(base, cand, tolerance)
    reason = judged.reason
    if base and cand and base.target != cand.target:
        reason += f"; the target changed from {value(base.target, base.unit)}"
    return ComparedSLO(
        slo=slo,
        unit=either.unit,
        target=either.target,
        baseline=base.measured if base else None,
        candidate=cand.measured if cand else None,
        baseline_verdict=base.verdict if base else None,
        candidate_verdict=cand.verdict if cand else None,
        delta=judged.delta,
        relative=judged.relative,
        allowed=judged.allowed,
        status=judged.status,
        reason=reason,
    )


def _judge(base: SLOResult | None, cand: SLOResult | None, tolerance: Tolerance) -> _Judgement:
    if cand is None:
        return _Judgement(Status.REGRESSED, "not checked in the candidate")
    if base is None:
        if cand.verdict is Verdict.FAIL:
            return _Judgement(Status.REGRESSED, "fails, and the baseline did not check it")
        return _Judgement(Status.ADDED, "checked in the candidate only")
    if cand.verdict is Verdict.UNKNOWN and base.verdict is not Verdict.UNKNOWN:
        return _Judgement(
            Status.REGRESSED, f"could not be measured in the candidate ({cand.error or 'unknown'})"
        )
    if base.measured is None or cand.measured is None:
        if cand.verdict is Verdict.FAIL:
            return _Judgement(Status.REGRESSED, "fails; no baseline value to compare with")
        where = "either run" if cand.measured is None else "the baseline"
        return _Judgement(Status.UNCHANGED, f"no value to compare in {where}")
    delta = cand.measured - base.measured
    allowed = tolerance.allowed(cand.unit, base.measured)
    numbers = {
        "delta": delta,
        "allowed": allowed,
        "relative": delta / abs(base.measured) if base.measured else None,
    }
    change = f"{signed(delta, cand.unit)} (tolerance {value(allowed, cand.unit)})"
    if delta > allowed:
        return _Judgement(Status.REGRESSED, f"worse by {change}", **numbers)
    if cand.verdict is Verdict.FAIL and base.verdict is Verdict.PASS:
        return _Judgement(
            Status.REGRESSED, f"now misses its target, within the tolerance: {change}", **numbers
        )
    if delta < -allowed:
        return _Judgement(Status.IMPROVED, f"better by {change}", **numbers)
    return _Judgement(Status.UNCHANGED, f"within the tolerance: {change}", **numbers)
