"""Unit tests of the pure parts of change streams and transactions: resume token order and
parsing, oplog entries to events for each stream scope, updateDescription from diffs, and the
error labels mongod attaches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from bson import Int64, Timestamp
from hypothesis import given
from hypothesis import strategies as st

from mongoemu.changestreams.events import EventBuilder, Scope, StreamScope, describe_update
from mongoemu.changestreams.preimages import PreImages
from mongoemu.changestreams.tokens import ResumeToken
from mongoemu.errors import CommandError
from mongoemu.labels import labels_for
from mongoemu.oplog import OplogEntry, OpTime
from mongoemu.sessions import SessionTable

WALL = datetime(2024, 1, 1)
COLL = StreamScope(Scope.COLLECTION, "db", "c")
DB = StreamScope(Scope.DATABASE, "db")
CLUSTER = StreamScope(Scope.CLUSTER, "admin")

tokens = st.builds(
    ResumeToken,
    time=st.integers(0, 2**32 - 1),
    inc=st.integers(0, 2**32 - 1),
    event=st.booleans(),
    txn_op_index=st.integers(0, 2**31),
    from_invalidate=st.booleans(),
    uuid=st.sampled_from([b"", bytes(range(16))]),
)


@given(tokens, tokens)
def test_token_strings_sort_like_the_events_they_stand_for(a: ResumeToken, b: ResumeToken) -> None:
    assert (a.data() < b.data()) == (a.key() < b.key()) or a.key() == b.key()
    assert ResumeToken.parse(a.to_document(), "resumeAfter") == a


def test_a_high_water_mark_sorts_before_the_events_at_its_time_and_bad_tokens_are_refused() -> None:
    ts = Timestamp(10, 3)
    assert ResumeToken.high_water_mark(ts) < ResumeToken.for_event(ts)
    assert ResumeToken.for_event(ts) < ResumeToken.for_event(ts).invalidating()
    assert ResumeToken.for_event(ts, 5) < ResumeToken.high_water_mark(Timestamp(10, 4))
    assert ResumeToken.for_event(ts).data().startswith("82" + "0000000A" + "00000003")
    for bad, code in ((["x"], 14), ({"_data": 5}, 9), ({"_data": "99zz"}, 260)):
        with pytest.raises(CommandError) as err:
            ResumeToken.parse(bad, "startAfter")
        assert err.value.code == code


def test_update_descriptions_from_diffs() -> None:
    array = {"a": True, "l": 2, "u1": "x", "s0": {"i": {"k": 1}}}
    described = describe_update(
        {"d": {"gone": False}, "u": {"n": 2}, "i": {"new": 1}, "sa": {"u": {"b": 5}}, "sarr": array}
    )
    assert described == {
        "updatedFields": {"n": 2, "new": 1, "a.b": 5, "arr.1": "x", "arr.0.k": 1},
        "removedFields": ["gone"],
        "truncatedArrays": [{"field": "arr", "newSize": 2}],
    }


def _entry(op: str, ns: str, o: dict[str, Any], inc: int = 1, **extra: Any) -> dict[str, Any]:
    return {"ts": Timestamp(100, inc), "t": Int64(1), "op": op, "ns": ns, "wall": WALL, "o": o, **extra}


def _kinds(scope: StreamScope, entry: dict[str, Any], expanded: bool = False) -> list[str]:
    return [e.doc["operationType"] for e in EventBuilder(scope, expanded).events(entry)]


def test_each_scope_sees_its_own_namespaces_and_ends_on_its_own_drop() -> None:
    insert_here = _entry("i", "db.c", {"_id": 1})
    insert_there = _entry("i", "db.d", {"_id": 1})
    internal = _entry("i", "admin.users", {"_id": 1})
    system = _entry("i", "db.system.views", {"_id": 1})
    drop = _entry("c", "db.$cmd", {"drop": "c"})
    drop_db = _entry("c", "db.$cmd", {"dropDatabase": 1})
    assert [_kinds(s, insert_here) for s in (COLL, DB, CLUSTER)] == [["insert"]] * 3
    assert [_kinds(s, insert_there) for s in (COLL, DB, CLUSTER)] == [[], ["insert"], ["insert"]]
    assert [_kinds(s, e) for s in (DB, CLUSTER) for e in (internal, system)] == [[]] * 4
    assert [_kinds(s, drop) for s in (COLL, DB, CLUSTER)] == [["drop", "invalidate"], ["drop"], ["drop"]]
    assert [_kinds(s, drop_db) for s in (COLL, DB, CLUSTER)] == [
        [],
        ["dropDatabase", "invalidate"],
        ["dropDatabase"],
    ]
    assert _kinds(COLL, _entry("n", "", {"msg": "periodic noop"})) == []


def test_a_rename_reports_its_target_and_invalidates_the_source_stream() -> None:
    rename = _entry("c", "admin.$cmd", {"renameCollection": "db.c", "to": "db.e", "stayTemp": False})
    events = EventBuilder(COLL, False).events(rename)
    assert [e.doc["operationType"] for e in events] == ["rename", "invalidate"]
    assert events[0].doc["to"] == {"db": "db", "coll": "e"} and events[1].ends_stream
    assert _kinds(DB, rename) == ["rename"]


def test_expanded_events_only_when_asked() -> None:
    create = _entry("c", "db.$cmd", {"create": "c", "idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"}})
    index = _entry("c", "db.$cmd", {"createIndexes": "c", "v": 2, "key": {"x": 1}, "name": "x_1"})
    assert _kinds(COLL, create) == [] and _kinds(COLL, index) == []
    (event,) = EventBuilder(COLL, True).events(index)
    assert event.doc["operationType"] == "createIndexes"
    assert event.doc["operationDescription"] == {"indexes": [{"v": 2, "key": {"x": 1}, "name": "x_1"}]}
    assert _kinds(COLL, create, expanded=True) == ["create"]


def test_a_transaction_gives_one_event_per_operation_with_its_session() -> None:
    lsid = {"id": b"s"}
    commit = _entry(
        "c",
        "admin.$cmd",
        {"applyOps": [
            {"op": "i", "ns": "db.c", "o": {"_id": 1}},
            {"op": "c", "ns": "db.$cmd", "o": {"create": "d"}},
            {"op": "u", "ns": "db.c", "o": {"$v": 2, "diff": {"u": {"n": 1}}}, "o2": {"_id": 1}},
            {"op": "d", "ns": "db.d", "o": {"_id": 9}},
        ]},
        lsid=lsid,
        txnNumber=Int64(4),
    )  # fmt: skip
    events = EventBuilder(COLL, False).events(commit)
    assert [(e.doc["operationType"], e.token.txn_op_index, e.position) for e in events] == [
        ("insert", 0, 0),
        ("update", 2, 1),
    ]
    assert all(e.doc["lsid"] == lsid and e.doc["txnNumber"] == 4 for e in events)
    assert events[0].token < events[1].token


TXN = {"txnNumber": 1, "autocommit": False}
TRANSIENT, RETRYABLE = ["TransientTransactionError"], ["RetryableWriteError"]
# (command fields, command, error code, write concern error code, change stream) -> labels
LABEL_CASES = [
    ((TXN, "insert", 112, None, False), TRANSIENT),
    ((TXN, "insert", 10107, None, False), TRANSIENT),
    ((TXN, "insert", 11000, None, False), []),
    ((TXN, "commitTransaction", 251, None, False), TRANSIENT),
    ((TXN, "commitTransaction", 251, 64, False), []),
    ((TXN, "commitTransaction", 10107, None, False), RETRYABLE),
    ((TXN, "commitTransaction", None, 91, False), RETRYABLE),
    (({"txnNumber": 1}, "insert", 189, None, False), RETRYABLE),
    (({"txnNumber": 1}, "insert", 11000, None, False), []),
    (({}, "insert", 189, None, False), []),
    (({}, "getMore", 6, None, True), ["ResumableChangeStreamError"]),
    (({}, "getMore", 50, None, True), []),
    (({}, "getMore", 6, None, False), []),
    (({}, "aggregate", 280, None, True), ["NonResumableChangeStreamError"]),
]


@pytest.mark.parametrize(("case", "expected"), LABEL_CASES)
def test_error_labels_follow_mongods_label_builder(case: tuple[Any, ...], expected: list[str]) -> None:
    assert labels_for(*case) == expected


def test_pre_images_line_up_with_an_entrys_operations() -> None:
    images = PreImages()
    at = OpTime(Timestamp(100, 1), 1)
    images.record(OplogEntry("u", "db.other", {}, at), {"_id": 0}, keep=False)  # position 0
    images.record(OplogEntry("u", "db.c", {}, at), {"_id": 1, "v": 1}, keep=True)  # position 1
    images.record(OplogEntry("d", "db.c", {}, OpTime(Timestamp(100, 2), 1)), {"_id": 2}, keep=True)
    assert not images.has(at.ts, 0) and images.get(at.ts, 1) == {"_id": 1, "v": 1}
    assert images.get(Timestamp(100, 2), 0) == {"_id": 2}
    images.expire_before(Timestamp(100, 2))
    assert not images.has(at.ts, 1) and images.has(Timestamp(100, 2), 0)


def test_the_session_table_remembers_committed_transactions_from_the_oplog() -> None:
    table = SessionTable()
    lsid = {"id": b"s"}
    session = {"lsid": lsid, "t": 1}
    table.observe(
        {**session, "ts": Timestamp(1, 1), "op": "i", "ns": "db.c", "o": {"_id": 1}, "txnNumber": 3}
    )
    assert table.newest(lsid) == (3, False)
    commit = {"op": "c", "ns": "admin.$cmd", "o": {"applyOps": []}}
    table.observe({**session, **commit, "ts": Timestamp(1, 2), "txnNumber": 4})
    assert table.newest(lsid) == (4, True)
    restored = SessionTable()
    restored.load(table.to_documents())
    assert restored.newest(lsid) == (4, True) and table.newest({"id": b"other"}) is None
