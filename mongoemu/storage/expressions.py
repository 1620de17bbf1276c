"""Aggregation expressions: mongomock's evaluator, extended with variables (`let`, `$$NOW`,
`$$CLUSTER_TIME`, `$$REMOVE`) and the operators it lacks (`$round`, `$dateTrunc`, `$type`,
`$getField`, `$setField`, `$unsetField`, `$firstN`, `$lastN`, `$maxN`, `$minN`).

mongomock builds its evaluator by its module-level name everywhere (pipeline stages, `$expr`
in filters, `$map`/`$filter`/`$let`), so the subclass is installed under that name once, here.
The variables of the running command live in a context variable: a query is evaluated lazily
(batch by batch, across getMores), so `scoped()` re-enters the command's variables each time a
result is pulled.
"""

from __future__ import annotations

import contextvars
import datetime
import decimal
import math
import random
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import mongomock.aggregate as mongomock_aggregate
from bson import Decimal128, Int64, Timestamp
from mongomock import OperationFailure, helpers

from mongoemu.errors import CommandError
from mongoemu.storage import keystring
from mongoemu.storage.collation import Collation
from mongoemu.storage.keystring import type_name

Variables = dict[str, Any]
_NONE: Variables = {}
_SCOPE: contextvars.ContextVar[Variables] = contextvars.ContextVar("mongoemu_variables", default=_NONE)
_COLLATION: contextvars.ContextVar[Collation | None] = contextvars.ContextVar(
    "mongoemu_collation", default=None
)
_SYSTEM = ("ROOT", "CURRENT", "REMOVE", "NOW", "CLUSTER_TIME", "DESCEND", "PRUNE", "KEEP", "SEARCH_META")


class _Missing:
    """The value of a path that does not exist (mongod's "missing", distinct from null)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def now_ms() -> datetime.datetime:
    """The current time as BSON stores it (UTC, millisecond precision)."""
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def system_variables(cluster_time: Timestamp | None) -> Variables:
    """`$$NOW` and `$$CLUSTER_TIME`, fixed for the whole command as mongod fixes them."""
    out: Variables = {"NOW": now_ms()}
    if cluster_time is not None:
        out["CLUSTER_TIME"] = cluster_time
    return out


def check_variable_name(name: Any) -> str:
    """mongod's rules for a user variable name (let, $let, $map's as)."""
    if not isinstance(name, str) or not name:
        raise CommandError(16869, "empty variable names are not allowed")
    first = name[0]
    if not (first.islower() or ord(first) > 127):
        raise CommandError(
            16870,
            f"'{name}' starts with an invalid character for a user variable name",
        )
    for c in name[1:]:
        if not (c.isalnum() or c == "_" or ord(c) > 127):
            raise CommandError(
                16871,
                f"'{name}' contains an invalid character for a variable name: '{c}'",
            )
    return name


def let_variables(let: Any, base: Variables, doc: Mapping[str, Any] | None = None) -> Variables:
    """The variables of a `let` (each value an expression evaluated once, against `doc` where
    there is one), over `base`."""
    if let is None:
        return dict(base)
    if not isinstance(let, Mapping):
        raise CommandError(14, f"'let' must be an object, not {type_name(let)}", code_name="TypeMismatch")
    out = dict(base)
    with scope(base):
        for name, expression in let.items():
            value = evaluate(expression, doc or {})
            out[check_variable_name(name)] = None if value is MISSING else value
    return out


@contextmanager
def scope(variables: Variables, collation: Collation | None = None) -> Iterator[None]:
    """Evaluate under these variables and (for comparisons, `$match`, `$sort`, `$group`) this
    collation."""
    token = _SCOPE.set(variables)
    ctoken = _COLLATION.set(collation)
    try:
        yield
    finally:
        _COLLATION.reset(ctoken)
        _SCOPE.reset(token)


def current() -> Variables:
    return _SCOPE.get()


def current_collation() -> Collation | None:
    return _COLLATION.get()


class Scoped(Iterator[Any]):
    """An iterator that evaluates `inner` under `variables` (and a collation) each time a value
    is pulled."""

    def __init__(
        self, inner: Iterator[Any], variables: Variables, collation: Collation | None = None
    ) -> None:
        self._inner = inner
        self._variables = variables
        self._collation = collation

    def __next__(self) -> Any:
        with scope(self._variables, self._collation):
            return next(self._inner)


def evaluate(
    expression: Any, doc: Mapping[str, Any], extra: Variables | None = None, *, ignore_missing: bool = False
) -> Any:
    """The value of an expression for one document; MISSING where mongod yields nothing.
    `ignore_missing`: an object's fields that are missing are left out (as mongod's objects)."""
    try:
        return Evaluator(doc, extra, ignore_missing).parse(expression)
    except KeyError:
        return MISSING
    except OperationFailure as exc:
        raise mongomock_error(exc) from None
    except NotImplementedError as exc:
        raise CommandError(
            115, f"expression not supported by the emulator: {exc}", code_name="CommandNotSupported"
        ) from None


def mongomock_error(exc: OperationFailure, context: str = "") -> CommandError:
    """mongomock's complaint as mongod's error: an unknown operator is InvalidPipelineOperator."""
    message = f"{context}{exc}"
    if exc.code:
        return CommandError(exc.code, message)
    return CommandError(168 if "Unrecognized expression" in str(exc) else 2, message)


class Evaluator(mongomock_aggregate._Parser):
    """mongomock's parser with the command's variables and the operators it lacks."""

    def __init__(
        self, doc_dict: Any, user_vars: Variables | None = None, ignore_missing_keys: bool = False
    ) -> None:
        super().__init__(doc_dict, {**_SCOPE.get(), **(user_vars or {})}, ignore_missing_keys)

    def parse(self, expression: Any) -> Any:
        if isinstance(expression, Mapping) and len(expression) == 1:
            ((op, arg),) = expression.items()
            own = OPERATORS.get(op)
            if own is not None:
                return own(self, arg)
            if op in NOT_SUPPORTED:
                raise CommandError(115, f"the expression operator {op} is not supported by the emulator")
        return super().parse(expression)

    def value(self, expression: Any) -> Any:
        """Evaluate an operand: MISSING instead of a KeyError."""
        try:
            return self.parse(expression)
        except KeyError:
            return MISSING

    def _parse_basic_expression(self, expression: Any) -> Any:
        if isinstance(expression, str) and expression.startswith("$$"):
            name, _, rest = expression[2:].partition(".")
            if name in ("ROOT", "CURRENT"):
                base = self._doc_dict
            elif name in self._user_vars:
                base = self._user_vars[name]
            elif name == "REMOVE":
                raise KeyError(name)
            elif name in _SYSTEM:
                raise CommandError(17276, f"Use of unsupported system variable: $${name}")
            else:
                raise CommandError(17276, f"Use of undefined variable: {name}")
            if not rest:
                return base
            return helpers.get_value_by_dot(base, rest, can_generate_array=True)
        return super()._parse_basic_expression(expression)


def _order_key(value: Any) -> bytes:
    """BSON order with "missing" below every value, as mongod's Value comparison."""
    if value is MISSING:
        return b"\x00"
    collation = _COLLATION.get()
    return keystring.encode(value if collation is None else collation.value(value))


def _comparison(op: str) -> Callable[[Evaluator, Any], Any]:
    def run(ev: Evaluator, arg: Any) -> Any:
        if not isinstance(arg, list) or len(arg) != 2:
            n = len(arg) if isinstance(arg, list) else 1
            raise CommandError(16020, f"Expression {op} takes exactly 2 arguments. {n} were passed in.")
        a, b = (_order_key(ev.value(x)) for x in arg)
        if op == "$cmp":
            return (a > b) - (a < b)
        return {"$eq": a == b, "$ne": a != b, "$gt": a > b, "$gte": a >= b, "$lt": a < b, "$lte": a <= b}[op]

    return run


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float | Int64 | Decimal128) and not isinstance(value, bool)


def _round(ev: Evaluator, arg: Any) -> Any:
    args = arg if isinstance(arg, list) else [arg]
    if not 1 <= len(args) <= 2:
        raise CommandError(
            28667,
            f"Expression $round takes at least 1 argument, and at most 2, but {len(args)} were passed in.",
        )
    value = ev.value(args[0])
    place = ev.value(args[1]) if len(args) == 2 else 0
    if value is MISSING or value is None or place is MISSING or place is None:
        return None
    if not _numeric(value):
        raise CommandError(51081, f"$round only supports numeric types, not {type_name(value)}")
    if not _numeric(place) or float(place) != int(place) or not -20 <= int(place) < 100:
        raise CommandError(
            51083, f"cannot apply $round with precision value {place} value must be in [-20, 100)"
        )
    place = int(place)
    if isinstance(value, Decimal128):
        quantum = decimal.Decimal(1).scaleb(-place)
        return Decimal128(value.to_decimal().quantize(quantum, decimal.ROUND_HALF_EVEN))
    if isinstance(value, float):
        if not math.isfinite(value):
            return value
        # mongod rounds a double through a 15-digit decimal, ties to even.
        exact = decimal.Decimal(f"{value:.15g}")
        return float(_quantize(exact, place))
    if place >= 0:
        return value
    rounded = int(_quantize(decimal.Decimal(int(value)), place))
    return Int64(rounded) if isinstance(value, Int64) else rounded


def _quantize(value: decimal.Decimal, place: int) -> decimal.Decimal:
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        return value.quantize(decimal.Decimal(1).scaleb(-place), decimal.ROUND_HALF_EVEN)


def unary_operand(ev: Evaluator, arg: Any, op: str) -> Any:
    """The value of a one-argument operator's operand (`x` or `[x]`), MISSING kept."""
    if isinstance(arg, list):
        if len(arg) != 1:
            raise CommandError(
                16020, f"Expression {op} takes exactly 1 arguments. {len(arg)} were passed in."
            )
        arg = arg[0]
    return ev.value(arg)


def _type(ev: Evaluator, arg: Any) -> str:
    value = unary_operand(ev, arg, "$type")
    return "missing" if value is MISSING else type_name(value)


# --- dates --------------------------------------------------------------------------------
_UNITS = ("year", "quarter", "month", "week", "day", "hour", "minute", "second", "millisecond")
_FIXED_UNITS_MS = {"millisecond": 1, "second": 1000, "minute": 60_000, "hour": 3_600_000, "day": 86_400_000}
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})?$")
_REFERENCE = datetime.datetime(2000, 1, 1)  # mongod's bin reference point: 2000-01-01, a Saturday


def timezone(name: Any, op: str) -> datetime.tzinfo:
    """An Olson name or a UTC offset ("+05:30", "-0800"), as mongod's date expressions take."""
    if name is None or name in ("UTC", "GMT", "Z"):
        return datetime.UTC
    if not isinstance(name, str):
        raise CommandError(40517, f"{op}: timezone must evaluate to a string, found {type_name(name)}")
    m = _OFFSET.match(name)
    if m:
        sign = 1 if m.group(1) == "+" else -1
        delta = datetime.timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0))
        return datetime.timezone(sign * delta)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CommandError(40485, f'{op}: unrecognized time zone identifier: "{name}"') from None


def _as_date(value: Any, op: str, what: str = "date") -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo is None else value.astimezone(datetime.UTC).replace(tzinfo=None)
    if isinstance(value, Timestamp):
        return datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=value.time)
    raise CommandError(5439012, f"{op} requires '{what}' to be a date, but got {type_name(value)}")


def _date_trunc(ev: Evaluator, arg: Any) -> Any:
    op = "$dateTrunc"
    if not isinstance(arg, Mapping):
        raise CommandError(5439007, f"{op} only supports an object as its argument")
    unknown = set(arg) - {"date", "unit", "binSize", "timezone", "startOfWeek"}
    if unknown:
        raise CommandError(5439008, f"Unrecognized argument to {op}: {sorted(unknown)[0]}")
    for required in ("date", "unit"):
        if required not in arg:
            raise CommandError(
                5439009 if required == "date" else 5439010, f"Missing '{required}' parameter to {op}"
            )
    values = {k: ev.value(v) for k, v in arg.items()}
    if any(v is None or v is MISSING for v in values.values()):
        return None
    unit = values["unit"]
    if unit not in _UNITS:
        raise CommandError(
            5439014, f"{op} parameter 'unit' value cannot be recognized as a time unit: {unit}"
        )
    bin_size = values.get("binSize", 1)
    if not _numeric(bin_size) or float(bin_size) != int(bin_size) or int(bin_size) <= 0:
        raise CommandError(
            5439017, f"{op} requires 'binSize' to be a positive 64-bit integer, but got {bin_size}"
        )
    bin_size = int(bin_size)
    tz = timezone(values.get("timezone"), op)
    start_of_week = values.get("startOfWeek", "sunday")
    week_day = start_of_week.lower()[:3] if isinstance(start_of_week, str) else None
    if unit == "week" and week_day not in [d[:3] for d in _DAYS]:
        raise CommandError(
            5439016,
            f"{op} parameter 'startOfWeek' value cannot be recognized as a day of a week: {start_of_week}",
        )
    date = _as_date(values["date"], op)
    local = date.replace(tzinfo=datetime.UTC).astimezone(tz).replace(tzinfo=None)
    if unit in _FIXED_UNITS_MS:
        # Bins count from the reference point in the time zone's local time, as mongod's do.
        span = _FIXED_UNITS_MS[unit] * bin_size
        elapsed = (local - _REFERENCE) // datetime.timedelta(milliseconds=1)
        return _to_utc(_REFERENCE + datetime.timedelta(milliseconds=elapsed - elapsed % span), tz)
    if unit == "week":
        first = next(i for i, d in enumerate(_DAYS) if d.startswith(start_of_week.lower()[:3]))
        # The reference week starts on the first `startOfWeek` on or after 2000-01-01.
        ref = _REFERENCE + datetime.timedelta(days=(first - _REFERENCE.weekday()) % 7)
        days = (local.date() - ref.date()).days
        start = ref + datetime.timedelta(days=days - days % (7 * bin_size))
        return _to_utc(start, tz)
    months = {"month": 1, "quarter": 3, "year": 12}[unit] * bin_size
    elapsed = (local.year - 2000) * 12 + local.month - 1
    n = elapsed - elapsed % months
    return _to_utc(datetime.datetime(2000 + n // 12, n % 12 + 1, 1), tz)


def _to_utc(local: datetime.datetime, tz: datetime.tzinfo) -> datetime.datetime:
    return local.replace(tzinfo=tz).astimezone(datetime.UTC).replace(tzinfo=None)


# --- fields -------------------------------------------------------------------------------
def _field_args(ev: Evaluator, arg: Any, op: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(arg, Mapping):
        if op == "$getField":
            arg = {"field": arg}
        else:
            raise CommandError(4161100, f"{op} only supports an object as its argument")
    unknown = set(arg) - allowed
    if unknown:
        raise CommandError(4161101, f"{op} found an unknown argument: {sorted(unknown)[0]}")
    if "field" not in arg:
        raise CommandError(4161102, f"{op} requires 'field' to be specified")
    field = arg["field"]
    if isinstance(field, Mapping) and set(field) == {"$literal"}:
        field = field["$literal"]
    if not isinstance(field, str):
        raise CommandError(
            4161106, f"{op} requires 'field' to evaluate to type String, but got {type_name(field)}"
        )
    if field.startswith("$") and not isinstance(arg["field"], Mapping):
        raise CommandError(
            4161107, f"{op}: 'field' must be a constant string; use $literal for a field starting with '$'"
        )
    return {"field": field, **{k: v for k, v in arg.items() if k != "field"}}


def _get_field(ev: Evaluator, arg: Any) -> Any:
    args = _field_args(ev, arg, "$getField", {"field", "input"})
    source = ev.value(args.get("input", "$$CURRENT"))
    if source is None or source is MISSING:
        return None if source is None else MISSING
    if not isinstance(source, Mapping):
        raise CommandError(
            3041705, f"$getField requires 'input' to evaluate to type Object, but got {type_name(source)}"
        )
    if args["field"] not in source:
        raise KeyError(args["field"])
    return source[args["field"]]


def _set_field(ev: Evaluator, arg: Any, op: str = "$setField") -> Any:
    args = _field_args(ev, arg, op, {"field", "input", "value"} if op == "$setField" else {"field", "input"})
    for required in ("input", "value") if op == "$setField" else ("input",):
        if required not in args:
            raise CommandError(4161103, f"{op} requires '{required}' to be specified")
    source = ev.value(args["input"])
    if source is None or source is MISSING:
        return None
    if not isinstance(source, Mapping):
        raise CommandError(
            4161105, f"{op} requires 'input' to evaluate to type Object, but got {type_name(source)}"
        )
    out = dict(source)
    value = ev.value(args["value"]) if op == "$setField" else MISSING
    if value is MISSING:
        out.pop(args["field"], None)
    else:
        out[args["field"]] = value
    return out


# --- n-element array operators ------------------------------------------------------------
def n_argument(value: Any, op: str) -> int:
    if not _numeric(value) or float(value) != int(value):
        raise CommandError(5787902, f"Value for 'n' must be of integral type, but found {value!r}")
    if int(value) <= 0:
        raise CommandError(5787908, f"'n' must be greater than 0, found {value}")
    return int(value)


def _array_n(op: str) -> Callable[[Evaluator, Any], Any]:
    def run(ev: Evaluator, arg: Any) -> Any:
        if not isinstance(arg, Mapping) or set(arg) != {"n", "input"}:
            raise CommandError(5787900, f"{op} requires exactly 'n' and 'input'")
        n = n_argument(ev.value(arg["n"]), op)
        values = ev.value(arg["input"])
        if values is None or values is MISSING:
            return None
        if not isinstance(values, list):
            raise CommandError(5788200, f"Input to {op} must be an array, got {type_name(values)}")
        if op == "$firstN":
            return values[:n]
        if op == "$lastN":
            return values[-n:]
        present = [v for v in values if v is not None]
        ordered = sorted(present, key=keystring.encode, reverse=op == "$maxN")
        return ordered[:n]

    return run


def _rand(ev: Evaluator, arg: Any) -> float:
    if arg != {}:
        raise CommandError(3040500, "$rand not allowed to have arguments")
    return random.random()


# Operators the emulator adds to mongomock's; expression_library.py registers more.
OPERATORS: dict[str, Callable[[Evaluator, Any], Any]] = {
    "$rand": _rand,
    **{op: _comparison(op) for op in ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$cmp")},
    "$round": _round,
    "$type": _type,
    "$dateTrunc": _date_trunc,
    "$getField": _get_field,
    "$setField": _set_field,
    "$unsetField": lambda ev, arg: _set_field(ev, arg, "$unsetField"),
    "$firstN": _array_n("$firstN"),
    "$lastN": _array_n("$lastN"),
    "$maxN": _array_n("$maxN"),
    "$minN": _array_n("$minN"),
}

# mongod 6.0 operators neither mongomock nor the emulator has: refused as such (115), not
# mistaken for unknown names (168).
NOT_SUPPORTED = frozenset(
    {"$dateDiff", "$dateToParts", "$regexFind", "$regexFindAll", "$function", "$sampleRate",
     "$accumulator", "$atan2"}
)  # fmt: skip

mongomock_aggregate._Parser = Evaluator
