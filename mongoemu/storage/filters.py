"""Query operators that mongomock's matcher lacks or gets wrong, installed into it.

`$type`: mongomock knows neither the numeric codes, nor arrays of types, nor `null`, `regex`,
`timestamp`, `minKey`/`maxKey`, and counts an Int64 that fits 32 bits as "int".
"""

from __future__ import annotations

from typing import Any

import mongomock.filtering as mongomock_filtering
from bson import Int64

from mongoemu.errors import CommandError
from mongoemu.storage.keystring import type_name

# mongod's $type codes and aliases (type_name's names, which are mongod's).
TYPE_CODES = {
    1: "double", 2: "string", 3: "object", 4: "array", 5: "binData", 6: "undefined", 7: "objectId",
    8: "bool", 9: "date", 10: "null", 11: "regex", 12: "dbPointer", 13: "javascript", 14: "symbol",
    15: "javascriptWithScope", 16: "int", 17: "timestamp", 18: "long", 19: "decimal", -1: "minKey",
    127: "maxKey",
}  # fmt: skip
_ALIASES = frozenset(TYPE_CODES.values()) | {"number"}
_NUMBERS = frozenset({"double", "int", "long", "decimal"})


def parse_types(spec: Any) -> frozenset[str]:
    """The type names a `$type` argument names, with mongod's errors."""
    items = spec if isinstance(spec, list) else [spec]
    if not items:
        raise CommandError(2, "$type must match at least one type")
    names = set()
    for item in items:
        if isinstance(item, str):
            if item not in _ALIASES:
                raise CommandError(2, f"Unknown type name alias: {item}")
            names.add(item)
        elif isinstance(item, int | float | Int64) and not isinstance(item, bool):
            if float(item) != int(item) or int(item) not in TYPE_CODES:
                raise CommandError(2, f"Invalid numerical type code: {item}")
            names.add(TYPE_CODES[int(item)])
        else:
            raise CommandError(14, "type must be represented as a number or a string")
    if "number" in names:
        names |= _NUMBERS
    return frozenset(names)


def _value_type(value: Any) -> str:
    name = type_name(value)
    return "decimal" if name == "number" else name  # Decimal128 encodes among the numbers


def type_matches(value: Any, spec: Any) -> bool:
    names = parse_types(spec)
    if value is mongomock_filtering.NOTHING:
        return False
    if isinstance(value, list):
        return "array" in names or any(_value_type(v) in names for v in value)
    return _value_type(value) in names


def _type_op(doc_val: Any, search_val: Any) -> bool:
    return type_matches(doc_val, search_val)


mongomock_filtering._filterer_inst._operator_map["$type"] = _type_op
