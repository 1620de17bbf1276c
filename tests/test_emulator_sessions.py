"""Sessions and retryable writes on a live member: a retried statement (same lsid and
txnNumber, as PyMongo resends it after a network error) answers with the stored result and is
not applied twice."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bson import SON, Int64
from pymongo.errors import OperationFailure


@pytest.fixture
def retry_db(shared_member: Any, fresh_db: Any) -> Iterator[Any]:
    """`db` on a client of its own, used only for the hand-made retries: their lsid (with
    the txnNumbers the test picks) must not be a pooled session PyMongo's own writes reuse."""
    with shared_member.client() as client:
        yield client[fresh_db.name]


def _retry_twice(fresh_db: Any, session: Any, command: SON) -> tuple[dict[str, Any], dict[str, Any]]:
    first = fresh_db.command(command, session=session)
    second = fresh_db.command(command, session=session)
    return first, second


def test_retried_insert_is_applied_once(fresh_db: Any, retry_db: Any) -> None:
    with retry_db.client.start_session() as s:
        cmd = SON([("insert", "c"), ("documents", [{"_id": 1}, {"_id": 2}]), ("txnNumber", Int64(7))])
        first, second = _retry_twice(retry_db, s, cmd)
    assert first["n"] == second["n"] == 2
    assert "writeErrors" not in second  # not a duplicate key: the statements were not run again
    assert fresh_db.c.count_documents({}) == 2


def test_retried_update_and_upsert_return_the_stored_result(fresh_db: Any, retry_db: Any) -> None:
    fresh_db.c.insert_one({"_id": 1, "n": 0})
    with retry_db.client.start_session() as s:
        cmd = SON([
            ("update", "c"),
            ("updates", [
                {"q": {"_id": 1}, "u": {"$inc": {"n": 1}}},
                {"q": {"_id": 2}, "u": {"$inc": {"n": 5}}, "upsert": True},
            ]),
            ("txnNumber", Int64(1)),
        ])  # fmt: skip
        first, second = _retry_twice(retry_db, s, cmd)
    assert (first["n"], first["nModified"]) == (second["n"], second["nModified"]) == (2, 1)
    assert first["upserted"] == second["upserted"] == [{"index": 1, "_id": 2}]
    assert fresh_db.c.find_one({"_id": 1})["n"] == 1
    assert fresh_db.c.find_one({"_id": 2})["n"] == 5


def test_retried_find_and_modify_returns_the_same_document(fresh_db: Any, retry_db: Any) -> None:
    fresh_db.c.insert_one({"_id": 1, "n": 0})
    with retry_db.client.start_session() as s:
        cmd = SON([
            ("findAndModify", "c"), ("query", {"_id": 1}), ("update", {"$inc": {"n": 1}}), ("new", True),
            ("txnNumber", Int64(3)),
        ])  # fmt: skip
        first, second = _retry_twice(retry_db, s, cmd)
        removal = SON(
            [("findAndModify", "c"), ("query", {"_id": 1}), ("remove", True), ("txnNumber", Int64(4))]
        )
        gone_first, gone_second = _retry_twice(retry_db, s, removal)
    assert first["value"] == second["value"] == {"_id": 1, "n": 1}
    assert gone_first["value"] == gone_second["value"] == {"_id": 1, "n": 1}
    assert gone_second["lastErrorObject"] == {"n": 1}


def test_retried_delete_counts_once_and_old_txn_numbers_are_refused(fresh_db: Any, retry_db: Any) -> None:
    fresh_db.c.insert_many([{"_id": 1}, {"_id": 2}])
    with retry_db.client.start_session() as s:
        cmd = SON([("delete", "c"), ("deletes", [{"q": {}, "limit": 1}]), ("txnNumber", Int64(9))])
        first, second = _retry_twice(retry_db, s, cmd)
        with pytest.raises(OperationFailure) as err:
            retry_db.command(
                SON([("insert", "c"), ("documents", [{"_id": 3}]), ("txnNumber", Int64(8))]), session=s
            )
    assert first["n"] == second["n"] == 1
    assert fresh_db.c.count_documents({}) == 1
    assert err.value.code == 225


def test_explicit_sessions_and_end_sessions(fresh_db: Any) -> None:
    client = fresh_db.client
    fresh_db.c.insert_many([{"i": i} for i in range(30)])
    with client.start_session() as s:
        fresh_db.c.insert_one({"i": 99}, session=s)
        cursor = fresh_db.c.find({}, session=s, batch_size=5)
        assert next(cursor)["i"] == 0
        assert fresh_db.c.count_documents({}, session=s) == 31
        lsid = s.session_id
    assert client.admin.command("endSessions", [lsid])["ok"] == 1.0
    assert client.admin.command("killSessions", [lsid])["ok"] == 1.0
    with pytest.raises(OperationFailure) as err:
        fresh_db.command("find", "c", startTransaction=True, autocommit=False)
    assert err.value.code == 72  # InvalidOptions: a transaction needs a txnNumber
