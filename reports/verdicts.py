"""Verdicts, Jepsen-style: pass, fail or unknown per SLO, and how they compose.

A result is *unknown* when the measurement is missing (a file absent, no data in the phase) or
its analyser raised; the error travels with it. Composition ranks fail > unknown > pass, and an
empty composition is unknown: nothing checked is not a pass. A failure the SLOs declare known
(`known_failures`) keeps its fail and its reason, and composes as a pass. The overall verdict
decides the exit code: pass → 0, fail → 1, unknown → 1 unless the SLOs say `on_unknown: pass`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from contract.errors import ExitCode
from reports.results import Result


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"


_RANK = {Verdict.PASS: 0, Verdict.UNKNOWN: 1, Verdict.FAIL: 2}


class SLOResult(Result):
    slo: str  # unique within a run: "rto[f1]", "latency[prompts.create].p99_ms", ...
    category: str  # rto, throughput_recovery, lost_acked_writes, rpo, latency, error_rate, ...
    verdict: Verdict
    measured: float | None
    target: float | None
    unit: str  # s, ms, writes, errors, ratio
    # target - measured: headroom when positive, the size of the miss when negative.
    margin: float | None
    explanation: str
    lower_bound: bool = False  # the measured value is only a lower bound (never recovered)
    fault_id: str | None = None
    op: str | None = None
    error: str | None = None  # why the verdict is unknown
    # Computed from timed measurements (a saturated measuring host makes it unknown: reports/host.py)
    timed: bool = True
    known_failure: str | None = None  # why these settings are known to fail it (a fail only)

    @property
    def counted(self) -> Verdict:
        """What this result adds to the run's verdict: a known failure counts as a pass."""
        return Verdict.PASS if self.known_failure is not None else self.verdict

    @property
    def label(self) -> str:
        return KNOWN_FAILURE if self.known_failure is not None else self.verdict.value


KNOWN_FAILURE = "fail (known)"


def tally(results: Iterable[SLOResult]) -> list[tuple[str, int]]:
    """How many results have each label, in the order pass, fail, known failure, unknown."""
    counts = Counter(r.label for r in results)
    order = [Verdict.PASS.value, Verdict.FAIL.value, KNOWN_FAILURE, Verdict.UNKNOWN.value]
    return [(label, counts[label]) for label in order if counts[label]]


def compose(verdicts: Iterable[Verdict]) -> Verdict:
    ranked = list(verdicts)
    if not ranked:
        return Verdict.UNKNOWN
    return max(ranked, key=_RANK.__getitem__)


def exit_code(verdict: Verdict, on_unknown: Literal["fail", "pass"]) -> ExitCode:
    if verdict is Verdict.PASS or (verdict is Verdict.UNKNOWN and on_unknown == "pass"):
        return ExitCode.OK
    return ExitCode.SLO_FAILED


def show(value: float, unit: str) -> str:
    """A value for a one-line explanation: 3.21 s, 85 ms, 0.05 %, 2 writes."""
    if unit == "ratio":
        return f"{value * 100:.3g} %"
    if unit in ("writes", "errors"):
        return f"{value:.0f} {unit}"
    return f"{value:.3g} {unit}"


@dataclass(frozen=True, slots=True)
class Check:
    """One SLO being judged: its id, what it is in words, its unit and what it is about."""

    slo: str
    category: str
    what: str
    unit: str
    fault_id: str | None = None
    op: str | None = None
    timed: bool = True  # False: a saturated measuring host does not change it (lost writes)

    def _result(
        self, verdict: Verdict, target: float | None, explanation: str, **values: object
    ) -> SLOResult:
        return SLOResult.model_validate(
            {
                "slo": self.slo,
                "category": self.category,
                "verdict": verdict,
                "target": target,
                "unit": self.unit,
                "explanation": f"{self.what}: {explanation}",
                "fault_id": self.fault_id,
                "op": self.op,
                "timed": self.timed,
                "measured": None,
                "margin": None,
                **values,
            }
        )

    def judge(self, measured: float, target: float) -> SLOResult:
        """Pass when the measured value is at most the target."""
        passed = measured <= target
        relation = "≤" if passed else ">"
        return self._result(
            Verdict.PASS if passed else Verdict.FAIL,
            target,
            f"{show(measured, self.unit)} {relation} target {show(target, self.unit)}",
            measured=measured,
            margin=target - measured,
        )

    def never(self, observed: float, target: float) -> SLOResult:
        """A failure without a value: it had not happened `observed` after the fault."""
        return self._result(
            Verdict.FAIL,
            target,
            f"not within the {show(observed, self.unit)} observed (target {show(target, self.unit)})",
            measured=observed,
            lower_bound=True,
        )

    def unknown(self, error: str, target: float | None) -> SLOResult:
        return self._result(Verdict.UNKNOWN, target, f"unknown ({error})", error=error)
