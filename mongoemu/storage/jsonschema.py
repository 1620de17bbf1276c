"""MongoDB's `$jsonSchema` (JSON Schema draft 4 plus `bsonType`, without `$ref`, `format`,
`default`, `definitions`, `id`), checked against decoded BSON documents.

Written by hand: the `jsonschema` package knows neither BSON types nor mongod's parse errors and
failure explanations (`schemaRulesNotSatisfied`). A schema is checked when a validator is set
(mongod's codes: 9 FailedToParse for an unknown or unsupported keyword, 14 TypeMismatch for a
keyword of the wrong type) and each failing rule is explained as mongod's `errInfo.details` do:
`operatorName`, `specifiedAs`, `reason` and, for properties, the nested details.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bson import Code, Decimal128, Int64
from bson.dbref import DBRef

from mongoemu.errors import CommandError
from mongoemu.storage.keystring import type_name

_ALIASES = {
    "double", "string", "object", "array", "binData", "undefined", "objectId", "bool", "date",
    "null", "regex", "dbPointer", "javascript", "symbol", "javascriptWithScope", "int",
    "timestamp", "long", "decimal", "minKey", "maxKey", "number",
}  # fmt: skip
_JSON_TYPES = {"object", "array", "number", "boolean", "string", "null"}
_KEYWORDS = {
    "bsonType", "type", "enum", "required", "properties", "additionalProperties",
    "patternProperties", "minProperties", "maxProperties", "dependencies", "items",
    "additionalItems", "minItems", "maxItems", "uniqueItems", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "pattern",
    "allOf", "anyOf", "oneOf", "not", "title", "description",
}  # fmt: skip
_UNSUPPORTED = {"$ref", "$schema", "default", "definitions", "format", "id", "encrypt", "encryptMetadata"}


def bson_type(value: Any) -> str:
    """The BSON type alias of a decoded value (keystring's names, plus the distinctions among
    numbers and code that index keys do not make)."""
    if isinstance(value, int) and not isinstance(value, bool | Int64) and not -(2**31) <= value < 2**31:
        return "long"
    if isinstance(value, Decimal128):
        return "decimal"
    if isinstance(value, Code):
        return "javascriptWithScope" if value.scope is not None else "javascript"
    if isinstance(value, DBRef | Mapping):
        return "object"
    try:
        return type_name(value)
    except (TypeError, ValueError):
        return "object"


def _json_type(value: Any) -> str | None:
    t = bson_type(value)
    if t in ("int", "long", "double", "decimal"):
        return "number"
    return {"bool": "boolean", "string": "string", "object": "object", "array": "array", "null": "null"}.get(
        t
    )


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or bson_type(value) not in ("int", "long", "double", "decimal"):
        return None
    return value.to_decimal() if isinstance(value, Decimal128) else Decimal(str(value))


def _fail(message: str, code: int = 9) -> CommandError:
    return CommandError(code, message)


def parse(schema: Any, path: str = "$jsonSchema") -> None:
    """Refuse a schema mongod would refuse when the validator is set."""
    if not isinstance(schema, Mapping):
        raise _fail(f"{path} must be an object", 14)
    for key, value in schema.items():
        if key in _UNSUPPORTED:
            raise _fail(f"$jsonSchema keyword '{key}' is not currently supported")
        if key not in _KEYWORDS:
            raise _fail(f"Unknown $jsonSchema keyword: {key}")
        _parse_keyword(key, value, path)


def _types(key: str, value: Any, allowed: set[str]) -> list[str]:
    names = value if isinstance(value, list) else [value]
    if not names or not all(isinstance(n, str) for n in names):
        raise _fail(f"$jsonSchema keyword '{key}' must be a string or an array of strings", 14)
    for n in names:
        if n not in allowed:
            if key == "type" and n == "integer":
                raise _fail("$jsonSchema type 'integer' is not currently supported.")
            raise _fail(f"Unknown type name alias: {n}", 2)
    return names


def _parse_keyword(key: str, value: Any, path: str) -> None:
    here = f"{path}.{key}"
    if key == "bsonType":
        _types(key, value, _ALIASES)
    elif key == "type":
        _types(key, value, _JSON_TYPES)
    elif key in ("properties", "patternProperties"):
        if not isinstance(value, Mapping):
            raise _fail(f"$jsonSchema keyword '{key}' must be an object", 14)
        for name, sub in value.items():
            if key == "patternProperties":
                _regex(name)
            parse(sub, f"{here}.{name}")
    elif key in ("additionalProperties", "additionalItems"):
        if not isinstance(value, bool):
            parse(value, here)
    elif key in ("allOf", "anyOf", "oneOf"):
        if not isinstance(value, list) or not value:
            raise _fail(f"$jsonSchema keyword '{key}' must be a nonempty array", 14)
        for i, sub in enumerate(value):
            parse(sub, f"{here}.{i}")
    elif key == "not":
        parse(value, here)
    elif key == "items":
        for i, sub in enumerate(value if isinstance(value, list) else [value]):
            parse(sub, f"{here}.{i}")
    elif key == "required":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise _fail("$jsonSchema keyword 'required' must be a nonempty array of strings", 14)
    elif key == "enum":
        if not isinstance(value, list) or not value:
            raise _fail("$jsonSchema keyword 'enum' must be a nonempty array", 14)
    elif key == "dependencies":
        if not isinstance(value, Mapping):
            raise _fail("$jsonSchema keyword 'dependencies' must be an object", 14)
        for name, dep in value.items():
            if not isinstance(dep, list):
                parse(dep, f"{here}.{name}")
    elif key in ("minimum", "maximum", "multipleOf"):
        if _number(value) is None:
            raise _fail(f"$jsonSchema keyword '{key}' must be a number", 14)
    elif key in ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"):
        if _number(value) is None or _number(value) < 0 or _number(value) != int(_number(value) or 0):
            raise _fail(f"$jsonSchema keyword '{key}' must be a representable as a nonnegative integer", 2)
    elif key in ("exclusiveMinimum", "exclusiveMaximum", "uniqueItems"):
        if not isinstance(value, bool):
            raise _fail(f"$jsonSchema keyword '{key}' must be a boolean", 14)
    elif key == "pattern":
        if not isinstance(value, str):
            raise _fail("$jsonSchema keyword 'pattern' must be a string", 14)
        _regex(value)
    elif key in ("title", "description") and not isinstance(value, str):
        raise _fail(f"$jsonSchema keyword '{key}' must be a string", 14)


def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise _fail(f"$jsonSchema regex {pattern!r} is invalid: {exc}", 51091) from None


# --- checking ---------------------------------------------------------------------------------
def explain(schema: Mapping[str, Any], value: Any) -> list[dict[str, Any]]:
    """The rules `value` does not satisfy (empty when it satisfies the schema), as mongod's
    `schemaRulesNotSatisfied`."""
    failures: list[dict[str, Any]] = []
    for key, spec in schema.items():
        failure = _check(key, spec, schema, value)
        if failure is not None:
            failures.append(failure)
    return failures


def _rule(key: str, spec: Any, reason: str, **more: Any) -> dict[str, Any]:
    return {"operatorName": key, "specifiedAs": {key: spec}, "reason": reason, **more}


def _considered(value: Any) -> dict[str, Any]:
    return {"consideredValue": value, "consideredType": bson_type(value)}


def _check(key: str, spec: Any, schema: Mapping[str, Any], value: Any) -> dict[str, Any] | None:
    t = bson_type(value)
    if key == "bsonType":
        names = spec if isinstance(spec, list) else [spec]
        number = t in ("int", "long", "double", "decimal")
        if t not in names and not ("number" in names and number):
            return _rule(key, spec, "type did not match", **_considered(value))
    elif key == "type":
        names = spec if isinstance(spec, list) else [spec]
        if _json_type(value) not in names:
            return _rule(key, spec, "type did not match", **_considered(value))
    elif key == "enum":
        if not any(_equal(value, e) for e in spec):
            return _rule(key, spec, "value was not found in enum", consideredValue=value)
    elif t == "object" and isinstance(value, Mapping):
        return _check_object(key, spec, schema, value)
    elif t == "array":
        return _check_array(key, spec, schema, list(value))
    elif t == "string":
        return _check_string(key, spec, value)
    elif _number(value) is not None:
        return _check_number(key, spec, schema, value)
    return _check_logic(key, spec, value)


def _check_logic(key: str, spec: Any, value: Any) -> dict[str, Any] | None:
    if key == "allOf":
        failing = [{"index": i, "details": d} for i, s in enumerate(spec) if (d := explain(s, value))]
        if failing:
            return {"operatorName": key, "schemasNotSatisfied": failing}
    elif key == "anyOf":
        if not any(not explain(s, value) for s in spec):
            return {"operatorName": key, "schemasNotSatisfied": [
                {"index": i, "details": explain(s, value)} for i, s in enumerate(spec)
            ]}  # fmt: skip
    elif key == "oneOf":
        passing = [i for i, s in enumerate(spec) if not explain(s, value)]
        if len(passing) != 1:
            reason = "more than one subschema matched" if passing else "no subschema matched"
            return {"operatorName": key, "reason": reason, "matchingSchemaIndexes": passing}
    elif key == "not" and not explain(spec, value):
        return {"operatorName": key, "reason": "child expression matched"}
    return None


def _check_object(
    key: str, spec: Any, schema: Mapping[str, Any], doc: Mapping[str, Any]
) -> dict[str, Any] | None:
    if key == "required":
        missing = [name for name in spec if name not in doc]
        if missing:
            return {"operatorName": key, "specifiedAs": {key: spec}, "missingProperties": missing}
    elif key == "properties":
        failing = [
            {"propertyName": name, "details": d}
            for name, sub in spec.items()
            if name in doc and (d := explain(sub, doc[name]))
        ]
        if failing:
            return {"operatorName": key, "propertiesNotSatisfied": failing}
    elif key == "additionalProperties":
        declared = set(schema.get("properties", {}))
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        extra = [n for n in doc if n not in declared and not any(p.search(n) for p in patterns)]
        if spec is False and extra:
            return _rule(key, spec, "found additional properties", additionalProperties=extra)
        if isinstance(spec, Mapping):
            failing = [{"propertyName": n, "details": d} for n in extra if (d := explain(spec, doc[n]))]
            if failing:
                return {"operatorName": key, "propertiesNotSatisfied": failing}
    elif key == "patternProperties":
        failing = [
            {"propertyName": n, "details": d}
            for pattern, sub in spec.items()
            for n in doc
            if re.search(pattern, n) and (d := explain(sub, doc[n]))
        ]
        if failing:
            return {"operatorName": key, "propertiesNotSatisfied": failing}
    elif key in ("minProperties", "maxProperties"):
        n = len(doc)
        if (n < spec) if key == "minProperties" else (n > spec):
            return _rule(key, spec, "specified number of properties was not satisfied", numberOfProperties=n)
    elif key == "dependencies":
        for name, dep in spec.items():
            if name not in doc:
                continue
            if isinstance(dep, list):
                missing = [d for d in dep if d not in doc]
                if missing:
                    return {"operatorName": key, "failingDependencies": [
                        {"conditionalProperty": name, "missingProperties": missing}
                    ]}  # fmt: skip
            elif details := explain(dep, doc):
                return {"operatorName": key, "failingDependencies": [
                    {"conditionalProperty": name, "details": details}
                ]}  # fmt: skip
    return _check_logic(key, spec, doc)


def _check_array(key: str, spec: Any, schema: Mapping[str, Any], items: list[Any]) -> dict[str, Any] | None:
    if key in ("minItems", "maxItems"):
        if (len(items) < spec) if key == "minItems" else (len(items) > spec):
            return _rule(key, spec, "array did not match specified length", consideredValue=items)
    elif key == "uniqueItems":
        if spec and any(_equal(a, b) for i, a in enumerate(items) for b in items[i + 1 :]):
            return _rule(key, spec, "found a duplicate item", consideredValue=items)
    elif key == "items":
        if isinstance(spec, Mapping):
            failing = [{"itemIndex": i, "details": d} for i, v in enumerate(items) if (d := explain(spec, v))]
        else:
            failing = [
                {"itemIndex": i, "details": d}
                for i, (s, v) in enumerate(zip(spec, items, strict=False))
                if (d := explain(s, v))
            ]
        if failing:
            return {"operatorName": key, "reason": "At least one item did not match the sub-schema",
                    "itemIndex": failing[0]["itemIndex"], "details": failing[0]["details"]}  # fmt: skip
    elif key == "additionalItems" and isinstance(schema.get("items"), list):
        rest = items[len(schema["items"]) :]
        if spec is False and rest:
            return _rule(key, spec, "found additional items", additionalItems=rest)
        if isinstance(spec, Mapping):
            failing = [i for i, v in enumerate(rest) if explain(spec, v)]
            if failing:
                return _rule(key, spec, "At least one additional item did not match the sub-schema")
    return _check_logic(key, spec, items)


def _check_string(key: str, spec: Any, text: str) -> dict[str, Any] | None:
    if key in ("minLength", "maxLength"):
        n = len(text)
        if (n < spec) if key == "minLength" else (n > spec):
            return _rule(key, spec, "specified string length was not satisfied", consideredValue=text)
    elif key == "pattern" and not re.search(spec, text):
        return _rule(key, spec, "regular expression did not match", consideredValue=text)
    return _check_logic(key, spec, text)


def _check_number(key: str, spec: Any, schema: Mapping[str, Any], value: Any) -> dict[str, Any] | None:
    n, bound = _number(value), _number(spec)
    assert n is not None
    if key == "minimum" and bound is not None:
        exclusive = bool(schema.get("exclusiveMinimum"))
        if n < bound or (exclusive and n == bound):
            return _rule(key, spec, "comparison failed", consideredValue=value)
    elif key == "maximum" and bound is not None:
        exclusive = bool(schema.get("exclusiveMaximum"))
        if n > bound or (exclusive and n == bound):
            return _rule(key, spec, "comparison failed", consideredValue=value)
    elif key == "multipleOf" and bound and n % bound != 0:
        return _rule(
            key, spec, "considered value is not a multiple of the specified value", consideredValue=value
        )
    return _check_logic(key, spec, value)


def _equal(a: Any, b: Any) -> bool:
    """BSON equality as far as enum and uniqueItems need it: numbers by value, else exact."""
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        return na == nb
    return bson_type(a) == bson_type(b) and a == b
