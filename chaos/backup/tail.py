"""The continuous backup: `local.oplog.rs` tailed into slices, the stand-in for Atlas's
continuous backup and what lets a restore reach any moment after the snapshot (RPO).

A thread follows the primary (a replica-set client) with a tailable awaitData cursor from the
snapshot's start. Entries are kept in memory until the majority commit point passes them, so
a slice never holds what a rollback could undo; every `slice_s` seconds the committed ones are
written as the next slice (`oplog/NNNNNN.bson`, atomically) and the manifest records it with
the timestamp it continues from. After a connection error or a failover it resumes from the
last entry it wrote, dropping what it had not yet written (the new primary has what was
committed). If that entry is no longer in the oplog the chain is broken: tailing ends and says
so, because any later slice would hide a gap.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from bson import Timestamp
from bson.raw_bson import RawBSONDocument
from pymongo import CursorType, MongoClient
from pymongo.errors import PyMongoError

from chaos.backup.backupset import BackupSet
from chaos.backup.layout import OPLOG, AtomicFile, OplogInfo, Point, Slice, ts_text
from chaos.backup.oplog import commit_point, oplog, point_of

log = logging.getLogger("hubchaos.backup")

AWAIT_MS = 500
POLL_S = 1.0  # how often the commit point is read: what a disaster can catch unwritten
RETRY_S = 1.0


class OplogTailer:
    def __init__(
        self, connect: Callable[[], MongoClient[Any]], backup: BackupSet, start: Point, slice_s: float = 10.0
    ) -> None:
        self.connect = connect
        self.backup = backup
        self.slice_s = slice_s
        self.written = start.timestamp  # the last entry a slice holds (or the start)
        self.committed = Timestamp(0, 0)  # the newest commit point seen
        self.errors = 0
        self._buffer: list[RawBSONDocument] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        backup.add([], lambda m: setattr(m, "oplog", OplogInfo(start=start)))

    @property
    def info(self) -> OplogInfo:
        assert self.backup.manifest.oplog is not None
        return self.backup.manifest.oplog

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="oplog-backup", daemon=True)
        self._thread.start()

    def stop(self, reason: str | None = None, timeout: float = 30.0) -> OplogInfo:
        """Stop tailing and write what is committed; `reason` is recorded when it is not a clean
        stop (the source is gone)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._flush()
        if reason is not None and self.info.ended is None:
            self._end(reason)
        return self.info

    def _end(self, reason: str) -> None:
        self.backup.add([], lambda m: setattr(m.oplog, "ended", reason))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self.connect() as client:
                    self._tail(client)
            except PyMongoError as exc:
                self.errors += 1
                self._flush()  # what the majority had by the last poll is safe to keep
                log.info("continuous backup: %s; resuming from %s", exc, ts_text(self.written))
            except _Broken as exc:
                self._end(str(exc))
                return
            self._buffer.clear()  # not yet committed: read again from wherever it survived
            self._stop.wait(RETRY_S)

    def _tail(self, client: MongoClient[Any]) -> None:
        source = oplog(client, raw=True)
        if source.find_one({"ts": self.written}, {"_id": 0, "ts": 1}) is None and self.info.slices:
            raise _Broken(
                f"the oplog no longer holds {ts_text(self.written)}: the continuous backup has a gap"
            )
        query = {"ts": {"$gt": self.written}}
        cursor = source.find(query, cursor_type=CursorType.TAILABLE_AWAIT).max_await_time_ms(AWAIT_MS)
        last_slice = last_poll = time.monotonic()
        while not self._stop.is_set() and cursor.alive:
            # Iterating ends after a getMore that waited AWAIT_MS for nothing new.
            for entry in cursor:
                self._buffer.append(entry)
                if self._stop.is_set() or time.monotonic() - last_poll >= POLL_S:
                    break
            self.committed = commit_point(client)
            last_poll = time.monotonic()
            if last_poll - last_slice >= self.slice_s:
                self._flush()
                last_slice = last_poll

    def _flush(self) -> None:
        """Write the buffered entries the commit point has passed as the next slice."""
        ready = [e for e in self._buffer if e["ts"] <= self.committed]
        if not ready:
            return
        del self._buffer[: len(ready)]
        name = f"{OPLOG}/{len(self.info.slices) + 1:06d}.bson"
        out = AtomicFile(self.backup.folder / name)
        for entry in ready:
            out.write(entry.raw)
        out.commit()
        piece = Slice(
            file=name,
            after=ts_text(self.written),
            first=point_of(ready[0]),
            last=point_of(ready[-1]),
            entries=len(ready),
        )
        self.written = ready[-1]["ts"]
        self.backup.add([name], lambda m: m.oplog.slices.append(piece))  # type: ignore[union-attr]


class _Broken(Exception):
    """The oplog moved past where the backup stopped reading."""
