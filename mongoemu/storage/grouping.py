"""Grouping stages: `$group`, `$bucket`, `$bucketAuto` and `$setWindowFields`.

Written by hand because mongomock has no `$bucketAuto` or `$setWindowFields`, and its `$group`
and `$bucket` group by Python equality rather than BSON's (see accumulators.py).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from bson import Int64

from mongoemu.errors import CommandError, not_supported
from mongoemu.storage import keystring
from mongoemu.storage.accumulators import accumulate, order_key, parse_output
from mongoemu.storage.expressions import MISSING, evaluate
from mongoemu.storage.paths import set_path

Docs = list[dict[str, Any]]


def _key(expression: Any, doc: Mapping[str, Any]) -> Any:
    value = evaluate(expression, doc, ignore_missing=True)
    return None if value is MISSING else value


def group(docs: Docs, spec: Any) -> Docs:
    if not isinstance(spec, Mapping):
        raise CommandError(15947, "a group's fields must be specified in an object")
    if "_id" not in spec:
        raise CommandError(15955, "a group specification must include an _id")
    outputs = parse_output("$group", {k: v for k, v in spec.items() if k != "_id"})
    groups: dict[bytes, tuple[Any, list[Mapping[str, Any]]]] = {}
    for doc in docs:
        value = _key(spec["_id"], doc)
        groups.setdefault(order_key(value), (value, []))[1].append(doc)
    return [
        {"_id": value, **{f: accumulate(op, arg, members) for f, (op, arg) in outputs.items()}}
        for value, members in groups.values()
    ]


def _check_spec(stage: str, spec: Any, allowed: set[str], codes: tuple[int, int, int]) -> None:
    """A bucket stage's argument: an object of known options with its two required ones
    (groupBy and boundaries or buckets)."""
    if not isinstance(spec, Mapping):
        raise CommandError(codes[0], f"The argument to {stage} must be an object")
    unknown = set(spec) - allowed
    if unknown:
        raise CommandError(codes[1], f"Unrecognized option to {stage}: {sorted(unknown)[0]}.")
    required = "groupBy", "boundaries" if stage == "$bucket" else "buckets"
    if any(r not in spec for r in required):
        raise CommandError(codes[2], f"{stage} requires '{required[0]}' and '{required[1]}' to be specified.")


def bucket(docs: Docs, spec: Any) -> Docs:
    _check_spec("$bucket", spec, {"groupBy", "boundaries", "default", "output"}, (40201, 40197, 40198))
    boundaries = spec["boundaries"]
    if not isinstance(boundaries, list) or len(boundaries) < 2:
        raise CommandError(40192, "The $bucket 'boundaries' field must be an array with at least 2 values")
    keys = [order_key(b) for b in boundaries]
    if keys != sorted(keys) or len(set(keys)) != len(keys):
        raise CommandError(40194, "The 'boundaries' option to $bucket must be sorted in ascending order")
    if len({keystring.type_bounds(b)[0] for b in boundaries}) != 1:
        raise CommandError(
            40193, "All values in the the 'boundaries' option to $bucket must have the same type"
        )
    outputs = parse_output("$bucket", spec.get("output", {"count": {"$sum": 1}}))
    buckets: dict[bytes, tuple[Any, list[Mapping[str, Any]]]] = {}
    for doc in docs:
        k = order_key(_key(spec["groupBy"], doc))
        chosen: Any = MISSING
        for i in range(len(keys) - 1):
            if keys[i] <= k < keys[i + 1]:
                chosen = boundaries[i]
                break
        if chosen is MISSING:
            if "default" not in spec:
                raise CommandError(
                    40066,
                    "$switch could not find a matching branch for an input, and no default was specified.",
                )
            chosen = spec["default"]
        buckets.setdefault(order_key(chosen), (chosen, []))[1].append(doc)
    return [
        {"_id": value, **{f: accumulate(op, arg, members) for f, (op, arg) in outputs.items()}}
        for _, (value, members) in sorted(buckets.items())
    ]


def bucket_auto(docs: Docs, spec: Any) -> Docs:
    _check_spec("$bucketAuto", spec, {"groupBy", "buckets", "output", "granularity"}, (40240, 40245, 40246))
    n = spec["buckets"]
    if isinstance(n, bool) or not isinstance(n, int | float | Int64) or int(n) != n or n <= 0:
        raise CommandError(40243, f"The $bucketAuto 'buckets' field must be greater than 0, but found: {n}")
    if spec.get("granularity") is not None:
        raise not_supported("$bucketAuto granularity")
    outputs = parse_output("$bucketAuto", spec.get("output", {"count": {"$sum": 1}}))
    valued = sorted(((_key(spec["groupBy"], d), d) for d in docs), key=lambda vd: order_key(vd[0]))
    # As mongod: about n/buckets documents each, equal values never split, the last bucket
    # takes the rest; a bucket's max is the next bucket's min (the last one's own last value).
    size = max(round(len(valued) / int(n)), 1)
    ranges: list[tuple[int, int]] = []
    start = 0
    while start < len(valued):
        end = len(valued) if len(ranges) == int(n) - 1 else min(start + size, len(valued))
        while end < len(valued) and order_key(valued[end][0]) == order_key(valued[end - 1][0]):
            end += 1
        ranges.append((start, end))
        start = end
    out = []
    for i, (lo, hi) in enumerate(ranges):
        upper = valued[ranges[i + 1][0]][0] if i + 1 < len(ranges) else valued[hi - 1][0]
        members = [d for _, d in valued[lo:hi]]
        out.append(
            {
                "_id": {"min": valued[lo][0], "max": upper},
                **{f: accumulate(op, arg, members) for f, (op, arg) in outputs.items()},
            }
        )
    return out


# --- $setWindowFields ---------------------------------------------------------------------
_RANK_FUNCTIONS = frozenset({"$rank", "$denseRank", "$documentNumber"})
_WINDOW_ONLY = frozenset({"$shift", "$locf"})
_UNSUPPORTED_WINDOW = frozenset(
    {"$derivative", "$integral", "$expMovingAvg", "$covariancePop", "$covarianceSamp", "$linearFill"}
)
_UNIT_MS = {"millisecond": 1, "second": 1000, "minute": 60_000, "hour": 3_600_000, "day": 86_400_000,
            "week": 604_800_000}  # fmt: skip


def _window_output(field: str, spec: Any) -> tuple[str, Any, Mapping[str, Any] | None]:
    if not isinstance(spec, Mapping):
        raise CommandError(40414, f"The field '{field}' must be an object")
    window = spec.get("window")
    ops = [k for k in spec if k != "window"]
    if len(ops) != 1:
        raise CommandError(5371601, f"Expected exactly one function in '{field}', found {len(ops)}")
    op = ops[0]
    if op in _UNSUPPORTED_WINDOW:
        raise not_supported(f"the {op} window function")
    if window is not None and (
        not isinstance(window, Mapping) or not set(window) <= {"documents", "range", "unit"}
    ):
        raise CommandError(5371602, "'window' field must be an object with 'documents' or 'range'")
    if op in _RANK_FUNCTIONS | _WINDOW_ONLY:
        if window is not None:
            raise CommandError(5371601, f"{op} does not accept a 'window' field")
    else:
        parse_output("$setWindowFields", {field: {op: spec[op]}})
    return op, spec[op], window


def set_window_fields(docs: Docs, spec: Any) -> Docs:
    if not isinstance(spec, Mapping):
        raise CommandError(14, "$setWindowFields must be an object")
    unknown = set(spec) - {"partitionBy", "sortBy", "output"}
    if unknown:
        raise CommandError(40415, f"BSON field '$setWindowFields.{sorted(unknown)[0]}' is an unknown field.")
    if "output" not in spec or not isinstance(spec["output"], Mapping):
        raise CommandError(40414, "BSON field '$setWindowFields.output' is missing but a required field")
    outputs = {f: _window_output(f, s) for f, s in spec["output"].items()}
    sort_by = spec.get("sortBy")
    order: list[tuple[str, int]] = []
    if sort_by is not None:
        if not isinstance(sort_by, Mapping) or any(d not in (1, -1) for d in sort_by.values()):
            raise CommandError(15974, "$sort key ordering must be 1 (for ascending) or -1 (for descending)")
        order = [(p, int(d)) for p, d in sort_by.items()]
    partitions: dict[bytes, list[dict[str, Any]]] = {}
    for doc in docs:
        key = order_key(_key(spec["partitionBy"], doc)) if "partitionBy" in spec else b""
        partitions.setdefault(key, []).append(doc)
    out: Docs = []
    for key in sorted(partitions):
        part = partitions[key]
        if order:
            part = sorted(part, key=lambda d: keystring.sort_key(d, order))
        results = {f: _compute(op, arg, window, part, order) for f, (op, arg, window) in outputs.items()}
        for i, doc in enumerate(part):
            new = dict(doc)
            for f, values in results.items():
                set_path(new, f, values[i])
            out.append(new)
    return out


def _compute(
    op: str, arg: Any, window: Mapping[str, Any] | None, part: Docs, order: list[tuple[str, int]]
) -> list[Any]:
    n = len(part)
    if op in _RANK_FUNCTIONS:
        if op != "$documentNumber" and len(order) != 1:
            raise CommandError(
                5371602, f"{op} must be specified with a top level sortBy expression with exactly one element"
            )
        if arg != {}:
            raise CommandError(5371603, f"{op} takes no arguments")
        keys = [keystring.sort_key(d, order) for d in part] if order else [b""] * n
        ranks, rank, dense = [], 0, 0
        for i in range(n):
            if i == 0 or keys[i] != keys[i - 1]:
                rank, dense = i + 1, dense + 1
            ranks.append(i + 1 if op == "$documentNumber" else rank if op == "$rank" else dense)
        return ranks
    if op == "$shift":
        if not isinstance(arg, Mapping) or "output" not in arg or "by" not in arg:
            raise CommandError(5423300, "$shift requires 'output' and 'by'")
        by = int(arg["by"])
        default = arg.get("default")
        values = []
        for i in range(n):
            j = i + by
            v = evaluate(arg["output"], part[j]) if 0 <= j < n else default
            values.append(None if v is MISSING else v)
        return values
    if op == "$locf":
        values, last = [], None
        for d in part:
            v = evaluate(arg, d)
            if v is not MISSING and v is not None:
                last = v
            values.append(last)
        return values
    return [accumulate(op, arg, _window(window, part, order, i)) for i in range(n)]


def _bound(value: Any, what: str) -> Any:
    if value in ("unbounded", "current"):
        return value
    if isinstance(value, int | float | Int64) and not isinstance(value, bool):
        return value
    raise CommandError(5371603, f"Window bounds must be 'unbounded', 'current' or a number, found {what}")


def _window(
    window: Mapping[str, Any] | None, part: Docs, order: list[tuple[str, int]], i: int
) -> Sequence[Mapping[str, Any]]:
    n = len(part)
    if window is None:
        return part
    if "documents" in window:
        lo, hi = (_bound(b, str(window["documents"])) for b in _pair(window["documents"]))
        start = 0 if lo == "unbounded" else i if lo == "current" else i + int(lo)
        end = n - 1 if hi == "unbounded" else i if hi == "current" else i + int(hi)
        if lo not in ("unbounded", "current") and hi not in ("unbounded", "current") and int(lo) > int(hi):
            raise CommandError(5339900, "Lower document bound must not exceed upper document bound")
        return part[max(start, 0) : max(min(end, n - 1) + 1, 0)]
    if len(order) != 1:
        raise CommandError(5339902, "Range-based window requires sortBy a single field")
    path, direction = order[0]
    unit = window.get("unit")
    lo, hi = (_bound(b, str(window["range"])) for b in _pair(window["range"]))

    def position(doc: Mapping[str, Any]) -> float:
        values = keystring.path_values(doc, path)
        v = values[0] if values else None
        if unit is not None:
            if not isinstance(v, datetime.datetime):
                raise CommandError(
                    5429513, f"Invalid range: Expected the sortBy field to be a Date, but it was {v!r}"
                )
            return (v - datetime.datetime(1970, 1, 1)).total_seconds() * 1000 / _UNIT_MS[unit]
        if isinstance(v, bool) or not isinstance(v, int | float | Int64):
            raise CommandError(
                5429414, f"Invalid range: Expected the sortBy field to be a number, but it was {v!r}"
            )
        return float(v)

    if unit is not None and unit not in _UNIT_MS:
        raise not_supported(f"a range window with unit '{unit}'")
    here = position(part[i])
    low = -float("inf") if lo == "unbounded" else here if lo == "current" else here + float(lo) * direction
    high = float("inf") if hi == "unbounded" else here if hi == "current" else here + float(hi) * direction
    low, high = min(low, high), max(low, high)
    return [d for d in part if low <= position(d) <= high]


def _pair(bounds: Any) -> tuple[Any, Any]:
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise CommandError(5371603, "Window bounds must be a 2-element array")
    return bounds[0], bounds[1]
