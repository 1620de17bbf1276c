"""The storage engine of one member: databases, collections, and the application of oplog
entries to them.

Every change reaches storage as an oplog entry through `apply` (the primary's own writes,
replicated entries and journal replay alike), so applying the same history yields the same
data on every member. Entry shapes follow mongod: `i` carries the whole document, `u` a whole
replacement or a `$v: 2` diff (storage/diff.py) with `o2: {_id}`, `d` carries `{_id}`, `c`
entries on `<db>.$cmd` carry `create`, `drop`, `createIndexes`, `dropIndexes`, `dropDatabase`,
`collMod` or (on `admin.$cmd`) `renameCollection`, and `n` changes nothing.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import bson
from bson import Binary
from bson.raw_bson import RawBSONDocument

from mongoemu.errors import CommandError
from mongoemu.oplog import OplogEntry
from mongoemu.storage import diff
from mongoemu.storage.collection import Collection, decode
from mongoemu.storage.indexes import ID_INDEX, IndexSpec
from mongoemu.wire import CODEC

_UUID_NAMESPACE = uuid.UUID("6d6f6e67-6f65-6d75-0000-000000000000")
_BAD_DB_CHARS = re.compile(r'[/\\. "$\x00]')


def split_ns(ns: str) -> tuple[str, str]:
    db, _, coll = ns.partition(".")
    return db, coll


def check_db_name(db: str) -> None:
    if not db or _BAD_DB_CHARS.search(db) or len(db) >= 64:
        raise CommandError(73, f"Invalid database name: '{db}'")


def check_collection_name(db: str, name: Any) -> str:
    if not isinstance(name, str):
        raise CommandError(73, f"collection name has invalid type {type(name).__name__}")
    if not name or "$" in name or "\x00" in name or name.startswith(".") or name.startswith("system.buckets"):
        raise CommandError(73, f"Invalid collection name: {db}.{name}")
    return name


def raw_of(o: Mapping[str, Any]) -> bytes:
    return o.raw if isinstance(o, RawBSONDocument) else bson.encode(o, codec_options=CODEC)


class StorageEngine:
    def __init__(self) -> None:
        self.databases: dict[str, dict[str, Collection]] = {}
        self._rids = itertools.count(1)

    def _next_rid(self) -> int:
        return next(self._rids)

    # --- catalog ------------------------------------------------------------------------
    def collection(self, db: str, name: str) -> Collection | None:
        colls = self.databases.get(db)
        return colls.get(name) if colls is not None else None

    def collection_ns(self, ns: str) -> Collection | None:
        return self.collection(*split_ns(ns))

    def collections(self, db: str) -> list[Collection]:
        return list(self.databases.get(db, {}).values())

    def all_collections(self) -> Iterator[Collection]:
        for colls in self.databases.values():
            yield from colls.values()

    def database_names(self) -> list[str]:
        return [db for db, colls in self.databases.items() if colls]

    def create_collection(self, db: str, name: str, options: Mapping[str, Any], ui: Any = None) -> Collection:
        if self.collection(db, name) is not None:
            raise CommandError(48, f"Collection {db}.{name} already exists.")
        if ui is None:
            ui = Binary(uuid.uuid5(_UUID_NAMESPACE, f"{db}.{name}").bytes, 4)
        coll = Collection(db, name, dict(options), ui, self._next_rid)
        self.databases.setdefault(db, {})[name] = coll
        return coll

    # --- applying oplog entries ---------------------------------------------------------
    def apply(
        self,
        entry: OplogEntry,
        doc: dict[str, Any] | None = None,
        enforce: bool = True,
        raw: bytes | None = None,
    ) -> dict[str, Any] | None:
        """Apply one entry; return the changed document's previous version (None for an insert).
        `doc` (and `raw`, its bytes) is the document the entry leaves stored, when the caller
        has it. `enforce=False` is oplog application (secondaries, recovery): idempotent, inserts
        replace, unique secondary indexes are not checked, a replacement of a missing document
        inserts it and a diff for a missing document is skipped (a later entry removed it)."""
        op = entry.op
        if op == "n":
            return None
        if op == "c":
            self._apply_command(entry, enforce)
            return None
        db, name = split_ns(entry.ns)
        coll = self.collection(db, name)
        if op == "d":
            return coll.delete(entry.o["_id"]) if coll is not None else None
        if op == "u" and diff.is_update_diff(entry.o):
            return self._apply_diff(coll, entry, doc, raw, enforce)
        raw = raw_of(entry.o)
        if doc is None:
            # A replicated or replayed entry arrives decoded: its `o` already is the document.
            doc = entry.o if isinstance(entry.o, dict) else decode(raw)
        if coll is None:
            coll = self.create_collection(db, name, {})
        if op == "i":
            return coll.insert(raw, doc, enforce)
        if op == "u":
            before = coll.replace(raw, doc, enforce)
            if before is None:
                if enforce:
                    raise CommandError(1, f"update of a missing document in {entry.ns}")
                coll.insert(raw, doc, enforce)
            return before
        raise CommandError(2, f"unknown oplog entry op {op!r}")

    def _apply_diff(
        self,
        coll: Collection | None,
        entry: OplogEntry,
        doc: dict[str, Any] | None,
        raw: bytes | None,
        enforce: bool,
    ) -> dict[str, Any] | None:
        _id = (entry.o2 or {}).get("_id")
        before = coll.get(_id) if coll is not None else None
        if before is None:
            if enforce:
                raise CommandError(1, f"update of a missing document in {entry.ns}")
            return None
        assert coll is not None
        if doc is None:
            doc = diff.apply(before, entry.o["diff"])
        coll.replace(raw if raw is not None else raw_of(doc), doc, enforce)
        return before

    def _apply_command(self, entry: OplogEntry, enforce: bool) -> None:
        db, _ = split_ns(entry.ns)
        o = entry.o
        name = next(iter(o))
        if name == "create":
            if self.collection(db, o["create"]) is None or enforce:
                options = {k: v for k, v in o.items() if k not in ("create", "idIndex")}
                self.create_collection(db, o["create"], options)
        elif name == "drop":
            self.databases.get(db, {}).pop(o["drop"], None)
        elif name == "createIndexes":
            coll = self.collection(db, o["createIndexes"]) or self.create_collection(
                db, o["createIndexes"], {}
            )
            spec = IndexSpec.parse({k: v for k, v in o.items() if k != "createIndexes"})
            if spec.name in coll.index_names():
                if enforce:
                    raise CommandError(85, f"index {spec.name} already exists")
                return
            coll.add_index(spec)
        elif name == "dropIndexes":
            coll = self.collection(db, o["dropIndexes"])
            if coll is not None and o["index"] in coll.index_names() and o["index"] != ID_INDEX:
                coll.drop_index(o["index"])
        elif name == "dropDatabase":
            self.databases.pop(db, None)
        elif name == "collMod":
            coll = self.collection(db, o["collMod"])
            if coll is not None:
                coll.modify({k: v for k, v in o.items() if k != "collMod"})
        elif name == "renameCollection":
            self._rename(o["renameCollection"], o["to"], bool(o.get("dropTarget")))
        elif enforce:
            raise CommandError(2, f"unknown command oplog entry {name!r}")

    def _rename(self, source: str, target: str, drop_target: bool) -> None:
        src_db, src_name = split_ns(source)
        coll = self.databases.get(src_db, {}).pop(src_name, None)
        if coll is None:
            return
        dst_db, dst_name = split_ns(target)
        if drop_target or dst_name not in self.databases.get(dst_db, {}):
            coll.rename(dst_db, dst_name)
            self.databases.setdefault(dst_db, {})[dst_name] = coll
        else:
            self.databases[src_db][src_name] = coll  # an oplog replay of a refused rename

    # --- reads for rollback and initial sync -----------------------------------------------
    def get_document(self, ns: str, _id: Any) -> dict[str, Any] | None:
        """The current version of one document, or None."""
        coll = self.collection_ns(ns)
        return coll.get(_id) if coll is not None else None

    def clear(self) -> None:
        self.databases.clear()
