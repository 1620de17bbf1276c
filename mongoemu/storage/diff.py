"""mongod's `$v: 2` update diffs: how an update is logged in the oplog and applied from it.

A diff says what changed between two versions of a document: `d` (deleted fields), `u` (fields
given a new value in place), `i` (fields appended at the end) and `s<field>` (a nested diff of a
sub-document, or of an array: `{a: true, l: new length, u<index>: value, s<index>: diff}`).
`compute` follows mongod's `document_diff_calculator.cpp` (a field whose position changed is
moved: deleted where it was, inserted at the end); `terminal` paths stop the descent, as
mongod's update operators log a `$set` of a sub-document as one updated field, not a nested
diff. `apply` follows `document_diff_applier.cpp`, including its tolerance when a diff meets a
document that is already newer (initial sync): a type mismatch or a missing array element
becomes null, for a later entry to overwrite. Replication and the journal store updates this
way, and change streams read `updateDescription` from it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import bson

from mongoemu.wire import CODEC

# (path components) -> True where an update operator named that path as a whole.
Terminal = Callable[[tuple[str, ...]], bool]


def _bytes(value: Any) -> bytes:
    return bson.encode({"": value}, codec_options=CODEC)


def same(a: Any, b: Any) -> bool:
    """BSON binary equality (1 and 1.0 differ, as in mongod's `binaryEqual`)."""
    return type(a) is type(b) and _bytes(a) == _bytes(b)


def _size(value: Any) -> int:
    return len(_bytes(value))


def never(path: tuple[str, ...]) -> bool:
    return False


def compute(
    pre: Mapping[str, Any],
    post: Mapping[str, Any],
    terminal: Terminal = never,
    size_limit: bool = False,
) -> dict[str, Any] | None:
    """The diff from `pre` to `post`; None when `size_limit` is set and the diff would be larger
    than `post` itself (mongod then logs a replacement)."""
    diff = _doc_diff(pre, post, (), terminal)
    if size_limit and _size(diff) >= _size(post):
        return None
    return diff


def _sub_diff(pre: Any, post: Any, path: tuple[str, ...], terminal: Terminal) -> dict[str, Any] | None:
    """A nested diff when both values are documents or both arrays (and the path is not
    terminal); None means: log the new value whole."""
    if terminal(path):
        return None
    if isinstance(pre, dict) and isinstance(post, dict):
        return _doc_diff(pre, post, path, terminal)
    if isinstance(pre, list) and isinstance(post, list):
        return _array_diff(pre, post, path, terminal)
    return None


def _doc_diff(
    pre: Mapping[str, Any], post: Mapping[str, Any], path: tuple[str, ...], terminal: Terminal
) -> dict[str, Any]:
    deletes: dict[str, bool] = {}
    updates: dict[str, Any] = {}
    inserts: dict[str, Any] = {}
    subs: dict[str, Any] = {}
    pre_items = list(pre.items())
    post_items = list(post.items())
    i = j = 0
    moved: set[str] = set()
    while i < len(pre_items) and j < len(post_items):
        (pk, pv), (qk, qv) = pre_items[i], post_items[j]
        if pk == qk:
            if not same(pv, qv):
                sub = _sub_diff(pv, qv, (*path, pk), terminal)
                if sub is None:
                    updates[pk] = qv
                else:
                    subs["s" + pk] = sub
            i += 1
            j += 1
        else:
            # Absent from post, or present further on (then it is moved: inserted at the end).
            moved.add(pk)
            i += 1
    for pk, _ in pre_items[i:]:
        deletes[pk] = False
    for qk, qv in post_items[j:]:
        inserts[qk] = qv
        moved.discard(qk)
    for pk in moved:
        deletes[pk] = False
    out: dict[str, Any] = {}
    if deletes:
        out["d"] = deletes
    if updates:
        out["u"] = updates
    if inserts:
        out["i"] = inserts
    out.update(subs)
    return out


def _array_diff(pre: list[Any], post: list[Any], path: tuple[str, ...], terminal: Terminal) -> dict[str, Any]:
    out: dict[str, Any] = {"a": True}
    if len(pre) > len(post):
        out["l"] = len(post)
    for index, value in enumerate(post):
        if index < len(pre):
            if same(pre[index], value):
                continue
            sub = _sub_diff(pre[index], value, (*path, str(index)), terminal)
            if sub is not None:
                out[f"s{index}"] = sub
                continue
        out[f"u{index}"] = value
    return out


def _appends_only(op: str, value: Any) -> bool:
    """$push with at most `$each`, and $addToSet, append to an array: mongod logs the new
    elements one by one (`u<index>`), which the descent into the array reproduces."""
    if op == "$addToSet":
        return True
    return op == "$push" and not (isinstance(value, Mapping) and set(value) - {"$each"})


def operator_terminal(update: Mapping[str, Any]) -> Terminal:
    """The paths an operator update names as a whole (`$set: {a: {...}}` logs `a` updated, not
    its sub-fields); positional parts (`$`, `$[]`, `$[name]`) match any array index."""
    patterns: list[tuple[str, ...]] = []
    for op, fields in update.items():
        if not isinstance(fields, Mapping):
            continue
        for path, value in fields.items():
            if _appends_only(op, value):
                continue
            patterns.append(tuple(str(path).split(".")))
            if op == "$rename" and isinstance(value, str):
                patterns.append(tuple(value.split(".")))

    def terminal(path: tuple[str, ...]) -> bool:
        return any(
            len(p) == len(path) and all(a == b or a.startswith("$") for a, b in zip(p, path, strict=True))
            for p in patterns
        )

    return terminal


def is_array_diff(diff: Mapping[str, Any]) -> bool:
    return diff.get("a") is True


def apply(pre: Mapping[str, Any], diff: Mapping[str, Any]) -> dict[str, Any]:
    """The document `diff` makes of `pre`."""
    deletes = set(diff.get("d", {}))
    updates: dict[str, Any] = dict(diff.get("u", {}))
    inserts: dict[str, Any] = dict(diff.get("i", {}))
    subs = {k[1:]: v for k, v in diff.items() if k.startswith("s")}
    out: dict[str, Any] = {}
    updated_in_place: set[str] = set()
    for key, value in pre.items():
        if key in deletes or key in inserts:
            continue
        if key in updates:
            out[key] = updates[key]
            updated_in_place.add(key)
        elif key in subs:
            out[key] = _apply_sub(value, subs[key])
        else:
            out[key] = value
    for key, value in [*updates.items(), *inserts.items()]:
        if key not in updated_in_place:
            out[key] = value
    return out


def _apply_sub(value: Any, sub: Mapping[str, Any]) -> Any:
    if is_array_diff(sub):
        return _apply_array(value, sub) if isinstance(value, list) else None
    return apply(value, sub) if isinstance(value, dict) else None


def _apply_array(pre: list[Any], diff: Mapping[str, Any]) -> list[Any]:
    mods: dict[int, tuple[str, Any]] = {}
    for key, value in diff.items():
        if key[0] in "us" and key[1:].isdigit():
            mods[int(key[1:])] = (key[0], value)
    size = diff.get("l")
    length = max([len(pre) if size is None else int(size), *(i + 1 for i in mods)])
    out: list[Any] = []
    for index in range(length):
        mod = mods.get(index)
        if mod is None:
            out.append(pre[index] if index < len(pre) else None)
        elif mod[0] == "u":
            out.append(mod[1])
        else:
            out.append(_apply_sub(pre[index], mod[1]) if index < len(pre) else None)
    return out


def is_update_diff(o: Mapping[str, Any]) -> bool:
    """Whether an update entry's `o` is a diff (`{$v: 2, diff}`) rather than a replacement."""
    return o.get("$v") == 2 and "diff" in o


def update_entry(diff_doc: Mapping[str, Any]) -> dict[str, Any]:
    """An update entry's `o` for a diff."""
    return {"$v": 2, "diff": diff_doc}
