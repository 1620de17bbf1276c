"""Faults paired into intervals, their classes and horizons, and the phases they define."""

from __future__ import annotations

import numpy as np
import pytest

from contract.errors import AnalysisError
from contract.rundir import FaultEvent, MemberInfo
from reports.faults import fault_class, pair_faults
from reports.members import MemberNames
from reports.phases import PHASES, Phase, assign, phase_windows, request_phases
from reports.slo import FaultClass

NAMES = MemberNames(
    [
        MemberInfo("m0", "h:1", region="eu"),
        MemberInfo("m1", "h:2", region="eu"),
        MemberInfo("m2", "h:3", region="us"),
    ]
)
ALL = ["m0", "m1", "m2"]


def event(fault_id: str, action: str, t: float, members: list[str] | None = None, **kw: object) -> FaultEvent:
    fields: dict[str, object] = {
        "kind": "kill",
        "target": "primary",
        "outcome": "ok",
        "primary": "h:1",
        "params": {},
    }
    fields.update(kw)
    return FaultEvent(
        fault_id=fault_id,
        action=action,
        members=members if members is not None else ["m0"],
        t_wall=t,
        t_mono=t,
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("target", "members", "params", "expected"),
    [
        ("primary", ["m0"], {}, FaultClass.SINGLE_NODE),
        ("primary", [], {}, FaultClass.SINGLE_NODE),  # a stepdown hits no member
        ("region:eu", ["m0", "m1"], {}, FaultClass.REGION),
        ("provider:aws", ["m0"], {}, FaultClass.CLOUD_PROVIDER),
        ("cloud:gcp", ["m0"], {}, FaultClass.CLOUD_PROVIDER),
        ("all", ["m0"], {}, FaultClass.DISASTER),
        ("majority", ["m0", "m1", "m2"], {}, FaultClass.DISASTER),
        ("majority", ["m0", "m1"], {}, FaultClass.REGION),
        ("primary", ["m0"], {"slo_class": "disaster"}, FaultClass.DISASTER),
    ],
)
def test_fault_class(target: str, members: list[str], params: dict, expected: FaultClass) -> None:
    cls, source = fault_class(target, members, params, ALL)
    assert cls is expected
    assert source == ("params" if params else "derived")


def test_a_bad_declared_class_is_refused_with_the_fault_named() -> None:
    with pytest.raises(AnalysisError, match=r"faults.jsonl: fault f1: params.slo_class 'zone' is not one of"):
        pair_faults([event("f1", "inject", 10.0, params={"slo_class": "zone"})], NAMES, 100.0)


def test_pairing_out_of_order_lines_with_canonical_names() -> None:
    faults = pair_faults(
        [
            event("f2", "heal", 50.0, ["m1"]),
            event("f1", "heal", 20.0),
            event("f2", "inject", 40.0, ["h:2"], primary="h:2"),
            event("f1", "inject", 10.0),
        ],
        NAMES,
        100.0,
    )
    assert [f.fault_id for f in faults] == ["f1", "f2"]
    first, second = faults
    assert (first.t_inject, first.t_heal, first.primary_before) == (10.0, 20.0, "m0")
    assert second.members == ["m1"] and second.primary_before == "m1"
    # Sequential faults: f1 is charged until f2 is injected, f2 until the run ends.
    assert (first.horizon_end, second.horizon_end) == (40.0, 100.0)
    assert first.overlaps == [] and second.overlaps == []


def test_overlapping_faults_share_their_episode() -> None:
    faults = pair_faults(
        [
            event("f1", "inject", 10.0),
            event("f2", "inject", 15.0, ["m1"]),
            event("f1", "heal", 30.0),
            event("f2", "heal", 35.0, ["m1"]),
            event("f3", "inject", 60.0, ["m2"]),
        ],
        NAMES,
        100.0,
    )
    horizons = {f.fault_id: f.horizon_end for f in faults}
    assert horizons == {"f1": 60.0, "f2": 60.0, "f3": 100.0}
    overlaps = {f.fault_id: f.overlaps for f in faults}
    assert overlaps == {"f1": ["f2"], "f2": ["f1"], "f3": []}


def test_a_fault_never_healed_keeps_its_horizon_to_the_end() -> None:
    faults = pair_faults([event("f1", "inject", 10.0), event("f2", "inject", 30.0)], NAMES, 100.0)
    assert [f.horizon_end for f in faults] == [100.0, 100.0]
    assert faults[0].t_heal is None and faults[0].overlaps == ["f2"]


def test_a_failed_injection_opens_no_horizon_for_others() -> None:
    faults = pair_faults(
        [
            event("f1", "inject", 10.0),
            event("f1", "heal", 12.0),
            event("f2", "inject", 20.0, outcome="error", error="refused"),
        ],
        NAMES,
        100.0,
    )
    assert faults[0].horizon_end == 100.0
    assert not faults[1].injected and faults[1].inject_error == "refused"
    assert faults[1].horizon_end == 20.0


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([event("f1", "heal", 10.0)], "fault f1 has a heal record but no inject record"),
        ([event("f1", "inject", 1.0), event("f1", "inject", 2.0)], "fault f1 has more than one inject"),
        ([event("f1", "inject", 5.0), event("f1", "heal", 4.0)], "fault f1 is healed before it is injected"),
        ([event("f1", "restart", 5.0)], "fault f1: unknown action 'restart'"),
    ],
)
def test_inconsistent_fault_timelines_are_refused(events: list[FaultEvent], message: str) -> None:
    with pytest.raises(AnalysisError, match=message):
        pair_faults(events, NAMES, 100.0)


def test_phases_without_faults_are_one_steady_window() -> None:
    windows = phase_windows([], 0.0, 100.0, 30.0)
    assert [(w.phase, w.start, w.end) for w in windows] == [(Phase.STEADY, 0.0, 100.0)]


def test_phases_of_one_healed_fault() -> None:
    faults = pair_faults([event("f1", "inject", 10.0), event("f1", "heal", 20.0)], NAMES, 100.0)
    windows = phase_windows(faults, 0.0, 100.0, 30.0)
    assert [(w.phase, w.start, w.end, w.fault_ids) for w in windows] == [
        (Phase.STEADY, 0.0, 10.0, ()),
        (Phase.FAULT, 10.0, 20.0, ("f1",)),
        (Phase.RECOVERY, 20.0, 50.0, ("f1",)),
        (Phase.STEADY, 50.0, 100.0, ()),
    ]


def test_a_steady_request_still_running_at_an_injection_belongs_to_the_fault() -> None:
    faults = pair_faults([event("f1", "inject", 10.0), event("f1", "heal", 20.0)], NAMES, 100.0)
    windows = phase_windows(faults, 0.0, 100.0, 30.0)
    starts = np.array([5.0, 9.99, 9.99, 15.0, 45.0, 60.0])
    ends = np.array([5.02, 9.995, 15.5, 16.0, 55.0, 61.0])
    got = [PHASES[c] for c in request_phases(starts, ends, windows)]
    # In flight at the injection (9.99 -> 15.5): the fault's; one into the steady state after a
    # recovery keeps the recovery it started in; a steady one that ends before the fault, steady.
    assert got == [Phase.STEADY, Phase.STEADY, Phase.FAULT, Phase.FAULT, Phase.RECOVERY, Phase.STEADY]


def test_phases_of_overlapping_faults_fault_beats_recovery() -> None:
    faults = pair_faults(
        [
            event("f1", "inject", 10.0),
            event("f1", "heal", 20.0),
            event("f2", "inject", 25.0, ["m1"]),
            event("f2", "heal", 40.0, ["m1"]),
        ],
        NAMES,
        100.0,
    )
    windows = phase_windows(faults, 0.0, 100.0, 10.0)
    assert [(w.phase, w.start, w.end, w.fault_ids) for w in windows] == [
        (Phase.STEADY, 0.0, 10.0, ()),
        (Phase.FAULT, 10.0, 20.0, ("f1",)),
        (Phase.RECOVERY, 20.0, 25.0, ("f1",)),
        (Phase.FAULT, 25.0, 40.0, ("f2",)),  # f1's recovery window (to 30) is inside f2's fault
        (Phase.RECOVERY, 40.0, 50.0, ("f2",)),
        (Phase.STEADY, 50.0, 100.0, ()),
    ]
    codes = assign(np.array([-5.0, 5.0, 22.0, 30.0, 45.0, 99.0, 150.0]), windows)
    assert [PHASES[c] for c in codes] == [
        Phase.STEADY,
        Phase.STEADY,
        Phase.RECOVERY,
        Phase.FAULT,
        Phase.RECOVERY,
        Phase.STEADY,
        Phase.STEADY,
    ]


def test_phases_of_a_fault_never_healed_and_one_that_failed() -> None:
    faults = pair_faults(
        [event("f1", "inject", 10.0, outcome="error"), event("f2", "inject", 50.0, ["m1"])],
        NAMES,
        100.0,
    )
    windows = phase_windows(faults, 0.0, 100.0, 30.0)
    assert [(w.phase, w.start, w.end) for w in windows] == [
        (Phase.STEADY, 0.0, 50.0),
        (Phase.FAULT, 50.0, 100.0),
    ]
