"""CRUD, cursors, bulk writes and unique indexes on a live member, through unmodified PyMongo.
Expected answers are MongoDB's documented behaviour."""

from __future__ import annotations

from typing import Any

import pytest
from bson import Int64, ObjectId
from pymongo import (
    ASCENDING,
    DESCENDING,
    DeleteOne,
    InsertOne,
    ReplaceOne,
    ReturnDocument,
    UpdateMany,
    UpdateOne,
)
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure


def test_insert_find_update_delete_round_trip(fresh_db: Any) -> None:
    coll = fresh_db.people
    result = coll.insert_one({"name": "ada", "age": 36, "tags": ["math"]})
    assert isinstance(result.inserted_id, ObjectId)
    assert coll.find_one({"name": "ada"}) == {
        "_id": result.inserted_id,
        "name": "ada",
        "age": 36,
        "tags": ["math"],
    }
    assert coll.find_one({"_id": result.inserted_id}, {"age": 1, "_id": 0}) == {"age": 36}
    upd = coll.update_one(
        {"name": "ada"}, {"$inc": {"age": 1}, "$push": {"tags": "logic"}, "$set": {"x.y": 2}}
    )
    assert (upd.matched_count, upd.modified_count) == (1, 1)
    assert coll.find_one({"name": "ada"}, {"_id": 0}) == {
        "name": "ada",
        "age": 37,
        "tags": ["math", "logic"],
        "x": {"y": 2},
    }
    same = coll.update_one({"name": "ada"}, {"$set": {"age": 37}})
    assert (same.matched_count, same.modified_count) == (1, 0)
    assert coll.delete_one({"name": "ada"}).deleted_count == 1
    assert coll.find_one({"name": "ada"}) is None


def test_upsert_and_update_many(fresh_db: Any) -> None:
    coll = fresh_db.c
    res = coll.update_one(
        {"k": "a", "n": {"$gt": 5}}, {"$set": {"v": 1}, "$setOnInsert": {"created": True}}, upsert=True
    )
    assert res.upserted_id is not None and res.matched_count == 0
    assert coll.find_one({"_id": res.upserted_id}, {"_id": 0}) == {"k": "a", "v": 1, "created": True}
    again = coll.update_one({"k": "a"}, {"$set": {"v": 2}, "$setOnInsert": {"created": False}}, upsert=True)
    assert again.upserted_id is None and again.modified_count == 1
    assert coll.find_one({"k": "a"})["created"] is True
    coll.insert_many([{"k": "b", "n": i} for i in range(10)])
    many = coll.update_many({"k": "b", "n": {"$lt": 4}}, {"$mul": {"n": 10}})
    assert (many.matched_count, many.modified_count) == (4, 3)  # 0 * 10 does not change the document
    assert sorted(d["n"] for d in coll.find({"k": "b"})) == [0, 4, 5, 6, 7, 8, 9, 10, 20, 30]
    replaced = coll.replace_one({"k": "b", "n": 4}, {"k": "b", "n": 40, "whole": True})
    assert replaced.modified_count == 1
    assert coll.find_one({"n": 40}, {"_id": 0}) == {"k": "b", "n": 40, "whole": True}


def test_update_operators_follow_mongodb_semantics(fresh_db: Any) -> None:
    coll = fresh_db.ops
    coll.insert_one({"_id": 1, "a": [1, 2, 3, 2], "b": {"c": 5}, "s": ["x"], "items": [{"q": 1}, {"q": 5}]})
    coll.update_one(
        {"_id": 1}, {"$pull": {"a": 2}, "$addToSet": {"s": {"$each": ["x", "y"]}}, "$min": {"b.c": 3}}
    )
    coll.update_one({"_id": 1}, {"$rename": {"b.c": "b.d"}, "$unset": {"missing": ""}, "$pop": {"a": -1}})
    coll.update_one({"_id": 1}, {"$set": {"items.$[big].flag": True}}, array_filters=[{"big.q": {"$gt": 2}}])
    coll.update_one({"_id": 1, "items.q": 1}, {"$inc": {"items.$.q": 10}})
    coll.update_one({"_id": 1}, {"$push": {"s": {"$each": ["a", "b"], "$sort": 1, "$slice": 3}}})
    assert coll.find_one({"_id": 1}) == {
        "_id": 1, "a": [3], "b": {"d": 3}, "s": ["a", "b", "x"],
        "items": [{"q": 11}, {"q": 5, "flag": True}],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("update", "code"),
    [
        ({"$set": {"a": 1}, "$inc": {"a": 1}}, 40),  # ConflictingUpdateOperators
        ({"$inc": {"a": "x"}}, 14),  # TypeMismatch
        ({"$set": {"_id": 2}}, 66),  # ImmutableField
        ({"$bogus": {"a": 1}}, 9),  # FailedToParse
    ],
)
def test_bad_updates_answer_mongod_codes(fresh_db: Any, update: dict[str, Any], code: int) -> None:
    fresh_db.c.insert_one({"_id": 1, "a": 1})
    with pytest.raises(OperationFailure) as err:
        fresh_db.c.update_one({"_id": 1}, update)
    assert err.value.code == code
    assert fresh_db.c.find_one({"_id": 1}) == {"_id": 1, "a": 1}


def test_cursor_across_many_batches_with_sort_skip_limit(fresh_db: Any) -> None:
    coll = fresh_db.big
    coll.insert_many([{"i": i, "odd": i % 2} for i in range(2500)])
    got = [d["i"] for d in coll.find({"odd": 1}, batch_size=37).sort("i", DESCENDING).skip(10).limit(900)]
    assert got == list(range(2499, -1, -2))[10:910]
    everything = list(coll.find({}, {"_id": 0, "i": 1}).batch_size(100))
    assert len(everything) == 2500
    assert fresh_db.client.admin.command("serverStatus")["opcounters"]["getmore"] >= 24


def test_killed_cursor_is_not_found(fresh_db: Any) -> None:
    fresh_db.c.insert_many([{"i": i} for i in range(50)])
    reply = fresh_db.command("find", "c", batchSize=5)
    cursor_id = reply["cursor"]["id"]
    assert cursor_id != 0 and len(reply["cursor"]["firstBatch"]) == 5
    killed = fresh_db.command("killCursors", "c", cursors=[cursor_id])
    assert killed["cursorsKilled"] == [cursor_id]
    with pytest.raises(OperationFailure) as err:
        fresh_db.command("getMore", cursor_id, collection="c")
    assert err.value.code == 43


def test_secondary_index_queries_match_a_scan(fresh_db: Any) -> None:
    coll = fresh_db.prompts
    coll.create_index([("userId", ASCENDING), ("category", ASCENDING), ("createdAt", DESCENDING)])
    docs = [
        {"userId": f"u{i % 7}", "category": ["a", "b", "c"][i % 3], "createdAt": i, "n": i}
        for i in range(300)
    ]
    coll.insert_many(docs)
    got = [d["n"] for d in coll.find({"userId": "u3", "category": "b"}).sort("createdAt", -1).limit(5)]
    expected = sorted((d["n"] for d in docs if d["userId"] == "u3" and d["category"] == "b"), reverse=True)[
        :5
    ]
    assert got == expected
    ranged = [
        d["n"]
        for d in coll.find(
            {"userId": {"$in": ["u1", "u2"]}, "category": "a", "createdAt": {"$gte": 100, "$lt": 200}}
        )
    ]
    assert sorted(ranged) == sorted(
        d["n"]
        for d in docs
        if d["userId"] in ("u1", "u2") and d["category"] == "a" and 100 <= d["createdAt"] < 200
    )
    ascending = [d["createdAt"] for d in coll.find({"userId": "u0", "category": "c"}).sort("createdAt", 1)]
    assert ascending == sorted(ascending) and ascending


def test_unique_index_violations_report_key_pattern_and_value(fresh_db: Any) -> None:
    coll = fresh_db.users
    coll.create_index("email", unique=True)
    coll.insert_one({"email": "a@x"})
    with pytest.raises(DuplicateKeyError) as err:
        coll.insert_one({"email": "a@x"})
    assert err.value.code == 11000
    assert err.value.details["keyPattern"] == {"email": 1}
    assert err.value.details["keyValue"] == {"email": "a@x"}
    other = coll.insert_one({"email": "b@x"}).inserted_id
    with pytest.raises(DuplicateKeyError):
        coll.update_one({"_id": other}, {"$set": {"email": "a@x"}})
    assert coll.count_documents({"email": "a@x"}) == 1
    with pytest.raises(DuplicateKeyError):
        coll.insert_one({"_id": other})


def test_creating_a_unique_index_over_duplicates_fails(fresh_db: Any) -> None:
    fresh_db.c.insert_many([{"k": 1}, {"k": 1}])
    with pytest.raises(OperationFailure) as err:
        fresh_db.c.create_index("k", unique=True)
    assert err.value.code == 11000
    assert [i["name"] for i in fresh_db.c.list_indexes()] == ["_id_"]


def test_ordered_bulk_write_stops_at_first_error(fresh_db: Any) -> None:
    coll = fresh_db.c
    coll.insert_one({"_id": 2})
    with pytest.raises(BulkWriteError) as err:
        coll.bulk_write([InsertOne({"_id": 1}), InsertOne({"_id": 2}), InsertOne({"_id": 3})], ordered=True)
    details = err.value.details
    assert details["nInserted"] == 1
    assert [(e["index"], e["code"]) for e in details["writeErrors"]] == [(1, 11000)]
    assert sorted(d["_id"] for d in coll.find()) == [1, 2]


def test_unordered_bulk_write_continues_past_errors(fresh_db: Any) -> None:
    coll = fresh_db.c
    coll.insert_many([{"_id": 2, "v": 0}, {"_id": 5, "v": 0}])
    requests = [
        InsertOne({"_id": 1}),
        InsertOne({"_id": 2}),
        UpdateOne({"_id": 5}, {"$set": {"v": 1}}),
        UpdateOne({"_id": 5}, {"$inc": {"v": "bad"}}),
        ReplaceOne({"_id": 9}, {"r": True}, upsert=True),
        UpdateMany({}, {"$set": {"seen": True}}),
        DeleteOne({"_id": 1}),
    ]
    with pytest.raises(BulkWriteError) as err:
        coll.bulk_write(requests, ordered=False)
    d = err.value.details
    assert (d["nInserted"], d["nUpserted"], d["nRemoved"]) == (1, 1, 1)
    assert sorted((e["index"], e["code"]) for e in d["writeErrors"]) == [(1, 11000), (3, 14)]
    assert coll.find_one({"_id": 9}) == {"_id": 9, "r": True, "seen": True}
    assert coll.find_one({"_id": 5}) == {"_id": 5, "v": 1, "seen": True}


def test_find_one_and_family(fresh_db: Any) -> None:
    coll = fresh_db.c
    coll.insert_many([{"_id": i, "score": i * 10} for i in range(5)])
    before = coll.find_one_and_update({"score": {"$gte": 20}}, {"$inc": {"score": 1}}, sort=[("score", -1)])
    assert before == {"_id": 4, "score": 40}
    after = coll.find_one_and_update(
        {"_id": 3}, {"$set": {"x": 1}}, projection={"_id": 0}, return_document=ReturnDocument.AFTER
    )
    assert after == {"score": 30, "x": 1}
    assert coll.find_one_and_replace({"_id": 0}, {"fresh": True}) == {"_id": 0, "score": 0}
    assert coll.find_one({"_id": 0}) == {"_id": 0, "fresh": True}
    assert coll.find_one_and_delete({"_id": 1}) == {"_id": 1, "score": 10}
    assert coll.find_one({"_id": 1}) is None
    created = coll.find_one_and_update(
        {"_id": 99}, {"$set": {"u": 1}}, upsert=True, return_document=ReturnDocument.AFTER
    )
    assert created == {"_id": 99, "u": 1}
    assert coll.find_one_and_update({"_id": 1234}, {"$set": {"u": 1}}) is None


def test_count_documents_estimated_count_and_distinct(fresh_db: Any) -> None:
    coll = fresh_db.c
    coll.insert_many(
        [{"cat": c, "tags": t} for c, t in [("a", ["x", "y"]), ("b", ["y"]), ("a", []), ("c", ["z", "x"])]]
    )
    assert coll.count_documents({}) == 4
    assert coll.count_documents({"cat": "a"}) == 2
    assert coll.count_documents({}, skip=1, limit=2) == 2
    assert coll.estimated_document_count() == 4
    assert sorted(coll.distinct("cat")) == ["a", "b", "c"]
    assert sorted(coll.distinct("tags")) == ["x", "y", "z"]
    assert coll.distinct("tags", {"cat": "b"}) == ["y"]


def test_projection_forms(fresh_db: Any) -> None:
    fresh_db.c.insert_one(
        {"_id": 1, "a": {"b": 1, "c": 2}, "arr": [1, 2, 3, 4], "docs": [{"k": 1}, {"k": 2}]}
    )
    find = fresh_db.c.find_one
    assert find({}, {"a.b": 1}) == {"_id": 1, "a": {"b": 1}}
    assert find({}, {"a.c": 0, "arr": 0, "docs": 0}) == {"_id": 1, "a": {"b": 1}}
    assert find({}, {"arr": {"$slice": -2}, "_id": 0, "a": 0, "docs": 0}) == {"arr": [3, 4]}
    assert find({}, {"docs": {"$elemMatch": {"k": 2}}}) == {"_id": 1, "docs": [{"k": 2}]}
    assert find({"docs.k": 1}, {"docs.$": 1}) == {"_id": 1, "docs": [{"k": 1}]}
    with pytest.raises(OperationFailure) as err:
        find({}, {"a": 1, "arr": 0})
    assert err.value.code == 31254


def test_catalog_commands(fresh_db: Any) -> None:
    fresh_db.create_collection("made", validator={"a": {"$exists": True}}, validationLevel="moderate")
    with pytest.raises(OperationFailure) as err:
        fresh_db.command("create", "made")
    assert err.value.code == 48
    fresh_db.other.insert_one({})
    infos = {c["name"]: c for c in fresh_db.list_collections()}
    assert set(infos) == {"made", "other"}
    assert infos["made"]["options"] == {"validator": {"a": {"$exists": True}}, "validationLevel": "moderate"}
    assert fresh_db.name in fresh_db.client.list_database_names()
    assert fresh_db.list_collection_names(filter={"name": "other"}) == ["other"]
    fresh_db.drop_collection("other")
    assert fresh_db.list_collection_names() == ["made"]
    with pytest.raises(OperationFailure) as err:
        fresh_db.command("drop", "nope")
    assert err.value.code == 26
    fresh_db.client.drop_database(fresh_db.name)
    assert fresh_db.name not in fresh_db.client.list_database_names()


def test_index_commands(fresh_db: Any) -> None:
    coll = fresh_db.c
    assert coll.create_index([("a", 1), ("b", -1)]) == "a_1_b_-1"
    assert coll.create_index([("a", 1), ("b", -1)]) == "a_1_b_-1"  # idempotent
    with pytest.raises(OperationFailure) as err:
        coll.create_index([("a", 1), ("b", -1)], name="other")
    assert err.value.code == 85
    with pytest.raises(OperationFailure) as err:
        coll.create_index([("z", 1)], name="a_1_b_-1")
    assert err.value.code == 86
    with pytest.raises(OperationFailure) as err:
        coll.create_index([("z", "2dsphere")])
    assert err.value.code == 67
    assert [i["key"] for i in coll.list_indexes()] == [{"_id": 1}, {"a": 1, "b": -1}]
    with pytest.raises(OperationFailure) as err:
        coll.drop_index("nope_1")
    assert err.value.code == 27
    with pytest.raises(OperationFailure) as err:
        coll.drop_index("_id_")
    assert err.value.code == 72
    coll.drop_index([("a", 1), ("b", -1)])
    assert [i["name"] for i in coll.list_indexes()] == ["_id_"]
    with pytest.raises(OperationFailure) as err:
        fresh_db.command("listIndexes", "missing")
    assert err.value.code == 26


@pytest.mark.parametrize(
    ("command", "code"),
    [
        ({"find": "c", "filter": 5}, 14),
        ({"find": "c", "skip": -1}, 51024),
        ({"find": "c", "sort": {"a": 2}}, 2),
        ({"find": "c", "filter": {"$bogus": 1}}, 2),
        ({"insert": "c"}, 40414),
        ({"find": "bad$name"}, 73),
        ({"aggregate": "c", "pipeline": [{"$nope": {}}], "cursor": {}}, 40324),
        ({"aggregate": "c", "pipeline": []}, 9),
    ],
)
def test_bad_arguments_answer_mongod_codes(fresh_db: Any, command: dict[str, Any], code: int) -> None:
    with pytest.raises(OperationFailure) as err:
        fresh_db.command(command)
    assert err.value.code == code


def test_values_keep_their_bson_types(fresh_db: Any) -> None:
    import datetime

    from bson import Decimal128, Regex, Timestamp

    doc = {
        "_id": "s", "i": 1, "l": Int64(2**40), "f": 1.5, "d": Decimal128("1.10"), "t": Timestamp(5, 6),
        "dt": datetime.datetime(2024, 1, 2, 3, 4, 5, 6000), "b": b"\x00\x01", "re": Regex("^a", "i"),
        "n": None, "nested": {"deep": [1, {"x": True}]},
    }  # fmt: skip
    fresh_db.c.insert_one(doc)
    assert fresh_db.c.find_one({"_id": "s"}) == doc
    assert fresh_db.c.find_one({"l": 2**40})["_id"] == "s"
    assert fresh_db.c.find_one({"i": 1.0})["_id"] == "s"  # numbers compare by value


def test_oplog_is_readable_and_tailable(fresh_db: Any) -> None:
    local = fresh_db.client.local
    fresh_db.c.insert_one({"_id": "first", "pad": "x" * 2000})  # large: read back from the journal
    last = next(local["oplog.rs"].find({}, sort=[("$natural", -1)], limit=1))
    assert (last["op"], last["ns"], last["o"]["_id"]) == ("i", f"{fresh_db.name}.c", "first")
    reply = local.command(
        "find", "oplog.rs", filter={"ts": {"$gte": last["ts"]}}, tailable=True, awaitData=True
    )
    assert [e["o"]["_id"] for e in reply["cursor"]["firstBatch"]] == ["first"]
    cursor_id = reply["cursor"]["id"]
    assert cursor_id != 0
    fresh_db.c.insert_one({"_id": "second"})
    more = local.command("getMore", cursor_id, collection="oplog.rs", maxTimeMS=2000)
    assert [e["o"]["_id"] for e in more["cursor"]["nextBatch"]] == ["second"]
    local.command("killCursors", "oplog.rs", cursors=[cursor_id])


def test_server_status_counts_operations_as_mongod(fresh_db: Any) -> None:
    admin = fresh_db.client.admin
    before = admin.command("serverStatus")
    fresh_db.c.insert_many([{"i": i} for i in range(7)])
    fresh_db.c.update_many({}, {"$set": {"x": 1}})
    fresh_db.c.delete_one({"i": 0})
    list(fresh_db.c.find({"i": {"$gt": 2}}))
    fresh_db.c.count_documents({})
    after = admin.command("serverStatus")
    delta = {k: after["opcounters"][k] - before["opcounters"][k] for k in before["opcounters"]}
    assert (delta["insert"], delta["update"], delta["delete"], delta["query"]) == (7, 1, 1, 1)
    assert delta["command"] >= 2  # the aggregate of count_documents and serverStatus itself
    assert after["storageEngine"]["name"] == "mongoemu"
    assert after["mem"]["resident"] > 0
