"""Weighted text search on a live member. Expected scores are computed by hand from mongod's
documented scoring (FTSSpec::_scoreStringV2): per string, weight * (2 - 2**(1-c)) *
(0.5 * c / n + 0.5), times 1.1 when the whole string is the term; stop words dropped, terms
stemmed; a document's score sums its query terms."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import TEXT
from pymongo.errors import OperationFailure

DOCS = [
    {"_id": "a", "title": "Python tips", "content": "learn python fast", "tags": ["python"]},
    {"_id": "b", "title": "Cooking", "content": "python python snake", "tags": []},
    {"_id": "c", "title": "Java", "content": "the running of the bulls", "tags": ["run"]},
]
SCORE_A = 3 * 1 * 0.75 + 2 * 1 * (0.5 / 3 + 0.5) + 1 * 1 * 1 * 1.1  # title + content + tag ("python" alone)
SCORE_B = 2 * 1.5 * (0.5 * 2 / 3 + 0.5)  # "python" twice among three content terms


@pytest.fixture
def prompts(fresh_db: Any) -> Any:
    coll = fresh_db.prompts
    coll.create_index(
        [("title", TEXT), ("content", TEXT), ("tags", TEXT)], weights={"title": 3, "content": 2, "tags": 1}
    )
    coll.insert_many(DOCS)
    return coll


def _search(coll: Any, text: str) -> list[tuple[str, float]]:
    found = coll.find({"$text": {"$search": text}}, {"score": {"$meta": "textScore"}}).sort(
        [("score", {"$meta": "textScore"})]
    )
    return [(d["_id"], d["score"]) for d in found]


def test_results_are_ordered_by_weighted_score(prompts: Any) -> None:
    got = _search(prompts, "python")
    assert [i for i, _ in got] == ["a", "b"]
    assert got[0][1] == pytest.approx(SCORE_A, rel=1e-6)
    assert got[1][1] == pytest.approx(SCORE_B, rel=1e-6)


def test_stop_words_stemming_phrases_and_negation(prompts: Any) -> None:
    assert [i for i, _ in _search(prompts, "the python")] == ["a", "b"]  # "the" is a stop word
    run = _search(prompts, "runs")  # runs/running/run share the stem "run"
    assert [i for i, _ in run] == ["c"]
    # "the" and "of" are dropped before counting: "running" is 1 of 2 content terms.
    assert run[0][1] == pytest.approx(2 * 1 * (0.5 / 2 + 0.5) + 1 * 1 * 1 * 1.1, rel=1e-6)
    assert [i for i, _ in _search(prompts, '"python fast"')] == ["a"]
    assert [i for i, _ in _search(prompts, "python -snake")] == ["a"]
    assert _search(prompts, "the of") == []  # only stop words: nothing matches


def test_text_index_definition_and_errors(prompts: Any) -> None:
    spec = next(i for i in prompts.list_indexes() if i["name"] != "_id_")
    assert spec["key"] == {"_fts": "text", "_ftsx": 1}
    assert spec["weights"] == {"content": 2, "tags": 1, "title": 3}
    assert spec["default_language"] == "english"
    with pytest.raises(OperationFailure) as err:
        prompts.database.plain.insert_one({"x": 1})
        list(prompts.database.plain.find({"$text": {"$search": "x"}}))
    assert err.value.code == 27
    with pytest.raises(OperationFailure) as err:
        list(prompts.find({}, {"s": {"$meta": "textScore"}}).sort([("s", {"$meta": "textScore"})]))
    assert err.value.code == 17287


def test_text_search_combines_with_filters_and_updates(prompts: Any) -> None:
    assert [d["_id"] for d in prompts.find({"$text": {"$search": "python"}, "tags": "python"})] == ["a"]
    prompts.update_one({"_id": "b"}, {"$set": {"content": "no serpents here"}})
    assert [i for i, _ in _search(prompts, "python")] == ["a"]
    prompts.delete_one({"_id": "a"})
    assert _search(prompts, "python") == []
    assert prompts.count_documents({"$text": {"$search": "serpent"}}) == 1
