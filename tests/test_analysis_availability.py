"""Write availability and RTO on hand-built event logs (times in seconds after the run's origin).

Canary writes start every 0.1 s and take 10 ms unless a test says otherwise, so a write that
starts at t completes at t + 0.01.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from analysis_helpers import fault, inject_times, load

from contract.rundir import ErrorClass
from reports.analyse import analyse
from reports.availability import write_logs, write_window
from reports.synthetic.builder import RunBuilder

STABLE_S = 10.0
STALL_MS = 1000.0
TOLERANCE = 0.001


def window(builder: RunBuilder, tmp_path: Path, fault_id: str = "f1", source: str = "canary"):
    data = load(builder, tmp_path)
    logs = write_logs(data.events, STALL_MS)
    return write_window(fault(data, fault_id), logs[source], inject_times(data), STABLE_S, TOLERANCE)


def canary(b: RunBuilder, start: float, end: float, *, ok: bool = True, **kw: object) -> None:
    b.series("canary.write", start, end, every=0.1, is_write=True, ok=ok, **kw)  # type: ignore[arg-type]


def canary_spans(b: RunBuilder, *spans: tuple[float, float, bool]) -> None:
    """Canary writes over consecutive (start, end, ok) spans."""
    for start, end, ok in spans:
        canary(b, start, end, ok=ok)


def test_failed_writes_then_recovery(tmp_path: Path) -> None:
    b = RunBuilder()
    canary_spans(b, (0, 10, True), (10, 12, False), (12, 20, True))
    b.fault("f1", 10.0, heal=15.0)
    w = window(b, tmp_path)
    assert w is not None and w.recovered is not None
    # First write started after injection that succeeded and stayed good: 12.0 -> 12.01.
    assert w.recovered.after_s == pytest.approx(2.01)
    # From the last success before the first failure (9.9 -> 9.91) to 12.01.
    assert w.unavailable_s == pytest.approx(2.10)
    assert w.longest_gap_s == pytest.approx(2.10)
    assert w.first_bad is not None and w.first_bad.after_s == pytest.approx(0.0, abs=1e-6)
    assert (w.failed, w.stalled) == (20, 0)


def test_a_write_stalled_by_failover_then_retried_counts_as_unavailable(tmp_path: Path) -> None:
    b = RunBuilder()
    canary(b, 0, 10)
    b.write(10.0, 2500.0, "canary.write")  # retried by the driver, acknowledged at 12.5
    canary(b, 12.5, 20)
    b.fault("f1", 10.0)
    w = window(b, tmp_path)
    assert w is not None and w.recovered is not None
    assert w.recovered.after_s == pytest.approx(2.5)  # the stalled write itself completes at 12.5
    assert w.unavailable_s == pytest.approx(12.5 - 9.91)
    assert (w.failed, w.stalled) == (0, 1)


def test_a_lucky_write_just_after_injection_is_not_recovery(tmp_path: Path) -> None:
    b = RunBuilder()
    canary(b, 0, 10)
    b.write(10.001, 5.0, "canary.write")  # slipped through before the primary died
    b.write(10.1, 2900.0, "canary.write")  # then writes stall until 13.0
    canary(b, 13.0, 25)
    b.fault("f1", 10.0)
    w = window(b, tmp_path)
    assert w is not None and w.recovered is not None
    assert w.recovered.after_s == pytest.approx(3.0)


def test_a_write_in_flight_at_injection_opens_the_window(tmp_path: Path) -> None:
    b = RunBuilder()
    canary(b, 0, 9.95)  # last one: 9.9 -> 9.91
    b.write(9.95, 3050.0, "canary.write", ok=False, error_class=ErrorClass.NETWORK)  # fails at 13.0
    canary(b, 13.0, 25)
    b.fault("f1", 10.0)
    w = window(b, tmp_path)
    assert w is not None and w.recovered is not None
    assert w.recovered.after_s == pytest.approx(3.01)
    assert w.first_bad is not None and w.first_bad.after_s == pytest.approx(-0.05)
    assert w.unavailable_s == pytest.approx(13.01 - 9.91)


def test_writes_that_never_recover(tmp_path: Path) -> None:
    b = RunBuilder()
    canary(b, 0, 10)
    canary(b, 10, 20, ok=False, error_class=ErrorClass.SELECTION_TIMEOUT)
    b.fault("f1", 10.0)
    w = window(b, tmp_path)
    assert w is not None
    assert w.recovered is None and w.unavailable_s is None
    assert w.failed == 100
    assert w.observed_until == pytest.approx(b.origin + 19.91)


def test_flapping_writes_recover_only_when_they_stay_up(tmp_path: Path) -> None:
    b = RunBuilder()
    # A brief primary from 11 to 11.5 loses its majority again.
    canary_spans(b, (0, 10, True), (10, 11, False), (11, 11.5, True), (11.5, 13, False), (13, 30, True))
    b.fault("f1", 10.0)
    w = window(b, tmp_path)
    assert w is not None and w.recovered is not None
    assert w.recovered.after_s == pytest.approx(3.01)
    assert w.unavailable_s == pytest.approx(13.01 - 9.91)
    # Successes 11.01 .. 11.41 split the window: 9.91 -> 11.01 and 11.41 -> 13.01.
    assert w.longest_gap_s == pytest.approx(1.60)
    assert w.failed == 25


def test_a_fault_that_disturbs_nothing(tmp_path: Path) -> None:
    b = RunBuilder()
    canary(b, 0, 20)
    b.fault("f1", 10.05, kind="kill", target="secondary", members=["m2"])
    w = window(b, tmp_path)
    assert w is not None and w.recovered is not None
    assert w.recovered.after_s == pytest.approx(0.06)  # the next write, 10.1 -> 10.11
    assert w.unavailable_s == 0.0 and w.first_bad is None and w.disruption_start is None


def test_duplicate_key_failures_are_not_unavailability(tmp_path: Path) -> None:
    b = RunBuilder()
    canary(b, 0, 20)
    b.write(10.5, 5.0, "canary.write", ok=False, error_class=ErrorClass.DUPLICATE_KEY)
    b.fault("f1", 10.05)
    w = window(b, tmp_path)
    assert w is not None and w.recovered is not None
    assert w.recovered.after_s == pytest.approx(0.06)
    assert w.failed == 0


def test_overlapping_faults_each_get_their_own_recovery(tmp_path: Path) -> None:
    b = RunBuilder()
    canary_spans(b, (0, 10, True), (10, 12, False), (12, 13, True), (13, 15, False), (15, 30, True))
    b.fault("f1", 10.0, heal=20.0)
    b.fault("f2", 13.0, heal=25.0, members=["m1"], primary="m1")
    first = window(b, tmp_path, "f1")
    second = window(b, tmp_path / "again", "f2")
    # f1's stability window (12.01, 22.01) is cut at f2's injection (13.0): writes failing from
    # 13.0 on belong to f2.
    assert first is not None and first.recovered is not None
    assert first.recovered.after_s == pytest.approx(2.01)
    assert second is not None and second.recovered is not None
    assert second.recovered.after_s == pytest.approx(2.01)
    assert second.unavailable_s == pytest.approx(15.01 - 12.91)


def test_a_fault_not_recovered_before_the_next_one_carries_over(tmp_path: Path) -> None:
    b = RunBuilder()
    canary_spans(b, (0, 10, True), (10, 16, False), (16, 30, True))
    b.fault("f1", 10.0, heal=20.0)
    b.fault("f2", 13.0, heal=18.0, members=["m1"], primary="m1")
    first = window(b, tmp_path, "f1")
    assert first is not None and first.recovered is not None
    assert first.recovered.after_s == pytest.approx(6.01)  # overlapping faults share the recovery


def test_sequential_faults_are_judged_within_their_own_horizons(tmp_path: Path) -> None:
    b = RunBuilder()
    canary_spans(b, (0, 10, True), (10, 11, False), (11, 20, True))
    canary(b, 20, 40, ok=False)  # the second fault never recovers
    b.fault("f1", 10.0, heal=12.0)
    b.fault("f2", 20.0, heal=22.0, members=["m1"], primary="m1")
    first = window(b, tmp_path, "f1")
    second = window(b, tmp_path / "again", "f2")
    assert first is not None and first.recovered is not None
    assert first.recovered.after_s == pytest.approx(1.01)
    assert first.observed_until == pytest.approx(b.origin + 20.0)
    assert second is not None and second.recovered is None


def test_canary_and_all_writes_are_separate_sources(tmp_path: Path) -> None:
    b = RunBuilder()
    canary(b, 0, 30)  # the canary never noticed
    b.series("prompts.create", 0, 10, every=0.5, is_write=True)
    b.series("prompts.create", 10, 14, every=0.5, is_write=True, ok=False)
    b.series("prompts.create", 14, 30, every=0.5, is_write=True)
    b.fault("f1", 10.0)
    c = window(b, tmp_path, source="canary")
    w = window(b, tmp_path / "again", source="writes")
    assert c is not None and c.unavailable_s == 0.0
    assert w is not None and w.recovered is not None
    # The last failing write starts at 13.5; the canary write 13.5 -> 13.51 is the first success
    # with nothing bad starting after it.
    assert w.recovered.after_s == pytest.approx(3.51)
    assert w.failed == 8


def test_no_writes_of_a_source_is_no_window(tmp_path: Path) -> None:
    b = RunBuilder()
    b.series("prompts.get", 0, 20, every=0.1)
    b.fault("f1", 10.0)
    assert window(b, tmp_path) is None


def test_a_stray_error_under_heavy_load_does_not_hide_the_recovery(tmp_path: Path) -> None:
    b = RunBuilder()
    b.series("prompts.create", 0, 10, every=0.01, is_write=True)
    b.series("prompts.create", 10, 12, every=0.01, is_write=True, ok=False)
    b.series("prompts.create", 12, 30, every=0.01, is_write=True)
    b.write(15.005, 5.0, "prompts.create", ok=False, error_class=ErrorClass.NETWORK)  # 1 in ~1000
    b.fault("f1", 10.0)
    data = load(b, tmp_path)
    log = write_logs(data.events, STALL_MS)["writes"]
    tolerant = write_window(fault(data, "f1"), log, inject_times(data), STABLE_S, TOLERANCE)
    strict = write_window(fault(data, "f1"), log, inject_times(data), STABLE_S, 0.0)
    assert tolerant is not None and tolerant.recovered is not None
    assert tolerant.recovered.after_s == pytest.approx(2.01)
    # With no tolerance the recovery waits for the first success completing after the stray
    # error started: 15.0 -> 15.01.
    assert strict is not None and strict.recovered is not None
    assert strict.recovered.after_s == pytest.approx(5.01)


def test_the_last_success_long_before_a_fault_starts_its_disruption(tmp_path: Path) -> None:
    """The analysis reads only a window of events around each fault; a disruption that began
    long before the window (no write succeeded for 50 s) still starts at the last success."""
    b = RunBuilder()
    canary(b, 0, 10)  # the last success completes at 9.91
    b.series("prompts.get", 0, 120, every=0.5)  # the run goes on, without writes
    canary(b, 60, 62, ok=False)
    canary(b, 62, 120)
    b.fault("f1", 60.0, heal=70.0)
    b.verify()
    summary = analyse(b.write_to(tmp_path))
    [anatomy] = summary.faults
    assert anatomy.canary is not None and anatomy.canary.disruption_start == pytest.approx(b.origin + 9.91)
    assert anatomy.canary.recovered is not None and anatomy.canary.recovered.after_s == pytest.approx(2.01)
    assert anatomy.canary.longest_gap_s == pytest.approx(62.01 - 9.91)
    frame_log = write_logs(load(b, tmp_path / "again").events, STALL_MS)["canary"]  # every event at once
    assert frame_log.ok_end_before is None and frame_log.ok_end[0] == pytest.approx(b.origin + 0.01)
