"""Pre-images for change streams: the version of a document an update, replace or delete
replaced, kept for collections created (or modified) with `changeStreamPreAndPostImages:
{enabled: true}`, as mongod keeps them in `config.system.preimages`.

Every member records them as it applies entries (its own writes and replicated ones alike), in
the order of the entry's operations, so a transaction's k-th document operation finds the k-th
pre-image recorded at its timestamp. A pre-image lives while its entry is in the oplog window.
Unlike mongod's, they are kept in memory: those of entries applied before a restart are gone
(`fullDocumentBeforeChange: whenAvailable` then gives null, `required` fails).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from bson import Timestamp

from mongoemu.oplog import OplogEntry

Key = tuple[int, int]


def enabled(options: Mapping[str, Any]) -> bool:
    setting = options.get("changeStreamPreAndPostImages")
    return isinstance(setting, Mapping) and bool(setting.get("enabled"))


class PreImages:
    def __init__(self) -> None:
        # (seconds, increment) of an entry -> position of the operation -> its pre-image.
        self._by_ts: OrderedDict[Key, dict[int, dict[str, Any] | None]] = OrderedDict()
        self._current: Key | None = None
        self._position = 0

    def __len__(self) -> int:
        return len(self._by_ts)

    def record(self, entry: OplogEntry, before: dict[str, Any] | None, keep: bool) -> None:
        """Called for every document operation applied, in order, so that positions within an
        entry line up; `keep` says whether the collection wants its pre-images."""
        key = (entry.optime.ts.time, entry.optime.ts.inc)
        if key != self._current:
            self._current, self._position = key, 0
        else:
            self._position += 1
        if keep:
            self._by_ts.setdefault(key, {})[self._position] = before

    def get(self, ts: Timestamp, position: int) -> dict[str, Any] | None:
        return self._by_ts.get((ts.time, ts.inc), {}).get(position)

    def has(self, ts: Timestamp, position: int) -> bool:
        return position in self._by_ts.get((ts.time, ts.inc), {})

    def expire_before(self, ts: Timestamp) -> None:
        """Forget pre-images of entries older than `ts` (the oplog window's oldest entry)."""
        while self._by_ts:
            key = next(iter(self._by_ts))
            if key >= (ts.time, ts.inc):
                return
            del self._by_ts[key]

    def truncate_after(self, ts: Timestamp) -> None:
        """Forget pre-images of entries a rollback removed."""
        while self._by_ts:
            key = next(reversed(self._by_ts))
            if key <= (ts.time, ts.inc):
                return
            del self._by_ts[key]
