"""The cluster-wide read and write concern defaults (`setDefaultRWConcern`/`getDefaultRWConcern`).

As on mongod, they live in `config.settings` under `_id: "ReadWriteConcernDefaults"`, written
through the ordinary replicated write path, so every member and a restart see the same defaults.
Without one, mongod 5.0+'s implicit defaults hold: read concern `local`, write concern
`{w: "majority"}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bson import Timestamp

from mongoemu.errors import CommandError

if TYPE_CHECKING:
    from mongoemu.storage.engine import StorageEngine

DEFAULTS_ID = "ReadWriteConcernDefaults"
IMPLICIT_READ = {"level": "local"}
IMPLICIT_WRITE = {"w": "majority", "wtimeout": 0}
_READ_LEVELS = ("local", "available", "majority")


def stored(engine: StorageEngine) -> dict[str, Any] | None:
    coll = engine.collection("config", "settings")
    return coll.get(DEFAULTS_ID) if coll is not None else None


def default_write_concern(engine: StorageEngine) -> dict[str, Any] | None:
    doc = stored(engine)
    return doc.get("defaultWriteConcern") if doc else None


def default_read_concern(engine: StorageEngine) -> dict[str, Any] | None:
    doc = stored(engine)
    return doc.get("defaultReadConcern") if doc else None


def reply(engine: StorageEngine) -> dict[str, Any]:
    """getDefaultRWConcern's answer."""
    doc = stored(engine) or {}
    out: dict[str, Any] = {
        "defaultReadConcern": doc.get("defaultReadConcern") or dict(IMPLICIT_READ),
        "defaultWriteConcern": doc.get("defaultWriteConcern") or dict(IMPLICIT_WRITE),
    }
    if "updateOpTime" in doc:
        out["updateOpTime"] = doc["updateOpTime"]
        out["updateWallClockTime"] = doc["updateWallClockTime"]
    out["defaultReadConcernSource"] = "global" if doc.get("defaultReadConcern") else "implicit"
    out["defaultWriteConcernSource"] = "global" if doc.get("defaultWriteConcern") else "implicit"
    out["localUpdateWallClockTime"] = doc.get("updateWallClockTime", datetime.now(UTC).replace(tzinfo=None))
    return out


def updated(
    engine: StorageEngine, body: Mapping[str, Any], write: dict[str, Any] | None, optime_ts: Timestamp
) -> dict[str, Any]:
    """The new defaults document for a setDefaultRWConcern request, checked as mongod checks it
    (`write`: its defaultWriteConcern already parsed by the write-concern parser)."""
    read = body.get("defaultReadConcern")
    if read is None and write is None:
        raise CommandError(
            2, 'At least one of the "defaultReadConcern" or "defaultWriteConcern" fields must be present'
        )
    doc = dict(stored(engine) or {"_id": DEFAULTS_ID})
    if read is not None:
        if not isinstance(read, Mapping):
            raise CommandError(14, "defaultReadConcern must be an object")
        if set(read) - {"level"}:
            raise CommandError(2, "Default read concern must have only level specified")
        level = read.get("level")
        if level is not None and level not in _READ_LEVELS:
            raise CommandError(
                2, f"Default read concern level must be local, available or majority, not {level}"
            )
        if level is None:
            doc.pop("defaultReadConcern", None)
        else:
            doc["defaultReadConcern"] = {"level": level}
    if write is not None:
        if write.get("w") == 0:
            raise CommandError(2, "Default write concern cannot be set to w:0")
        doc["defaultWriteConcern"] = write
    doc["updateOpTime"] = optime_ts
    doc["updateWallClockTime"] = datetime.now(UTC).replace(tzinfo=None)
    return doc
