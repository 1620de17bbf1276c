"""Judging one document's ledger entries against its final state (Jepsen-style)."""

from __future__ import annotations

from dataclasses import replace

from bson import ObjectId

from contract.rundir import LedgerEntry
from locustfiles.verify import ABSENT, DocState, as_of, judge, parse_id


def w(n: int, op: str, status: str, token: bool = True) -> LedgerEntry:
    write_id = f"local-{n}"
    return LedgerEntry(
        write_id=write_id,
        collection="prompts",
        op=op,
        doc_id="d",
        id_type="str",
        write_concern="majority",
        t_start=float(n),
        status=status,
        token=write_id if token and op != "delete" else None,
    )


def present(n: int | None) -> DocState:
    return DocState(True, None if n is None else f"local-{n}")


def test_last_acknowledged_write_visible_is_fine() -> None:
    found = judge([w(1, "insert", "acked"), w(2, "update", "acked")], present(2))
    assert found.acked_missing == [] and found.failed_present == []


def test_a_lost_update_is_the_last_acknowledged_write_missing() -> None:
    found = judge([w(2, "update", "acked"), w(1, "insert", "acked")], present(1))
    assert found.acked_missing == ["local-2"]


def test_a_lost_insert() -> None:
    assert judge([w(1, "insert", "acked")], ABSENT).acked_missing == ["local-1"]


def test_acknowledged_delete_must_leave_the_document_absent() -> None:
    entries = [w(1, "insert", "acked"), w(2, "delete", "acked")]
    assert judge(entries, ABSENT).acked_missing == []
    assert judge(entries, present(1)).acked_missing == ["local-2"]


def test_indeterminate_writes_after_the_last_ack_are_resolved() -> None:
    entries = [w(1, "insert", "acked"), w(2, "update", "indeterminate"), w(3, "update", "indeterminate")]
    found = judge(entries, present(3))
    assert found.acked_missing == []
    assert found.indeterminate_present == ["local-3"]
    assert found.indeterminate_absent == ["local-2"]
    found = judge(entries, present(1))
    assert found.indeterminate_absent == ["local-2", "local-3"] and found.acked_missing == []


def test_an_indeterminate_delete_may_explain_a_missing_document() -> None:
    found = judge([w(1, "insert", "acked"), w(2, "delete", "indeterminate")], ABSENT)
    assert found.acked_missing == [] and found.indeterminate_present == ["local-2"]


def test_a_failed_write_that_is_visible_is_reported() -> None:
    found = judge([w(1, "insert", "acked"), w(2, "update", "failed")], present(2))
    assert found.failed_present == ["local-2"]
    assert found.acked_missing == ["local-1"]  # its effect was overwritten by a "failed" write
    assert judge([w(1, "insert", "failed")], ABSENT).failed_present == []


def test_a_failed_delete_of_a_vanished_document() -> None:
    found = judge([w(1, "insert", "acked"), w(2, "delete", "failed")], ABSENT)
    assert found.failed_present == ["local-2"] and found.acked_missing == ["local-1"]


def test_a_failed_delete_of_a_document_never_made_is_not_visible() -> None:
    # A restore point before both: the insert and the delete count as sent after it (failed).
    found = judge([w(1, "insert", "failed"), w(2, "delete", "failed")], ABSENT)
    assert found.failed_present == [] and found.acked_missing == []


def test_writes_without_a_token_only_need_the_document() -> None:
    entries = [w(1, "update", "acked", token=False), w(2, "update", "acked", token=False)]
    assert judge(entries, present(None)).acked_missing == []
    assert judge(entries, DocState(True, "someone-else")).acked_missing == []
    assert judge(entries, ABSENT).acked_missing == ["local-2"]


def test_indeterminate_only_document() -> None:
    found = judge([w(1, "insert", "indeterminate")], ABSENT)
    assert found.indeterminate_absent == ["local-1"] and found.acked_missing == []


def test_parse_id() -> None:
    oid = ObjectId()
    assert parse_id(str(oid), "oid") == oid
    assert parse_id("12", "int") == 12
    assert parse_id("store-1", "str") == "store-1"


def test_the_ledger_as_of_a_restore_point() -> None:
    early = replace(w(1, "insert", "acked"), t_ack=1.5)
    unsure = replace(early, write_id="local-2", t_start=2.0, write_concern="1")
    answered_late = replace(early, write_id="local-3", t_start=3.0, t_ack=4.5)
    late = replace(w(5, "update", "acked"), t_ack=5.5)
    judged = {e.write_id: e.status for e in as_of([early, unsure, answered_late, late], until=4.0)}
    assert judged == {
        "local-1": "acked",  # acknowledged at w:majority by the point
        "local-2": "indeterminate",  # acknowledged, but not at w:majority
        "local-3": "indeterminate",  # sent before the point, answered after it
        "local-5": "failed",  # sent after the point: must not be visible
    }
