"""Collations on a live member through PyMongo: strength 1/2/3 comparisons in finds, counts,
distinct, sorts, updates, deletes, aggregation and unique indexes; refusals for the rest."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.collation import Collation
from pymongo.errors import DuplicateKeyError, OperationFailure

CI = Collation("en", strength=2)  # case-insensitive
BASE = Collation("en", strength=1)  # case- and accent-insensitive
NAMES = ["b", "A", "a", "B", "é", "e", "E"]


@pytest.fixture
def names(fresh_db: Any) -> Any:
    fresh_db.v.insert_many([{"_id": i, "n": n} for i, n in enumerate(NAMES)])
    return fresh_db.v


def _ns(cursor: Any) -> list[str]:
    return [d["n"] for d in cursor]


def test_unique_index_with_case_insensitive_collation(fresh_db: Any) -> None:
    fresh_db.u.create_index("email", unique=True, collation=CI)
    fresh_db.u.insert_one({"email": "alice@example.com"})
    with pytest.raises(DuplicateKeyError) as exc:
        fresh_db.u.insert_one({"email": "Alice@Example.com"})
    assert exc.value.code == 11000
    info = fresh_db.u.index_information()["email_1"]
    assert info["collation"]["locale"] == "en" and info["collation"]["strength"] == 2
    assert fresh_db.u.find_one({"email": "ALICE@example.com"}, collation=CI)["email"] == "alice@example.com"


def test_find_count_distinct_under_strength_1_and_2(names: Any) -> None:
    assert _ns(names.find({"n": "a"}, collation=CI)) == ["A", "a"]
    assert _ns(names.find({"n": "e"}, collation=BASE)) == ["é", "e", "E"]
    assert _ns(names.find({"n": {"$in": ["B", "E"]}}, collation=CI)) == ["b", "B", "e", "E"]
    assert names.count_documents({"n": "B"}, collation=CI) == 2
    assert names.count_documents({"n": "B"}) == 1
    assert sorted(names.distinct("n", collation=BASE), key=str.lower) == ["A", "b", "é"]


def test_sort_under_a_collation(names: Any) -> None:
    assert _ns(names.find().sort("n", 1)) == ["A", "B", "E", "a", "b", "e", "é"]
    assert _ns(names.find(collation=Collation("en")).sort("n", 1)) == ["a", "A", "b", "B", "e", "E", "é"]
    upper = Collation("en", caseFirst="upper")
    assert _ns(names.find(collation=upper).sort("n", 1)) == ["A", "a", "B", "b", "E", "e", "é"]


def test_numeric_ordering(fresh_db: Any) -> None:
    fresh_db.f.insert_many([{"n": s} for s in ["item10", "item9", "item100"]])
    numeric = Collation("en", numericOrdering=True)
    assert _ns(fresh_db.f.find(collation=numeric).sort("n", 1)) == ["item9", "item10", "item100"]


def test_writes_and_aggregation_under_a_collation(names: Any) -> None:
    assert names.update_many({"n": "e"}, {"$set": {"m": 1}}, collation=BASE).modified_count == 3
    assert (
        names.find_one_and_update({"n": "A"}, {"$set": {"k": 1}}, collation=CI, sort=[("_id", 1)])["n"] == "A"
    )
    out = names.aggregate([{"$match": {"n": "b"}}, {"$sort": {"_id": 1}}], collation=CI)
    assert _ns(out) == ["b", "B"]
    assert names.delete_many({"n": "a"}, collation=CI).deleted_count == 2
    assert names.count_documents({}) == 5


def test_collection_default_collation(fresh_db: Any) -> None:
    coll = fresh_db.create_collection("d", collation=CI)
    coll.insert_many([{"n": "x"}, {"n": "X"}])
    assert coll.count_documents({"n": "x"}) == 2
    assert coll.count_documents({"n": "x"}, collation=Collation("simple")) == 1
    coll.create_index("n", unique=False)
    assert coll.index_information()["n_1"]["collation"]["strength"] == 2


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ({"locale": "fr"}, 2),
        ({"locale": "en", "strength": 4}, 2),
        ({"locale": "en", "alternate": "shifted"}, 2),
        ({"locale": "en", "bogus": 1}, 40415),
        ({"strength": 2}, 40414),
    ],
)
def test_collations_the_emulator_cannot_honour_are_refused(
    names: Any, spec: dict[str, Any], code: int
) -> None:
    with pytest.raises(OperationFailure) as exc:
        list(names.find({}, collation=spec))
    assert exc.value.code == code
