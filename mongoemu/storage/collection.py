"""One collection's records and indexes.

Documents are kept as BSON bytes (decoded on read); those of 1 KiB or more are
zlib-compressed, as WiredTiger compresses its blocks, so that a hub-sized corpus fits the
member's memory budget. Every stored version of a document has a fresh record id (ids are
never reused), which lets the text index drop deleted postings lazily.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import bson

from mongoemu.errors import CommandError, duplicate_key
from mongoemu.storage import keystring
from mongoemu.storage.indexes import ID_INDEX, ID_SPEC, IndexSpec, SecondaryIndex
from mongoemu.storage.textindex import TextIndex
from mongoemu.wire import CODEC

_COMPRESSED = b"\xff\xff\xff\xff"  # never the start of a BSON document (a negative length)
_COMPRESS_FROM = 1024


def pack(raw: bytes) -> bytes:
    if len(raw) < _COMPRESS_FROM:
        return raw
    return _COMPRESSED + zlib.compress(raw, 1)


def unpack(blob: bytes) -> bytes:
    if blob[:4] == _COMPRESSED:
        return zlib.decompress(memoryview(blob)[4:])
    return blob


def decode(raw: bytes) -> dict[str, Any]:
    return bson.decode(raw, CODEC)


def id_key(value: Any) -> bytes:
    """The `_id` lookup key: equal under BSON comparison means equal bytes (1 == 1.0)."""
    return keystring.encode(value)


class Collection:
    def __init__(
        self, db: str, name: str, options: dict[str, Any], uuid: Any, next_rid: Callable[[], int]
    ) -> None:
        self.db = db
        self.name = name
        self.ns = f"{db}.{name}"
        self.options = options
        self.uuid = uuid
        self._next_rid = next_rid
        self.docs: dict[int, bytes] = {}
        self.ids: dict[bytes, int] = {}
        self.indexes: dict[str, SecondaryIndex] = {}
        self.text: TextIndex | None = None
        self.text_name: str | None = None
        self._text_spec: IndexSpec | None = None
        self.data_size = 0

    # --- reads --------------------------------------------------------------------------
    @property
    def count(self) -> int:
        return len(self.docs)

    def raw(self, rid: int) -> bytes | None:
        blob = self.docs.get(rid)
        return None if blob is None else unpack(blob)

    def rid_of(self, _id: Any) -> int | None:
        return self.ids.get(id_key(_id))

    def get(self, _id: Any) -> dict[str, Any] | None:
        rid = self.rid_of(_id)
        return None if rid is None else decode(unpack(self.docs[rid]))

    def rids(self) -> list[int]:
        """A snapshot of every record id in natural (insertion) order."""
        return list(self.docs)

    def specs(self) -> list[IndexSpec]:
        out = [ID_SPEC, *(index.spec for index in self.indexes.values())]
        if self._text_spec is not None:
            out.append(self._text_spec)
        return out

    # --- writes -------------------------------------------------------------------------
    def insert(
        self, raw: bytes, doc: Mapping[str, Any], enforce: bool = True, blob: bytes | None = None
    ) -> dict[str, Any] | None:
        """Add a document; return the one it replaced. `enforce=False` (oplog application)
        replaces a document with the same _id and does not enforce unique secondary indexes, as
        mongod's secondaries do. `blob` is the stored form when the caller has it (checkpoint)."""
        existing = self.ids.get(id_key(doc["_id"]))
        if existing is not None and enforce:
            raise duplicate_key(self.ns, ID_INDEX, {"_id": 1}, {"_id": doc["_id"]})
        before = self._remove(existing) if existing is not None else None
        self._store(raw, doc, enforce, None, blob)
        return before

    def replace(self, raw: bytes, doc: Mapping[str, Any], enforce: bool = True) -> dict[str, Any] | None:
        """Replace the document with doc's _id; return the old version (None: there is none)."""
        old = self.ids.get(id_key(doc["_id"]))
        if old is None:
            return None
        old_doc = decode(unpack(self.docs[old]))
        self._store(raw, doc, enforce, (old, old_doc))
        return old_doc

    def _store(
        self,
        raw: bytes,
        doc: Mapping[str, Any],
        enforce: bool,
        replacing: tuple[int, dict[str, Any]] | None,
        blob: bytes | None = None,
    ) -> None:
        """Index keys are computed and checked before anything changes, so a unique-key
        violation leaves the collection as it was."""
        keys = [(index, index.keys_for(doc)) for index in self.indexes.values()]
        if enforce:
            for index, k in keys:
                index.check_unique(k, own_rid=replacing[0] if replacing else None)
        if replacing is not None:
            self._remove(*replacing)
        rid = self._next_rid()
        self.docs[rid] = pack(raw) if blob is None else blob
        self.ids[id_key(doc["_id"])] = rid
        self.data_size += len(raw)
        for index, k in keys:
            index.insert(rid, k)
        if self.text is not None:
            self.text.add(rid, doc)

    def delete(self, _id: Any) -> dict[str, Any] | None:
        """Remove the document with this _id; return it (None: there is none)."""
        rid = self.ids.get(id_key(_id))
        if rid is None:
            return None
        return self._remove(rid)

    def _remove(self, rid: int, doc: dict[str, Any] | None = None) -> dict[str, Any]:
        raw = unpack(self.docs[rid])
        if doc is None:
            doc = decode(raw)
        for index in self.indexes.values():
            index.remove(rid, index.keys_for(doc))
        self.ids.pop(id_key(doc["_id"]), None)
        del self.docs[rid]
        self.data_size -= len(raw)
        if self.text is not None:
            self.text.discard(self.docs.keys)
        return doc

    # --- indexes ------------------------------------------------------------------------
    def add_index(self, spec: IndexSpec) -> None:
        """Build an index over the existing documents; unique violations abort the build."""
        if spec.text is not None:
            if self.text is not None:
                raise CommandError(
                    85,
                    "An equivalent index already exists with a different name and options: a "
                    f"collection has at most one text index ({self.text_name})",
                )
            text = TextIndex(spec.text)
            for rid, blob in self.docs.items():
                text.add(rid, decode(unpack(blob)))
            self.text, self.text_name, self._text_spec = text, spec.name, spec
            return
        index = SecondaryIndex(spec, self.ns)
        for rid, blob in self.docs.items():
            keys = index.keys_for(decode(unpack(blob)))
            try:
                index.check_unique(keys)
            except CommandError as exc:
                raise CommandError(exc.code, str(exc), extra=exc.extra) from None
            index.insert(rid, keys)
        self.indexes[spec.name] = index

    def drop_index(self, name: str) -> None:
        if name == self.text_name:
            self.text, self.text_name, self._text_spec = None, None, None
            return
        del self.indexes[name]

    def index_names(self) -> list[str]:
        names = [ID_INDEX, *self.indexes]
        if self.text_name is not None:
            names.append(self.text_name)
        return names

    def find_spec(self, name: str) -> IndexSpec | None:
        if name == ID_INDEX:
            return ID_SPEC
        if name == self.text_name:
            return self._text_spec
        index = self.indexes.get(name)
        return index.spec if index is not None else None

    def iter_raw(self) -> Iterator[tuple[int, bytes]]:
        for rid, blob in list(self.docs.items()):
            yield rid, unpack(blob)
