"""The journal: the oplog on disk, as numbered segment files under `<dbpath>/journal/`.

Each record is a CRC-32 of the entry's BSON followed by the BSON itself. Records are written
with one `os.write` per batch before the client is answered, so a write survives the process
being killed; `sync()` adds an fsync for `j: true`, and a segment is flushed when it is closed
(rotated), so a `j: true` write the rotation overtook is durable too. On reading, the first
record that is truncated or fails its checksum ends the segment (a torn tail from SIGKILL
mid-write), and the segment is cut back to its last whole record before anything is appended.
Large oplog entries are read back from here (`read_at`) rather than kept in memory.
"""

from __future__ import annotations

import asyncio
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

_CRC = struct.Struct("<I")
_LEN = struct.Struct("<i")
_PREFIX = "j."


class JournalRecordGone(RuntimeError):
    """A record read back by position is no longer in the journal."""


class Journal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._fd = -1
        self.current = 0
        self.current_size = 0
        self._sync_lock = asyncio.Lock()
        self._readers: dict[int, int] = {}

    def segments(self) -> list[int]:
        return sorted(
            int(p.name[len(_PREFIX) :]) for p in self.directory.glob(_PREFIX + "*") if p.name[2:].isdigit()
        )

    def path(self, seq: int) -> Path:
        return self.directory / f"{_PREFIX}{seq:06d}"

    # --- reading ------------------------------------------------------------------------
    def read(self, seq: int) -> Iterator[tuple[int, bytes]]:
        """(offset, entry BSON) for every whole record of a segment, oldest first."""
        data = self.path(seq).read_bytes()
        pos = 0
        end = len(data)
        while pos + 8 <= end:
            (crc,) = _CRC.unpack_from(data, pos)
            (size,) = _LEN.unpack_from(data, pos + 4)
            if size < 5 or pos + 4 + size > end:
                return
            payload = data[pos + 4 : pos + 4 + size]
            if zlib.crc32(payload) != crc:
                return
            yield pos, payload
            pos += 4 + size

    def valid_length(self, seq: int) -> int:
        last = 0
        for offset, payload in self.read(seq):
            last = offset + 4 + len(payload)
        return last

    # --- writing ------------------------------------------------------------------------
    def open(self, seq: int) -> None:
        """Append to segment `seq` (created if missing), after cutting off a torn tail."""
        self.close()
        path = self.path(seq)
        if path.exists():
            valid = self.valid_length(seq)
            if valid != path.stat().st_size:
                os.truncate(path, valid)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.current = seq
        self.current_size = os.fstat(self._fd).st_size
        _fsync_dir(self.directory)

    def append(self, payloads: list[bytes]) -> list[int]:
        """Write records; return the offset of each in the current segment."""
        offsets = []
        pos = self.current_size
        for p in payloads:
            offsets.append(pos)
            pos += 4 + len(p)
        data = b"".join(_CRC.pack(zlib.crc32(p)) + p for p in payloads)
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.current_size += len(data)
        return offsets

    def read_at(self, seq: int, offset: int, size: int) -> bytes:
        """The entry BSON of the record at `offset` (its BSON is `size` bytes), checked against
        the record's CRC so that a record cut or overwritten since is an error, not garbage."""
        fd = self._readers.get(seq)
        if fd is None:
            try:
                fd = self._readers[seq] = os.open(self.path(seq), os.O_RDONLY)
            except FileNotFoundError:
                raise JournalRecordGone(f"journal segment {seq} no longer exists") from None
        data = os.pread(fd, 4 + size, offset)
        if len(data) != 4 + size or _CRC.unpack_from(data)[0] != zlib.crc32(data[4:]):
            raise JournalRecordGone(f"journal record {seq}:{offset} was cut or overwritten")
        return data[4:]

    def _forget_reader(self, seq: int) -> None:
        fd = self._readers.pop(seq, None)
        if fd is not None:
            os.close(fd)

    def rotate(self) -> int:
        """Start a new segment; return its number."""
        self.open(self.current + 1)
        return self.current

    def sync(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)

    async def sync_async(self) -> None:
        """fsync off the event loop; concurrent callers share one flush where they can. The
        thread flushes a duplicate of the descriptor, since a rotation may close the segment
        meanwhile (close() flushes it too, so a write rotated away is durable all the same)."""
        async with self._sync_lock:
            if self._fd < 0:
                return
            fd = os.dup(self._fd)
            try:
                await asyncio.to_thread(os.fsync, fd)
            finally:
                os.close(fd)

    def truncate(self, seq: int, offset: int) -> None:
        """Cut segment `seq` at `offset` and delete every later segment; append there next."""
        for later in self.segments():
            if later > seq:
                self._forget_reader(later)
                self.path(later).unlink()
        os.truncate(self.path(seq), offset)
        self.open(seq)

    def delete(self, seq: int) -> None:
        self._forget_reader(seq)
        self.path(seq).unlink(missing_ok=True)

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
        for seq in list(self._readers):
            self._forget_reader(seq)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
