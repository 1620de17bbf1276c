"""The version history (repl/majority.py) that majority reads, transactions and snapshot reads
share: versions as of a time, and how far back it keeps them (the commit point, a transaction's
pin, a snapshot read's lease); and snapshot sessions reading one snapshot on a live member, also
while a long scan of it takes turns with other clients' commands and writes."""

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


def test_a_long_snapshot_read_takes_turns_with_other_clients_and_keeps_to_its_time(
    shared_member: Any, fresh_db: Any
) -> None:
    # While one find scans for a second or more at its snapshot, a second connection's pings
    # are answered and a third one's writes land (mongod yields during long scans): the scan
    # still returns every document as it was, and none written after its time.
    total = 2_000
    fresh_db.c.insert_many([{"_id": i, "v": 0, "s": "a" * 14} for i in range(total)])
    # Every document, each after a regex backtracks over it for about a millisecond: a scan of
    # a few documents that lasts seconds.
    slow = {"$or": [{"s": {"$regex": "^(a+)+b"}}, {"v": {"$gte": 0}}]}
    # The snapshot's time, chosen before any of the writes below is sent.
    at = fresh_db.command("find", "c", limit=1, readConcern={"level": "snapshot"})["cursor"]["atClusterTime"]
    ready, done = threading.Barrier(3, timeout=30), threading.Event()
    waits: list[float] = []
    acknowledged: list[float] = []

    def ping() -> None:
        with shared_member.client() as client:
            client.admin.command("ping")
            ready.wait()
            while not done.is_set() and len(waits) < 5000:
                sent = time.monotonic()
                client.admin.command("ping")
                waits.append(time.monotonic() - sent)
                time.sleep(0.02)

    def write() -> None:
        # Updates and deletes of documents a forward scan reaches last, and new documents.
        with shared_member.client() as client:
            c = client[fresh_db.name].c
            c.find_one({"_id": 0})
            ready.wait()
            for n in range(0, total // 2, 2):
                if done.is_set():
                    return
                c.update_one({"_id": total - 1 - n}, {"$set": {"v": 1}})
                c.delete_one({"_id": total - 2 - n})
                c.insert_one({"_id": total + n, "v": 0, "s": "new"})
                acknowledged.append(time.monotonic())

    threads = [threading.Thread(target=ping), threading.Thread(target=write)]
    for t in threads:
        t.start()
    try:
        ready.wait()
        started = time.monotonic()
        cursor = fresh_db.command(
            "find",
            "c",
            filter=slow,
            batchSize=2 * total,
            readConcern={"level": "snapshot", "atClusterTime": at},
        )["cursor"]
        scan_s = time.monotonic() - started
    finally:
        done.set()
        for t in threads:
            t.join()
    longest = max(waits, default=float("inf"))
    figures = f"scan {scan_s:.2f} s, longest ping {longest:.2f} s of {len(waits)}"
    assert longest < scan_s / 2, figures
    assert any(started < when < started + scan_s for when in acknowledged), figures  # writes landed meanwhile
    found = sorted((d["_id"], d["v"]) for d in cursor["firstBatch"])
    assert found == [(i, 0) for i in range(total)], figures
    assert fresh_db.c.count_documents({}) == total  # as many inserted as deleted since
    assert fresh_db.c.count_documents({"v": 1}) > 0
