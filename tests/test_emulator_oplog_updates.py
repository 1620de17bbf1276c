"""Updates are logged as mongod logs them (operator and pipeline updates as `$v: 2` diffs,
replacements whole), and secondaries applying those entries, and a member replaying its
journal after a kill, end with the primary's exact bytes (dbHash)."""

from __future__ import annotations

from typing import Any

from pymongo import ReadPreference, WriteConcern

from tests.conftest import StartSet
from tests.replication_support import eventually

UPDATES: list[Any] = [
    {"$set": {"a.b": 5, "tags": ["x"]}},
    {"$push": {"arr": {"$each": [4, 5]}}},
    {"$pull": {"arr": 2}},
    {"$unset": {"gone": ""}},
    {"$rename": {"n": "m"}},
    {"$inc": {"m": 2}, "$set": {"a": {"c": 1}}},
    [{"$set": {"total": {"$sum": "$arr"}}}],
]


def _hash(member: Any) -> str:
    with member.client() as client:
        return client.test.command("dbHash", read_preference=ReadPreference.SECONDARY_PREFERRED)["md5"]


def test_update_entries_are_diffs_and_replicate_and_replay_exactly(start_replica_set: StartSet) -> None:
    rs = start_replica_set(3)
    with rs.client() as client:
        coll = client.test.get_collection("u", write_concern=WriteConcern(w=3, wtimeout=10_000))
        coll.insert_one({"_id": 1, "a": {"b": 0}, "arr": [1, 2, 3], "gone": 1, "n": 1})
        for spec in UPDATES:
            coll.update_one({"_id": 1}, spec)
        coll.replace_one({"_id": 2}, {"whole": True}, upsert=True)
        coll.replace_one({"_id": 2}, {"whole": False})
        final = coll.find_one({"_id": 1})
        entries = list(client.local["oplog.rs"].find({"ns": "test.u", "op": "u"}))
    assert final == {"_id": 1, "a": {"c": 1}, "arr": [1, 3, 4, 5], "tags": ["x"], "m": 3, "total": 13}
    assert [e["o"].get("$v") for e in entries] == [2] * len(UPDATES) + [None]
    assert entries[0]["o"]["diff"] == {"i": {"tags": ["x"]}, "sa": {"u": {"b": 5}}}
    assert entries[1]["o"]["diff"] == {"sarr": {"a": True, "u3": 4, "u4": 5}}
    primary = rs.primary()
    expected = _hash(primary)
    assert {_hash(m) for m in rs.members} == {expected}
    secondary = next(m for m in rs.members if m is not primary)
    secondary.kill()
    secondary.start()
    secondary.wait_ready()
    eventually(lambda: _hash(secondary) == expected, 20, "the restarted member to replay to the same data")
