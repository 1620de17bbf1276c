"""Lost acknowledged writes, RPO and rollback matching on hand-built ledgers.

Writes start every 0.1 s from 0 and take 10 ms: write w<n> starts at n/10 and is acknowledged
at n/10 + 0.01.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from analysis_helpers import load

from contract.rundir import ErrorClass, Verification
from reports.dataloss import data_loss, match_rollback, rpo
from reports.load import RunData
from reports.synthetic.builder import RunBuilder


def writes(b: RunBuilder, start: float, end: float) -> None:
    b.series("canary.write", start, end, every=0.1, is_write=True)


def two_fault_run() -> RunBuilder:
    b = RunBuilder()
    writes(b, 0, 30)  # w0 .. w299
    b.fault("f1", 10.0, heal=20.0)
    b.fault("f2", 25.0, heal=27.0, members=["m1"], primary="m1")
    b.write(12.0, 5.0, "prompts.create", ok=False, error_class=ErrorClass.NETWORK, write_id="i1")
    b.write(12.1, 5.0, "prompts.create", ok=False, error_class=ErrorClass.NETWORK, write_id="i2")
    b.write(12.2, 5.0, "prompts.create", ok=False, error_class=ErrorClass.NETWORK, write_id="i3")
    b.verify(
        acked_missing=["w95", "w97", "w99", "w251"],
        indeterminate_present=["i1"],
        indeterminate_absent=["i2"],
    )
    return b


def test_lost_writes_and_indeterminate_writes(tmp_path: Path) -> None:
    data = load(two_fault_run(), tmp_path)
    loss = data_loss(data.verification, data.ledger, data.rollback)
    assert loss.lost_acked == 4 and loss.acked_writes == 300
    assert [w.write_id for w in loss.lost] == ["w95", "w97", "w99", "w251"]
    assert loss.lost[0].t_start == pytest.approx(data.info.started_at + 9.5)
    assert loss.lost[0].t_ack == pytest.approx(data.info.started_at + 9.51)
    assert (loss.indeterminate, loss.indeterminate_present, loss.indeterminate_absent) == (3, 1, 1)
    assert loss.indeterminate_unresolved == 1  # i3 is in neither list


def test_rpo_per_fault_from_the_last_durable_write(tmp_path: Path) -> None:
    data = load(two_fault_run(), tmp_path)
    result = rpo(data.verification, data.ledger, data.faults)
    by_fault = {f.fault_id: f for f in result.per_fault}
    # f1: w95..w99 (sent 9.5 to 9.9) lost; w94, acknowledged at 9.41, the last durable point.
    assert by_fault["f1"].lost == 3
    assert by_fault["f1"].rpo_s == pytest.approx(9.9 - 9.41)
    # f2: w251 (sent 25.1, while f2 was active) lost after w250 was acknowledged at 25.01.
    assert by_fault["f2"].lost == 1
    assert by_fault["f2"].rpo_s == pytest.approx(0.09)
    assert result.rpo_s == pytest.approx(0.49)


def test_writes_lost_just_before_a_fault_are_charged_to_it_not_to_the_one_before(tmp_path: Path) -> None:
    b = RunBuilder()
    writes(b, 0, 40)
    b.fault("f1", 10.0, heal=12.0)
    b.fault("f2", 30.0, heal=32.0, members=["m1"], primary="m1")
    b.verify(acked_missing=["w11", "w298", "w299"])  # sent at 1.1 (before any fault), 29.8, 29.9
    data = load(b, tmp_path)
    result = rpo(data.verification, data.ledger, data.faults)
    assert [(f.fault_id, f.lost) for f in result.per_fault] == [("f1", 1), ("f2", 2)]
    assert result.rpo_s == pytest.approx(29.9 - 29.71)


def test_nothing_lost_is_an_rpo_of_zero(tmp_path: Path) -> None:
    b = RunBuilder()
    writes(b, 0, 10)
    b.fault("f1", 5.0)
    b.verify()
    data = load(b, tmp_path)
    assert rpo(data.verification, data.ledger, data.faults).rpo_s == 0.0
    loss = data_loss(data.verification, data.ledger, data.rollback)
    assert loss.lost_acked == 0 and loss.lost == []


def test_a_loss_without_any_fault_and_without_an_earlier_durable_write(tmp_path: Path) -> None:
    b = RunBuilder()
    writes(b, 0, 10)
    b.verify(acked_missing=["w0", "w3"])
    data = load(b, tmp_path)
    result = rpo(data.verification, data.ledger, data.faults)
    assert [(f.fault_id, f.last_durable_t) for f in result.per_fault] == [(None, None)]
    assert result.rpo_s == pytest.approx(0.3)  # the span of the lost writes alone


def test_rollback_files_matched_by_token_then_by_id(tmp_path: Path) -> None:
    b = two_fault_run()
    by_id = {e.write_id: e for e in b.ledger}
    b.rolled_back("m0", [by_id["w95"], by_id["w97"], by_id["w150"]])  # w150 was re-applied later
    b.rollback_file("m0", [{"_id": by_id["w99"].doc_id}, {"_id": "never-written"}])
    data = load(b, tmp_path)
    assert len(data.rollback) == 5 and data.rollback[0].collection == "prompts"
    match = match_rollback(data.rollback, data.ledger, data.verification)
    assert match is not None
    assert (match.documents, match.matched, match.unmatched, match.acked) == (5, 4, 1, 4)
    assert match.by_member == {"m0": 5}
    assert (match.lost_in_rollback, match.lost_elsewhere, match.rolled_back_present) == (3, 1, 1)
    loss = data_loss(data.verification, data.ledger, data.rollback)
    assert [w.rolled_back for w in loss.lost] == [True, True, True, False]


def test_no_rollback_files_is_no_match(tmp_path: Path) -> None:
    data = load(two_fault_run(), tmp_path)
    assert match_rollback(data.rollback, data.ledger, data.verification) is None


def with_verification(data: RunData, verification: Verification | None) -> RunData:
    data.verification = verification
    return data


def test_without_verification_loss_cannot_be_judged(tmp_path: Path) -> None:
    data = with_verification(load(two_fault_run(), tmp_path), None)
    with pytest.raises(ValueError, match=r"verification.json is absent"):
        data_loss(data.verification, data.ledger, data.rollback)
    with pytest.raises(ValueError, match=r"verification.json is absent"):
        rpo(data.verification, data.ledger, data.faults)


def test_a_verification_that_failed_cannot_be_judged(tmp_path: Path) -> None:
    b = two_fault_run()
    b.verify(error="no member answered a majority read")
    data = load(b, tmp_path)
    with pytest.raises(ValueError, match="could not be verified: no member answered a majority read"):
        data_loss(data.verification, data.ledger, data.rollback)


def test_rpo_needs_the_ledger_and_every_lost_write_in_it(tmp_path: Path) -> None:
    data = load(two_fault_run(), tmp_path)
    with pytest.raises(ValueError, match=re.escape("ledger.parquet is absent")):
        rpo(data.verification, None, data.faults)
    assert data.verification is not None
    data.verification.acked_missing.append("w-unknown")
    with pytest.raises(
        ValueError, match=re.escape("verification.json names writes the ledger lacks: w-unknown")
    ):
        rpo(data.verification, data.ledger, data.faults)


def test_a_write_acknowledged_late_by_a_frozen_primary_does_not_stretch_the_rpo(tmp_path: Path) -> None:
    b = RunBuilder()
    writes(b, 0, 10)  # w0 .. w99
    b.write(10.0, 12000.0, "canary.write", write_id="late")  # applied, then the primary froze for 12 s
    b.fault("f1", 10.005, kind="pause")
    b.verify(acked_missing=["late"])
    data = load(b, tmp_path)
    result = rpo(data.verification, data.ledger, data.faults)
    # Sent at 10.0, after w99 was acknowledged at 9.91: 0.09 s of history, not 12 s.
    assert result.rpo_s == pytest.approx(0.09)
    assert [f.fault_id for f in result.per_fault] == ["f1"]
