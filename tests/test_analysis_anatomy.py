"""The causal anatomy on synthetic histories with known answers: kill, stepdown, freeze and
partition as the clients, the probes and the drivers saw them, and the inversions an analysis
must refuse to draw. Times are seconds after the run's origin; the fault is injected at 20."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from analysis_helpers import probe_rounds

from contract.rundir import ErrorClass
from reports.analyse import analyse
from reports.milestones import milestones
from reports.summary import FaultAnatomy, Summary
from reports.synthetic.builder import RunBuilder

INJECT = 20.0
END = 45.0
CLIENTS = ("worker-0", "worker-1")


@dataclass
class History:
    """One failover: m0 primary in term 1 loses it at INJECT, `new` wins term 2."""

    kind: str
    new: str = "m1"
    builder: RunBuilder = field(default_factory=RunBuilder)

    def __post_init__(self) -> None:
        self.builder.fault("f1", INJECT, heal=INJECT + 20, kind=self.kind)
        probe_rounds(self.builder, 0, INJECT, every=0.25, primary="m0", term=1)
        for client in CLIENTS:
            self.builder.server_changed(1.0, client, "m0", "Unknown", "RSPrimary")
            self.builder.discovered(1.0, client, "m0")

    def writes(self, start: float, end: float, every: float, outcome: callable) -> None:  # type: ignore[valid-type]
        """Each client writes every `every` s from `start`; `outcome(t)` gives (end, ok, class)."""
        for i, client in enumerate(CLIENTS):
            for t in np.arange(start + i * every / 2, end, every):
                done, ok, cls = outcome(float(t))
                self.builder.write(float(t), (done - t) * 1000, ok=ok, error_class=cls, worker=client)

    def probes(self, start: float, end: float, m0: tuple[str, int] | None, elected_at: float) -> None:
        for t in np.arange(start, end, 0.25):
            new_state = ("PRIMARY", 2) if t >= elected_at else ("SECONDARY", 1)
            states: dict[str, tuple[str, int] | None] = {m: ("SECONDARY", 1) for m in self.builder.members}
            states["m0"] = m0 if t < INJECT + 20 else ("SECONDARY", 2)
            states[self.new] = new_state
            self.builder.probe_round(float(t), states)

    def found(self, t: float, client: str, previous: str = "RSSecondary") -> None:
        self.builder.server_changed(t, client, self.new, previous, "RSPrimary")
        self.builder.discovered(t, client, self.new)

    def lost(self, t: float, client: str, new_type: str = "Unknown") -> None:
        self.builder.server_changed(t, client, "m0", "RSPrimary", new_type)
        self.builder.discovered(t, client, None)

    def analyse(self, tmp_path: Path) -> tuple[Summary, FaultAnatomy]:
        self.builder.verify()
        summary = analyse(self.builder.write_to(tmp_path / self.kind))
        return summary, summary.faults[0]


def ok_at(t: float) -> tuple[float, bool, None]:
    return t + 0.01, True, None


def kill_history() -> History:
    """SIGKILL: writes wait in server selection (5 s) and fail; m1 writable at 30.62, found by the
    drivers at 30.63 and 30.64, seen PRIMARY by the 30.75 probe."""
    h = History("kill")

    def outcome(t: float) -> tuple[float, bool, ErrorClass | None]:
        if t < INJECT:
            return ok_at(t)
        if t < 25.62:
            return t + 5.0, False, ErrorClass.SELECTION_TIMEOUT
        return (max(t, 30.64) + 0.01, True, None) if t < 30.64 else ok_at(t)

    h.writes(0, END, 0.2, outcome)
    h.probes(INJECT, END, None, elected_at=30.75)
    for client in CLIENTS:
        h.lost(20.01, client)
    h.found(30.63, "worker-0")
    h.found(30.64, "worker-1")
    return h


def stepdown_history() -> History:
    """replSetStepDown with election handoff: m0 says SECONDARY at 20.05, m1 writable at 20.12;
    writes in between wait a moment in selection and succeed, nothing fails or stalls."""
    h = History("stepdown")

    def outcome(t: float) -> tuple[float, bool, None]:
        return (20.13, True, None) if INJECT <= t < 20.12 else ok_at(t)

    h.writes(0, END, 0.2, outcome)
    h.probes(INJECT, END, ("SECONDARY", 2), elected_at=20.25)
    for client in CLIENTS:
        h.lost(20.05, client, new_type="RSSecondary")
        h.found(20.12, client, previous="RSOther")
    return h


def freeze_history() -> History:
    """SIGSTOP: writes to the frozen m0 hang until it wakes at 40 (then retried, acknowledged);
    m1's hello at 30.72 names it primary and makes the drivers drop the frozen m0."""
    h = History("pause")

    def outcome(t: float) -> tuple[float, bool, None]:
        return (40.05, True, None) if INJECT <= t < 30.72 else ok_at(t)

    h.writes(0, END, 0.2, outcome)
    h.probes(INJECT, END, None, elected_at=30.75)
    for client in CLIENTS:
        h.found(30.72, client)
        h.lost(30.72, client)
    return h


def partition_history() -> History:
    """m0 cut off from the members, not the clients: w:majority writes wait until it steps down
    at 30.0 (it says SECONDARY at 30.01), are retried and acknowledged by m1 from 30.64."""
    h = History("partition")

    def outcome(t: float) -> tuple[float, bool, None]:
        return (30.64, True, None) if INJECT <= t < 30.62 else ok_at(t)

    h.writes(0, END, 0.2, outcome)
    h.probes(INJECT, END, ("PRIMARY", 1), elected_at=30.75)
    for client in CLIENTS:
        h.lost(30.01, client, new_type="RSSecondary")
    h.found(30.62, "worker-0")
    h.found(30.63, "worker-1")
    return h


def moments(fault: FaultAnatomy) -> list[tuple[str, float | None]]:
    return [(m.key, None if m.after_s is None else round(m.after_s, 3)) for m in milestones(fault)]


@pytest.mark.parametrize(
    ("history", "expected", "stalled", "failed"),
    [
        (
            kill_history,
            [
                ("injected", 0.0),
                ("detected", 1.0),
                ("elected", 10.63),
                ("rediscovered", 10.63),
                ("writable", 10.65),
            ],
            1.0,
            5.0,
        ),
        (
            stepdown_history,
            [("injected", 0.0), ("elected", 0.12), ("rediscovered", 0.12), ("writable", 0.13)],
            None,
            None,
        ),
        (
            freeze_history,
            [
                ("injected", 0.0),
                ("detected", 1.0),
                ("elected", 10.72),
                ("rediscovered", 10.72),
                ("writable", 10.81),
            ],
            1.0,
            None,
        ),
        (
            partition_history,
            [
                ("injected", 0.0),
                ("detected", 1.0),
                ("elected", 10.62),
                ("rediscovered", 10.62),
                ("writable", 10.64),
            ],
            1.0,
            None,
        ),
    ],
    ids=["kill", "stepdown", "freeze", "partition"],
)
def test_the_anatomy_of_each_failover_is_causal_and_in_time_order(
    tmp_path: Path,
    history: callable,  # type: ignore[valid-type]
    expected: list[tuple[str, float]],
    stalled: float | None,
    failed: float | None,
) -> None:
    summary, fault = history().analyse(tmp_path)
    assert summary.analyser_errors == []
    got = [(k, t) for k, t in moments(fault) if k != "throughput"]
    assert [(k, t) for k, t in got if t is not None] == expected
    times = [m.after_s for m in milestones(fault) if m.after_s is not None]
    assert times == sorted(times)
    detection = fault.detection
    if stalled is None and failed is None:
        assert detection is None
    else:
        assert detection is not None
        first_stalled, first_failed = detection.first_stalled, detection.first_failed
        assert (first_stalled.at.after_s if first_stalled else None) == pytest.approx(stalled)
        assert (first_failed.at.after_s if first_failed else None) == pytest.approx(failed)
    election = fault.election
    assert election is not None and election.new_primary == "m1" and election.term == 2
    assert election.not_before is not None and election.not_before.t <= election.at.t
    rediscovery = fault.rediscovery
    assert rediscovery is not None and rediscovery.clients_found == len(CLIENTS)
    for client in rediscovery.clients:
        assert client.first_write is not None and client.found.t <= client.first_write.t


def test_the_election_is_dated_by_its_first_witness(tmp_path: Path) -> None:
    _, fault = kill_history().analyse(tmp_path)
    election = fault.election
    assert election is not None and election.witnessed == "driver"
    assert election.probed is not None and election.probed.after_s == pytest.approx(10.75)
    assert election.not_before is not None and election.not_before.after_s == pytest.approx(10.5)
    detail = next(m.detail for m in milestones(fault) if m.key == "elected")
    assert detail == (
        "m1, term 2, between +10.50 s and +10.63 s (a driver found it first; the probes saw it +10.75 s)"
    )


def test_detection_shows_the_first_stall_and_the_first_failure_with_their_starts(tmp_path: Path) -> None:
    _, fault = kill_history().analyse(tmp_path)
    detail = next(m.detail for m in milestones(fault) if m.key == "detected")
    # worker-0's write started at 20.0 stalled at 21.0 and failed at 25.0.
    assert detail == (
        "first stalled +1.00 s: prompts.create (started +0.00 s, selection_timeout); "
        "first failed +5.00 s: prompts.create (started +0.00 s, selection_timeout)"
    )


def test_a_driver_event_dated_after_the_write_it_enabled_is_an_analyser_error(tmp_path: Path) -> None:
    """As PyMongo's event queue dated them: worker-1 'found' m1 a second after its first write
    to m1 was acknowledged."""
    h = kill_history()
    h.builder.discovery = [
        e for e in h.builder.discovery if not (e.client == "worker-1" and e.t > h.builder.origin + 30)
    ]
    h.found(31.64, "worker-1")
    summary, fault = h.analyse(tmp_path)
    [error] = summary.analyser_errors
    assert error.analyser == "anatomy" and error.fault_id == "f1"
    assert error.error == (
        "client worker-1's driver found the new primary at +11.64 s, after its first successful "
        "write at +10.65 s"
    )
    assert fault.rediscovery is None
    assert any(n.startswith("anatomy: client worker-1") for n in fault.notes)
    keys = [m.key for m in milestones(fault) if m.after_s is not None]
    assert "rediscovered" not in keys
    # Without the driver as a witness the election is the probes' again.
    assert fault.election is not None and fault.election.witnessed == "probe"
    assert fault.election.at.after_s == pytest.approx(10.75)


def test_a_driver_that_found_a_primary_before_it_was_elected_is_an_analyser_error(tmp_path: Path) -> None:
    h = kill_history()
    h.found(25.0, "worker-0")
    summary, fault = h.analyse(tmp_path)
    errors = [e.error for e in summary.analyser_errors]
    expected = "client worker-0's driver found m1 at +5.00 s, before it was elected (not before +10.50 s)"
    assert expected in errors
    assert fault.rediscovery is None


def test_writes_stable_before_any_driver_found_the_new_primary_is_an_analyser_error(tmp_path: Path) -> None:
    h = kill_history()
    # The same drivers, dated ten seconds late (no write of theirs to compare with).
    for e in h.builder.discovery:
        if e.t > h.builder.origin + 30:
            e.t += 10
            e.client = "worker-9"
    summary, fault = h.analyse(tmp_path)
    errors = [e.error for e in summary.analyser_errors]
    assert "writes recovered at +10.65 s, before any driver found the new primary (+20.63 s)" in errors
    assert fault.rediscovery is None


def test_writes_that_recovered_before_the_new_primary_could_be_elected_are_no_inversion(
    tmp_path: Path,
) -> None:
    """A stray failure early in a freeze, recovered at once on the old primary: the drivers find
    the new primary ten seconds later, and that order is causal."""
    h = History("pause")

    def outcome(t: float) -> tuple[float, bool, ErrorClass | None]:
        if INJECT <= t < 20.6:
            return t + 0.05, False, ErrorClass.NETWORK
        return ok_at(t)

    h.writes(0, END, 0.2, outcome)
    h.probes(INJECT, END, None, elected_at=30.75)
    for client in CLIENTS:
        h.found(30.72, client)
        h.lost(30.72, client)
    summary, fault = h.analyse(tmp_path)
    assert [e.error for e in summary.analyser_errors if e.analyser == "anatomy"] == []
    assert fault.writes is not None and fault.writes.recovered is not None
    assert fault.writes.recovered.after_s < 10.5  # before the new primary could have been elected
    assert fault.rediscovery is not None and fault.rediscovery.first.after_s == pytest.approx(10.72)
