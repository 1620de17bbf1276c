"""Reading a collection as it was at one cluster time (readConcern snapshot with atClusterTime),
so a restore point's reference and the application export see one consistent moment under load.

The first read without a time lets the server pick its majority commit point and report it
(`atClusterTime` in the cursor); later reads pass that time. mongod keeps the history such a
read needs for minSnapshotHistoryWindowInSeconds (300 s).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bson import Timestamp
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.database import Database

BATCH = 1000
RAW = CodecOptions(document_class=RawBSONDocument)


class SnapshotReader:
    def __init__(self, db: Database[Any], at: Timestamp | None = None) -> None:
        self.db = db
        self.at = at  # None until the first read chose it

    def find(
        self, collection: str, projection: dict[str, Any] | None = None, sort: dict[str, int] | None = None
    ) -> Iterator[RawBSONDocument]:
        """The collection's documents (raw BSON) at the reader's time."""
        concern: dict[str, Any] = {"level": "snapshot"}
        if self.at is not None:
            concern["atClusterTime"] = self.at
        command: dict[str, Any] = {"find": collection, "batchSize": BATCH, "readConcern": concern}
        if projection is not None:
            command["projection"] = projection
        if sort is not None:
            command["sort"] = sort
        cursor = self.db.command(command, codec_options=RAW)["cursor"]
        if self.at is None:
            self.at = cursor["atClusterTime"]
        yield from cursor["firstBatch"]
        while cursor["id"]:
            more = {"getMore": cursor["id"], "collection": collection, "batchSize": BATCH}
            cursor = self.db.command(more, codec_options=RAW)["cursor"]
            yield from cursor["nextBatch"]
