"""Change streams on live emulator sets through PyMongo's `watch()`: the events mongod emits for
each kind of write, resume tokens and every way of resuming, majority-committed events only,
pre- and post-images, transactions, `$listLocalSessions`, and a stream that survives the
primary being killed under a write load with no event lost or repeated."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from pymongo import MongoClient, WriteConcern
from pymongo.errors import OperationFailure, PyMongoError

from tests.conftest import ReplicaSet, StartSet
from tests.replication_support import CLIENT, FAST, eventually, writable_primary


def _next(stream: Any, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        change = stream.try_next()
        if change is not None:
            return change
    raise AssertionError(f"no change event within {timeout} s")


def _strip(change: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in change.items() if k not in ("_id", "clusterTime", "wallTime")}


def test_a_collection_stream_reports_each_write_as_mongod_does_then_invalidates(set_db: Any) -> None:
    coll = set_db.c
    coll.insert_one({"_id": 0})
    with coll.watch(max_await_time_ms=200) as stream:
        coll.insert_one({"_id": 1, "a": {"b": 1}, "arr": [1, 2, 3], "gone": True})
        coll.update_one(
            {"_id": 1}, {"$set": {"a.b": 2, "new": 1}, "$unset": {"gone": ""}, "$push": {"arr": 4}}
        )
        coll.update_one({"_id": 1}, [{"$set": {"arr": [1]}}])
        coll.replace_one({"_id": 1}, {"whole": True})
        coll.delete_one({"_id": 1})
        set_db.drop_collection("c")
        changes = [_next(stream) for _ in range(7)]
        assert stream.try_next() is None and not stream.alive
    ns = {"db": set_db.name, "coll": "c"}
    assert [_strip(c) for c in changes] == [
        {"operationType": "insert", "fullDocument": {"_id": 1, "a": {"b": 1}, "arr": [1, 2, 3], "gone": True},
         "ns": ns, "documentKey": {"_id": 1}},
        {"operationType": "update", "ns": ns, "documentKey": {"_id": 1}, "updateDescription": {
            "updatedFields": {"new": 1, "a.b": 2, "arr.3": 4}, "removedFields": ["gone"],
            "truncatedArrays": []}},
        {"operationType": "update", "ns": ns, "documentKey": {"_id": 1}, "updateDescription": {
            "updatedFields": {}, "removedFields": [], "truncatedArrays": [{"field": "arr", "newSize": 1}]}},
        {"operationType": "replace", "fullDocument": {"_id": 1, "whole": True}, "ns": ns,
         "documentKey": {"_id": 1}},
        {"operationType": "delete", "ns": ns, "documentKey": {"_id": 1}},
        {"operationType": "drop", "ns": ns},
        {"operationType": "invalidate"},
    ]  # fmt: skip
    tokens = [c["_id"]["_data"] for c in changes]
    assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)


def test_database_and_cluster_streams(set_client: MongoClient[dict[str, Any]], set_db: Any) -> None:
    other = set_client[set_db.name + "_other"]
    set_client.drop_database(other.name)
    set_db.a.insert_one({"_id": 0})
    with set_db.watch(max_await_time_ms=200) as by_db, set_client.watch(max_await_time_ms=200) as by_cluster:
        set_db.a.insert_one({"_id": 1})
        other.b.insert_one({"_id": 2})
        set_client.admin.command("ping")
        set_client.drop_database(set_db.name)
        db_changes = [_next(by_db) for _ in range(4)]
        cluster = [_strip(_next(by_cluster)) for _ in range(4)]
    assert [c["operationType"] for c in db_changes] == ["insert", "drop", "dropDatabase", "invalidate"]
    assert db_changes[2]["ns"] == {"db": set_db.name}
    assert [(c["operationType"], c["ns"]) for c in cluster] == [
        ("insert", {"db": set_db.name, "coll": "a"}),
        ("insert", {"db": other.name, "coll": "b"}),
        ("drop", {"db": set_db.name, "coll": "a"}),
        ("dropDatabase", {"db": set_db.name}),
    ]
    set_client.drop_database(other.name)


def test_resuming_by_token_start_after_and_operation_time(set_db: Any) -> None:
    coll = set_db.c
    coll.insert_one({"_id": 0})
    with coll.watch(max_await_time_ms=200) as stream:
        start = stream.resume_token
        coll.insert_many([{"_id": i} for i in range(1, 6)])
        first = [_next(stream) for _ in range(5)]
    with coll.watch(resume_after=first[1]["_id"], max_await_time_ms=200) as resumed:
        assert [_next(resumed)["documentKey"]["_id"] for _ in range(3)] == [3, 4, 5]
        assert resumed.try_next() is None
    with coll.watch(resume_after=start, max_await_time_ms=200) as resumed:
        assert [_next(resumed)["documentKey"]["_id"] for _ in range(5)] == [1, 2, 3, 4, 5]
    with coll.watch(start_at_operation_time=first[2]["clusterTime"], max_await_time_ms=200) as resumed:
        assert [_next(resumed)["documentKey"]["_id"] for _ in range(3)] == [3, 4, 5]  # inclusive
    with coll.watch(max_await_time_ms=200) as stream:
        set_db.drop_collection("c")
        invalidate = [_next(stream) for _ in range(2)][-1]
    with pytest.raises(OperationFailure) as err:
        coll.watch(resume_after=invalidate["_id"])
    assert err.value.code == 260
    with coll.watch(start_after=invalidate["_id"], max_await_time_ms=200) as resumed:
        coll.insert_one({"_id": "after the drop"})
        assert _next(resumed)["documentKey"] == {"_id": "after the drop"}


def test_every_batch_carries_a_post_batch_resume_token_that_advances(set_db: Any) -> None:
    set_db.c.insert_one({"_id": 0})
    reply = set_db.command("aggregate", "c", pipeline=[{"$changeStream": {}}], cursor={})
    cursor = reply["cursor"]
    assert cursor["firstBatch"] == [] and "postBatchResumeToken" in cursor
    tokens = [cursor["postBatchResumeToken"]["_data"]]
    for _ in range(2):
        set_db.client.admin.command("ping")
        more = set_db.command("getMore", cursor["id"], collection="c", maxTimeMS=100)["cursor"]
        assert more["nextBatch"] == []
        tokens.append(more["postBatchResumeToken"]["_data"])
    set_db.c.insert_one({"_id": 1})
    more = set_db.command("getMore", cursor["id"], collection="c", maxTimeMS=2000)["cursor"]
    assert [e["documentKey"] for e in more["nextBatch"]] == [{"_id": 1}]
    tokens.append(more["postBatchResumeToken"]["_data"])
    assert tokens == sorted(tokens) and tokens[-1] > more["nextBatch"][0]["_id"]["_data"]
    set_db.command("killCursors", "c", cursors=[cursor["id"]])


def test_a_write_is_reported_only_once_a_majority_has_it(shared_set: ReplicaSet, set_db: Any) -> None:
    primary = shared_set.primary()
    secondaries = [m for m in shared_set.members if m is not primary]
    set_db.c.insert_one({"_id": 0})
    with set_db.c.watch(max_await_time_ms=200) as stream:
        for m in secondaries:
            with m.client() as direct:
                direct.admin.command("configureFailPoint", "stopReplProducer", mode="alwaysOn")
        try:
            set_db.get_collection("c", write_concern=WriteConcern(w=1)).insert_one({"_id": "w1"})
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                assert stream.try_next() is None  # applied on the primary, not committed
        finally:
            for m in secondaries:
                with m.client() as direct:
                    direct.admin.command("configureFailPoint", "stopReplProducer", mode="off")
        assert _next(stream)["documentKey"] == {"_id": "w1"}


def test_full_document_lookup_and_pre_and_post_images(set_db: Any) -> None:
    set_db.create_collection("images", changeStreamPreAndPostImages={"enabled": True})
    images, plain = set_db.images, set_db.plain
    images.insert_one({"_id": 1, "n": 1})
    plain.insert_one({"_id": 1, "n": 1})
    options = {"full_document": "whenAvailable", "full_document_before_change": "required"}
    with images.watch(max_await_time_ms=200, **options) as stream:
        images.update_one({"_id": 1}, {"$inc": {"n": 1}})
        images.delete_one({"_id": 1})
        update, delete = _next(stream), _next(stream)
    assert (update["fullDocumentBeforeChange"], update["fullDocument"]) == (
        {"_id": 1, "n": 1},
        {"_id": 1, "n": 2},
    )
    assert delete["fullDocumentBeforeChange"] == {"_id": 1, "n": 2}
    with plain.watch(full_document="updateLookup", max_await_time_ms=200) as stream:
        plain.update_one({"_id": 1}, {"$inc": {"n": 1}})
        assert _next(stream)["fullDocument"] == {"_id": 1, "n": 2}
    with plain.watch(full_document_before_change="required", max_await_time_ms=200) as stream:
        plain.update_one({"_id": 1}, {"$inc": {"n": 1}})
        with pytest.raises(OperationFailure) as err:
            _next(stream)
    assert err.value.code == 47  # NoMatchingDocument: the collection keeps no pre-images


def test_a_transaction_shows_as_its_operations_with_its_session(
    set_client: MongoClient[dict[str, Any]], set_db: Any
) -> None:
    set_db.c.insert_one({"_id": 0})
    with set_db.c.watch(max_await_time_ms=200) as stream, set_client.start_session() as s:
        with s.start_transaction():
            set_db.c.insert_one({"_id": 1}, session=s)
            set_db.c.update_one({"_id": 0}, {"$set": {"x": 1}}, session=s)
        changes = [_next(stream) for _ in range(2)]
        session = s.session_id["id"]
    assert [c["operationType"] for c in changes] == ["insert", "update"]
    assert all(c["lsid"]["id"] == session and "txnNumber" in c for c in changes)
    assert changes[0]["clusterTime"] == changes[1]["clusterTime"]
    assert changes[0]["_id"]["_data"] < changes[1]["_id"]["_data"]


def test_list_local_sessions_and_collectionless_aggregates(set_client: MongoClient[dict[str, Any]]) -> None:
    with set_client.start_session() as s:
        set_client.admin.command("ping", session=s)
        listed = list(set_client.admin.aggregate([{"$listLocalSessions": {}}]))
        assert s.session_id["id"] in [d["_id"]["id"] for d in listed]
        assert all(set(d) == {"_id", "lastUse"} for d in listed)
    with pytest.raises(OperationFailure) as err:
        set_client.admin.aggregate([{"$match": {}}])
    assert err.value.code == 73


def test_a_stream_resumes_after_the_primary_is_killed_with_no_event_lost_or_repeated(
    start_replica_set: StartSet,
) -> None:
    rs = start_replica_set(3, settings=FAST)
    acknowledged: list[int] = []
    seen: list[Any] = []
    stop = threading.Event()
    with rs.client(**CLIENT, w="majority") as writer_client, rs.client(**CLIENT) as reader_client:
        coll = writer_client.cs.failover
        coll.insert_one({"_id": -1})
        stream = reader_client.cs.failover.watch(max_await_time_ms=200)

        def read() -> None:
            while not stop.is_set():
                try:
                    change = stream.try_next()
                except PyMongoError:
                    continue  # not resumable this time: the loop asks again
                if change is not None:
                    seen.append(change["documentKey"]["_id"])

        def write() -> None:
            deadline = time.monotonic() + 25
            for i in range(400):
                if time.monotonic() > deadline:
                    return
                try:
                    coll.insert_one({"_id": i})
                    acknowledged.append(i)
                except PyMongoError:
                    continue  # indeterminate: it may or may not appear, once at most
                time.sleep(0.01)

        reader = threading.Thread(target=read)
        writer = threading.Thread(target=write)
        reader.start()
        writer.start()
        time.sleep(1.0)
        old = rs.primary()
        old.kill()
        writer.join(60)
        eventually(
            lambda: set(acknowledged) <= set(seen), 30, "the stream to report every acknowledged insert"
        )
        stop.set()
        reader.join(10)
        stream.close()
    assert writable_primary(rs.members) is not old
    assert len(acknowledged) > 50
    assert len(seen) == len(set(seen)), "an event was reported twice"
    assert set(seen) <= set(range(400))
