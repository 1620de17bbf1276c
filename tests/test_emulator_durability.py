"""Persistence of a live member: acknowledged writes survive SIGKILL and restarts on the same
dbpath (journal replay over the last checkpoint); a torn journal tail is ignored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pymongo import TEXT
from pymongo.errors import DuplicateKeyError, PyMongoError

from chaos.backends.processes import MemberProcess, initiate, wait_for_primary
from tests.conftest import ReplicaSet, StartSet

# A restarted member waits an election timeout before it stands again; keep that short.
FAST = {"electionTimeoutMillis": 500, "heartbeatIntervalMillis": 100}


def _restart(rs: ReplicaSet) -> None:
    """SIGKILL the member and start it again on the same dbpath."""
    member = rs.members[0]
    member.kill()
    _start_again(rs)


def _start_again(rs: ReplicaSet) -> None:
    member = rs.members[0]
    member.start()
    member.wait_ready()
    with member.client() as c:
        configured = "setName" in c.admin.command("hello")
    if not configured:
        initiate([member])
    wait_for_primary([member])


def _segments(member: MemberProcess) -> list[Path]:
    return sorted((member.dbpath / "journal").glob("j.*"))


def test_sigkill_keeps_every_acknowledged_write(start_replica_set: StartSet) -> None:
    rs = start_replica_set(1, settings=FAST)
    with rs.client() as client:
        coll = client.app.prompts
        coll.create_index("slug", unique=True)
        coll.create_index([("title", TEXT)])
        ids = [
            coll.insert_one({"slug": f"s{i}", "title": f"note {i}", "n": i}).inserted_id for i in range(200)
        ]
        coll.insert_many([{"slug": f"bulk{i}", "n": -i - 1} for i in range(300)])
        coll.update_many({"n": {"$lt": 10, "$gte": 0}}, {"$set": {"touched": True}})
        coll.delete_many({"n": {"$lte": -251}})
    _restart(rs)
    with rs.client() as client:
        coll = client.app.prompts
        assert coll.count_documents({}) == 200 + 250
        assert [d["_id"] for d in coll.find({"n": {"$gte": 0}}).sort("n", 1)] == ids
        assert coll.count_documents({"touched": True}) == 10
        try:
            coll.insert_one({"slug": "s1"})
            raise AssertionError("the unique index was lost")
        except DuplicateKeyError:
            pass
        assert coll.count_documents({"$text": {"$search": "note"}}) == 200


def test_kill_after_a_checkpoint_replays_the_journal_over_it(start_replica_set: StartSet) -> None:
    rs = start_replica_set(1, settings=FAST)
    with rs.client() as client:
        client.app.c.insert_many([{"_id": i, "phase": "before"} for i in range(100)])
        client.admin.command("fsync")  # writes a checkpoint and starts a new journal segment
        assert (rs.members[0].dbpath / "checkpoint.bson").exists()
        assert len(_segments(rs.members[0])) == 2
        client.app.c.insert_many([{"_id": i, "phase": "after"} for i in range(100, 150)])
        client.app.c.update_one({"_id": 0}, {"$set": {"phase": "changed"}})
    _restart(rs)
    with rs.client() as client:
        assert client.app.c.count_documents({}) == 150
        assert client.app.c.count_documents({"phase": "after"}) == 50
        assert client.app.c.find_one({"_id": 0})["phase"] == "changed"


def test_torn_journal_tail_is_ignored(start_replica_set: StartSet) -> None:
    rs = start_replica_set(1, settings=FAST)
    with rs.client() as client:
        client.app.c.insert_many([{"_id": i} for i in range(20)])
    member = rs.members[0]
    member.kill()
    newest = _segments(member)[-1]
    with newest.open("ab") as fh:  # half a record, as a SIGKILL in the middle of a write leaves
        fh.write(b"\x12\x34\x56\x78\xff\x00\x00\x00\x03\x00")
    _start_again(rs)
    with rs.client() as client:
        assert client.app.c.count_documents({}) == 20
        client.app.c.insert_one({"_id": "after"})
    _restart(rs)
    with rs.client() as client:
        assert client.app.c.count_documents({}) == 21


def test_unacknowledged_state_never_resurrects_deleted_documents(start_replica_set: StartSet) -> None:
    rs = start_replica_set(1, settings=FAST)
    with rs.client() as client:
        client.app.c.insert_many([{"_id": i} for i in range(10)])
        client.app.c.drop()
        client.app.d.insert_one({"_id": "kept"})
    _restart(rs)
    with rs.client() as client:
        names: Any = client.app.list_collection_names()
        assert names == ["d"]
        try:
            client.app.command("collStats", "c")
            raise AssertionError("the dropped collection came back")
        except PyMongoError:
            pass
