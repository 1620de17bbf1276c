"""Document validation: a collection's `validator` (query operators and `$jsonSchema`) with its
`validationLevel` (strict / moderate / off) and `validationAction` (error / warn), checked on
the primary's inserts and updates as mongod checks them (121 DocumentValidationFailure with
`errInfo: {failingDocumentId, details}`), skipped with `bypassDocumentValidation`.

Replicated and replayed entries are never validated (a secondary applies what the primary
accepted), so this is called from the client write path, not from `engine.apply`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mongoemu.errors import CommandError, WriteError
from mongoemu.storage import jsonschema
from mongoemu.storage.query import matches

log = logging.getLogger("mongoemu.storage")

LEVELS = ("off", "strict", "moderate")
ACTIONS = ("error", "warn")
_REFUSED = {"$near", "$nearSphere", "$text", "$where", "$geoNear"}


@dataclass(frozen=True, slots=True)
class Validator:
    rules: Mapping[str, Any]
    level: str = "strict"
    action: str = "error"

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> Validator | None:
        rules = options.get("validator")
        if not rules:
            return None
        return cls(rules, options.get("validationLevel", "strict"), options.get("validationAction", "error"))


def check_options(options: Mapping[str, Any]) -> None:
    """Refuse a validator, level or action mongod refuses when it is set (create, collMod)."""
    level, action = options.get("validationLevel"), options.get("validationAction")
    if level is not None and level not in LEVELS:
        raise CommandError(
            2, f"Enumeration value '{level}' for field 'validationLevel' is not a valid value."
        )
    if action is not None and action not in ACTIONS:
        raise CommandError(
            2, f"Enumeration value '{action}' for field 'validationAction' is not a valid value."
        )
    rules = options.get("validator")
    if rules is None:
        return
    if not isinstance(rules, Mapping):
        raise CommandError(14, "'validator' must be an object")
    _check_rules(rules)


def _check_rules(rules: Mapping[str, Any]) -> None:
    for key, value in rules.items():
        if key in _REFUSED:
            raise CommandError(72, f"{key} is not allowed in collection validators")
        if key == "$jsonSchema":
            jsonschema.parse(value)
        elif key in ("$and", "$or", "$nor"):
            if not isinstance(value, list) or not value:
                raise CommandError(2, f"{key} argument must be a non-empty array")
            for clause in value:
                if not isinstance(clause, Mapping):
                    raise CommandError(2, f"{key} argument's entries must be objects")
                _check_rules(clause)
        else:
            matches({key: value}, {})  # the matcher refuses unknown operators (BadValue)


def _has_schema(rules: Any) -> bool:
    if isinstance(rules, Mapping):
        return "$jsonSchema" in rules or any(
            _has_schema(v) for k, v in rules.items() if k in ("$and", "$or", "$nor")
        )
    if isinstance(rules, list):
        return any(_has_schema(c) for c in rules)
    return False


def _holds(rules: Mapping[str, Any], doc: Mapping[str, Any]) -> bool:
    if not _has_schema(rules):
        return matches(rules, doc)
    for key, value in rules.items():
        if key == "$jsonSchema":
            ok = not jsonschema.explain(value, doc)
        elif key == "$and":
            ok = all(_holds(c, doc) for c in value)
        elif key == "$or":
            ok = any(_holds(c, doc) for c in value)
        elif key == "$nor":
            ok = not any(_holds(c, doc) for c in value)
        else:
            ok = matches({key: value}, doc)
        if not ok:
            return False
    return True


def _clause_details(key: str, value: Any, doc: Mapping[str, Any]) -> dict[str, Any]:
    if key == "$jsonSchema":
        return {"operatorName": "$jsonSchema", "schemaRulesNotSatisfied": jsonschema.explain(value, doc)}
    if key.startswith("$"):
        return {"operatorName": key, "specifiedAs": {key: value}, "reason": "expression did not match"}
    operator = next(iter(value), "$eq") if isinstance(value, Mapping) else "$eq"
    if not str(operator).startswith("$"):
        operator = "$eq"
    details: dict[str, Any] = {"operatorName": operator, "specifiedAs": {key: value}}
    top = key.split(".", maxsplit=1)[0]
    if top not in doc:
        details["reason"] = "field was missing"
    else:
        details["reason"] = "type did not match" if operator == "$type" else "comparison failed"
        if "." not in key:
            details["consideredValue"] = doc[key]
            if operator == "$type":
                details["consideredType"] = jsonschema.bson_type(doc[key])
    return details


def explain(rules: Mapping[str, Any], doc: Mapping[str, Any]) -> dict[str, Any]:
    """mongod's `errInfo.details` for a document that fails `rules` (approximated for query
    operators: the failing top-level clauses, not mongod's whole explanation tree)."""
    failing = [(k, v) for k, v in rules.items() if not _holds({k: v}, doc)]
    if len(failing) == 1:
        return _clause_details(*failing[0], doc)
    return {
        "operatorName": "$and",
        "clausesNotSatisfied": [
            {"index": list(rules).index(k), "details": _clause_details(k, v, doc)} for k, v in failing
        ],
    }


def check(
    validator: Validator | None, ns: str, new: Mapping[str, Any], old: Mapping[str, Any] | None
) -> None:
    """Raise 121 if `new` fails the validator (an update's `old` version matters for the
    moderate level: an update of a document that already failed is not checked)."""
    if validator is None or validator.level == "off":
        return
    if _holds(validator.rules, new):
        return
    if validator.level == "moderate" and old is not None and not _holds(validator.rules, old):
        return
    err_info = {"failingDocumentId": new.get("_id"), "details": explain(validator.rules, new)}
    if validator.action == "warn":
        log.warning("Document would fail validation", extra={"attr": {"namespace": ns, "errInfo": err_info}})
        return
    raise WriteError(121, "Document failed validation", extra={"errInfo": err_info})
