"""Update documents: operators (`$set $unset $inc $mul $min $max $rename $currentDate
$setOnInsert $push $addToSet $pop $pull $pullAll $bit`), the positional forms `$`, `$[]` and
`$[<id>]` with arrayFilters, replacements, and pipeline updates (through the aggregation's stages).

Written by hand rather than through mongomock's updater, which lacks `$mul`, `$bit`, `$[]`,
arrayFilters and dotted `$rename`, and does not raise mongod's error codes.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Callable, Mapping
from typing import Any

from bson import Int64, ObjectId, Timestamp
from mongomock.filtering import filter_applies

from mongoemu.errors import WriteError
from mongoemu.storage import aggregate, keystring
from mongoemu.storage.keystring import type_name
from mongoemu.storage.paths import field_clauses, is_operator_document, set_path

OPERATORS = (
    "$set", "$unset", "$inc", "$mul", "$min", "$max", "$rename", "$currentDate", "$setOnInsert",
    "$push", "$addToSet", "$pop", "$pull", "$pullAll", "$bit",
)  # fmt: skip
_PIPELINE_STAGES = {"$addFields", "$set", "$project", "$unset", "$replaceRoot", "$replaceWith"}
_NUMBER = (int, float, Int64)
_INT64_MAX = 2**63 - 1


def _fail(code: int, message: str, code_name: str | None = None) -> WriteError:
    return WriteError(code, message, code_name=code_name)


def is_number(value: Any) -> bool:
    return isinstance(value, _NUMBER) and not isinstance(value, bool)


def kind(update: Any) -> str:
    """'pipeline', 'operators' or 'replacement'; raises FailedToParse for a malformed one."""
    if isinstance(update, list):
        return "pipeline"
    if not isinstance(update, Mapping):
        raise _fail(9, "Update argument must be either an object or an array")
    keys = list(update)
    if keys and keys[0].startswith("$"):
        return "operators"
    for k in keys:
        if k.startswith("$"):
            raise _fail(52, f"The dollar ($) prefixed field '{k}' in '{k}' is not valid for storage.")
    return "replacement"


def replace(old: Mapping[str, Any] | None, replacement: Mapping[str, Any]) -> dict[str, Any]:
    """A replacement keeps the old _id (mongod puts _id first)."""
    new: dict[str, Any] = {}
    if old is not None:
        if "_id" in replacement and keystring.encode(replacement["_id"]) != keystring.encode(old["_id"]):
            raise _immutable_id()
        new["_id"] = old["_id"]
    elif "_id" in replacement:
        new["_id"] = replacement["_id"]
    for k, v in replacement.items():
        if k != "_id":
            new[k] = copy.deepcopy(v)
    return new


def _immutable_id() -> WriteError:
    return _fail(66, "Performing an update on the path '_id' would modify the immutable field '_id'")


def validate(update: Any) -> None:
    """What mongod checks when it parses an update, before it looks at any document."""
    how = kind(update)
    if how == "pipeline":
        _check_stages(update)
    elif how == "operators":
        for op, fields in update.items():
            if op not in OPERATORS:
                raise _fail(
                    9,
                    f"Unknown modifier: {op}. Expected a valid update modifier or pipeline-style update "
                    "specified as an array",
                )
            if not isinstance(fields, Mapping):
                raise _fail(9, f"Modifiers operate on fields but we found type {type_name(fields)} instead.")
        _check_conflicts(update)


def apply(
    doc: dict[str, Any],
    update: Any,
    query: Mapping[str, Any],
    inserting: bool = False,
    array_filters: list[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The updated copy of `doc`."""
    how = kind(update)
    if how == "replacement":
        return replace(None if inserting and "_id" not in doc else doc, update)
    if how == "pipeline":
        return _pipeline(doc, update)
    filters = _parse_array_filters(array_filters)
    validate(update)
    new = copy.deepcopy(doc)
    ctx = _Context(new, query, filters)
    for op, fields in update.items():
        if op == "$setOnInsert" and not inserting:
            continue
        for path, value in fields.items():
            _APPLY[op](ctx, path, value)
    if "_id" in doc and ("_id" not in new or keystring.encode(new["_id"]) != keystring.encode(doc["_id"])):
        raise _immutable_id()
    if "_id" in new and next(iter(new)) != "_id":
        new = {"_id": new.pop("_id"), **new}
    return new


def upsert_seed(query: Mapping[str, Any]) -> dict[str, Any]:
    """The document an upsert starts from: the query's equality conditions."""
    seed: dict[str, Any] = {}
    for path, cond in field_clauses(query):
        value = cond
        if is_operator_document(cond):
            if "$eq" not in cond:
                continue
            value = cond["$eq"]
        set_path(seed, path, copy.deepcopy(value))
    if "_id" in seed:
        seed = {"_id": seed.pop("_id"), **seed}
    return seed


def finish_upsert(doc: dict[str, Any]) -> dict[str, Any]:
    if "_id" not in doc:
        return {"_id": ObjectId(), **doc}
    return doc


def _check_stages(stages: list[Any]) -> None:
    for stage in stages:
        if not isinstance(stage, Mapping) or len(stage) != 1 or next(iter(stage)) not in _PIPELINE_STAGES:
            raise _fail(
                72,
                "Invalid update pipeline: only $addFields/$set, $project/$unset and "
                "$replaceRoot/$replaceWith are allowed",
            )


def _pipeline(doc: dict[str, Any], stages: list[Any]) -> dict[str, Any]:
    _check_stages(stages)
    original_id = doc.get("_id")
    new = aggregate.update_pipeline(copy.deepcopy(doc), [next(iter(s.items())) for s in stages])
    if "_id" in doc and "_id" not in new:
        new = {"_id": original_id, **new}  # mongod keeps the _id a pipeline leaves out
    if "_id" in doc and keystring.encode(new.get("_id")) != keystring.encode(original_id):
        raise _immutable_id()
    return new


def _parse_array_filters(array_filters: list[Mapping[str, Any]] | None) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for f in array_filters or []:
        if not isinstance(f, Mapping) or not f:
            raise _fail(9, "Cannot use an expression without a top-level field name in arrayFilters")
        names = {k.split(".")[0] for k in f}
        if len(names) != 1:
            raise _fail(9, "Error parsing array filter: expected a single top-level field name")
        (name,) = names
        if name in out:
            raise _fail(9, f"Found multiple array filters with the same top-level field name {name}")
        out[name] = f
    return out


def _check_conflicts(update: Mapping[str, Any]) -> None:
    paths: list[str] = []
    for op, fields in update.items():
        if not isinstance(fields, Mapping):
            continue
        for path, value in fields.items():
            if not isinstance(path, str) or not path:
                raise _fail(56, "An empty update path is not valid.", "EmptyFieldName")
            paths.append(path)
            if op == "$rename":
                if not isinstance(value, str):
                    raise _fail(2, f"The 'to' field for $rename must be a string: {path}: {value}")
                if value == path:
                    raise _fail(2, f"The source and target field for $rename must differ: {path}: {value}")
                paths.append(value)
    seen: list[list[str]] = []
    for path in paths:
        parts = path.split(".")
        for other in seen:
            n = min(len(parts), len(other))
            if parts[:n] == other[:n]:
                raise _fail(
                    40, f"Updating the path '{path}' would create a conflict at '{'.'.join(parts[:n])}'"
                )
        seen.append(parts)


class _Context:
    def __init__(
        self, doc: dict[str, Any], query: Mapping[str, Any], filters: dict[str, Mapping[str, Any]]
    ) -> None:
        self.doc = doc
        self.query = query
        self.filters = filters
        self.used_filters: set[str] = set()

    def targets(self, path: str, create: bool) -> list[tuple[Any, Any]]:
        """(container, key) pairs the path names; intermediate documents created on demand."""
        parts = path.split(".")
        current: list[tuple[Any, list[str]]] = [(self.doc, [])]
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt: list[tuple[Any, list[str]]] = []
            out: list[tuple[Any, Any]] = []
            for container, walked in current:
                for key in self._keys(container, part, walked, create, path):
                    if last:
                        out.append((container, key))
                        continue
                    child = _get(container, key)
                    if child is _MISSING:
                        if not create:
                            continue
                        child = {}
                        _put(container, key, child)
                    elif not isinstance(child, dict | list):
                        if not create:
                            continue
                        raise _fail(
                            28,
                            f"Cannot create field '{parts[i + 1]}' in element {{{part}: {child!r}}}",
                            "PathNotViable",
                        )
                    nxt.append((child, [*walked, part]))
            if last:
                return out
            current = nxt
        return []

    def _keys(self, container: Any, part: str, walked: list[str], create: bool, path: str) -> list[Any]:
        if isinstance(container, dict):
            if part.startswith("$"):
                raise _fail(
                    2, f"The positional operator did not find the match needed from the query: {path}"
                )
            return [part]
        if part == "$":
            return [self._positional(container, walked, path)]
        if part == "$[]":
            return list(range(len(container)))
        if part.startswith("$[") and part.endswith("]"):
            name = part[2:-1]
            if name not in self.filters:
                raise _fail(2, f"No array filter found for identifier '{name}' in path '{path}'")
            self.used_filters.add(name)
            cond = self.filters[name]
            return [i for i, item in enumerate(container) if filter_applies(cond, {name: item})]
        if part.isdigit():
            return [int(part)]
        if not create:
            return []
        raise _fail(
            28, f"Cannot create field '{part}' in element {{{'.'.join(walked)}: [...]}}", "PathNotViable"
        )

    def _positional(self, array: list[Any], walked: list[str], path: str) -> int:
        prefix = ".".join(walked)
        conditions = {k: v for k, v in self.query.items() if k == prefix or k.startswith(prefix + ".")}
        for i, item in enumerate(array):
            probe: dict[str, Any] = {}
            set_path(probe, prefix, [item])
            if conditions and filter_applies(conditions, probe):
                return i
        raise _fail(2, f"The positional operator did not find the match needed from the query: {path}")


class _Missing:
    pass


_MISSING = _Missing()


def _get(container: Any, key: Any) -> Any:
    if isinstance(container, dict):
        return container.get(key, _MISSING)
    if isinstance(container, list) and isinstance(key, int) and key < len(container):
        return container[key]
    return _MISSING


def _put(container: Any, key: Any, value: Any) -> None:
    if isinstance(container, dict):
        container[key] = value
    else:
        while len(container) <= key:
            container.append(None)
        container[key] = value


def _each_target(ctx: _Context, path: str, create: bool = True) -> list[tuple[Any, Any, Any]]:
    return [(c, k, _get(c, k)) for c, k in ctx.targets(path, create)]


def _op_set(ctx: _Context, path: str, value: Any) -> None:
    for c, k, _ in _each_target(ctx, path):
        _put(c, k, copy.deepcopy(value))


def _op_unset(ctx: _Context, path: str, value: Any) -> None:
    for c, k, current in _each_target(ctx, path, create=False):
        if current is _MISSING:
            continue
        if isinstance(c, dict):
            del c[k]
        else:
            c[k] = None


def _arith(
    name: str, combine: Callable[[Any, Any], Any], missing: Callable[[Any], Any]
) -> Callable[..., None]:
    def op(ctx: _Context, path: str, value: Any) -> None:
        if not is_number(value):
            verb = "increment" if name == "$inc" else "multiply"
            raise _fail(14, f"Cannot {verb} with non-numeric argument: {{{path}: {value!r}}}")
        for c, k, current in _each_target(ctx, path):
            if current is _MISSING:
                _put(c, k, missing(value))
                continue
            if not is_number(current):
                raise _fail(
                    14,
                    f"Cannot apply {name} to a value of non-numeric type. {{_id: {ctx.doc.get('_id')!r}}} "
                    f"has the field '{k}' of non-numeric type {type_name(current)}",
                )
            result = combine(current, value)
            if isinstance(result, int) and not isinstance(result, bool):
                if abs(result) > _INT64_MAX:
                    raise _fail(
                        2,
                        f"Failed to apply {name} operations to current value ({current!r}) "
                        f"for document {{_id: {ctx.doc.get('_id')!r}}}",
                    )
                if isinstance(current, Int64) or isinstance(value, Int64) or abs(result) >= 2**31:
                    result = Int64(result)
            _put(c, k, result)

    return op


def _compare_op(want_lower: bool) -> Callable[..., None]:
    def op(ctx: _Context, path: str, value: Any) -> None:
        for c, k, current in _each_target(ctx, path):
            if current is _MISSING:
                _put(c, k, copy.deepcopy(value))
                continue
            new, old = keystring.encode(value), keystring.encode(current)
            if (new < old) if want_lower else (new > old):
                _put(c, k, copy.deepcopy(value))

    return op


def _op_rename(ctx: _Context, path: str, target: Any) -> None:
    if "$" in path or "$" in target:
        raise _fail(2, "The source and target field for $rename must not contain positional operators")
    found = [(c, k, v) for c, k, v in _each_target(ctx, path, create=False) if v is not _MISSING]
    if not found:
        return
    c, k, value = found[0]
    if not isinstance(c, dict):
        raise _fail(
            2,
            f"The source field cannot be an array element, '{path}' in doc with _id: {ctx.doc.get('_id')!r}",
        )
    del c[k]
    for tc, tk, _ in _each_target(ctx, target):
        _put(tc, tk, value)


def _now_ms() -> datetime.datetime:
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _op_current_date(ctx: _Context, path: str, spec: Any) -> None:
    if spec is True or spec == {"$type": "date"}:
        value: Any = _now_ms()
    elif spec == {"$type": "timestamp"}:
        value = Timestamp(int(datetime.datetime.now(datetime.UTC).timestamp()), 1)
    elif spec is False:
        return
    else:
        raise _fail(
            2,
            f"{path} is not valid type for $currentDate. Please use a boolean ('true') or a $type expression",
        )
    _op_set(ctx, path, value)


def _array_at(ctx: _Context, target: tuple[Any, Any, Any], op: str, create: bool) -> list[Any] | None:
    c, k, current = target
    if current is _MISSING:
        if not create:
            return None
        arr: list[Any] = []
        _put(c, k, arr)
        return arr
    if not isinstance(current, list):
        raise _fail(
            2 if op in ("$push", "$addToSet") else 14,
            f"The field '{k}' must be an array but is of type {type_name(current)} in document "
            f"{{_id: {ctx.doc.get('_id')!r}}}",
        )
    return current


def _op_push(ctx: _Context, path: str, value: Any) -> None:
    modifiers = isinstance(value, Mapping) and "$each" in value
    if modifiers:
        unknown = set(value) - {"$each", "$slice", "$sort", "$position"}
        if unknown:
            raise _fail(2, f"Unrecognized clause in $push: {sorted(unknown)[0]}")
        if not isinstance(value["$each"], list):
            raise _fail(
                2,
                "The argument to $each in $push must be an array but it was of type: "
                f"{type_name(value['$each'])}",
            )
    for c, k, current in _each_target(ctx, path):
        arr = _array_at(ctx, (c, k, current), "$push", create=True)
        assert arr is not None
        if not modifiers:
            arr.append(copy.deepcopy(value))
            continue
        items = copy.deepcopy(value["$each"])
        position = value.get("$position")
        if position is None:
            arr.extend(items)
        else:
            position = int(position)
            if position < 0:
                position = max(len(arr) + position, 0)
            arr[position:position] = items
        if "$sort" in value:
            arr.sort(key=_push_sort_key(value["$sort"]))
        if "$slice" in value:
            n = int(value["$slice"])
            arr[:] = arr[n:] if n < 0 else arr[:n]


def _push_sort_key(spec: Any) -> Callable[[Any], bytes]:
    if spec in (1, -1):
        return lambda v: keystring.encode(v) if spec == 1 else keystring.invert(keystring.encode(v))
    if isinstance(spec, Mapping) and all(d in (1, -1) for d in spec.values()):
        items = [(f, int(d)) for f, d in spec.items()]
        return lambda v: keystring.sort_key(v if isinstance(v, Mapping) else {}, items)
    raise _fail(
        2, "The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort embedded fields"
    )


def _op_add_to_set(ctx: _Context, path: str, value: Any) -> None:
    items = value["$each"] if isinstance(value, Mapping) and "$each" in value else [value]
    if not isinstance(items, list):
        raise _fail(2, "The argument to $each in $addToSet must be an array")
    for c, k, current in _each_target(ctx, path):
        arr = _array_at(ctx, (c, k, current), "$addToSet", create=True)
        assert arr is not None
        present = {keystring.encode(v) for v in arr}
        for item in items:
            key = keystring.encode(item)
            if key not in present:
                present.add(key)
                arr.append(copy.deepcopy(item))


def _op_pop(ctx: _Context, path: str, value: Any) -> None:
    if value not in (1, -1):
        raise _fail(9, f"$pop expects 1 or -1, found: {value!r}")
    for c, k, current in _each_target(ctx, path, create=False):
        arr = _array_at(ctx, (c, k, current), "$pop", create=False)
        if arr:
            arr.pop() if value == 1 else arr.pop(0)


def _pull_matcher(cond: Any) -> Callable[[Any], bool]:
    if isinstance(cond, Mapping):
        operators = any(str(k).startswith("$") for k in cond)
        if operators:
            return lambda item: filter_applies({"v": cond}, {"v": item})
        return lambda item: isinstance(item, Mapping) and filter_applies(cond, item)
    key = keystring.encode(cond)
    return lambda item: keystring.encode(item) == key


def _op_pull(ctx: _Context, path: str, cond: Any) -> None:
    match = _pull_matcher(cond)
    for c, k, current in _each_target(ctx, path, create=False):
        arr = _array_at(ctx, (c, k, current), "$pull", create=False)
        if arr is not None:
            arr[:] = [item for item in arr if not match(item)]


def _op_pull_all(ctx: _Context, path: str, values: Any) -> None:
    if not isinstance(values, list):
        raise _fail(2, f"$pullAll requires an array argument but was given a {type_name(values)}")
    keys = {keystring.encode(v) for v in values}
    for c, k, current in _each_target(ctx, path, create=False):
        arr = _array_at(ctx, (c, k, current), "$pullAll", create=False)
        if arr is not None:
            arr[:] = [item for item in arr if keystring.encode(item) not in keys]


def _op_bit(ctx: _Context, path: str, spec: Any) -> None:
    if not isinstance(spec, Mapping) or not spec or set(spec) - {"and", "or", "xor"}:
        raise _fail(2, f"The $bit modifier only supports 'and', 'or', and 'xor', not: {spec!r}")
    for c, k, current in _each_target(ctx, path):
        value = 0 if current is _MISSING else current
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(
                14, f"Cannot apply $bit to a value of non-integral type. {{_id: {ctx.doc.get('_id')!r}}}"
            )
        for how, operand in spec.items():
            value = value & operand if how == "and" else value | operand if how == "or" else value ^ operand
        _put(c, k, value)


_APPLY: dict[str, Callable[[_Context, str, Any], None]] = {
    "$set": _op_set,
    "$setOnInsert": _op_set,
    "$unset": _op_unset,
    "$inc": _arith("$inc", lambda a, b: a + b, lambda v: v),
    "$mul": _arith("$mul", lambda a, b: a * b, lambda v: type(v)(0)),
    "$min": _compare_op(want_lower=True),
    "$max": _compare_op(want_lower=False),
    "$rename": _op_rename,
    "$currentDate": _op_current_date,
    "$push": _op_push,
    "$addToSet": _op_add_to_set,
    "$pop": _op_pop,
    "$pull": _op_pull,
    "$pullAll": _op_pull_all,
    "$bit": _op_bit,
}
