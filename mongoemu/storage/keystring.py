"""Order-preserving byte encodings of BSON values ("key strings", as WiredTiger's KeyString).

`encode(value)` returns bytes whose plain byte order equals MongoDB's BSON comparison order
(MinKey < null < numbers < strings < objects < arrays < binData < ObjectId < bool < date <
timestamp < regex < MaxKey; numbers compare by value across int/long/double). Every encoding is
self-delimiting, so a compound index key is the concatenation of its components, a descending
component is its bitwise inverse, and an equality prefix is a byte prefix. Indexes, the `_id`
lookup table and in-memory sorts all use it, so they agree on one order.

Written by hand because no library exposes mongod's KeyString format to Python.
Approximations: Decimal128 compares through its nearest double; strings compare by UTF-8 bytes
(simple binary collation, as mongod without a collation).
"""

from __future__ import annotations

import datetime
import math
import re
import struct
from collections.abc import Iterator, Mapping
from typing import Any

from bson import Binary, Code, DBRef, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.datetime_ms import DatetimeMS

T_EMPTY_ARRAY = 0x08  # sort keys only: an empty array sorts before null, as in mongod
T_MINKEY = 0x0A
T_NULL = 0x14
T_NUMBER = 0x1E
T_STRING = 0x28
T_OBJECT = 0x32
T_ARRAY = 0x3C
T_BINDATA = 0x46
T_OBJECTID = 0x50
T_BOOL = 0x5A
T_DATE = 0x64
T_TIMESTAMP = 0x6E
T_REGEX = 0x78
T_CODE = 0x82
T_MAXKEY = 0xF0

_END = b"\x00"
_TERMINATOR = b"\x00\x00"
_DOUBLE = struct.Struct(">d")
_U64 = struct.Struct(">Q")
_TS = struct.Struct(">II")
_SIGN = 1 << 63
_INVERT = bytes(255 - i for i in range(256))
_EPOCH = datetime.datetime(1970, 1, 1)
_EPOCH_AWARE = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)

NULL_KEY = bytes((T_NULL,))
MIN_KEY = bytes((T_MINKEY,))
MAX_KEY = bytes((T_MAXKEY,))


def invert(key: bytes) -> bytes:
    """The descending form of an encoded component."""
    return key.translate(_INVERT)


def _escape(raw: bytes) -> bytes:
    # 0x00 0x00 terminates and an embedded 0x00 becomes 0x00 0xFF, so the terminator never
    # occurs inside and no encoding is a prefix of another ("" vs "\0" included).
    if b"\x00" in raw:
        raw = raw.replace(b"\x00", b"\x00\xff")
    return raw + _TERMINATOR


def _sortable_u64(n: int) -> bytes:
    return _U64.pack((n + _SIGN) & 0xFFFFFFFFFFFFFFFF)


def _number(value: float | int) -> bytes:
    if isinstance(value, float):
        if math.isnan(value):
            return bytes((T_NUMBER,)) + b"\x00" * 16  # NaN sorts below every other number
        as_float, offset = value + 0.0, 0  # + 0.0 folds -0.0 into 0.0
    else:
        as_float = float(value)
        # Integers beyond 2**53 keep their exact value in the offset from the nearest double.
        offset = value - int(as_float) if abs(value) > 1 << 53 else 0
    (bits,) = _U64.unpack(_DOUBLE.pack(as_float))
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits & _SIGN else bits | _SIGN
    return bytes((T_NUMBER,)) + _U64.pack(bits) + _sortable_u64(offset)


def _date_ms(value: datetime.datetime) -> int:
    delta = value - (_EPOCH if value.tzinfo is None else _EPOCH_AWARE)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def encode(value: Any) -> bytes:
    """The key string of one BSON value (ascending)."""
    t = type(value)
    if t is ObjectId:
        return b"\x50" + value.binary
    if t is str:
        return b"\x28" + _escape(value.encode("utf-8", "surrogatepass"))
    if t is bool:
        return b"\x5a\x01" if value else b"\x5a\x00"
    if t is int or t is Int64 or t is float:
        return _number(value)
    if value is None:
        return NULL_KEY
    if isinstance(value, datetime.datetime):
        return bytes((T_DATE,)) + _sortable_u64(_date_ms(value))
    if isinstance(value, DatetimeMS):
        return bytes((T_DATE,)) + _sortable_u64(int(value))
    if isinstance(value, Mapping):
        return _object(value)
    if isinstance(value, list | tuple):
        return b"\x3c" + b"".join(encode(v) for v in value) + _END
    if isinstance(value, Binary):
        return bytes((T_BINDATA,)) + struct.pack(">IB", len(value), value.subtype) + bytes(value)
    if isinstance(value, bytes):
        return bytes((T_BINDATA,)) + struct.pack(">IB", len(value), 0) + value
    if isinstance(value, Decimal128):
        return _number(float(value.to_decimal()))
    if isinstance(value, Timestamp):
        return bytes((T_TIMESTAMP,)) + _TS.pack(value.time, value.inc)
    if isinstance(value, Regex | re.Pattern):
        pattern = value.pattern if isinstance(value.pattern, str) else value.pattern.decode()
        flags = value.flags
        return bytes((T_REGEX,)) + _escape(pattern.encode()) + _escape(str(flags).encode())
    if isinstance(value, MinKey):
        return MIN_KEY
    if isinstance(value, MaxKey):
        return MAX_KEY
    if isinstance(value, Code | DBRef):
        return bytes((T_CODE,)) + _escape(repr(value).encode())
    return bytes((T_CODE,)) + _escape(repr(value).encode())


def _object(value: Mapping[str, Any]) -> bytes:
    parts = [b"\x32"]
    for k, v in value.items():
        enc = encode(v)
        parts.append(enc[:1])
        parts.append(_escape(k.encode()))
        parts.append(enc[1:])
    parts.append(_END)
    return b"".join(parts)


_TYPE_NAMES = {
    T_MINKEY: "minKey", T_NULL: "null", T_NUMBER: "number", T_STRING: "string", T_OBJECT: "object",
    T_ARRAY: "array", T_BINDATA: "binData", T_OBJECTID: "objectId", T_BOOL: "bool", T_DATE: "date",
    T_TIMESTAMP: "timestamp", T_REGEX: "regex", T_MAXKEY: "maxKey",
}  # fmt: skip


def type_name(value: Any) -> str:
    """mongod's name of a value's BSON type, as error messages show it."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, float):
        return "double"
    if isinstance(value, Int64):
        return "long"
    if isinstance(value, int):
        return "int"
    return _TYPE_NAMES.get(encode(value)[0], type(value).__name__)


def type_bounds(value: Any) -> tuple[bytes, bytes]:
    """The key range [low, high) holding every value of `value`'s canonical type (mongod's
    type bracketing: `$gt: 5` only matches numbers)."""
    t = encode(value)[0]
    return bytes((t,)), bytes((t + 1,))


def successor(prefix: bytes) -> bytes:
    """The smallest byte string greater than every string that starts with `prefix`."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\xff" * (len(prefix) + 1)
    return stripped[:-1] + bytes((stripped[-1] + 1,))


def path_values(doc: Any, path: str) -> list[Any]:
    """Every value at a dotted path, descending through arrays as mongod's key generation does.
    A missing path yields no values."""
    return list(_walk(doc, path.split(".")))


def _walk(value: Any, parts: list[str]) -> Iterator[Any]:
    if not parts:
        yield value
        return
    head, rest = parts[0], parts[1:]
    if isinstance(value, Mapping):
        if head in value:
            child = value[head]
            if not rest and isinstance(child, list):
                yield child
            else:
                yield from _walk(child, rest)
    elif isinstance(value, list):
        if head.isdigit() and int(head) < len(value):
            yield from _walk(value[int(head)], rest)
        for item in value:
            if isinstance(item, Mapping):
                yield from _walk(item, parts)


def sort_key(doc: Mapping[str, Any], spec: list[tuple[str, int]]) -> bytes:
    """A byte string that orders documents as `sort(spec)` does: an array field sorts by its
    smallest element ascending and its largest descending; missing sorts as null."""
    parts = []
    for path, direction in spec:
        values = path_values(doc, path)
        flat: list[bytes] = []
        for v in values:
            if isinstance(v, list):
                flat.extend(encode(x) for x in v) if v else flat.append(bytes((T_EMPTY_ARRAY,)))
            else:
                flat.append(encode(v))
        key = (min(flat) if direction > 0 else max(flat)) if flat else NULL_KEY
        parts.append(key if direction > 0 else invert(key))
    return b"".join(parts)
