"""Reading the oplog through the driver: its newest entry, the majority commit point, a range of
entries as raw BSON. Backups read `local.oplog.rs` of the primary, as mongodump --oplog does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from bson import Timestamp
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.collection import Collection

from chaos.backup.layout import Point, ts_text

RAW = CodecOptions(document_class=RawBSONDocument)
# Namespaces a restore never replays (as mongorestore skips them): the target's own.
SKIPPED_DATABASES = ("local.", "config.")


def oplog(client: MongoClient[Any], raw: bool = False) -> Collection[Any]:
    return client.local.get_collection("oplog.rs", codec_options=RAW if raw else None)


def wall_seconds(wall: Any) -> float | None:
    if isinstance(wall, datetime):
        return (wall if wall.tzinfo else wall.replace(tzinfo=UTC)).timestamp()
    return None


def point_of(entry: Any) -> Point:
    return Point(ts=ts_text(entry["ts"]), wall=wall_seconds(entry.get("wall")))


def newest(client: MongoClient[Any]) -> Point:
    entry = oplog(client).find_one({}, {"ts": 1, "wall": 1}, sort=[("$natural", -1)])
    if entry is None:
        raise ValueError("the oplog is empty: is this a replica-set member?")
    return point_of(entry)


def commit_point(client: MongoClient[Any]) -> Timestamp:
    """The majority commit point (replSetGetStatus optimes.lastCommittedOpTime)."""
    status = client.admin.command("replSetGetStatus")
    return status["optimes"]["lastCommittedOpTime"]["ts"]


def wait_committed(client: MongoClient[Any], ts: Timestamp, timeout: float) -> None:
    """Until a majority has `ts`, so nothing a backup keeps can be rolled back."""
    deadline = time.monotonic() + timeout
    while commit_point(client) < ts:
        if time.monotonic() >= deadline:
            raise TimeoutError(f"the majority commit point did not reach {ts_text(ts)} within {timeout:g} s")
        time.sleep(0.1)


def entries(client: MongoClient[Any], after: Timestamp, until: Timestamp) -> Iterator[RawBSONDocument]:
    """Raw entries with after <= ts <= until, in oplog order."""
    query = {"ts": {"$gte": after, "$lte": until}}
    yield from oplog(client, raw=True).find(query, sort=[("$natural", 1)], batch_size=1000)
