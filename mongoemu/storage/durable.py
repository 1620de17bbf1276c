"""Durable state of one member: the storage engine, the journal, checkpoints, the in-memory
oplog window and the retryable-write session table, kept consistent with each other.

Recovery = load the newest checkpoint, then replay the journal segments written after it
(older segments only refill the oplog window). The window (capped by `--oplogSize`) keeps
small entries as raw BSON and large ones as pointers into the journal. Entries on `local.*`
and the document restores of a rollback or initial sync are journaled as "journal-only"
records: applied on recovery, never part of the oplog, as mongod's unreplicated writes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import bson
from bson import Int64, Timestamp
from bson.raw_bson import RawBSONDocument

from mongoemu import operation
from mongoemu.oplog import NULL_OPTIME, OplogEntry, OplogWindow, OpTime, expand
from mongoemu.sessions import SessionTable
from mongoemu.storage import checkpoint
from mongoemu.storage.collection import decode, unpack
from mongoemu.storage.engine import StorageEngine, split_ns
from mongoemu.storage.indexes import ID_INDEX, IndexSpec
from mongoemu.storage.journal import Journal
from mongoemu.wire import CODEC

log = logging.getLogger("mongoemu.storage")

CHECKPOINT_INTERVAL_S = 60.0
_JOURNAL_ONLY = "journalOnly"
_COUNTER = {"i": "insert", "u": "update", "d": "delete"}
_ON_DISK_FROM = 1024


class JournalEntry(Mapping[str, Any]):
    """A large oplog entry of the window, read back from its journal record on each access
    (nothing is cached, so the window costs little memory). PyMongo's encoder copies it as raw
    BSON (the `_type_marker` and `raw` of its RawBSONDocument): a 16 MiB entry in a reply is
    one read, not a decode and re-encode per field. Before its record is cut from the journal
    (rollback) the entry is detached: it then keeps its bytes, so lists of removed entries
    stay readable."""

    __slots__ = ("_journal", "_offset", "_payload", "_seq", "_size")
    _type_marker = RawBSONDocument._type_marker

    def __init__(self, journal: Journal, seq: int, offset: int, size: int) -> None:
        self._journal, self._seq, self._offset, self._size = journal, seq, offset, size
        self._payload: bytes | None = None

    def detach(self) -> None:
        if self._payload is None:
            self._payload = self.raw

    @property
    def raw(self) -> bytes:
        """The entry's BSON."""
        if self._payload is not None:
            return self._payload
        return self._journal.read_at(self._seq, self._offset, self._size)

    def _doc(self) -> dict[str, Any]:
        return decode(self.raw)

    def __getitem__(self, key: str) -> Any:
        return self._doc()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._doc())

    def __len__(self) -> int:
        return len(self._doc())

    def items(self) -> Any:
        return self._doc().items()


def _is_local(ns: str) -> bool:
    return ns.startswith("local.")


class DurableStore:
    def __init__(self, dbpath: Path, oplog_bytes: int) -> None:
        self.engine = StorageEngine()
        self.window = OplogWindow(oplog_bytes)
        self.sessions = SessionTable()
        self.journal = Journal(dbpath / "journal")
        self.checkpoint_path = dbpath / checkpoint.FILE_NAME
        self.replay_from = 1  # first journal segment the newest checkpoint does not cover
        self.repl_counters: Counter[str] = Counter()
        self._bytes_since_checkpoint = 0
        self._last_checkpoint = time.monotonic()
        self._checkpointing = False

    # --- recovery -----------------------------------------------------------------------
    def recover(self) -> int:
        """Load the checkpoint and replay the journal; return how many records were replayed."""
        image = checkpoint.read(self.checkpoint_path)
        if image is not None:
            self.replay_from = image.replay_from
            self._load_image(image)
        segments = self.journal.segments()
        replayed = 0
        for seq in segments:
            for offset, payload in self.journal.read(seq):
                doc = decode(payload)
                if seq >= self.replay_from:
                    for op in expand(doc):
                        self.engine.apply(OplogEntry.from_document(op), enforce=False)
                    self.sessions.observe(doc)
                    replayed += 1
                if not doc.get(_JOURNAL_ONLY) and not _is_local(doc["ns"]):
                    self.window.append(
                        OpTime.from_document(doc), self._window_entry(payload, seq, offset), len(payload)
                    )
        self.journal.open(segments[-1] if segments else self.replay_from)
        log.info(
            "recovered from checkpoint and journal",
            extra={
                "attr": {
                    "checkpoint": image is not None,
                    "replayed": replayed,
                    "oplogEntries": len(self.window),
                }
            },
        )
        return replayed

    def _load_image(self, image: checkpoint.Image) -> None:
        for c in image.collections:
            db, name = split_ns(c.ns)
            coll = self.engine.create_collection(db, name, c.options, c.uuid)
            for spec in c.indexes:
                coll.add_index(IndexSpec.parse(spec))
            for blob in c.blobs:
                raw = unpack(blob)
                coll.insert(raw, decode(raw), enforce=False, blob=blob)
        self.sessions.load(image.sessions)

    # --- appending ----------------------------------------------------------------------
    def append(self, docs: list[dict[str, Any]], payloads: list[bytes] | None = None) -> None:
        """Journal entry documents that storage has applied (`payloads`: their BSON when the
        caller has it), then expose them in the window. The window holds raw bytes; the
        session table reads the dicts (never the raw documents, which would keep an inflated
        copy)."""
        if payloads is None:
            payloads = [bson.encode(d, codec_options=CODEC) for d in docs]
        seq = self.journal.current
        offsets = self.journal.append(payloads)
        for d, payload, offset in zip(docs, payloads, offsets, strict=True):
            self.sessions.observe(d)
            self._bytes_since_checkpoint += len(payload)
            if not _is_local(d["ns"]):
                self.window.append(
                    OpTime.from_document(d), self._window_entry(payload, seq, offset), len(payload)
                )

    def _window_entry(self, payload: bytes, seq: int, offset: int) -> bytes | Mapping[str, Any]:
        """What the window keeps of an entry: small ones as their BSON, large ones as a pointer
        to their journal record (the window is sized by --oplogSize like mongod's capped
        oplog, and like it lives on disk)."""
        if len(payload) < _ON_DISK_FROM:
            return payload
        return JournalEntry(self.journal, seq, offset, len(payload))

    def apply_replicated(
        self, d: Mapping[str, Any]
    ) -> tuple[list[tuple[OplogEntry, dict[str, Any] | None]], dict[str, Any], bytes]:
        """Apply one entry fetched from a sync source (not journaled yet: `append` does);
        return each operation it applied (those of a transaction's applyOps one by one) with
        its pre-image, the entry as a dict and its BSON."""
        payload = d.raw if isinstance(d, RawBSONDocument) else bson.encode(d, codec_options=CODEC)
        doc = d if isinstance(d, dict) else decode(payload)
        applied = []
        for op in expand(doc):
            entry = OplogEntry.from_document(op)
            applied.append((entry, self.engine.apply(entry, enforce=False)))
            self.repl_counters[_COUNTER.get(entry.op, "command")] += 1
        return applied, doc, payload

    def _journal_only(self, op: str, ns: str, o: Mapping[str, Any]) -> None:
        last = self.window.last or NULL_OPTIME
        doc = {"ts": last.ts, "t": Int64(last.term), "op": op, "ns": ns, "o": o, _JOURNAL_ONLY: True}
        self.engine.apply(OplogEntry.from_document(doc), enforce=False)
        self.journal.append([bson.encode(doc, codec_options=CODEC)])

    # --- rollback and initial sync ------------------------------------------------------
    def get_document(self, ns: str, _id: Any) -> dict[str, Any] | None:
        return self.engine.get_document(ns, _id)

    def restore_document(self, ns: str, doc: Mapping[str, Any]) -> None:
        """Insert or replace `doc` by _id: journaled, no oplog entry, no unique checks."""
        self._journal_only("i", ns, doc)

    def remove_document(self, ns: str, _id: Any) -> None:
        """Delete by _id (no-op if absent): journaled, no oplog entry."""
        self._journal_only("d", ns, {"_id": _id})

    def namespaces(self) -> list[str]:
        """Every stored collection outside the `local` database, as "db.coll"."""
        return [c.ns for c in self.engine.all_collections() if c.db != "local"]

    def iter_documents(self, ns: str) -> Iterator[dict[str, Any]]:
        coll = self.engine.collection_ns(ns)
        if coll is not None:
            for _, raw in coll.iter_raw():
                operation.checkpoint()
                yield decode(raw)

    def create_collection(self, ns: str, options: Mapping[str, Any]) -> None:
        db, name = split_ns(ns)
        if self.engine.collection(db, name) is None:
            self._journal_only("c", f"{db}.$cmd", {"create": name, **options})

    def drop_collection(self, ns: str) -> None:
        """Drop a collection (no-op if absent): journaled, no oplog entry."""
        db, name = split_ns(ns)
        if self.engine.collection(db, name) is not None:
            self._journal_only("c", f"{db}.$cmd", {"drop": name})

    def create_indexes(self, ns: str, specs: Iterable[Mapping[str, Any]]) -> None:
        db, name = split_ns(ns)
        for spec in specs:
            if spec.get("name") != ID_INDEX:
                self._journal_only("c", f"{db}.$cmd", {"createIndexes": name, **spec})

    def drop_all_data(self) -> None:
        """Forget all data, the oplog and the journal (initial sync starts over)."""
        self.engine.clear()
        self.window.truncate_after(OpTime(Timestamp(0, 0), -(1 << 62)))
        self.sessions.load([])
        segments = self.journal.segments()
        fresh = (segments[-1] if segments else 0) + 1
        self.journal.open(fresh)
        checkpoint.write(self.checkpoint_path, checkpoint.Image(replay_from=fresh))
        self.replay_from = fresh
        for seq in segments:
            self.journal.delete(seq)

    def truncate_after(self, optime: OpTime) -> list[Mapping[str, Any]]:
        """Remove every oplog entry newer than `optime` from the window and the journal and
        forget the retryable-write results they recorded; return the removed entries.
        Journal-only records after the cut (restores already made) are kept."""
        removed = self.window.truncate_after(optime)
        for entry in removed:
            if isinstance(entry, JournalEntry):
                entry.detach()
        kept: list[bytes] = []
        for seq in reversed(self.journal.segments()):
            cut = None
            for offset, payload in self.journal.read(seq):
                doc = decode(payload)
                if doc.get(_JOURNAL_ONLY):
                    if cut is not None:
                        kept.append(payload)
                elif cut is None and OpTime.from_document(doc) > optime:
                    cut = offset
            if cut is None:
                self.journal.truncate(seq, self.journal.valid_length(seq))
                break
            self.journal.truncate(seq, cut)
            if cut > 0:
                break
        if self.journal.current < self.replay_from:
            # The newest checkpoint covers part of what was cut: new records must be replayed.
            self.journal.open(self.replay_from)
        if kept:
            self.journal.append(kept)
        self.sessions.forget_after(optime.key())
        return removed

    # --- checkpoints --------------------------------------------------------------------
    def checkpoint_due(self) -> bool:
        if self._checkpointing or self._bytes_since_checkpoint == 0:
            return False
        return (
            self._bytes_since_checkpoint > self.window.max_bytes
            or time.monotonic() - self._last_checkpoint > CHECKPOINT_INTERVAL_S
        )

    def _image(self, replay_from: int) -> checkpoint.Image:
        self.sessions.expire()
        image = checkpoint.Image(replay_from=replay_from, sessions=self.sessions.to_documents())
        for coll in self.engine.all_collections():
            specs = [s.to_document() for s in coll.specs() if s.name != ID_INDEX]
            image.collections.append(
                checkpoint.CollectionImage(coll.ns, coll.options, coll.uuid, specs, list(coll.docs.values()))
            )
        self._bytes_since_checkpoint = 0
        self._last_checkpoint = time.monotonic()
        return image

    async def checkpoint(self) -> None:
        """Make the current in-memory state durable (the file is written off the event loop)."""
        while self._checkpointing:
            await asyncio.sleep(0.01)
        self._checkpointing = True
        try:
            replay_from = self.journal.rotate()
            image = self._image(replay_from)
            started = time.monotonic()
            await asyncio.to_thread(checkpoint.write, self.checkpoint_path, image)
            self._finish_checkpoint(replay_from)
            log.info(
                "checkpoint written",
                extra={
                    "attr": {
                        "replayFrom": replay_from,
                        "durationMillis": int((time.monotonic() - started) * 1000),
                    }
                },
            )
        finally:
            self._checkpointing = False

    def checkpoint_now(self) -> None:
        """A checkpoint written synchronously (clean shutdown)."""
        replay_from = self.journal.rotate()
        checkpoint.write(self.checkpoint_path, self._image(replay_from))
        self._finish_checkpoint(replay_from)

    def _finish_checkpoint(self, replay_from: int) -> None:
        """Drop journal segments the checkpoint covers once the window no longer needs them."""
        self.replay_from = replay_from
        kept = 0
        for seq in reversed(self.journal.segments()):
            size = self.journal.path(seq).stat().st_size
            if seq < replay_from and kept >= self.window.max_bytes:
                self.journal.delete(seq)
            else:
                kept += size

    def close(self) -> None:
        self.journal.close()
