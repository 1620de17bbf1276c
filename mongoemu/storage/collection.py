"""One collection's records and indexes.

Documents are kept as BSON bytes (decoded on read); those of 1 KiB or more are
zlib-compressed, as WiredTiger compresses its blocks, so that a hub-sized corpus fits the
member's memory budget. Every stored version of a document has a fresh record id (ids are
never reused), which lets the text index drop deleted postings lazily.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import bson

from mongoemu.errors import CommandError, duplicate_key
from mongoemu.operation import checkpoint
from mongoemu.storage import collation, keystring
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


def capped_size(size: Any) -> int:
    """mongod's allocation for a capped collection of `size` bytes: at least 4096, rounded up
    to a multiple of 256."""
    size = int(size or 0)
    return 4096 if size <= 4096 else (size + 255) // 256 * 256


def id_key(value: Any) -> bytes:
    """The `_id` lookup key: equal under BSON comparison means equal bytes (1 == 1.0)."""
    return keystring.encode(value)


class IndexBuild:
    """An index being built over the documents present when it began while writes go on, as
    mongod's hybrid index builds: each write made meanwhile is a side write (inserted or
    removed record), applied in order when the build completes. While a build runs an update
    stores a new record (`_store`) and record ids are never reused, so a record the scan finds
    gone was removed, and a new version is a side insert."""

    def __init__(self, spec: IndexSpec, ns: str) -> None:
        self.spec = spec
        self.index: SecondaryIndex | TextIndex = (
            TextIndex(spec.text) if spec.text is not None else SecondaryIndex(spec, ns)
        )
        self.side: list[tuple[bool, int, Mapping[str, Any]]] = []
        self._text_rids: set[int] = set()

    def add(self, rid: int, doc: Mapping[str, Any]) -> None:
        index = self.index
        if isinstance(index, TextIndex):
            index.add(rid, doc)
            self._text_rids.add(rid)
            return
        keys = index.keys_for(doc)
        try:
            index.check_unique(keys)
        except CommandError as exc:
            raise CommandError(exc.code, str(exc), extra=exc.extra) from None
        index.insert(rid, keys)

    def catch_up(self, live: Callable[[], Iterable[int]]) -> None:
        """Apply the side writes (`live` lists the collection's record ids, for the text index)."""
        side, self.side = self.side, []
        for inserted, rid, doc in side:
            if inserted:
                self.add(rid, doc)
            elif isinstance(self.index, TextIndex):
                if rid in self._text_rids:
                    self._text_rids.discard(rid)
                    self.index.discard(live)
            else:
                self.index.remove(rid, self.index.keys_for(doc))


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
        self.collation = collation.parse(options.get("collation"))  # the default of its operations
        # A capped collection keeps its newest documents within `size` bytes and `max` documents.
        self.capped = bool(options.get("capped"))
        self.capped_size = capped_size(options.get("size")) if self.capped else 0
        self.capped_max = int(options.get("max") or 0) if self.capped else 0
        # Index builds under way (they see every write as a side write) and those built but
        # not yet live.
        self._builds: list[IndexBuild] = []
        self._ready: dict[str, IndexBuild] = {}
        # Counts every document written or removed: a command that gave other work a turn
        # learns from it whether what it read may have changed meanwhile.
        self.changes = 0
        # Told of every record removed (its id and document): a scan reading the collection as
        # of a past time learns of the records it will not reach (storage/pointintime.py).
        self.removal_watchers: list[Callable[[int, dict[str, Any]], None]] = []

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
        """A snapshot of every record id in natural (insertion) order, which is ascending: ids
        are never reused and an update keeps its record's id and place, or takes a new one."""
        return list(self.docs)

    def last_rid(self) -> int:
        """The highest record id stored (0: none)."""
        return next(reversed(self.docs), 0)

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
        if self.capped:
            self._trim()
        return before

    def _trim(self) -> None:
        """Delete the oldest documents until the capped limits hold. Every member applies the
        same inserts in the same order, so each trims the same documents by itself."""
        while self.docs and (
            self.data_size > self.capped_size or (self.capped_max and len(self.docs) > self.capped_max)
        ):
            self._remove(next(iter(self.docs)))

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
        if replacing is not None and self.text is None and not self._builds:
            # An update keeps the document's record id, so its place in natural order, as
            # WiredTiger does (the text index drops postings by record id, so it needs new ones;
            # so do index builds, whose side writes tell versions apart by record id).
            rid, old_doc = replacing
            for index in self.indexes.values():
                index.remove(rid, index.keys_for(old_doc))
            self.data_size -= len(unpack(self.docs[rid]))
        else:
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
        for build in self._builds:
            build.side.append((True, rid, doc))
        self.changes += 1

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
        for build in self._builds:
            build.side.append((False, rid, doc))
        for watcher in self.removal_watchers:
            watcher(rid, doc)
        self.changes += 1
        return doc

    # --- catalog changes ----------------------------------------------------------------
    def rename(self, db: str, name: str) -> None:
        self.db, self.name, self.ns = db, name, f"{db}.{name}"
        for index in self.indexes.values():
            index.ns = self.ns

    def modify(self, changes: Mapping[str, Any]) -> None:
        """collMod: validator and change-stream pre-image options replace the collection's;
        `index` changes one index's `hidden` or `expireAfterSeconds`."""
        for key in ("validator", "validationLevel", "validationAction", "changeStreamPreAndPostImages"):
            if key in changes:
                self.options[key] = changes[key]
        index_change = changes.get("index")
        if isinstance(index_change, Mapping):
            name = index_change["name"]
            options = {k: v for k, v in index_change.items() if k != "name"}
            if name in self.indexes:
                index = self.indexes[name]
                index.spec = index.spec.with_options(options)
            elif name == self.text_name and self._text_spec is not None:
                self._text_spec = self._text_spec.with_options(options)

    # --- indexes ------------------------------------------------------------------------
    def prepare_index(self, spec: IndexSpec) -> None:
        """Build `spec`'s index now, yielding at checkpoints while writes go on; `add_index`
        later makes it live (the primary logs the createIndexes entry only once it is built,
        so no write waits behind the build with an earlier optime)."""
        build = self._build(spec)
        self.abandon_index(spec.name)
        self._ready[spec.name] = build

    def abandon_index(self, name: str) -> None:
        """Drop a prepared build that will not be made live."""
        build = self._ready.pop(name, None)
        if build is not None:
            self._builds.remove(build)

    def add_index(self, spec: IndexSpec) -> None:
        """Make `spec`'s index live: the prepared build when there is one, else built now;
        unique violations abort the build."""
        build = self._ready.pop(spec.name, None)
        if build is None or not build.spec.same_definition(spec):
            if build is not None:
                self._builds.remove(build)
            build = self._build(spec)
        self._builds.remove(build)
        build.catch_up(self.docs.keys)
        if spec.text is not None:
            self._check_one_text_index()
            assert isinstance(build.index, TextIndex)
            self.text, self.text_name, self._text_spec = build.index, spec.name, spec
        else:
            assert isinstance(build.index, SecondaryIndex)
            self.indexes[spec.name] = build.index

    def _check_one_text_index(self) -> None:
        if self.text is not None:
            raise CommandError(
                85,
                "An equivalent index already exists with a different name and options: a "
                f"collection has at most one text index ({self.text_name})",
            )

    def _build(self, spec: IndexSpec) -> IndexBuild:
        """Index the documents present now; writes made during the checkpoints are recorded
        as the build's side writes."""
        if spec.text is not None:
            self._check_one_text_index()
        build = IndexBuild(spec, self.ns)
        self._builds.append(build)
        try:
            for rid in list(self.docs):
                blob = self.docs.get(rid)
                if blob is not None:
                    build.add(rid, decode(unpack(blob)))
                checkpoint()
        except BaseException:
            self._builds.remove(build)
            raise
        return build

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
