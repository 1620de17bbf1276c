"""Multi-document transactions on a live 3-member set, through PyMongo's own transaction API:
snapshot isolation, write conflicts, commit as one applyOps entry that every member applies,
commit retries (also on a new primary), abort on stepdown and the lifetime limit."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from bson import Int64
from pymongo import MongoClient, ReadPreference, WriteConcern, monitoring
from pymongo.errors import OperationFailure, PyMongoError

from chaos.backends.processes import MemberProcess
from tests.conftest import ReplicaSet, StartSet
from tests.replication_support import CLIENT, FAST, events, eventually, state_of, writable_primary


@pytest.fixture
def coll(set_db: Any) -> Any:
    set_db.c.insert_many([{"_id": 1, "n": 0}, {"_id": 2, "n": 0}])
    return set_db.c


def test_a_transaction_reads_its_snapshot_and_its_own_writes_and_others_see_nothing_until_commit(
    set_client: MongoClient[dict[str, Any]], coll: Any
) -> None:
    with set_client.start_session() as s, s.start_transaction():
        coll.update_one({"_id": 1}, {"$inc": {"n": 1}}, session=s)
        coll.insert_one({"_id": 3, "n": 7}, session=s)
        coll.delete_one({"_id": 2}, session=s)
        assert sorted(d["_id"] for d in coll.find({}, session=s)) == [1, 3]
        assert coll.find_one({"_id": 1}, session=s)["n"] == 1
        assert sorted(d["_id"] for d in coll.find({})) == [1, 2]  # outside: the old data
        assert coll.find_one({"_id": 1})["n"] == 0
        coll.insert_one({"_id": 4})  # committed after the snapshot: invisible inside
        assert coll.find_one({"_id": 4}, session=s) is None
        assert coll.count_documents({}, session=s) == 2
    assert sorted(d["_id"] for d in coll.find({})) == [1, 3, 4]
    assert coll.find_one({"_id": 1})["n"] == 1


def test_two_transactions_writing_one_document_conflict(
    set_client: MongoClient[dict[str, Any]], coll: Any
) -> None:
    with set_client.start_session() as a, set_client.start_session() as b:
        a.start_transaction()
        coll.update_one({"_id": 1}, {"$set": {"by": "a"}}, session=a)
        b.start_transaction()
        with pytest.raises(OperationFailure) as err:
            coll.update_one({"_id": 1}, {"$set": {"by": "b"}}, session=b)
        assert err.value.code == 112
        assert err.value.has_error_label("TransientTransactionError")
        a.commit_transaction()
        with pytest.raises(OperationFailure) as err:
            b.commit_transaction()
        assert err.value.code == 251  # the conflict aborted b
        assert err.value.has_error_label("TransientTransactionError")
    assert coll.find_one({"_id": 1})["by"] == "a"


def test_a_document_changed_after_the_snapshot_is_a_write_conflict(
    set_client: MongoClient[dict[str, Any]], coll: Any
) -> None:
    with set_client.start_session() as s:
        s.start_transaction()
        coll.find_one({"_id": 2}, session=s)  # the snapshot is taken
        coll.update_one({"_id": 1}, {"$set": {"outside": 1}})
        with pytest.raises(OperationFailure) as err:
            coll.update_one({"_id": 1}, {"$set": {"inside": 1}}, session=s)
        assert err.value.code == 112
        s.abort_transaction()


def test_a_write_outside_transactions_waits_for_the_transaction_holding_its_document(
    set_client: MongoClient[dict[str, Any]], coll: Any
) -> None:
    done = threading.Event()

    def outside() -> None:
        coll.update_one({"_id": 1}, {"$inc": {"n": 10}})
        done.set()

    with set_client.start_session() as s, s.start_transaction():
        coll.update_one({"_id": 1}, {"$inc": {"n": 1}}, session=s)
        writer = threading.Thread(target=outside)
        writer.start()
        assert not done.wait(0.5)  # blocked by the transaction's write
    writer.join(10)
    assert done.is_set()
    assert coll.find_one({"_id": 1})["n"] == 11  # both applied, the transaction's first


class _Commands(monitoring.CommandListener):
    """The txnNumber PyMongo gave each transaction (its server sessions are pooled)."""

    def __init__(self) -> None:
        self.txn_numbers: list[Int64] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("commitTransaction", "abortTransaction"):
            self.txn_numbers.append(event.command["txnNumber"])

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_commit_is_one_applyops_entry_that_every_member_applies(
    shared_set: ReplicaSet, set_client: MongoClient[dict[str, Any]], coll: Any
) -> None:
    with set_client.start_session() as s:
        with s.start_transaction(write_concern=WriteConcern(w=3, wtimeout=10_000)):
            coll.insert_one({"_id": 10, "v": "a"}, session=s)
            coll.update_one({"_id": 1}, {"$set": {"v": "b"}}, session=s)
            coll.delete_one({"_id": 2}, session=s)
        lsid = s.session_id
    entry = set_client.local["oplog.rs"].find_one(
        {"ns": "admin.$cmd", "lsid.id": lsid["id"]}, sort=[("$natural", -1)]
    )
    ops = entry["o"]["applyOps"]
    assert [(o["op"], o["ns"]) for o in ops] == [
        ("i", coll.full_name),
        ("u", coll.full_name),
        ("d", coll.full_name),
    ]
    assert all("ui" in o for o in ops)
    assert ops[1]["o"] == {"$v": 2, "diff": {"i": {"v": "b"}}}
    assert isinstance(entry["txnNumber"], Int64) and "stmtId" not in entry
    assert entry["prevOpTime"]["t"] == -1
    hashes = set()
    for m in shared_set.members:
        with m.client() as direct:
            hashes.add(
                direct[coll.database.name].command(
                    "dbHash", collections=[coll.name], read_preference=ReadPreference.SECONDARY_PREFERRED
                )["md5"]
            )
    assert len(hashes) == 1


def test_an_index_created_in_a_transaction_on_its_new_collection_exists_after_commit(
    set_client: MongoClient[dict[str, Any]], set_db: Any
) -> None:
    with set_client.start_session() as s, s.start_transaction():
        set_db.create_collection("fresh", session=s)
        set_db.fresh.create_index("k", unique=True, session=s)
        set_db.other.create_index("k", session=s)  # its collection created by the index
        set_db.fresh.insert_one({"k": 1}, session=s)
        assert "fresh" not in set_db.list_collection_names()  # outside: nothing yet
    assert "k_1" in set_db.fresh.index_information()
    assert "k_1" in set_db.other.index_information()
    with pytest.raises(OperationFailure) as err:
        set_db.fresh.insert_one({"k": 1})
    assert err.value.code == 11000


def test_commit_retries_answer_ok_and_an_aborted_transaction_cannot_commit(
    shared_set: ReplicaSet, coll: Any
) -> None:
    listener = _Commands()
    with shared_set.client(w="majority", event_listeners=[listener]) as set_client:
        mine = set_client[coll.database.name][coll.name]
        with set_client.start_session() as s:
            s.start_transaction()
            mine.insert_one({"_id": 20}, session=s)
            s.commit_transaction()
            s.commit_transaction()  # PyMongo sends commitTransaction again: a retry
            txn = listener.txn_numbers[-1]
            # The same session's raw commands (PyMongo attaches its lsid).
            retry = {"commitTransaction": 1, "txnNumber": txn, "autocommit": False}
            assert set_client.admin.command(retry, session=s)["ok"] == 1.0
            with pytest.raises(OperationFailure) as err:  # a retryable write cannot reuse the number
                mine.database.command(
                    {"insert": coll.name, "documents": [{"_id": 21}], "txnNumber": txn}, session=s
                )
            assert err.value.code == 217
            s.start_transaction()
            mine.insert_one({"_id": 22}, session=s)
            s.abort_transaction()
            aborted = {"commitTransaction": 1, "txnNumber": listener.txn_numbers[-1], "autocommit": False}
            with pytest.raises(OperationFailure) as err:
                set_client.admin.command(aborted, session=s)
            assert err.value.code == 251
            assert err.value.has_error_label("TransientTransactionError")
    assert coll.count_documents({"_id": {"$in": [20, 21, 22]}}) == 1


def test_statements_outside_the_transaction_rules_are_refused(
    set_client: MongoClient[dict[str, Any]], coll: Any
) -> None:
    with set_client.start_session() as s:
        s.start_transaction()
        with pytest.raises(OperationFailure) as err:
            coll.database.command("count", coll.name, session=s)  # not allowed in a transaction
        assert err.value.code == 263
        s.abort_transaction()
        with pytest.raises(OperationFailure) as err:
            coll.database.command({"find": coll.name, "txnNumber": Int64(500), "autocommit": True}, session=s)
        assert err.value.code == 72


def test_a_committed_transaction_survives_failover_and_an_open_one_is_aborted(
    start_replica_set: StartSet,
) -> None:
    rs = start_replica_set(3, settings=FAST)
    with rs.client(**CLIENT, w="majority") as set_client:
        coll = set_client.txn.failover
        coll.insert_one({"_id": 0})
        committed = set_client.start_session()
        committed.start_transaction()
        coll.insert_one({"_id": 1}, session=committed)
        committed.commit_transaction()
        pending = set_client.start_session()
        pending.start_transaction()
        coll.insert_one({"_id": 2}, session=pending)
        old = rs.primary()
        with old.client() as direct:
            direct.admin.command("replSetStepDown", 10, force=True)
        eventually(lambda: writable_primary(rs.members) not in (None, old), 20, "a new primary")
        committed.commit_transaction()  # the retry reaches the new primary: still committed
        with pytest.raises(PyMongoError) as err:
            pending.commit_transaction()
        assert (
            err.value.has_error_label("TransientTransactionError") or getattr(err.value, "code", None) == 251
        )
        assert sorted(d["_id"] for d in coll.find()) == [0, 1]
        committed.end_session()
        pending.end_session()


def test_a_transaction_past_its_lifetime_is_aborted(start_replica_set: StartSet) -> None:
    rs = start_replica_set(1, extra_args=("--setParameter", "transactionLifetimeLimitSeconds=1"))
    with rs.client() as set_client, set_client.start_session() as s:
        coll = set_client.txn.lifetime
        s.start_transaction()
        coll.insert_one({"_id": 1}, session=s)
        time.sleep(2.5)
        with pytest.raises(OperationFailure) as err:
            s.commit_transaction()
        assert err.value.code == 251
        assert coll.count_documents({}) == 0


def test_a_transaction_the_majority_never_had_is_rolled_back_whole(start_replica_set: StartSet) -> None:
    rs = start_replica_set(3, settings=FAST)
    old = rs.primary()
    secondaries = [m for m in rs.members if m is not old]
    with rs.client(**CLIENT, w="majority") as set_client:
        set_client.txn.rb.insert_many([{"_id": i, "n": 0} for i in range(3)])
    for m in secondaries:
        with m.client() as direct:
            direct.admin.command("configureFailPoint", "stopReplProducer", mode="alwaysOn")
    with (
        old.client() as direct,
        direct.start_session() as s,
        s.start_transaction(write_concern=WriteConcern(w=1)),
    ):
        direct.txn.rb.update_one({"_id": 0}, {"$set": {"n": "lost"}}, session=s)
        direct.txn.rb.insert_one({"_id": "lost"}, session=s)
        direct.txn.rb.delete_one({"_id": 1}, session=s)
    old.pause()
    try:
        for m in secondaries:
            with m.client() as direct:
                direct.admin.command("configureFailPoint", "stopReplProducer", mode="off")
        new = eventually(lambda: writable_primary(secondaries), 15, "a new primary")
        with new.client(w="majority") as direct:
            direct.txn.rb.insert_one({"_id": "new"})
        time.sleep(2.0)
    finally:
        old.resume()
    eventually(
        lambda: events(old, "rollback") and state_of(old) == "SECONDARY", 20, "the old primary to roll back"
    )
    rolled = {(e["op"], e["_id"]) for e in events(old, "rolled_back_write") if e["ns"] == "txn.rb"}
    assert rolled == {("u", 0), ("i", "lost"), ("d", 1)}
    expected = [{"_id": 0, "n": 0}, {"_id": 1, "n": 0}, {"_id": 2, "n": 0}, {"_id": "new"}]
    for member in rs.members:
        eventually(lambda m=member: _documents(m, "rb") == expected, 15, f"{member.name} to converge")


def _documents(member: MemberProcess, name: str) -> list[dict[str, Any]]:
    with member.client(readPreference="secondaryPreferred") as direct:
        return list(direct.txn[name].find(sort=[("_id", 1)]))
