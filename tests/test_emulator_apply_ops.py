"""applyOps as mongod 6.0 applies it: idempotent inserts, upserting updates, deletes of missing
documents, atomic batches logged as one entry, one-by-one application with commands, and an
oplog replayed into another set reaching the same dbHash (mongorestore --oplogReplay's use)."""

from __future__ import annotations

from typing import Any

import pytest
from bson import Int64
from pymongo import ASCENDING
from pymongo.errors import OperationFailure

from tests.conftest import ReplicaSet, StartSet
from tests.replication_support import FAST, eventually


def apply(db: Any, ops: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    return db.client.admin.command("applyOps", ops, **options)


def test_crud_operations_apply_idempotently(fresh_db: Any) -> None:
    coll = fresh_db.items
    coll.insert_one({"_id": 1, "v": "old"})
    ns = coll.full_name
    reply = apply(
        fresh_db,
        [
            {"op": "i", "ns": ns, "o": {"_id": 1, "v": "replaced"}},  # an existing _id: replaced
            {"op": "i", "ns": ns, "o": {"_id": 2, "v": "new"}},
            {"op": "u", "ns": ns, "o2": {"_id": 2}, "o": {"$v": 2, "diff": {"u": {"v": "diffed"}}}},
            {"op": "u", "ns": ns, "o2": {"_id": 3}, "o": {"$v": 2, "diff": {"i": {"v": "upserted"}}}},
            {"op": "d", "ns": ns, "o": {"_id": 99}},  # missing: fine
            {"op": "n", "ns": "", "o": {"msg": "noop"}},
        ],
    )
    assert reply["applied"] == 5 and reply["results"] == [True] * 5
    assert list(coll.find().sort("_id")) == [
        {"_id": 1, "v": "replaced"},
        {"_id": 2, "v": "diffed"},
        {"_id": 3, "v": "upserted"},
    ]


def test_an_update_of_a_missing_document_fails_without_upsert(fresh_db: Any) -> None:
    coll = fresh_db.items
    coll.insert_one({"_id": 1})
    ns = coll.full_name
    op = {"op": "u", "ns": ns, "o2": {"_id": 7}, "o": {"$v": 2, "diff": {"u": {"v": 1}}}}
    with pytest.raises(OperationFailure) as failed:
        apply(fresh_db, [{"op": "i", "ns": ns, "o": {"_id": 2}}, op], alwaysUpsert=False)
    assert failed.value.code == 218
    assert coll.count_documents({}) == 1  # atomic: the insert before it was undone too
    with pytest.raises(OperationFailure) as one_by_one:
        apply(fresh_db, [{"op": "i", "ns": ns, "o": {"_id": 2}}, op], alwaysUpsert=False, allowAtomic=False)
    assert one_by_one.value.code == 8
    assert one_by_one.value.details["results"] == [True, False]
    assert coll.count_documents({}) == 2
    apply(fresh_db, [{**op, "b": True}], alwaysUpsert=False)  # the operation's own upsert flag
    assert coll.find_one({"_id": 7}) == {"_id": 7, "v": 1}


def test_refusals_use_mongods_codes(fresh_db: Any) -> None:
    coll = fresh_db.items
    coll.insert_one({"_id": 1})
    ns = coll.full_name
    cases: list[tuple[list[dict[str, Any]], dict[str, Any], int]] = [
        ([{"op": "i", "ns": f"{fresh_db.name}.missing", "o": {"_id": 1}}], {}, 26),
        ([{"op": "i", "ns": ns, "o": {"v": 1}}], {}, 4),
        ([{"op": "x", "ns": ns, "o": {}}], {}, 2),
        ([{"op": "i", "ns": ns, "o": {"_id": 5}}], {"oplogApplicationMode": "Secondary"}, 2),
        ([{"op": "i", "ns": ns, "o": {"_id": 5}}], {"preCondition": [{"ns": ns, "q": {}, "res": {}}]}, 115),
        ([{"op": "i", "ns": ns, "o": {"_id": 5}}], {"count": 1}, 31240),
        ([{"op": "i", "ns": ns, "o": {"_id": 5}}], {"surprise": 1}, 40415),
    ]
    for ops, options, code in cases:
        with pytest.raises(OperationFailure) as refused:
            apply(fresh_db, ops, **options)
        assert refused.value.code == code, (ops, options, refused.value)
    other = fresh_db.other
    other.insert_one({"_id": 0})
    info = {c["name"]: c["info"]["uuid"] for c in fresh_db.list_collections()}
    with pytest.raises(OperationFailure) as wrong_uuid:
        apply(fresh_db, [{"op": "i", "ns": ns, "ui": info["other"], "o": {"_id": 9}}])
    assert wrong_uuid.value.code == 3318200
    apply(fresh_db, [{"op": "i", "ns": ns, "ui": info["items"], "o": {"_id": 9}}])
    assert coll.find_one({"_id": 9}) == {"_id": 9}


def test_commands_apply_one_by_one(fresh_db: Any) -> None:
    name = fresh_db.name
    reply = apply(
        fresh_db,
        [
            {"op": "c", "ns": f"{name}.$cmd", "o": {"create": "made"}},
            {"op": "i", "ns": f"{name}.made", "o": {"_id": 1, "k": 3}},
            {
                "op": "c",
                "ns": f"{name}.$cmd",
                "o": {"createIndexes": "made", "v": 2, "key": {"k": 1}, "name": "k_1", "unique": True},
            },
        ],
    )
    assert reply["results"] == [True, True, True]
    assert fresh_db.made.find_one() == {"_id": 1, "k": 3}
    assert next(ix for ix in fresh_db.made.list_indexes() if ix["name"] == "k_1")["unique"] is True
    with pytest.raises(OperationFailure) as unknown:
        apply(fresh_db, [{"op": "c", "ns": f"{name}.$cmd", "o": {"emptycapped": "made"}}])
    assert unknown.value.code == 115


# What mongorestore strips from an entry before it sends it with applyOps.
ENTRY_ONLY = ("ts", "t", "v", "wall", "ui", "lsid", "txnNumber", "prevOpTime", "stmtId")


def _entries(rs: ReplicaSet, db: str) -> list[dict[str, Any]]:
    oplog = {"ns": {"$regex": f"^{db}\\."}}
    with rs.primary().client() as direct:
        return list(direct.local["oplog.rs"].find(oplog).sort("$natural", ASCENDING))


def _same_orders(member: Any, expected: str) -> bool:
    with member.client() as direct:
        return direct.shop.command("dbHash")["collections"].get("orders") == expected


def test_an_oplog_replayed_into_another_set_reaches_the_same_data(start_replica_set: StartSet) -> None:
    source = start_replica_set(1)
    target = start_replica_set(3, settings=FAST)
    with source.client() as client:
        db = client.shop
        db.orders.create_index([("customer", ASCENDING)], name="customer")
        db.orders.insert_many([{"_id": i, "customer": i % 7, "items": [i]} for i in range(50)])
        db.orders.update_many({"customer": 3}, {"$push": {"items": -1}, "$set": {"flag": True}})
        db.orders.replace_one({"_id": 4}, {"customer": 40})
        db.orders.delete_many({"customer": 5})
        with client.start_session() as session, session.start_transaction():
            db.orders.insert_one({"_id": "txn"}, session=session)
            db.orders.update_one({"_id": 6}, {"$inc": {"customer": 100}}, session=session)
        expected = db.command("dbHash")["collections"]["orders"]
    entries = _entries(source, "shop") + [e for e in _entries(source, "admin") if "applyOps" in e["o"]]
    entries.sort(key=lambda e: e["ts"])
    with target.client(w="majority") as client:
        for entry in entries:
            op = {k: v for k, v in entry.items() if k not in ENTRY_ONLY}
            if "applyOps" in op["o"]:
                for inner in op["o"]["applyOps"]:
                    client.admin.command("applyOps", [{k: v for k, v in inner.items() if k != "ui"}])
                continue
            client.admin.command("applyOps", [op])
        assert client.shop.command("dbHash")["collections"]["orders"] == expected
    # Each member of the target applied the replicated entries to the same data.
    for member in target.members:
        eventually(lambda m=member: _same_orders(m, expected), 20, f"{member.name} to replicate the replay")
    with target.primary().client() as direct:
        atomic = {"o.applyOps": {"$exists": True}, "lsid": {"$exists": False}}
        logged = direct.local["oplog.rs"].find_one(atomic)
        assert logged is not None and logged["ns"] == "admin.$cmd"
        assert isinstance(logged["t"], Int64)
