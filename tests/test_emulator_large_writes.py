"""Large writes and long commands against real member processes: documents up to 16 MiB and
batches up to maxWriteBatchSize replicate under w:majority without an election, replies stay
within mongod's 16 MiB, oversized documents get mongod's errors, and maxTimeMS ends scans,
getMores and write-concern waits with MaxTimeMSExpired (50)."""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

import bson
import pytest
from pymongo import WriteConcern
from pymongo.errors import ExecutionTimeout, OperationFailure, WriteError

from tests.conftest import ReplicaSet, StartSet
from tests.replication_support import CLIENT, events, eventually, status
from tests.test_replication_write_concern import replication_stopped
from tests.wire_support import op_msg, read_reply

MIB = 1024 * 1024
# Heartbeats every 200 ms: a member whose event loop stopped for 2 s would be voted out.
SETTINGS = {"electionTimeoutMillis": 2000, "heartbeatIntervalMillis": 200}


def sized(size: int, **fields: Any) -> dict[str, Any]:
    """A document whose BSON is exactly `size` bytes."""
    doc = {**fields, "pad": ""}
    doc["pad"] = "x" * (size - len(bson.encode(doc)))
    assert len(bson.encode(doc)) == size
    return doc


def test_16_mib_documents_and_full_batches_replicate_without_an_election(start_replica_set: StartSet) -> None:
    rs = start_replica_set(3, settings=SETTINGS)
    eventually(lambda: all(status(m)["myState"] in (1, 2) for m in rs.members), 30, "all members up")
    terms = {status(m)["term"] for m in rs.members}
    started = time.time()
    with rs.client(**CLIENT, w="majority", wtimeoutMS=120_000) as client:
        coll = client.big.docs
        # Three of mongod's largest documents: two wire messages, two 16 MiB oplog entries
        # in each, more than any one reply may carry.
        coll.insert_many([sized(16 * MIB, _id=f"max{i}") for i in range(3)])
        # The wedge: 20 MB of ordinary documents in one insert command.
        coll.insert_many([sized(10_000, _id=f"mid{i}") for i in range(2000)])
        # maxWriteBatchSize statements in one command.
        result = coll.insert_many([{"_id": i, "v": i % 97} for i in range(100_000)])
        assert len(result.inserted_ids) == 100_000
        coll.with_options(write_concern=WriteConcern(w=3, wtimeout=120_000)).insert_one({"_id": "last"})
        assert coll.count_documents({}) == 102_004
    assert {status(m)["term"] for m in rs.members} == terms
    troubles = ("election", "stepdown", "rollback", "resumed", "state")
    assert not [e for m in rs.members for e in events(m) if e["event"] in troubles and e["t"] >= started]
    hashes = set()
    for m in rs.members:
        with m.client() as direct:
            hashes.add(direct.big.command("dbHash")["md5"])
    assert len(hashes) == 1


def test_the_write_concern_wait_ends_at_max_time_ms(start_replica_set: StartSet) -> None:
    rs = start_replica_set(3, settings=SETTINGS)
    primary = rs.primary()
    with rs.client(**CLIENT) as client, replication_stopped([m for m in rs.members if m is not primary]):
        db = client.wc
        for wc, max_time_ms, code in (
            ({"w": "majority"}, 300, 50),
            ({"w": "majority", "wtimeout": 5000}, 300, 50),
            ({"w": "majority", "wtimeout": 200}, 10_000, 64),
        ):
            reply = db.command("insert", "c", documents=[{"wc": wc}], writeConcern=wc, maxTimeMS=max_time_ms)
            error = reply["writeConcernError"]
            assert reply["n"] == 1 and error["code"] == code, (wc, reply)
            assert error["codeName"] == ("MaxTimeMSExpired" if code == 50 else "WriteConcernFailed")
        # The writes applied: only the wait for replication ended.
        assert db.c.count_documents({}) == 3


def test_max_time_ms_ends_a_long_scan(fresh_db: Any) -> None:
    coll = fresh_db.scan
    coll.insert_many([{"_id": i, "k": i % 10, "m": i in (0, 19_999)} for i in range(20_000)])
    nothing = {"absent": 1}
    with pytest.raises(ExecutionTimeout):
        list(coll.find(nothing).max_time_ms(1))
    with pytest.raises(ExecutionTimeout):
        list(coll.find(nothing).sort("k", 1).max_time_ms(1))
    with pytest.raises(ExecutionTimeout):
        coll.count_documents(nothing, maxTimeMS=1)
    with pytest.raises(ExecutionTimeout):
        coll.distinct("k", nothing, maxTimeMS=1)
    with pytest.raises(ExecutionTimeout):
        list(coll.aggregate([{"$group": {"_id": "$k", "n": {"$sum": 1}}}], maxTimeMS=1))
    with pytest.raises(OperationFailure) as err:
        fresh_db.command("count", "scan", query=nothing, maxTimeMS=1)
    assert err.value.code == 50
    with pytest.raises(OperationFailure) as err:
        fresh_db.command(
            "update", "scan", updates=[{"q": {}, "u": {"$inc": {"n": 1}}, "multi": True}], maxTimeMS=1
        )
    assert err.value.code == 50
    # Without a time limit the same scan answers.
    assert coll.count_documents(nothing) == 0


def test_get_more_spends_what_the_find_left_of_max_time_ms(fresh_db: Any) -> None:
    coll = fresh_db.budget
    coll.insert_many([{"_id": i, "m": i in (0, 19_999)} for i in range(20_000)])
    # The first batch is the first document; the next match is 20,000 documents further.
    cursor = coll.find({"m": True}).batch_size(1).max_time_ms(20)
    assert next(cursor)["_id"] == 0
    with pytest.raises(ExecutionTimeout):
        next(cursor)
    reply = fresh_db.command("find", "budget", filter={}, batchSize=1)
    with pytest.raises(OperationFailure) as err:
        fresh_db.command("getMore", reply["cursor"]["id"], collection="budget", maxTimeMS=5)
    assert err.value.code == 2 and "non-awaitData" in str(err.value)


def test_replies_carry_at_most_16_mib_of_documents(fresh_db: Any, shared_member: ReplicaSet) -> None:
    coll = fresh_db.replies
    coll.insert_many([sized(6 * MIB, _id=i) for i in range(3)])
    first = fresh_db.command("find", "replies", batchSize=10)["cursor"]
    assert [d["_id"] for d in first["firstBatch"]] == [0, 1]
    more = fresh_db.command("getMore", first["id"], collection="replies", batchSize=10)["cursor"]
    assert [d["_id"] for d in more["nextBatch"]] == [2] and more["id"] == 0
    with shared_member.client() as client:
        oplog = client.local.command("find", "oplog.rs", filter={"ns": coll.full_name}, batchSize=10)
    batch = oplog["cursor"]["firstBatch"]
    assert len(batch) == 2 and sum(len(bson.encode(e)) for e in batch) <= 16 * MIB


def test_oversized_documents_get_mongods_errors(fresh_db: Any, shared_member: ReplicaSet) -> None:
    # PyMongo refuses these before sending; a client that sends one gets mongod's answer.
    member = shared_member.members[0]
    too_large = bson.encode(sized(16 * MIB + 1, _id="big"))
    sequence = b"documents\x00" + too_large
    section = b"\x01" + struct.pack("<i", 4 + len(sequence)) + sequence
    with socket.create_connection((member.host, member.port), timeout=30) as sock:
        sock.sendall(op_msg({"insert": "sizes", "$db": fresh_db.name}, trailer=section))
        reply = read_reply(sock).doc
    assert reply["ok"] == 1 and reply["n"] == 0
    error = reply["writeErrors"][0]
    assert error["code"] == 2 and "object to insert too large" in error["errmsg"]
    coll = fresh_db.sizes
    coll.insert_one(sized(10 * MIB, _id="grows"))
    with pytest.raises(WriteError) as err:
        coll.update_one({"_id": "grows"}, {"$set": {"more": "y" * (7 * MIB)}})
    assert err.value.code == 10334 and "larger than 16777216" in str(err.value)
    assert len(bson.encode(coll.find_one({"_id": "grows"}))) == 10 * MIB
