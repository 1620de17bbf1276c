"""Accumulators over a list of documents: `$group`, `$bucket`, `$bucketAuto` and the windows of
`$setWindowFields` all use them.

Written by hand: mongomock's `$group` lacks `$count`, `$top`/`$bottom`, the N-accumulators and
BSON order for `$min`/`$max` and group keys, and turns a 0 pushed by `$addToSet` into null.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bson import Decimal128, Int64

from mongoemu.errors import CommandError
from mongoemu.storage import expressions, keystring
from mongoemu.storage.expressions import MISSING, evaluate, n_argument

Docs = Sequence[Mapping[str, Any]]
_INT32 = 2**31
_INT64 = 2**63


def order_key(value: Any) -> bytes:
    """BSON order (under the command's collation, if any)."""
    collation = expressions.current_collation()
    return keystring.encode(value if collation is None else collation.value(value))


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float | Int64 | Decimal128) and not isinstance(value, bool)


def _values(arg: Any, docs: Docs) -> list[Any]:
    return [evaluate(arg, d) for d in docs]


def total(values: Sequence[Any]) -> Any:
    """mongod's $sum: numbers only, the narrowest type that holds the result."""
    numbers = [v for v in values if _numeric(v)]
    if any(isinstance(v, Decimal128) for v in numbers):
        return Decimal128(sum((_decimal(v) for v in numbers), decimal.Decimal(0)))
    if any(isinstance(v, float) for v in numbers):
        return math.fsum(float(v) for v in numbers)
    n = sum(int(v) for v in numbers)
    if abs(n) >= _INT64:
        return float(n)
    if any(isinstance(v, Int64) for v in numbers) or abs(n) >= _INT32:
        return Int64(n)
    return n


def _decimal(v: Any) -> decimal.Decimal:
    return (
        v.to_decimal()
        if isinstance(v, Decimal128)
        else decimal.Decimal(repr(v) if isinstance(v, float) else v)
    )


def _avg(values: Sequence[Any]) -> Any:
    numbers = [v for v in values if _numeric(v)]
    if not numbers:
        return None
    if any(isinstance(v, Decimal128) for v in numbers):
        return Decimal128(sum((_decimal(v) for v in numbers), decimal.Decimal(0)) / len(numbers))
    return math.fsum(float(v) for v in numbers) / len(numbers)


def _std_dev(values: Sequence[Any], sample: bool) -> Any:
    numbers = [
        float(v.to_decimal()) if isinstance(v, Decimal128) else float(v) for v in values if _numeric(v)
    ]
    n = len(numbers)
    if n == 0 or (sample and n < 2):
        return None
    mean = math.fsum(numbers) / n
    return math.sqrt(math.fsum((x - mean) ** 2 for x in numbers) / (n - 1 if sample else n))


def _extreme(values: Sequence[Any], highest: bool) -> Any:
    present = [v for v in values if v is not MISSING and v is not None]
    if not present:
        return None
    return (max if highest else min)(present, key=order_key)


def _add_to_set(values: Sequence[Any]) -> list[Any]:
    seen: dict[bytes, Any] = {}
    for v in values:
        if v is not MISSING:
            seen.setdefault(order_key(v), v)
    return list(seen.values())


def _merge_objects(values: Sequence[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for v in values:
        if v is MISSING or v is None:
            continue
        if not isinstance(v, Mapping):
            raise CommandError(
                40400, f"$mergeObjects requires object inputs, but input {v!r} is of type {type(v).__name__}"
            )
        out.update(v)
    return out


def _null(value: Any) -> Any:
    return None if value is MISSING else value


def _n_spec(op: str, arg: Any, fields: set[str]) -> dict[str, Any]:
    if not isinstance(arg, Mapping):
        raise CommandError(5787801, f"specification for {op} must be an object")
    missing = fields - set(arg)
    if missing:
        raise CommandError(5787906, f"{op} requires '{sorted(missing)[0]}' to be specified")
    unknown = set(arg) - fields
    if unknown:
        raise CommandError(5787901, f"Unknown argument for {op}: {sorted(unknown)[0]}")
    return dict(arg)


def _sorted_by(op: str, spec: Any, docs: Docs) -> list[Mapping[str, Any]]:
    if not isinstance(spec, Mapping) or not spec or any(d not in (1, -1) for d in spec.values()):
        raise CommandError(5788604, f"{op} requires 'sortBy' to be an object of fields with 1 or -1")
    order = [(path, int(d)) for path, d in spec.items()]
    collation = expressions.current_collation()
    return sorted(
        docs, key=lambda d: keystring.sort_key(d if collation is None else collation.value(d), order)
    )


def _top_bottom(op: str) -> Callable[[Any, Docs], Any]:
    single = op in ("$top", "$bottom")

    def run(arg: Any, docs: Docs) -> Any:
        spec = _n_spec(op, arg, {"sortBy", "output"} if single else {"sortBy", "output", "n"})
        ordered = _sorted_by(op, spec["sortBy"], docs)
        if op.startswith("$bottom"):
            ordered = ordered[::-1]
        if single:
            return _null(evaluate(spec["output"], ordered[0])) if ordered else None
        n = n_argument(evaluate(spec["n"], {}), op)
        chosen = ordered[:n]
        if op == "$bottomN":
            chosen = chosen[::-1]
        return [_null(evaluate(spec["output"], d)) for d in chosen]

    return run


def _first_last_n(op: str) -> Callable[[Any, Docs], Any]:
    def run(arg: Any, docs: Docs) -> Any:
        spec = _n_spec(op, arg, {"input", "n"})
        n = n_argument(evaluate(spec["n"], {}), op)
        values = [_null(v) for v in _values(spec["input"], docs)]
        if op == "$firstN":
            return values[:n]
        if op == "$lastN":
            return values[-n:] if values else []
        present = [v for v in values if v is not None]
        return sorted(present, key=order_key, reverse=op == "$maxN")[:n]

    return run


def _count(arg: Any, docs: Docs) -> int:
    if arg != {}:
        raise CommandError(40414, "$count takes no arguments, i.e. $count:{}")
    return len(docs)


ACCUMULATORS: dict[str, Callable[[Any, Docs], Any]] = {
    "$sum": lambda arg, docs: total(_values(arg, docs)),
    "$avg": lambda arg, docs: _avg(_values(arg, docs)),
    "$min": lambda arg, docs: _extreme(_values(arg, docs), highest=False),
    "$max": lambda arg, docs: _extreme(_values(arg, docs), highest=True),
    "$first": lambda arg, docs: _null(evaluate(arg, docs[0])) if docs else None,
    "$last": lambda arg, docs: _null(evaluate(arg, docs[-1])) if docs else None,
    "$push": lambda arg, docs: [v for v in _values(arg, docs) if v is not MISSING],
    "$addToSet": lambda arg, docs: _add_to_set(_values(arg, docs)),
    "$mergeObjects": lambda arg, docs: _merge_objects(_values(arg, docs)),
    "$stdDevPop": lambda arg, docs: _std_dev(_values(arg, docs), sample=False),
    "$stdDevSamp": lambda arg, docs: _std_dev(_values(arg, docs), sample=True),
    "$count": _count,
    **{op: _top_bottom(op) for op in ("$top", "$bottom", "$topN", "$bottomN")},
    **{op: _first_last_n(op) for op in ("$firstN", "$lastN", "$maxN", "$minN")},
}
# mongod 6.0 accumulators the emulator does not have: refused, not mistaken for unknown ones.
_NOT_SUPPORTED = frozenset({"$accumulator"})


def parse_output(stage: str, output: Any) -> dict[str, tuple[str, Any]]:
    """{field: {$op: arg}} -> {field: (op, arg)}, with mongod's errors."""
    if not isinstance(output, Mapping):
        raise CommandError(40196, f"The '{stage}' output specification must be an object")
    out: dict[str, tuple[str, Any]] = {}
    for field, spec in output.items():
        if not isinstance(spec, Mapping) or len(spec) != 1:
            raise CommandError(40238, f"The field '{field}' must specify one accumulator")
        ((op, arg),) = spec.items()
        if op in _NOT_SUPPORTED:
            raise CommandError(115, f"the {op} accumulator is not supported by the emulator")
        if op not in ACCUMULATORS:
            raise CommandError(15952, f"unknown group operator '{op}'")
        out[field] = (op, arg)
    return out


def accumulate(op: str, arg: Any, docs: Docs) -> Any:
    return ACCUMULATORS[op](arg, docs)
