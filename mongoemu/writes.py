"""The one path every client write takes: optime -> oplog entry -> storage -> journal + oplog
window -> write concern.

`engine.apply` raises a WriteError (a duplicate key, say) before anything is logged; entries
that applied are journaled together when the command's statements are done, or earlier when
the command gives the event loop a turn (`operation.py`), so no other connection observes an
applied but unjournaled change and the oplog stays in optime order. Taking an optime, applying
and queueing the entry is one atomic section. The reply then waits for the write concern
(bounded by maxTimeMS too). Retryable writes carry `lsid`/`txnNumber`/`stmtId` on their entries, which
is all the session table needs. Inside a multi-document transaction the same calls read the
transaction's snapshot and buffer the writes in it (`transactions.py`) until it commits; a
statement outside transactions that meets a document an open transaction has written waits
for that transaction to end, then runs again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import bson
from bson.raw_bson import RawBSONDocument

from mongoemu.errors import CloseConnection, CommandError
from mongoemu.operation import max_time_expired
from mongoemu.oplog import OplogEntry, OpTime
from mongoemu.sessions import StatementResult
from mongoemu.storage import diff, query, update, validation
from mongoemu.storage.collection import decode
from mongoemu.storage.query import Match, Query
from mongoemu.transactions import LockedByTransaction
from mongoemu.wire import CODEC, MAX_BSON_OBJECT_SIZE

if TYPE_CHECKING:
    from mongoemu.commands.registry import CommandContext

ID_INDEX_SPEC = {"v": 2, "key": {"_id": 1}, "name": "_id_"}
T = TypeVar("T")


def insert_too_large(size: int) -> CommandError:
    return CommandError(
        2, f"object to insert too large. size in bytes: {size}, max size: {MAX_BSON_OBJECT_SIZE}"
    )


def update_too_large(size: int) -> CommandError:
    return CommandError(
        10334,
        f"Resulting document after update is larger than {MAX_BSON_OBJECT_SIZE}",
        code_name="BSONObjectTooLarge",
    )


def upsert_too_large(size: int) -> CommandError:
    return CommandError(
        17420, f"Document to upsert is larger than {MAX_BSON_OBJECT_SIZE}", code_name="Location17420"
    )


def encode_document(
    doc: dict[str, Any], too_large: Callable[[int], CommandError] = insert_too_large
) -> RawBSONDocument:
    """A document as stored and logged; `_id` first, as mongod stores it. Over 16 MiB it is
    refused with `too_large(size)`: mongod's error differs for an insert, an update, an upsert."""
    if next(iter(doc), None) != "_id":
        doc = {"_id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}
    raw = bson.encode(doc, codec_options=CODEC)
    if len(raw) > MAX_BSON_OBJECT_SIZE:
        raise too_large(len(raw))
    return RawBSONDocument(raw)


class WriteBatch:
    """The writes of one command. Call `write` per change, `flush` in a `finally`, then
    `await finish(reply)`."""

    def __init__(self, ctx: CommandContext) -> None:
        self.ctx = ctx
        self.member = ctx.member
        self.retryable = ctx.is_retryable_write
        self.validate = not ctx.body.get("bypassDocumentValidation", False)
        self.close_connection = False  # set by onPrimaryTransactionalWrite
        self.txn = ctx.transaction
        self.pending: list[OplogEntry] = []
        self.last_optime: OpTime | None = None
        ctx.op.on_yield(self.flush)

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
        o: Mapping[str, Any],
        *,
        o2: dict[str, Any] | None = None,
        stmt_id: int | None = None,
        decoded: dict[str, Any] | None = None,
        raw: bytes | None = None,
    ) -> dict[str, Any] | None:
        """Log and apply one change; return the changed document's previous version. `decoded`
        (and `raw`) is the document the change leaves stored, when the caller has it."""
        member = self.member
        if op in ("i", "u") and self.validate:
            self.check_validator(ns, o, o2, decoded)
        if self.txn is not None:
            return member.transactions.write(self.txn, op, ns, o, o2=o2, doc=decoded, raw=raw)
        if op in ("i", "u", "d"):
            self._check_unlocked(ns, (o2 or o)["_id"])
        tagged = self.retryable and stmt_id is not None
        if tagged and op != "n":
            self._transactional_write_fail_point()
        coll = member.engine.collection_ns(ns) if op in ("i", "u", "d") else None
        with self.ctx.op.atomic():
            entry = OplogEntry(
                op,
                ns,
                o,  # type: ignore[arg-type]
                member.coordinator.next_optime(),
                o2,
                lsid=self.ctx.lsid if tagged else None,
                txn_number=self.ctx.txn_number if tagged else None,
                stmt_id=stmt_id if tagged else None,
                ui=coll.uuid if coll is not None else None,
            )
            before = member.engine.apply(entry, decoded, raw=raw)
            self.pending.append(entry)
            self.last_optime = entry.optime
            member.record_pre_image(entry, before, decoded)
        return before

    def _transactional_write_fail_point(self) -> None:
        """onPrimaryTransactionalWrite: close the connection (unless `closeConnection: false`)
        and fail this statement before it commits (`failBeforeCommitExceptionCode`) or after."""
        data = self.member.failpoints.fires("onPrimaryTransactionalWrite")
        if data is None:
            return
        close = data.get("closeConnection", True)
        if "failBeforeCommitExceptionCode" in data:
            if close:  # mongod ends the connection, then fails the statement: nothing to answer
                raise CloseConnection("onPrimaryTransactionalWrite fails the write and closes the connection")
            code = int(data["failBeforeCommitExceptionCode"])
            raise CommandError(code, "Failing write for test before commit")
        if close:
            self.close_connection = True

    def check_validator(
        self, ns: str, o: Any, o2: dict[str, Any] | None, decoded: dict[str, Any] | None
    ) -> None:
        """The collection's validator against the document a change leaves (121 when it fails)."""
        coll = self.member.engine.collection_ns(ns)
        validator = validation.Validator.of(coll.options) if coll is not None else None
        if validator is None:
            return
        new = (
            decoded
            if decoded is not None
            else decode(o.raw if isinstance(o, RawBSONDocument) else bson.encode(o))
        )
        old = coll.get(o2["_id"]) if coll is not None and o2 is not None else None
        validation.check(validator, ns, new, old)

    def update(
        self,
        ns: str,
        before: Mapping[str, Any],
        after: dict[str, Any],
        stored: RawBSONDocument,
        spec: Any,
        *,
        stmt_id: int | None,
    ) -> None:
        """Log an update as mongod does: a replacement-style update as the whole new document,
        operator and pipeline updates as a `$v: 2` diff (a pipeline's falls back to the whole
        document when the diff would be larger)."""
        how = update.kind(spec)
        o: Mapping[str, Any] = stored
        if how != "replacement":
            terminal = diff.operator_terminal(spec) if how == "operators" else diff.never
            computed = diff.compute(before, after, terminal, size_limit=how == "pipeline")
            if computed is not None:
                o = diff.update_entry(computed)
        self.write("u", ns, o, o2={"_id": after["_id"]}, stmt_id=stmt_id, decoded=after, raw=stored.raw)

    def _check_unlocked(self, ns: str, _id: Any) -> None:
        holder = self.member.transactions.lock_holder(ns, _id)
        if holder is not None:
            raise LockedByTransaction(holder)

    def find(self, db: str, name: str, q: Query) -> list[Match]:
        """The documents a statement acts on: in a transaction, as the transaction sees them;
        outside, raises LockedByTransaction before anything is written when one of them is
        locked by an open transaction."""
        overlay = self.member.transactions.overlay(self.txn, f"{db}.{name}") if self.txn else None
        found = list(query.run(self.member.engine.collection(db, name), q, overlay))
        if self.txn is None:
            for m in found:
                self._check_unlocked(f"{db}.{name}", m.doc["_id"])
        return found

    async def run(self, statement: Callable[[], T]) -> T:
        """Run a statement; when it meets a transaction's lock, journal what applied, wait for
        that transaction to end (within the command's maxTimeMS) and run it again."""
        while True:
            try:
                return statement()
            except LockedByTransaction as locked:
                self.flush()
                try:
                    await asyncio.wait_for(locked.holder.finished.wait(), self.ctx.op.remaining())
                except TimeoutError:
                    raise max_time_expired() from None

    def ensure_collection(self, db: str, name: str) -> bool:
        """Create the collection (an oplog `c` entry) if it does not exist; True if created."""
        if self.txn is not None:
            exists = self.member.transactions.collection_exists(self.txn, f"{db}.{name}")
        else:
            exists = self.member.engine.collection(db, name) is not None
        if exists:
            return False
        self.write("c", f"{db}.$cmd", {"create": name, "idIndex": ID_INDEX_SPEC})
        return True

    def flush(self) -> None:
        if self.pending:
            pending, self.pending = self.pending, []
            self.member.log_applied(pending)

    async def finish(self, reply: dict[str, Any]) -> dict[str, Any]:
        self.flush()
        if self.close_connection:
            raise CloseConnection("onPrimaryTransactionalWrite closes the connection after the write")
        if self.txn is not None:
            return reply  # the write concern is the commit's
        member = self.member
        wc = self.ctx.write_concern or {}
        if wc.get("j") and self.last_optime is not None:
            await member.storage.journal.sync_async()
        optime = self.last_optime or member.coordinator.last_applied
        wce = await member.coordinator.await_write_concern(optime, self.ctx.write_concern, self.ctx.op)
        if wce is not None:
            reply["writeConcernError"] = wce
        return reply
