"""The version history (repl/majority.py) that majority reads, transactions and snapshot reads
share: versions as of a time, and how far back it keeps them (the commit point, a transaction's
pin, a snapshot read's lease); and snapshot sessions reading one snapshot on a live member."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from bson import Timestamp
from pymongo.errors import OperationFailure

from mongoemu.oplog import OpTime
from mongoemu.repl.majority import MajorityView, key


def _t(inc: int) -> OpTime:
    return OpTime(Timestamp(100, inc), 1)


def _history() -> MajorityView:
    history = MajorityView()
    history.advance(_t(1))
    history.record("db.c", 1, None, _t(2))  # inserted at 2
    history.record("db.c", 1, {"_id": 1, "v": "a"}, _t(3))  # updated at 3
    history.record("db.c", 1, {"_id": 1, "v": "b"}, _t(4))  # deleted at 4
    return history


def test_versions_as_of_a_time() -> None:
    history = _history()
    assert history.version_at("db.c", 1, _t(1)) == (True, None)
    assert history.version_at("db.c", 1, _t(2)) == (True, {"_id": 1, "v": "a"})
    assert history.version_at("db.c", 1, _t(3)) == (True, {"_id": 1, "v": "b"})
    assert history.version_at("db.c", 1, _t(4)) == (False, None)
    assert history.overlay("db.c", Timestamp(100, 2)) == {key(1): {"_id": 1, "v": "a"}}
    assert history.changed_after("db.c", 1, _t(3)) and not history.changed_after("db.c", 1, _t(4))


def test_history_is_kept_back_to_the_oldest_pin_or_lease_only() -> None:
    history = _history()
    history.pin(_t(2))
    history.advance(_t(4))
    assert history.readable(_t(2)) and not history.readable(_t(1))
    assert history.version_at("db.c", 1, _t(2)) == (True, {"_id": 1, "v": "a"})
    history.lease(_t(3), 0.05)
    history.unpin(_t(2))
    assert not history.readable(_t(2)) and history.readable(_t(3))
    assert len(history) == 1  # the change at 3 was dropped, the one at 4 is kept for the lease
    time.sleep(0.1)  # a lease that has run out keeps nothing
    history.advance(_t(5))
    assert len(history) == 0 and history.readable(_t(5))


def test_snapshot_reads_at_one_cluster_time_while_majority_writes_go_on(fresh_db: Any) -> None:
    fresh_db.c.insert_many([{"_id": i, "v": 0} for i in range(3)])
    snapshot = {"level": "snapshot"}
    first = fresh_db.command("find", "c", readConcern=snapshot)["cursor"]
    at = first["atClusterTime"]
    fresh_db.c.update_many({}, {"$set": {"v": 1}})
    fresh_db.c.insert_one({"_id": 9})
    again = fresh_db.command("find", "c", readConcern={**snapshot, "atClusterTime": at})["cursor"]
    assert [d["v"] for d in again["firstBatch"]] == [0, 0, 0] and again["atClusterTime"] == at
    values = fresh_db.command("distinct", "c", key="_id", readConcern={**snapshot, "atClusterTime": at})
    assert values["values"] == [0, 1, 2]
    with pytest.raises(OperationFailure) as err:
        fresh_db.command("find", "c", readConcern={**snapshot, "atClusterTime": Timestamp(1, 1)})
    assert err.value.code == 239
    with fresh_db.client.start_session(snapshot=True) as s:  # PyMongo's snapshot sessions
        assert [d.get("v") for d in fresh_db.c.find({}, session=s)] == [1, 1, 1, None]
        fresh_db.c.delete_many({})
        assert fresh_db.c.count_documents({}) == 0
        assert len(list(fresh_db.c.find({}, session=s))) == 4


def test_a_snapshot_scan_lets_no_write_in_between_its_documents(fresh_db: Any) -> None:
    # A scan long enough to take turns with the event loop, while another client deletes the
    # documents it has not reached yet: none of those deletes may show through.
    total = 20_000
    fresh_db.c.insert_many([{"_id": i} for i in range(total)])
    stop = threading.Event()

    def delete_from_the_end() -> None:
        victim = total - 1
        while not stop.is_set() and victim > total // 2:
            fresh_db.c.delete_one({"_id": victim})
            victim -= 1

    deleter = threading.Thread(target=delete_from_the_end)
    deleter.start()
    try:
        time.sleep(0.05)
        cursor = fresh_db.command("find", "c", batchSize=total, readConcern={"level": "snapshot"})["cursor"]
    finally:
        stop.set()
        deleter.join()
    seen = len(cursor["firstBatch"])
    at = cursor["atClusterTime"]
    again = fresh_db.command(
        "find", "c", batchSize=total, readConcern={"level": "snapshot", "atClusterTime": at}
    )
    assert seen == len(again["cursor"]["firstBatch"])  # the same point, read twice
    assert fresh_db.c.count_documents({}) < seen  # the deletes went on after it
