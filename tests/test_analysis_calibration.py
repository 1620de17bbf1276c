"""Calibration against a hand-written ground-truth log (times after the run's origin)."""

from __future__ import annotations

from pathlib import Path

import pytest
from analysis_helpers import kill_primary_run
from bson import ObjectId

from reports.calibration import calibrate, probe_interval, read_ground_truth
from reports.synthetic.builder import RunBuilder


def with_ground_truth(b: RunBuilder, writable_at: float) -> RunBuilder:
    b.logged("m0", 0.5, "state", state="PRIMARY", previous="SECONDARY", term=1)
    b.logged("m1", 30.9, "term", term=2, previous=1, reason="election timeout")
    b.logged("m2", 31.0, "election", outcome="lost", term=2, reason="election timeout", detail="outvoted")
    b.logged("m1", 31.4, "election", outcome="won", term=2, reason="election timeout", votes=2)
    b.logged("m1", 31.4, "state", state="PRIMARY", previous="SECONDARY", term=2)
    b.logged("m1", writable_at, "writable", term=2)
    return b


def test_measurements_within_tolerance_of_the_ground_truth(tmp_path: Path) -> None:
    # kill_primary_run: m0 killed at 30, m1 seen PRIMARY by the 31.5 probe, writes back at 32.01.
    run_dir = with_ground_truth(kill_primary_run(), writable_at=31.6).write_to(tmp_path)
    assert probe_interval(run_dir) == pytest.approx(0.25)
    result = calibrate(run_dir)
    assert result.tolerance_s == pytest.approx(0.5)  # 2 x the probe interval beats 150 ms
    rows = {r.metric: r for r in result.rows}
    assert rows["election"].ground_truth_s == pytest.approx(1.4)
    assert rows["election"].difference_s == pytest.approx(0.1)
    assert rows["rto"].ground_truth_s == pytest.approx(1.6)
    assert rows["rto"].difference_s == pytest.approx(0.41)
    assert result.agrees


def test_a_measurement_beyond_tolerance_does_not_agree(tmp_path: Path) -> None:
    run_dir = with_ground_truth(kill_primary_run(), writable_at=31.0).write_to(tmp_path)
    result = calibrate(run_dir, probe_interval_s=0.05)
    assert result.tolerance_s == pytest.approx(0.15)
    rows = {r.metric: r for r in result.rows}
    assert rows["election"].within is True  # 0.1 s off
    assert rows["rto"].within is False and rows["rto"].difference_s == pytest.approx(1.01)
    assert not result.agrees


def test_no_ground_truth_is_no_agreement(tmp_path: Path) -> None:
    result = calibrate(kill_primary_run().write_to(tmp_path))
    assert [(r.metric, r.ground_truth_s, r.within) for r in result.rows] == [
        ("election", None, False),
        ("rto", None, False),
    ]


def test_rolled_back_writes_from_the_log_and_the_files(tmp_path: Path) -> None:
    b = kill_primary_run()
    oid = ObjectId()
    b.logged("m0", 46.0, "rolled_back_write", ns="hub.prompts", op="i", _id=oid)
    b.logged("m0", 46.0, "rolled_back_write", ns="hub.prompts", op="u", _id="d7")
    b.logged("m0", 46.1, "rollback", entries=2, documents=[])
    b.rollback_file("m0", [{"_id": oid, "_w": "tok1"}, {"_id": "d7"}])
    run_dir = b.write_to(tmp_path)
    events = read_ground_truth(run_dir)
    assert [e.event for e in events] == ["rolled_back_write", "rolled_back_write", "rollback"]
    assert events[0].member == "m0" and events[0].fields["_id"] == oid
    result = calibrate(run_dir)
    assert [(w.member, w.op, w.doc_id) for w in result.rolled_back_writes] == [
        ("m0", "i", str(oid)),
        ("m0", "u", "d7"),
    ]
    assert [(d.doc_id, d.token) for d in result.rollback_documents] == [(str(oid), "tok1"), ("d7", None)]
