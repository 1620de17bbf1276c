"""find's projection and query operators on a live member through PyMongo, against what mongod
answers (results and error codes)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from bson import Int64, Regex, Timestamp
from pymongo.errors import OperationFailure


@pytest.fixture
def docs(fresh_db: Any) -> Any:
    fresh_db.c.insert_many(
        [
            {"_id": 1, "a": 1, "b": {"c": 2, "d": 3}, "arr": [1, 2, 3, 4], "items": [{"k": 1}, {"k": 2}]},
            {"_id": 2, "a": None, "arr": [], "items": []},
        ]
    )
    return fresh_db.c


def test_projection_of_id_alone_returns_only_id(docs: Any) -> None:
    assert docs.find_one({"_id": 1}, {"_id": 1}) == {"_id": 1}
    assert docs.find_one({"_id": 1}, {"_id": 0, "a": 1}) == {"a": 1}
    assert docs.find_one({"_id": 1}, {"_id": 1, "b.c": 1}) == {"_id": 1, "b": {"c": 2}}
    assert docs.find_one({"_id": 1}, {"_id": 0, "arr": 0, "items": 0, "b": 0}) == {"a": 1}


def test_inclusion_and_exclusion_mixed_is_refused(docs: Any) -> None:
    with pytest.raises(OperationFailure) as exc:
        docs.find_one({}, {"a": 1, "b": 0})
    assert exc.value.code == 31254
    with pytest.raises(OperationFailure) as exc:
        docs.find_one({}, {"a": 0, "b": 1})
    assert exc.value.code == 31253


def test_slice_elem_match_and_positional(docs: Any) -> None:
    assert docs.find_one({"_id": 1}, {"arr": {"$slice": 2}, "_id": 0, "a": 0, "b": 0, "items": 0}) == {
        "arr": [1, 2]
    }
    assert docs.find_one({"_id": 1}, {"_id": 1, "arr": {"$slice": [1, 2]}}) == {"_id": 1, "arr": [2, 3]}
    assert docs.find_one({"_id": 1}, {"items": {"$elemMatch": {"k": 2}}}) == {"_id": 1, "items": [{"k": 2}]}
    assert docs.find_one({"arr": {"$gt": 2}}, {"arr.$": 1}) == {"_id": 1, "arr": [3]}


def test_type_operator_forms(fresh_db: Any) -> None:
    values = [
        None, 1, Int64(1), 1.5, "s", {"x": 1}, [1, "s"], True, datetime.datetime(2020, 1, 1),
        Timestamp(1, 1), Regex("^a"),
    ]  # fmt: skip
    fresh_db.t.insert_many([{"_id": i, "v": v} for i, v in enumerate(values)])
    fresh_db.t.insert_one({"_id": 99})

    def ids(spec: Any) -> list[int]:
        return sorted(d["_id"] for d in fresh_db.t.find({"v": {"$type": spec}}))

    assert ids("null") == ids(10) == [0]
    assert ids("int") == [1, 6]
    assert ids("long") == ids(18) == [2]
    assert ids("number") == [1, 2, 3, 6]
    assert ids(["string", "bool"]) == [4, 6, 7]
    assert ids("array") == [6]
    assert ids("date") == [8]
    assert ids("timestamp") == [9]
    assert ids("regex") == [10]
    assert fresh_db.t.count_documents({"_id": {"$type": "null"}}) == 0
    for bad, code in (("nope", 2), (99, 2), ([], 2)):
        with pytest.raises(OperationFailure) as exc:
            ids(bad)
        assert exc.value.code == code


@pytest.fixture
def indexed(fresh_db: Any) -> Any:
    # inserted out of x order, so natural order and index order differ
    fresh_db.h.insert_many([{"_id": i, "x": (i * 7) % 10, "y": i % 2} for i in range(10)])
    fresh_db.h.create_index("x")
    fresh_db.h.create_index([("y", 1), ("x", -1)], name="y_x")
    fresh_db.h.create_index("s", sparse=True)
    return fresh_db.h


def test_hint_orders_by_the_index(indexed: Any) -> None:
    assert [d["x"] for d in indexed.find({}, hint=[("x", 1)])] == list(range(10))
    assert [d["x"] for d in indexed.find({}, hint="x_1")] == list(range(10))
    assert [(d["y"], d["x"]) for d in indexed.find({"y": 1}, hint="y_x")] == [
        (1, 9),
        (1, 7),
        (1, 5),
        (1, 3),
        (1, 1),
    ]
    assert [d["_id"] for d in indexed.find({}, hint=[("$natural", -1)])] == list(range(9, -1, -1))
    assert [d["_id"] for d in indexed.find({"x": {"$gte": 0}}, hint="_id_")] == list(range(10))
    # a sparse index hinted reads only the documents it holds, as on mongod
    assert list(indexed.find({}, hint="s_1")) == []
    assert indexed.count_documents({}, hint="s_1") == 0


def test_hint_naming_a_missing_index_is_bad_value(indexed: Any) -> None:
    for hint in ("nope", [("z", 1)]):
        with pytest.raises(OperationFailure) as exc:
            list(indexed.find({}, hint=hint))
        assert exc.value.code == 2 and "hint provided does not correspond to an existing index" in str(
            exc.value
        )
    with pytest.raises(OperationFailure) as exc:
        indexed.count_documents({}, hint="nope")
    assert exc.value.code == 2
    with pytest.raises(OperationFailure) as exc:
        list(indexed.aggregate([{"$match": {}}], hint="nope"))
    assert exc.value.code == 2
    with pytest.raises(Exception) as wexc:
        indexed.update_one({"_id": 1}, {"$set": {"z": 1}}, hint="nope")
    assert getattr(wexc.value, "code", None) == 2
    with pytest.raises(Exception) as wexc:
        indexed.delete_one({"_id": 1}, hint="nope")
    assert getattr(wexc.value, "code", None) == 2
    with pytest.raises(OperationFailure) as exc:
        indexed.find_one_and_update({"_id": 1}, {"$set": {"z": 1}}, hint="nope")
    assert exc.value.code == 2
    assert indexed.update_one({"x": 3}, {"$set": {"z": 1}}, hint="x_1").modified_count == 1


def test_min_and_max_bound_the_hinted_index(indexed: Any) -> None:
    got = [d["x"] for d in indexed.find({}).hint([("x", 1)]).min([("x", 3)]).max([("x", 6)])]
    assert got == [3, 4, 5]
    assert [d["_id"] for d in indexed.find().hint("_id_").max([("_id", 2)])] == [0, 1]
    with pytest.raises(OperationFailure) as exc:  # PyMongo refuses this itself: send the command
        indexed.database.command("find", indexed.name, min={"x": 3})
    assert exc.value.code == 51173
    with pytest.raises(OperationFailure) as exc:
        list(indexed.find().hint("y_x").min([("x", 3)]))
    assert exc.value.code == 51174


def test_unknown_fields_are_refused_as_mongod_parses_strictly(docs: Any) -> None:
    db = docs.database
    for command, extra in (("find", {}), ("count", {}), ("aggregate", {"pipeline": [], "cursor": {}})):
        with pytest.raises(OperationFailure) as exc:
            db.command(command, docs.name, bogus=1, **extra)
        assert exc.value.code == 40415 and f"'{command}.bogus' is an unknown field" in str(exc.value)
    with pytest.raises(OperationFailure) as exc:  # distinct takes a hint only from 7.1 on
        db.command("distinct", docs.name, key="a", hint="_id_")
    assert exc.value.code == 40415


def test_update_sort_is_refused_as_by_a_6_0_server(docs: Any) -> None:
    with pytest.raises(OperationFailure) as exc:
        docs.update_one({"_id": {"$gt": 0}}, {"$inc": {"a": 1}}, sort={"_id": -1})
    assert exc.value.code == 40415 and "'update.updates.sort' is an unknown field" in str(exc.value)
    assert docs.find_one({"_id": 1})["a"] == 1


def test_dollar_prefixed_names_inside_id_are_refused(docs: Any) -> None:
    with pytest.raises(Exception) as exc:
        docs.insert_one({"_id": {"$a": 1}})
    assert getattr(exc.value, "code", None) == 52
    # elsewhere they are stored, as by mongod 5.0+
    docs.update_one(
        {"_id": 2},
        [{"$replaceWith": {"$setField": {"field": {"$literal": "$x"}, "value": 1, "input": "$$ROOT"}}}],
    )
    assert docs.find_one({"_id": 2})["$x"] == 1


def test_find_options_mongod_acts_on_are_honoured_or_refused(docs: Any) -> None:
    with pytest.raises(OperationFailure) as exc:
        docs.database.command("find", docs.name, tailable=True)
    assert exc.value.code == 2 and "non capped" in str(exc.value)
    with pytest.raises(OperationFailure) as exc:
        docs.database.command("find", docs.name, returnKey=True)
    assert exc.value.code == 115
    with_ids = list(docs.find({}, {"_id": 1}, show_record_id=True))
    assert all(set(d) == {"_id", "$recordId"} for d in with_ids)


@pytest.mark.parametrize(
    ("partial", "code"),
    [
        ({"a": {"$foo": 1}}, 2),
        ({"a": {"$ne": 1}}, 67),
        ({"$nor": [{"a": 1}]}, 67),
        ({"a": {"$exists": False}}, 67),
    ],
)
def test_partial_filter_expressions_mongod_refuses(docs: Any, partial: dict[str, Any], code: int) -> None:
    with pytest.raises(OperationFailure) as exc:
        docs.create_index("a", partialFilterExpression=partial)
    assert exc.value.code == code


def test_update_documents_are_parsed_even_when_nothing_matches(fresh_db: Any) -> None:
    with pytest.raises(OperationFailure) as exc:
        fresh_db.empty.update_many({}, {"$thismodifierdoesntexist": 1})
    assert exc.value.code == 9
    with pytest.raises(OperationFailure) as exc:
        fresh_db.empty.find_one_and_update({}, {"$nope": {"a": 1}})
    assert exc.value.code == 9


def test_pipeline_update_keeps_an_id_it_leaves_out_and_rand(docs: Any) -> None:
    docs.update_one({"_id": 1}, [{"$replaceRoot": {"newRoot": "$b"}}, {"$addFields": {"r": {"$rand": {}}}}])
    doc = docs.find_one({"_id": 1})
    assert set(doc) == {"_id", "c", "d", "r"} and 0 <= doc["r"] < 1


def test_an_empty_collation_is_the_simple_one(docs: Any) -> None:
    assert docs.count_documents({}, collation={}) == 2


def test_a_find_batch_ending_at_the_last_document_leaves_the_cursor_open(docs: Any) -> None:
    reply = docs.database.command("find", docs.name, batchSize=2)
    assert len(reply["cursor"]["firstBatch"]) == 2 and reply["cursor"]["id"] != 0  # as mongod
    more = docs.database.command("getMore", reply["cursor"]["id"], collection=docs.name)
    assert more["cursor"]["nextBatch"] == [] and more["cursor"]["id"] == 0
    limited = docs.database.command("find", docs.name, batchSize=2, limit=2)
    assert limited["cursor"]["id"] == 0


def test_natural_sort_is_a_scan_in_that_direction(indexed: Any) -> None:
    assert [d["_id"] for d in indexed.find().sort("$natural", -1)] == list(range(9, -1, -1))
    assert [d["_id"] for d in indexed.find({"y": 0}).sort("$natural", 1)] == [0, 2, 4, 6, 8]
    with pytest.raises(OperationFailure) as exc:
        list(indexed.find().sort([("$natural", 1), ("x", 1)]))
    assert exc.value.code == 2


def test_positional_projection_errors(docs: Any) -> None:
    with pytest.raises(OperationFailure) as exc:
        docs.find_one({}, {"arr.$": 1})  # no condition on the array
    assert exc.value.code == 51246
    with pytest.raises(OperationFailure) as exc:
        docs.find_one({"_id": 2, "arr": {"$size": 0}}, {"arr.$": 1})  # nothing in the array to match
    assert exc.value.code == 51246
    with pytest.raises(OperationFailure) as exc:
        docs.find_one({"arr": 2}, {"a": 0, "arr.$": 1})
    assert exc.value.code == 31395


def test_an_update_keeps_the_document_in_its_natural_place(fresh_db: Any) -> None:
    fresh_db.n.insert_many([{"_id": i, "v": 0} for i in range(3)])
    fresh_db.n.update_one({"_id": 0}, {"$set": {"v": "a much longer value than before"}})
    fresh_db.n.replace_one({"_id": 1}, {"v": 2})
    assert [d["_id"] for d in fresh_db.n.find()] == [0, 1, 2]
