"""Oplog entries to change events, as mongod 6.0's `ChangeStreamDefaultEventTransformation`
builds them, for one stream's scope (a collection, a database or the whole cluster).

- `i` -> insert (fullDocument, documentKey); `u` with a `$v: 2` diff -> update
  (updateDescription: updatedFields, removedFields, truncatedArrays); a whole-document `u` ->
  replace; `d` -> delete;
- `c`: drop, renameCollection (`to`), dropDatabase; with `showExpandedEvents` also create,
  createIndexes, dropIndexes and collMod (modify), with `operationDescription` and
  `collectionUUID`;
- a transaction's applyOps entry -> one event per operation, with `lsid`, `txnNumber` and the
  operation's index in the resume token;
- a collection stream is invalidated by its collection's drop or rename, a database stream by its
  database's drop: the event is followed by an `invalidate` event, and the stream ends.

Events on `admin`, `config`, `local` and `system.*` collections are not reported.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from bson import Timestamp

from mongoemu.changestreams.tokens import ResumeToken
from mongoemu.oplog import is_apply_ops
from mongoemu.storage import diff

INTERNAL_DATABASES = frozenset({"admin", "config", "local"})
_EXPANDED_COMMANDS = frozenset({"create", "createIndexes", "dropIndexes", "collMod"})
_COMMAND_EVENT = {
    "create": "create",
    "createIndexes": "createIndexes",
    "dropIndexes": "dropIndexes",
    "collMod": "modify",
}


class Scope(Enum):
    COLLECTION = "collection"
    DATABASE = "database"
    CLUSTER = "cluster"


@dataclass(frozen=True, slots=True)
class StreamScope:
    kind: Scope
    db: str
    coll: str | None = None

    def may_concern(self, ns: str) -> bool:
        """A cheap first look at an entry's `ns`: command entries (`<db>.$cmd`, which also carry
        transactions' and applyOps' operations) are always read."""
        if self.kind is Scope.CLUSTER or ns.endswith(".$cmd"):
            return True
        if self.kind is Scope.DATABASE:
            return ns.startswith(self.db + ".")
        return ns == f"{self.db}.{self.coll}"

    def covers(self, db: str, coll: str | None) -> bool:
        """Whether an event on db.coll (coll None: the database itself) belongs to the stream."""
        if db in INTERNAL_DATABASES or (coll is not None and coll.startswith("system.")):
            return False
        if self.kind is Scope.CLUSTER:
            return True
        if db != self.db:
            return False
        return self.kind is Scope.DATABASE or coll == self.coll


@dataclass(slots=True)
class Event:
    token: ResumeToken
    doc: dict[str, Any]
    # Where a document operation sits among those of its entry (for its pre-image).
    position: int | None = None
    ends_stream: bool = False
    update_diff: Mapping[str, Any] | None = None  # an update's diff (for its post-image)


def describe_update(update_diff: Mapping[str, Any]) -> dict[str, Any]:
    """`updateDescription` from a `$v: 2` diff, as mongod's change_stream_document_diff_parser."""
    updated: dict[str, Any] = {}
    removed: list[str] = []
    truncated: list[dict[str, Any]] = []

    def walk(node: Mapping[str, Any], path: list[str]) -> None:
        if diff.is_array_diff(node):
            if "l" in node:
                truncated.append({"field": ".".join(path), "newSize": int(node["l"])})
            for key, value in node.items():
                if key[0] == "u" and key[1:].isdigit():
                    updated[".".join([*path, key[1:]])] = value
                elif key[0] == "s" and key[1:].isdigit():
                    walk(value, [*path, key[1:]])
            return
        for section in ("u", "i"):
            for field, value in node.get(section, {}).items():
                updated[".".join([*path, field])] = value
        removed.extend(".".join([*path, field]) for field in node.get("d", {}))
        for key, value in node.items():
            if key.startswith("s"):
                walk(value, [*path, key[1:]])

    walk(update_diff, [])
    return {"updatedFields": updated, "removedFields": removed, "truncatedArrays": truncated}


def _ns(db: str, coll: str | None) -> dict[str, Any]:
    return {"db": db, "coll": coll} if coll is not None else {"db": db}


def _split(ns: str) -> tuple[str, str]:
    db, _, coll = ns.partition(".")
    return db, coll


class EventBuilder:
    def __init__(self, scope: StreamScope, show_expanded: bool) -> None:
        self.scope = scope
        self.show_expanded = show_expanded

    def events(self, entry: Mapping[str, Any]) -> list[Event]:
        """The events one oplog entry gives this stream, in order."""
        if entry.get("op") == "n" or entry.get("fromMigrate"):
            return []
        if is_apply_ops(entry):
            return list(self._transaction(entry))
        return list(self._operation(entry, entry, None, 0))

    def _transaction(self, entry: Mapping[str, Any]) -> Iterator[Event]:
        session = {"lsid": entry["lsid"], "txnNumber": entry["txnNumber"]} if "lsid" in entry else {}
        position = 0
        for index, op in enumerate(entry["o"]["applyOps"]):
            for event in self._operation(op, entry, index, position):
                event.doc.update(session)
                yield event
            if op["op"] in ("i", "u", "d"):
                position += 1

    def _operation(
        self, op: Mapping[str, Any], entry: Mapping[str, Any], txn_op_index: int | None, position: int
    ) -> Iterator[Event]:
        kind = op["op"]
        if kind == "c":
            yield from self._command(op, entry)
            return
        db, coll = _split(op["ns"])
        if kind not in ("i", "u", "d") or not self.scope.covers(db, coll):
            return
        ts: Timestamp = entry["ts"]
        token = ResumeToken.for_event(ts, txn_op_index or 0, op.get("ui"))
        o = op["o"]
        fields: dict[str, Any] = {}
        if kind == "i":
            operation = "insert"
            fields["fullDocument"] = o
            fields["documentKey"] = op.get("o2") or {"_id": o["_id"]}
        elif kind == "d":
            operation = "delete"
            fields["documentKey"] = dict(o)
        elif diff.is_update_diff(o):
            operation = "update"
            fields["documentKey"] = dict(op["o2"])
            fields["updateDescription"] = describe_update(o["diff"])
        else:
            operation = "replace"
            fields["fullDocument"] = o
            fields["documentKey"] = dict(op["o2"])
        doc = self._event(token, operation, entry, ui=op.get("ui"), ns=_ns(db, coll), fields=fields)
        yield Event(token, doc, position, update_diff=o["diff"] if operation == "update" else None)

    def _event(
        self,
        token: ResumeToken,
        operation: str,
        entry: Mapping[str, Any],
        *,
        ui: Any,
        ns: dict[str, Any] | None,
        fields: dict[str, Any],
    ) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "_id": token.to_document(),
            "operationType": operation,
            "clusterTime": entry["ts"],
        }
        if self.show_expanded and ui is not None:
            doc["collectionUUID"] = ui
        doc["wallTime"] = entry.get("wall")
        if "fullDocument" in fields:
            doc["fullDocument"] = fields.pop("fullDocument")
        if ns is not None:
            doc["ns"] = ns
        doc.update(fields)
        return doc

    def _command(self, op: Mapping[str, Any], entry: Mapping[str, Any]) -> Iterator[Event]:
        db, _ = _split(op["ns"])
        o = op["o"]
        name = next(iter(o), "")
        ts: Timestamp = entry["ts"]
        token = ResumeToken.for_event(ts, 0, op.get("ui"))
        scope = self.scope
        if name == "drop":
            coll = o["drop"]
            if scope.covers(db, coll):
                yield Event(
                    token, self._event(token, "drop", entry, ui=op.get("ui"), ns=_ns(db, coll), fields={})
                )
                if scope.kind is Scope.COLLECTION:
                    yield self._invalidate(token, entry)
        elif name == "renameCollection":
            yield from self._rename(token, op, entry)
        elif name == "dropDatabase":
            if scope.kind is not Scope.COLLECTION and scope.covers(db, None):
                yield Event(
                    token, self._event(token, "dropDatabase", entry, ui=None, ns=_ns(db, None), fields={})
                )
                if scope.kind is Scope.DATABASE:
                    yield self._invalidate(token, entry)
        elif name in _EXPANDED_COMMANDS and self.show_expanded:
            coll = o[name]
            if scope.covers(db, coll):
                yield Event(token, self._expanded(token, name, op, entry))

    def _rename(self, token: ResumeToken, op: Mapping[str, Any], entry: Mapping[str, Any]) -> Iterator[Event]:
        o = op["o"]
        source_db, source = _split(o["renameCollection"])
        target_db, target = _split(o["to"])
        scope = self.scope
        if scope.covers(source_db, source):
            fields: dict[str, Any] = {"to": _ns(target_db, target)}
            if self.show_expanded:
                description = {k: v for k, v in o.items() if k not in ("renameCollection", "stayTemp")}
                fields["operationDescription"] = {**description, "to": _ns(target_db, target)}
            ns = _ns(source_db, source)
            yield Event(token, self._event(token, "rename", entry, ui=op.get("ui"), ns=ns, fields=fields))
            if scope.kind is Scope.COLLECTION:
                yield self._invalidate(token, entry)
        elif scope.kind is Scope.COLLECTION and scope.covers(target_db, target) and o.get("dropTarget"):
            yield self._invalidate(token, entry)

    def _expanded(
        self, token: ResumeToken, name: str, op: Mapping[str, Any], entry: Mapping[str, Any]
    ) -> dict[str, Any]:
        db, _ = _split(op["ns"])
        o = op["o"]
        coll = o[name]
        rest = {k: v for k, v in o.items() if k != name}
        if name == "createIndexes":
            description: dict[str, Any] = {"indexes": [rest]}
        elif name == "dropIndexes":
            spec = op.get("o2") or {"name": o.get("index")}
            description = {"indexes": [{k: v for k, v in spec.items() if k != "dropIndexes"}]}
        else:
            description = rest
        fields: dict[str, Any] = {"operationDescription": description}
        if name == "collMod":
            before = op.get("o2") or {}
            fields["stateBeforeChange"] = {
                "collectionOptions": before.get("collectionOptions_old"),
                "indexOptions": before.get("indexOptions_old"),
            }
        return self._event(
            token, _COMMAND_EVENT[name], entry, ui=op.get("ui"), ns=_ns(db, coll), fields=fields
        )

    def _invalidate(self, token: ResumeToken, entry: Mapping[str, Any]) -> Event:
        invalidate = token.invalidating()
        doc = {
            "_id": invalidate.to_document(),
            "operationType": "invalidate",
            "clusterTime": entry["ts"],
            "wallTime": entry.get("wall"),
        }
        return Event(invalidate, doc, ends_stream=True)
