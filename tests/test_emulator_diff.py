"""Unit tests of the `$v: 2` update diffs the oplog carries: applying the computed diff to the
old version gives the new one byte for byte (field order included), and the diffs look like
mongod's for the common update operators."""

from __future__ import annotations

from typing import Any

import bson
from hypothesis import given, settings
from hypothesis import strategies as st

from mongoemu.storage import diff, update

scalars = st.one_of(
    st.integers(-5, 5), st.floats(-2, 2, allow_nan=False), st.text("ab", max_size=2), st.none()
)
keys = st.sampled_from(["a", "b", "c", "d", "1"])
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)
documents = st.dictionaries(keys, values, max_size=5)


def _raw(doc: dict[str, Any]) -> bytes:
    return bson.encode(doc)


@settings(max_examples=400)
@given(documents, documents)
def test_applying_the_computed_diff_reproduces_the_new_version_exactly(
    pre: dict[str, Any], post: dict[str, Any]
) -> None:
    computed = diff.compute(pre, post)
    assert computed is not None
    assert _raw(diff.apply(pre, computed)) == _raw(post)


@settings(max_examples=200)
@given(documents, documents, st.lists(st.sampled_from(["a", "b", "c.d", "a.1"]), max_size=3))
def test_terminal_paths_change_the_shape_not_the_result(
    pre: dict[str, Any], post: dict[str, Any], paths: list[str]
) -> None:
    terminal = diff.operator_terminal({"$set": dict.fromkeys(paths, 1)})
    computed = diff.compute(pre, post, terminal)
    assert computed is not None
    assert _raw(diff.apply(pre, computed)) == _raw(post)


def _logged(pre: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any] | None:
    post = update.apply(pre, spec, {})
    return diff.compute(pre, post, diff.operator_terminal(spec))


def test_operator_diffs_look_like_mongods() -> None:
    pre = {"_id": 1, "a": {"b": 0, "c": 1}, "arr": [1, 2, 3], "n": 1}
    assert _logged(pre, {"$set": {"a": {"b": 1}}}) == {"u": {"a": {"b": 1}}}
    assert _logged(pre, {"$set": {"a.b": 5}}) == {"sa": {"u": {"b": 5}}}
    assert _logged(pre, {"$unset": {"n": ""}}) == {"d": {"n": False}}
    assert _logged(pre, {"$set": {"new": 1}}) == {"i": {"new": 1}}
    assert _logged(pre, {"$push": {"arr": 4}}) == {"sarr": {"a": True, "u3": 4}}
    assert _logged(pre, {"$pull": {"arr": 2}}) == {"u": {"arr": [1, 3]}}
    assert _logged(pre, {"$inc": {"n": 1}}) == {"u": {"n": 2}}


def test_a_truncated_array_records_its_new_length() -> None:
    assert diff.compute({"x": [1, 2, 3]}, {"x": [1]}) == {"sx": {"a": True, "l": 1}}


def test_a_diff_meeting_a_newer_document_pads_with_null_as_mongod() -> None:
    # Initial sync may apply an old diff to a document a later entry already changed.
    assert diff.apply({"x": 5}, {"sx": {"a": True, "u2": 1}}) == {"x": None}
    assert diff.apply({"x": [0]}, {"sx": {"a": True, "u2": 1}}) == {"x": [0, None, 1]}


def test_the_size_limit_prefers_a_replacement_for_a_total_rewrite() -> None:
    assert diff.compute({"a": 1, "b": 2}, {"c": 3, "d": 4}, size_limit=True) is None
    long = "x" * 100
    assert diff.compute({"a": 1, "b": long}, {"a": 2, "b": long}, size_limit=True) == {"u": {"a": 2}}
