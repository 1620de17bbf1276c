"""Failover as an application sees it: a killed or frozen primary, writes that must survive,
writes that must be rolled back, and retryable writes across a dropped connection."""

from __future__ import annotations

import threading
import time
from typing import Any

import bson
import pytest
from pymongo import MongoClient, ReadPreference, WriteConcern
from pymongo.collection import Collection
from pymongo.errors import PyMongoError
from pymongo.read_concern import ReadConcern

from chaos.backends.processes import MemberProcess
from tests.conftest import StartSet
from tests.replication_support import CLIENT, FAST, events, eventually, hello, state_of, writable_primary

# electionTimeoutMillis + 2 heartbeat intervals + 1 s (the acceptance bound for FAST settings).
FAILOVER_BOUND_SECS = 1.0 + 2 * 0.2 + 1.0


def insert_until_acknowledged(coll: Collection[dict[str, Any]], prefix: str, deadline: float) -> str:
    """Keep inserting new documents until one is acknowledged; return its _id."""
    attempt = 0
    while time.monotonic() < deadline:
        doc_id = f"{prefix}{attempt}"
        attempt += 1
        try:
            coll.insert_one({"_id": doc_id})
            return doc_id
        except PyMongoError:
            continue
    raise AssertionError("no write was acknowledged before the deadline")


def ids_on(member: MemberProcess, db: str, coll: str) -> set[Any]:
    with member.client() as client:
        return {d["_id"] for d in client[db][coll].find({}, {"_id": 1})}


def db_hash(member: MemberProcess, db: str) -> str:
    with member.client() as client:
        return client[db].command("dbHash", read_preference=ReadPreference.SECONDARY_PREFERRED)["md5"]


def test_writes_resume_after_the_primary_is_killed_and_no_majority_write_is_lost(
    start_replica_set: StartSet,
) -> None:
    rs = start_replica_set(3, settings=FAST)
    acknowledged: list[str] = []
    with rs.client(**CLIENT, w="majority") as client:
        coll = client.test.failover
        for i in range(50):
            coll.insert_one({"_id": f"before{i}"})
            acknowledged.append(f"before{i}")
        old = rs.primary()
        killed = time.monotonic()
        old.kill()
        acknowledged.append(insert_until_acknowledged(coll, "during", killed + 30))
        elapsed = time.monotonic() - killed
        assert elapsed <= FAILOVER_BOUND_SECS, f"writes resumed {elapsed:.2f} s after the kill"
        assert writable_primary(rs.members) is not old
        for i in range(80):  # over 101 in all: reading them back from a secondary needs a getMore
            coll.insert_one({"_id": f"after{i}"})
            acknowledged.append(f"after{i}")
    old.start()
    old.wait_ready()
    eventually(lambda: state_of(old) == "SECONDARY", 15, "the old primary to rejoin")
    for member in rs.members:
        eventually(
            lambda m=member: set(acknowledged) <= ids_on(m, "test", "failover"),
            15,
            f"{member.name} to catch up",
        )
    assert len({db_hash(m, "test") for m in rs.members}) == 1


def test_frozen_primary_is_replaced_and_its_unreplicated_writes_are_rolled_back(
    start_replica_set: StartSet,
) -> None:
    rs = start_replica_set(3, settings=FAST)
    old = rs.primary()
    secondaries = [m for m in rs.members if m is not old]
    with rs.client(**CLIENT) as client:
        majority = client.test.get_collection("rb", write_concern=WriteConcern(w="majority"))
        majority.insert_many([{"_id": f"kept{i}", "n": i} for i in range(20)])
        for m in secondaries:
            with m.client() as direct:
                direct.admin.command("configureFailPoint", "stopReplProducer", mode="alwaysOn")
        with old.client() as direct:
            w1 = direct.test.get_collection("rb", write_concern=WriteConcern(w=1))
            w1.insert_many([{"_id": f"lost{i}", "n": i} for i in range(10)])
            w1.update_one({"_id": "kept0"}, {"$set": {"n": "changed on the old primary"}})
            fresh = direct.test.get_collection("fresh", write_concern=WriteConcern(w=1))
            fresh.insert_one({"_id": "only on the old primary"})
        old.pause()
        paused = time.monotonic()
        try:
            for m in secondaries:
                with m.client() as direct:
                    direct.admin.command("configureFailPoint", "stopReplProducer", mode="off")
            new = eventually(
                lambda: writable_primary(secondaries), 15, "a new primary while the old one is frozen"
            )
            # The client may still route to the frozen primary; write where the new one is.
            with new.client(w="majority") as direct:
                direct.test.rb.insert_many([{"_id": f"new{i}"} for i in range(10)])
            # Frozen for a while, as a partitioned primary is (not just for one heartbeat).
            time.sleep(max(0.0, 3.0 - (time.monotonic() - paused)))
        finally:
            old.resume()
    eventually(
        lambda: events(old, "rollback") and state_of(old) == "SECONDARY",
        20,
        "the old primary to roll back and rejoin",
    )
    assert not hello(old)["isWritablePrimary"] and writable_primary(rs.members) is new

    stepdowns = [e for e in events(old, "stepdown") if e["t"] > events(new, "election")[-1]["t"] - 5]
    assert stepdowns and "higher term" in stepdowns[-1]["reason"]
    rollback = events(old, "rollback")[-1]
    rolled_ids = {d["_id"] for d in rollback["documents"] if d["ns"] == "test.rb"}
    assert rolled_ids == {f"lost{i}" for i in range(10)} | {"kept0"}
    written = {(e["ns"], e["op"], e["_id"]) for e in events(old, "rolled_back_write")}
    assert {_id for ns, _, _id in written if ns == "test.rb"} == rolled_ids
    # The collection created on the old primary alone is rolled back with its documents.
    assert ("test.$cmd", "c", None) in written and ("test.fresh", "i", "only on the old primary") in written
    with old.client() as direct:
        assert "fresh" not in direct.test.list_collection_names()
    assert list((old.dbpath / "rollback" / "test.fresh").glob("removed.*.bson"))

    files = list((old.dbpath / "rollback" / "test.rb").glob("removed.*.bson"))
    assert len(files) == 1
    saved = {d["_id"]: d for d in bson.decode_all(files[0].read_bytes())}
    assert set(saved) == rolled_ids
    assert saved["kept0"]["n"] == "changed on the old primary"

    expected = {f"kept{i}" for i in range(20)} | {f"new{i}" for i in range(10)}
    for member in rs.members:
        eventually(lambda m=member: ids_on(m, "test", "rb") == expected, 15, f"{member.name} to converge")
    with old.client() as direct:
        assert direct.test.rb.find_one({"_id": "kept0"})["n"] == 0
    assert len({db_hash(m, "test") for m in rs.members}) == 1


@pytest.mark.parametrize(
    "fault",
    [
        # The connection closes before the insert runs: the retry is its only execution.
        {"closeConnection": True},
        # The insert applies, then the reply says the primary is shutting down: the retry must
        # find the stored result in the session table rather than insert again.
        {"writeConcernError": {"code": 91, "errmsg": "shutting down"}},
    ],
    ids=["closeConnection", "writeConcernError"],
)
def test_a_retried_insert_is_applied_exactly_once(start_replica_set: StartSet, fault: dict[str, Any]) -> None:
    rs = start_replica_set(3, settings=FAST)
    primary = rs.primary()
    with primary.client() as admin:
        admin.admin.command(
            "configureFailPoint", "failCommand", mode={"times": 1}, data={"failCommands": ["insert"], **fault}
        )
    with rs.client(**CLIENT, w="majority") as client:
        assert client.test.retry.insert_one({"_id": "once"}).inserted_id == "once"
        assert client.test.retry.count_documents({}) == 1
    with primary.client() as admin:
        assert admin.admin.command("configureFailPoint", "failCommand", mode="off")["count"] == 1


def test_majority_reads_do_not_see_unreplicated_writes(start_replica_set: StartSet) -> None:
    rs = start_replica_set(3, settings=FAST)
    primary = rs.primary()
    with rs.client(**CLIENT, w="majority") as client:
        client.test.rc.insert_one({"_id": 1, "v": "committed"})
        for m in rs.members:
            if m is not primary:
                with m.client() as direct:
                    direct.admin.command("configureFailPoint", "stopReplProducer", mode="alwaysOn")
        try:
            coll = client.test.get_collection("rc", write_concern=WriteConcern(w=1))
            coll.update_one({"_id": 1}, {"$set": {"v": "not yet committed"}})
            coll.insert_one({"_id": 2})
            with MongoClient(primary.host, primary.port, directConnection=True) as direct:
                local = direct.test.rc
                majority = local.with_options(read_concern=ReadConcern("majority"))
                assert local.find_one({"_id": 1})["v"] == "not yet committed"
                assert majority.find_one({"_id": 1})["v"] == "committed"
                assert majority.count_documents({}) == 1
        finally:
            for m in rs.members:
                if m is not primary:
                    with m.client() as direct:
                        direct.admin.command("configureFailPoint", "stopReplProducer", mode="off")
        with MongoClient(primary.host, primary.port, directConnection=True) as direct:
            majority = direct.test.get_collection("rc", read_concern=ReadConcern("majority"))
            eventually(lambda: majority.count_documents({}) == 2, 10, "the writes to commit")


def test_a_write_whose_connection_opened_to_a_frozen_primary_is_sent_non_retryable(
    start_replica_set: StartSet,
) -> None:
    """PyMongo makes a write retryable only while it knows its server as primary once the
    connection is ready. A write on a pooled connection to the frozen primary is refused at the
    wake-up with the RetryableWriteError label and retried on the new primary; writes whose
    connections were still opening are ready only after the old primary stepped down: they go
    out without a transaction number, are refused unlabelled, and surface as NotPrimaryError."""
    rs = start_replica_set(3, settings=FAST)
    old = rs.primary()
    outcomes: dict[int, str] = {}
    with rs.client(retryWrites=True, w="majority", serverSelectionTimeoutMS=5000, minPoolSize=0) as client:
        coll = client.test.frozen
        coll.insert_one({"_id": "warm"})  # one pooled connection to the primary

        def write(i: int) -> None:
            try:
                coll.update_one({"_id": i}, {"$set": {"v": 1}}, upsert=True)
                outcomes[i] = "ok"
            except PyMongoError as exc:
                labels = (getattr(exc, "details", None) or {}).get("errorLabels", [])
                outcomes[i] = f"{type(exc).__name__} {labels}"

        old.pause()
        try:
            threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            eventually(lambda: writable_primary(rs.members) not in (None, old), 15, "a new primary")
        finally:
            old.resume()
        for t in threads:
            t.join(30)
    # Which of the frozen member's two answers the driver reads first (its monitor's hello, or a
    # new connection's handshake) is a race: every failure is unlabelled (3 of 3 in five runs here).
    assert set(outcomes.values()) <= {"ok", "NotPrimaryError []"}, outcomes
    assert list(outcomes.values()).count("NotPrimaryError []") >= 2, outcomes
