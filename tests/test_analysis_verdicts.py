"""Verdict composition, exit codes, single checks and analyser isolation."""

from __future__ import annotations

import pytest

from contract.errors import ExitCode
from reports.results import attempt
from reports.verdicts import Check, Verdict, compose, exit_code, show

P, F, U = Verdict.PASS, Verdict.FAIL, Verdict.UNKNOWN


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [([P, P], P), ([P, U], U), ([U, F, P], F), ([F], F), ([], U)],
)
def test_composition_ranks_fail_over_unknown_over_pass(verdicts: list[Verdict], expected: Verdict) -> None:
    assert compose(verdicts) is expected


@pytest.mark.parametrize(
    ("verdict", "on_unknown", "code"),
    [
        (P, "fail", ExitCode.OK),
        (F, "pass", ExitCode.SLO_FAILED),
        (U, "fail", ExitCode.SLO_FAILED),
        (U, "pass", ExitCode.OK),
    ],
)
def test_exit_codes(verdict: Verdict, on_unknown: str, code: ExitCode) -> None:
    assert exit_code(verdict, on_unknown) is code  # type: ignore[arg-type]


def test_a_target_is_a_maximum() -> None:
    check = Check("rpo", "rpo", "RPO", "s")
    met = check.judge(60.0, 60.0)
    assert (met.verdict, met.margin) == (P, 0.0)
    missed = check.judge(61.5, 60.0)
    assert (missed.verdict, missed.margin, missed.measured, missed.target) == (F, -1.5, 61.5, 60.0)
    assert missed.explanation == "RPO: 61.5 s > target 60 s"


def test_never_and_unknown() -> None:
    check = Check("rto[f1]", "rto", "RTO of f1", "s", fault_id="f1")
    never = check.never(42.0, 30.0)
    assert (never.verdict, never.lower_bound, never.margin, never.fault_id) == (F, True, None, "f1")
    assert never.explanation == "RTO of f1: not within the 42 s observed (target 30 s)"
    unknown = check.unknown("no writes were recorded", 30.0)
    assert (unknown.verdict, unknown.measured, unknown.error) == (U, None, "no writes were recorded")


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (0.0005, "ratio", "0.05 %"),
        (2.0, "writes", "2 writes"),
        (85.25, "ms", "85.2 ms"),
        (3.214, "s", "3.21 s"),
    ],
)
def test_values_are_shown_with_their_units(value: float, unit: str, text: str) -> None:
    assert show(value, unit) == text


def test_an_analyser_that_raises_becomes_an_error_outcome() -> None:
    def broken() -> int:
        return {}["missing"]  # type: ignore[no-any-return]

    def refusing() -> int:
        raise ValueError("probes.parquet is absent")

    assert attempt(lambda: 3).value == 3 and attempt(lambda: 3).ok
    assert attempt(broken).error == "KeyError: 'missing'"
    assert attempt(refusing).error == "probes.parquet is absent"
