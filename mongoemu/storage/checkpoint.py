"""Checkpoints: the whole data set in one file, so that recovery replays only the journal
segments written after it.

The file is a sequence of BSON documents: a header (format, the first journal segment not
covered, the session table), then per collection its definition followed by its documents'
stored bytes, then an end marker. It is written to a temporary file, fsynced and renamed, so a
crash leaves either the old checkpoint or the new one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import bson

from mongoemu.wire import CODEC

FILE_NAME = "checkpoint.bson"
FORMAT = 1


@dataclass(slots=True)
class CollectionImage:
    ns: str
    options: dict[str, Any]
    uuid: Any
    indexes: list[dict[str, Any]]
    blobs: list[bytes]  # stored (possibly compressed) documents


@dataclass(slots=True)
class Image:
    """A consistent snapshot; `blobs` are immutable bytes shared with the live store."""

    replay_from: int
    sessions: list[dict[str, Any]] = field(default_factory=list)
    collections: list[CollectionImage] = field(default_factory=list)


def write(path: Path, image: Image) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        fh.write(_doc({"format": FORMAT, "replayFrom": image.replay_from, "sessions": image.sessions}))
        for c in image.collections:
            header = {
                "ns": c.ns,
                "options": c.options,
                "uuid": c.uuid,
                "indexes": c.indexes,
                "count": len(c.blobs),
            }
            fh.write(_doc(header))
            fh.writelines(_framed(c.blobs))
        fh.write(_doc({"end": True}))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _doc(d: dict[str, Any]) -> bytes:
    return bson.encode(d, codec_options=CODEC)


def _framed(blobs: list[bytes]) -> Iterator[bytes]:
    # Stored blobs may be compressed (not BSON), so each carries its own length.
    for b in blobs:
        yield len(b).to_bytes(4, "little")
        yield b


class CorruptCheckpoint(RuntimeError):
    pass


def read(path: Path) -> Image | None:
    if not path.exists():
        return None
    with path.open("rb") as fh:
        header = _read_doc(fh)
        if header.get("format") != FORMAT:
            raise CorruptCheckpoint(f"{path}: unknown checkpoint format {header.get('format')!r}")
        image = Image(replay_from=int(header["replayFrom"]), sessions=list(header.get("sessions", [])))
        while True:
            doc = _read_doc(fh)
            if doc.get("end"):
                return image
            blobs = []
            for _ in range(int(doc["count"])):
                size = int.from_bytes(_exact(fh, 4), "little")
                blobs.append(_exact(fh, size))
            image.collections.append(
                CollectionImage(doc["ns"], dict(doc["options"]), doc["uuid"], list(doc["indexes"]), blobs)
            )


def _exact(fh: BinaryIO, n: int) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise CorruptCheckpoint(f"{fh.name}: truncated checkpoint")
    return data


def _read_doc(fh: BinaryIO) -> dict[str, Any]:
    head = _exact(fh, 4)
    size = int.from_bytes(head, "little", signed=True)
    return bson.decode(head + _exact(fh, size - 4), CODEC)
