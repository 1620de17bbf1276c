"""The one path every client write takes: optime -> oplog entry -> storage -> journal + oplog
window -> write concern.

`engine.apply` raises a WriteError (a duplicate key, say) before anything is logged; entries
that applied are journaled together when the command's statements are done (before any await,
so no other connection observes an applied but unjournaled change), and the reply waits for
the write concern. Retryable writes carry `lsid`/`txnNumber`/`stmtId` on their entries, which
is all the session table needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import bson
from bson.raw_bson import RawBSONDocument

from mongoemu.errors import CommandError
from mongoemu.oplog import OplogEntry, OpTime
from mongoemu.sessions import StatementResult
from mongoemu.wire import CODEC, MAX_BSON_OBJECT_SIZE

if TYPE_CHECKING:
    from mongoemu.commands.registry import CommandContext

ID_INDEX_SPEC = {"v": 2, "key": {"_id": 1}, "name": "_id_"}


def encode_document(doc: dict[str, Any]) -> RawBSONDocument:
    """A document as stored and logged; `_id` first, as mongod stores it."""
    if next(iter(doc), None) != "_id":
        doc = {"_id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}
    raw = bson.encode(doc, codec_options=CODEC)
    if len(raw) > MAX_BSON_OBJECT_SIZE:
        raise CommandError(
            10334,
            f"object to insert too large. size in bytes: {len(raw)}, max size: {MAX_BSON_OBJECT_SIZE}",
            code_name="BSONObjectTooLarge",
        )
    return RawBSONDocument(raw)


class WriteBatch:
    """The writes of one command. Call `write` per change, `flush` in a `finally`, then
    `await finish(reply)`."""

    def __init__(self, ctx: CommandContext) -> None:
        self.ctx = ctx
        self.member = ctx.member
        self.retryable = ctx.is_retryable_write
        self.pending: list[OplogEntry] = []
        self.last_optime: OpTime | None = None

    def stmt_id(self, index: int) -> int:
        """mongod's statement id of the index-th statement: `stmtIds[i]`, `stmtId + i` or i."""
        body = self.ctx.body
        ids = body.get("stmtIds")
        if isinstance(ids, list) and index < len(ids):
            return int(ids[index])
        return int(body.get("stmtId", 0)) + index

    def prior(self, stmt_id: int) -> StatementResult | None:
        """The stored result when this statement of a retryable write already ran."""
        if not self.retryable:
            return None
        assert self.ctx.lsid is not None and self.ctx.txn_number is not None
        return self.member.sessions.lookup(self.ctx.lsid, self.ctx.txn_number, stmt_id)

    def write(
        self,
        op: str,
        ns: str,
        o: dict[str, Any] | RawBSONDocument,
        *,
        o2: dict[str, Any] | None = None,
        stmt_id: int | None = None,
        decoded: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Log and apply one change; return the changed document's previous version."""
        member = self.member
        tagged = self.retryable and stmt_id is not None
        entry = OplogEntry(
            op,
            ns,
            o,
            member.coordinator.next_optime(),
            o2,
            lsid=self.ctx.lsid if tagged else None,
            txn_number=self.ctx.txn_number if tagged else None,
            stmt_id=stmt_id if tagged else None,
        )
        before = member.engine.apply(entry, decoded)
        self.pending.append(entry)
        self.last_optime = entry.optime
        member.record_pre_image(entry, before)
        return before

    def ensure_collection(self, db: str, name: str) -> bool:
        """Create the collection (an oplog `c` entry) if it does not exist; True if created."""
        if self.member.engine.collection(db, name) is not None:
            return False
        self.write("c", f"{db}.$cmd", {"create": name, "idIndex": ID_INDEX_SPEC})
        return True

    def flush(self) -> None:
        if self.pending:
            pending, self.pending = self.pending, []
            self.member.log_applied(pending)

    async def finish(self, reply: dict[str, Any]) -> dict[str, Any]:
        self.flush()
        member = self.member
        wc = self.ctx.write_concern or {}
        if wc.get("j") and self.last_optime is not None:
            await member.storage.journal.sync_async()
        optime = self.last_optime or member.coordinator.last_applied
        wce = await member.coordinator.await_write_concern(optime, self.ctx.write_concern)
        if wce is not None:
            reply["writeConcernError"] = wce
        return reply
