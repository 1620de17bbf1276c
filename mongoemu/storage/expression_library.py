"""More of mongod 6.0's expression operators that mongomock lacks: conversions, string trims
and replacements, trigonometry, `$sortArray`, `$dateAdd`/`$dateSubtract`, timestamps and sizes.
Registered into expressions.OPERATORS when imported (storage/query.py imports it)."""

from __future__ import annotations

import calendar
import datetime
import math
from collections.abc import Callable, Mapping
from typing import Any

import bson
from bson import Binary, Decimal128, Int64, ObjectId, Timestamp

from mongoemu.errors import CommandError
from mongoemu.storage import keystring
from mongoemu.storage.expressions import MISSING, OPERATORS, Evaluator, timezone, unary_operand
from mongoemu.storage.keystring import type_name
from mongoemu.wire import CODEC

Operator = Callable[[Evaluator, Any], Any]


def _one(ev: Evaluator, arg: Any, op: str) -> Any:
    """The single operand of a unary operator (missing and null both give None)."""
    value = unary_operand(ev, arg, op)
    return None if value is MISSING else value


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float | Int64 | Decimal128) and not isinstance(value, bool)


def _to_double(value: Any) -> Any:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if _numeric(value):
        return float(value.to_decimal()) if isinstance(value, Decimal128) else float(value)
    if isinstance(value, datetime.datetime):
        return float(calendar.timegm(value.utctimetuple()) * 1000 + value.microsecond // 1000)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise CommandError(241, f"Failed to parse number '{value}' in $convert") from None
    raise CommandError(
        241, f"Unsupported conversion from {type_name(value)} to double in $convert with no onError value"
    )


def _to_bool(value: Any) -> Any:
    if _numeric(value):
        return float(value.to_decimal() if isinstance(value, Decimal128) else value) != 0
    return bool(value) if isinstance(value, bool) else True


def _to_date(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, ObjectId):
        return value.generation_time.replace(tzinfo=None)
    if isinstance(value, Timestamp):
        return datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=value.time)
    if _numeric(value):
        return datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=int(float(str(value))))
    if isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise CommandError(241, f"Error parsing date string '{value}'") from None
        return parsed if parsed.tzinfo is None else parsed.astimezone(datetime.UTC).replace(tzinfo=None)
    raise CommandError(
        241, f"Unsupported conversion from {type_name(value)} to date in $convert with no onError value"
    )


def _to_object_id(value: Any) -> Any:
    if isinstance(value, ObjectId):
        return value
    if isinstance(value, str) and ObjectId.is_valid(value) and len(value) == 24:
        return ObjectId(value)
    raise CommandError(241, f"Failed to parse objectId '{value}' in $convert with no onError value")


def _unary(op: str, convert: Callable[[Any], Any]) -> Operator:
    def run(ev: Evaluator, arg: Any) -> Any:
        value = _one(ev, arg, op)
        return None if value is None else convert(value)

    return run


def _trig(op: str, fn: Callable[[float], float]) -> Operator:
    def run(ev: Evaluator, arg: Any) -> Any:
        value = _one(ev, arg, op)
        if value is None:
            return None
        if not _numeric(value):
            raise CommandError(28765, f"{op} only supports numeric types, not {type_name(value)}")
        try:
            return fn(_to_double(value))
        except ValueError:
            raise CommandError(50989, f"cannot apply {op} to {value}, value must be in its domain") from None

    return run


def _trim(op: str) -> Operator:
    def run(ev: Evaluator, arg: Any) -> Any:
        if not isinstance(arg, Mapping) or "input" not in arg or set(arg) - {"input", "chars"}:
            raise CommandError(50695, f"{op} requires an object with 'input' and optionally 'chars'")
        value = ev.value(arg["input"])
        chars = ev.value(arg["chars"]) if "chars" in arg else None
        if value is None or value is MISSING or chars is MISSING:
            return None
        if not isinstance(value, str):
            raise CommandError(50699, f"{op} requires its input to be a string, got {value!r}")
        strip = str.lstrip if op == "$ltrim" else str.rstrip
        return strip(value, chars if isinstance(chars, str) else " \t\n\v\f\r\x00\u00a0\u2000\u200a")

    return run


def _replace(op: str) -> Operator:
    def run(ev: Evaluator, arg: Any) -> Any:
        if not isinstance(arg, Mapping) or set(arg) != {"input", "find", "replacement"}:
            raise CommandError(51751, f"{op} requires 'input', 'find' and 'replacement'")
        values = [ev.value(arg[k]) for k in ("input", "find", "replacement")]
        if any(v is None or v is MISSING for v in values):
            return None
        if not all(isinstance(v, str) for v in values):
            raise CommandError(51746, f"{op} requires that 'input', 'find' and 'replacement' be strings")
        source, find, replacement = values
        return source.replace(find, replacement, 1 if op == "$replaceOne" else -1)

    return run


def _sort_array(ev: Evaluator, arg: Any) -> Any:
    if not isinstance(arg, Mapping) or set(arg) != {"input", "sortBy"}:
        raise CommandError(2942500, "$sortArray requires 'input' and 'sortBy'")
    values = ev.value(arg["input"])
    if values is None or values is MISSING:
        return None
    if not isinstance(values, list):
        raise CommandError(
            2942504,
            f"The input argument to $sortArray must be an array, but was of type: {type_name(values)}",
        )
    spec = arg["sortBy"]
    if spec in (1, -1):
        return sorted(values, key=keystring.encode, reverse=spec == -1)
    if not isinstance(spec, Mapping) or not spec or any(d not in (1, -1) for d in spec.values()):
        raise CommandError(2942505, "$sortArray sortBy must be 1, -1 or an object of fields with 1 or -1")
    order = [(p, int(d)) for p, d in spec.items()]
    return sorted(values, key=lambda v: keystring.sort_key(v if isinstance(v, Mapping) else {}, order))


_DATE_UNITS = {"millisecond": 1, "second": 1000, "minute": 60_000, "hour": 3_600_000, "day": 86_400_000,
               "week": 604_800_000}  # fmt: skip


def _date_shift(op: str) -> Operator:
    sign = 1 if op == "$dateAdd" else -1

    def run(ev: Evaluator, arg: Any) -> Any:
        if not isinstance(arg, Mapping) or not {"startDate", "unit", "amount"} <= set(arg):
            raise CommandError(5166402, f"{op} requires 'startDate', 'unit', and 'amount' to be present")
        start, unit, amount = (ev.value(arg[k]) for k in ("startDate", "unit", "amount"))
        zone = ev.value(arg["timezone"]) if "timezone" in arg else None
        if any(v is None or v is MISSING for v in (start, unit, amount)):
            return None
        if not isinstance(start, datetime.datetime):
            raise CommandError(5166403, f"{op} requires startDate to be convertible to a date")
        if not _numeric(amount) or float(str(amount)) != int(float(str(amount))):
            raise CommandError(5166405, f"{op} expects integer amount of time units")
        n = sign * int(float(str(amount)))
        if unit in _DATE_UNITS:
            return start + datetime.timedelta(milliseconds=n * _DATE_UNITS[unit])
        months = {"month": 1, "quarter": 3, "year": 12}.get(unit)
        if months is None:
            raise CommandError(5166404, f"{op} unit '{unit}' is not a valid time unit")
        tz = timezone(zone, op)
        local = start.replace(tzinfo=datetime.UTC).astimezone(tz)
        total = local.year * 12 + local.month - 1 + n * months
        year, month = divmod(total, 12)
        day = min(local.day, calendar.monthrange(year, month + 1)[1])  # clamp to the month's end
        moved = local.replace(year=year, month=month + 1, day=day)
        return moved.astimezone(datetime.UTC).replace(tzinfo=None)

    return run


def _ts_part(op: str) -> Operator:
    def run(ev: Evaluator, arg: Any) -> Any:
        value = _one(ev, arg, op)
        if value is None:
            return None
        if not isinstance(value, Timestamp):
            raise CommandError(5687301, f"Argument to {op} must be a timestamp, but is {type_name(value)}")
        return Int64(value.time if op == "$tsSecond" else value.inc)

    return run


def _bson_size(ev: Evaluator, arg: Any) -> Any:
    value = _one(ev, arg, "$bsonSize")
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise CommandError(31393, f"$bsonSize requires a document input, found: {type_name(value)}")
    return len(bson.encode(value, codec_options=CODEC))


def _binary_size(ev: Evaluator, arg: Any) -> Any:
    value = _one(ev, arg, "$binarySize")
    if value is None:
        return None
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, Binary | bytes):
        return len(value)
    raise CommandError(51276, f"$binarySize requires a string or BinData argument, found: {type_name(value)}")


OPERATORS.update(
    {
        "$toDouble": _unary("$toDouble", _to_double),
        "$toBool": _unary("$toBool", _to_bool),
        "$toDate": _unary("$toDate", _to_date),
        "$toObjectId": _unary("$toObjectId", _to_object_id),
        "$ltrim": _trim("$ltrim"),
        "$rtrim": _trim("$rtrim"),
        "$replaceOne": _replace("$replaceOne"),
        "$replaceAll": _replace("$replaceAll"),
        "$sortArray": _sort_array,
        "$dateAdd": _date_shift("$dateAdd"),
        "$dateSubtract": _date_shift("$dateSubtract"),
        "$tsSecond": _ts_part("$tsSecond"),
        "$tsIncrement": _ts_part("$tsIncrement"),
        "$bsonSize": _bson_size,
        "$binarySize": _binary_size,
        "$degreesToRadians": _trig("$degreesToRadians", math.radians),
        "$radiansToDegrees": _trig("$radiansToDegrees", math.degrees),
        **{
            f"${name}": _trig(f"${name}", getattr(math, name))
            for name in (
                "sin",
                "cos",
                "tan",
                "asin",
                "acos",
                "atan",
                "sinh",
                "cosh",
                "tanh",
                "asinh",
                "acosh",
                "atanh",
            )
        },
    }
)
