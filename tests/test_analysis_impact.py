"""What the application saw of a fault, on synthetic histories with known answers: errors by
class and phase, the guide's figure, the failover_errors SLO, and whether a run's timing is
production's (times after the run's origin; the fault is injected at 20 and healed at 40)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from test_analysis_anatomy import CLIENTS, END, INJECT, History

from contract.rundir import ErrorClass
from locustfiles.settings import DriverProfile
from reports.analyse import analyse
from reports.html.report import render_report
from reports.markdown import run_summary
from reports.slo import SLOSpec
from reports.summary import Summary
from reports.verdicts import Verdict

NEW_PRIMARY = 30.64  # when the drivers could write again


def driver(**changes: object) -> dict[str, object]:
    return DriverProfile(**changes).model_dump()  # type: ignore[arg-type]


def history(selection_s: float, **scenario: object) -> History:
    """A SIGKILL with m1 writable at 30.62: writes wait in server selection for `selection_s`,
    fail when that runs out before the new primary, else succeed when it comes."""
    h = History("kill")

    def outcome(t: float) -> tuple[float, bool, ErrorClass | None]:
        if t < INJECT or t >= NEW_PRIMARY:
            return t + 0.01, True, None
        if t + selection_s < NEW_PRIMARY:
            return t + selection_s + 0.01, False, ErrorClass.SELECTION_TIMEOUT
        return NEW_PRIMARY + 0.01, True, None

    h.writes(0, END, 0.2, outcome)
    # The canary reads from the primary: its failures are the suite's, not the application's.
    h.builder.series("canary.read", INJECT, NEW_PRIMARY, every=0.5, ok=False, error_class=ErrorClass.NETWORK)
    h.probes(INJECT, END, None, elected_at=30.75)
    for client in CLIENTS:
        h.lost(20.01, client)
        h.found(30.63, client)
    h.builder.slos = {}
    h.builder.sections = {"workload": {"driver": driver(server_selection_timeout_ms=int(selection_s * 1000))}}
    h.builder.sections.update(scenario)
    return h


def summarise(h: History, tmp_path: Path) -> Summary:
    summary, _ = h.analyse(tmp_path)
    return summary


def failed_writes(selection_s: float) -> int:
    """Writes started every 0.2 s per client (offset 0.1) in [20, 30.64 - selection_s)."""
    last = NEW_PRIMARY - selection_s
    return sum(math.ceil((last - (INJECT + i * 0.1)) / 0.2) for i in range(len(CLIENTS)))


def test_the_guide_profile_surfaces_selection_timeouts_and_fails_failover_errors(tmp_path: Path) -> None:
    summary = summarise(history(5.0), tmp_path)
    impact = summary.faults[0].impact
    assert impact is not None
    expected = failed_writes(5.0)
    assert (impact.surfaced, impact.writes_surfaced, impact.reads_surfaced) == (expected, expected, 0)
    assert (impact.guide_surfaced, impact.guide_basis) == (expected, "measured")
    [row] = impact.by_class
    assert (row.error_class, row.phase, row.count, row.waited_out_selection) == (
        "selection_timeout",
        "fault",
        expected,
        expected,
    )
    assert row.first.after_s == pytest.approx(5.01) and row.last.after_s < NEW_PRIMARY - INJECT
    assert impact.without_primary_s == pytest.approx(10.63)
    assert row.explanation == (
        f"{expected} ServerSelectionTimeoutError in f1: serverSelectionTimeoutMS 5000 < election 10.6 s"
    )
    [slo] = [r for r in summary.results if r.category == "failover_errors"]
    assert (slo.slo, slo.verdict, slo.measured) == ("failover_errors[f1]", Verdict.FAIL, expected)
    assert slo.target == 0
    assert slo.explanation == (
        f"errors surfaced in f1 (kill primary, single_node): {expected} errors > target 0 errors "
        f"({row.explanation})"
    )
    assert "\n" not in slo.explanation
    findings = {f.check: f for f in summary.driver_findings}
    assert findings["selection_vs_election"].severity == "error"


def test_thirty_seconds_of_server_selection_absorb_the_failover(tmp_path: Path) -> None:
    summary = summarise(history(30.0), tmp_path)
    impact = summary.faults[0].impact
    assert impact is not None and impact.surfaced == 0 and impact.by_class == []
    assert impact.stalled > 0
    # Each write waited from its start to 30.65; with the guide's 5 s it would have failed
    # once per 5 s of that wait.
    waits = [NEW_PRIMARY + 0.01 - t for i in range(len(CLIENTS)) for t in _starts(INJECT + i * 0.1)]
    assert impact.guide_basis == "estimated"
    assert impact.guide_surfaced == sum(math.floor(w / 5.0) for w in waits if w >= 5.0)
    [slo] = [r for r in summary.results if r.category == "failover_errors"]
    assert slo.verdict is Verdict.PASS and slo.measured == 0
    assert slo.explanation.endswith(f"(with the guide's driver settings ≈ {impact.guide_surfaced} errors)")
    assert summary.timing is not None and summary.timing.production
    assert summary.timing.driver_changes == ["serverSelectionTimeoutMS 30000 (guide: 5000)"]


def _starts(first: float) -> list[float]:
    out, t = [], first
    while t < NEW_PRIMARY:
        out.append(t)
        t += 0.2
    return out


def test_failover_errors_may_count_reads_only(tmp_path: Path) -> None:
    h = history(5.0)
    h.builder.slos = {"checks": {"failover_errors": {"max": 0, "ops": "reads"}}}
    summary = summarise(h, tmp_path)
    [slo] = [r for r in summary.results if r.category == "failover_errors"]
    assert slo.verdict is Verdict.PASS and slo.measured == 0
    assert slo.explanation.startswith("errors surfaced by reads in f1")


def test_errors_count_in_the_phase_they_reached_the_application(tmp_path: Path) -> None:
    h = history(30.0)
    h.builder.request(40.5, 20.0, "prompts.get", ok=False, error_class=ErrorClass.NETWORK, worker="worker-0")
    summary = summarise(h, tmp_path)
    impact = summary.faults[0].impact
    assert impact is not None
    [row] = impact.by_class
    assert (row.error_class, row.phase, row.count, row.waited_out_selection) == ("network", "recovery", 1, 0)
    assert impact.reads_surfaced == 1


def test_a_bad_failover_errors_target_is_refused_with_its_field() -> None:
    with pytest.raises(ValueError, match=r"failover_errors\.maxx: Extra inputs are not permitted"):
        SLOSpec.model_validate({"checks": {"failover_errors": {"maxx": 1}}}).resolve()
    with pytest.raises(ValueError, match=r"failover_errors\.ops: Input should be 'all', 'reads' or 'writes'"):
        SLOSpec.model_validate({"checks": {"failover_errors": {"ops": "some"}}}).resolve()


def test_a_shortened_run_says_so_in_every_output(tmp_path: Path) -> None:
    h = history(5.0)
    h.builder.sections = {
        "description": "a drill with short elections",
        "target": {"settings": {"electionTimeoutMillis": 1000, "heartbeatIntervalMillis": 200}},
        "workload": {"driver": driver(heartbeat_frequency_ms=500)},
    }
    run_dir = h.builder.write_to(tmp_path / "run")
    summary = analyse(run_dir)
    timing = summary.timing
    assert timing is not None and not timing.production and timing.declared
    assert timing.shortened == [
        "electionTimeoutMillis 1000 (production 10000)",
        "heartbeatIntervalMillis 200 (production 2000)",
        "heartbeatFrequencyMS 500 (driver default 10000)",
    ]
    html = render_report(run_dir, summary)
    assert '<span class="badge shortened" id="timing-badge">timing: shortened</span>' in html
    assert "This run's timing is not production's: electionTimeoutMillis 1000" in html
    md = run_summary(summary)
    assert "> ⏱ **timing: shortened**, not production's: electionTimeoutMillis 1000" in md


def test_a_production_run_has_no_badge(tmp_path: Path) -> None:
    run_dir = history(5.0).builder.write_to(tmp_path / "run")
    summary = analyse(run_dir)
    assert summary.timing is not None and summary.timing.production
    assert summary.timing.shortened == [] and summary.timing.driver_changes == []
    html = render_report(run_dir, summary)
    assert "timing: shortened" not in html
    assert "production (electionTimeoutMillis 10000, heartbeatIntervalMillis 2000)" in html


def test_a_write_refused_as_not_primary_without_the_retry_label_is_not_blamed_on_selection(
    tmp_path: Path,
) -> None:
    """Writes whose connections to a frozen primary became ready only after it stepped down go
    out as non-retryable: mongod refuses them without the RetryableWriteError label and they
    surface at the heal, however long they waited, whatever serverSelectionTimeoutMS says."""
    h = history(5.0)
    unlabelled = (
        "NotPrimaryError: not primary, full error: {'ok': 0.0, 'errmsg': 'not primary', 'code': 10107}"
    )
    labelled = unlabelled.replace("10107}", "10107, 'errorLabels': ['RetryableWriteError']}")
    for t in (INJECT + 0.11, INJECT + 0.21):
        h.builder.write(
            t, 19_900.0, "prompts.update", ok=False, error_class=ErrorClass.NOT_PRIMARY, error=unlabelled
        )
    h.builder.write(
        INJECT + 0.3, 6_000.0, "prompts.update", ok=False, error_class=ErrorClass.NOT_PRIMARY, error=labelled
    )
    impact = summarise(h, tmp_path).faults[0].impact
    assert impact is not None
    rows = {(r.error_class, r.phase): r for r in impact.by_class}
    late = rows["not_primary", "recovery"]
    assert (late.count, late.not_retried, late.waited_out_selection) == (2, 2, 0)
    assert late.explanation == (
        "2 NotPrimaryError in f1: writes refused by a member no longer primary and never retried (sent as "
        "non-retryable: their connections became ready only after the primary stepped down)"
    )
    # A labelled one was retried: its retry waited out server selection before the election.
    early = rows["not_primary", "fault"]
    assert (early.count, early.not_retried, early.waited_out_selection) == (1, 0, 1)
    assert early.explanation is not None and "(the retry found no primary in time)" in early.explanation
