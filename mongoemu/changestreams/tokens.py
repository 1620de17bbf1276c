"""Resume tokens: `{_data: <hex string>}`, as mongod gives them, ordered like the events.

mongod's `_data` is the hex of a KeyString of (clusterTime, version, tokenType, txnOpIndex,
fromInvalidate, uuid, eventIdentifier). Drivers only cache and echo tokens, so the emulator
writes an opaque string with the same ordering guarantees instead of mongod's exact bytes:
`82` and the timestamp (the same first 18 characters as mongod's, whose KeyString type byte
for a Timestamp is 0x82), the token type (a high-water mark sorts before the events at its
time), the index of the operation within a transaction, the invalidate flag, and the
collection's UUID (checked, not ordered). Comparing two tokens' strings compares the events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bson import Binary, Timestamp

from mongoemu.errors import CommandError

_PREFIX = "82"
_EVENT = 0x80
_HIGH_WATER_MARK = 0x00
_FIXED = len(_PREFIX) + 16 + 2 + 8 + 1


@dataclass(frozen=True, slots=True)
class ResumeToken:
    time: int
    inc: int
    event: bool = True
    txn_op_index: int = 0
    from_invalidate: bool = False
    uuid: bytes = b""

    @classmethod
    def high_water_mark(cls, ts: Timestamp) -> ResumeToken:
        """Every event before `ts` has been seen; events at `ts` and later have not."""
        return cls(ts.time, ts.inc, event=False)

    @classmethod
    def for_event(cls, ts: Timestamp, txn_op_index: int = 0, uuid: Any = None) -> ResumeToken:
        return cls(ts.time, ts.inc, True, txn_op_index, False, bytes(uuid) if uuid is not None else b"")

    def invalidating(self) -> ResumeToken:
        return ResumeToken(self.time, self.inc, True, self.txn_op_index, True, self.uuid)

    @property
    def timestamp(self) -> Timestamp:
        return Timestamp(self.time, self.inc)

    def key(self) -> tuple[int, int, bool, int, bool]:
        return (self.time, self.inc, self.event, self.txn_op_index, self.from_invalidate)

    def __lt__(self, other: ResumeToken) -> bool:
        return self.key() < other.key()

    def data(self) -> str:
        kind = _EVENT if self.event else _HIGH_WATER_MARK
        return (
            f"{_PREFIX}{self.time:08X}{self.inc:08X}{kind:02X}{self.txn_op_index:08X}"
            f"{int(self.from_invalidate):1X}{self.uuid.hex().upper()}"
        )

    def to_document(self) -> dict[str, Any]:
        return {"_data": self.data()}

    @classmethod
    def parse(cls, doc: Any, option: str) -> ResumeToken:
        """A token a client sent back (`resumeAfter`/`startAfter`); mongod's errors otherwise."""
        if not isinstance(doc, Mapping):
            raise CommandError(
                14, f"BSON field '$changeStream.{option}' is the wrong type, expected type 'object'"
            )
        data = doc.get("_data")
        if isinstance(data, Binary) or not isinstance(data, str):
            raise CommandError(9, "Bad resume token: _data of missing or of wrong type")
        try:
            if not data.startswith(_PREFIX) or len(data) < _FIXED:
                raise ValueError(data)
            kind = int(data[18:20], 16)
            uuid = bytes.fromhex(data[_FIXED:])
            return cls(
                time=int(data[2:10], 16),
                inc=int(data[10:18], 16),
                event=kind == _EVENT,
                txn_op_index=int(data[20:28], 16),
                from_invalidate=bool(int(data[28:29], 16)),
                uuid=uuid,
            )
        except ValueError:
            raise CommandError(260, f"Invalid resume token: {data!r} was not issued by this server") from None
