"""Multi-document transactions on the primary, as mongod's TransactionParticipant runs them.

A transaction starts with the first command carrying `autocommit: false` and
`startTransaction: true`. It reads a snapshot of the data as of that moment (the history in
`repl/majority.py` is pinned, so a version changed later can still be read) with its own
writes on top. Its writes are buffered, not applied: each takes the document's lock, and a
document another open transaction has written, or that changed since the snapshot, is a
WriteConflict (112). A write outside any transaction that meets a lock waits until the
transaction ends, as mongod's write-conflict retry loop does. `commitTransaction` applies the
writes in one step and logs them as one `applyOps` entry on `admin.$cmd` (mongod's format for
an unprepared transaction), so secondaries, journal replay and rollback treat the transaction
as one. `abortTransaction`, a failed statement, a new term (stepdown) and
`transactionLifetimeLimitSeconds` (a server parameter) drop the buffered writes.

What survives a restart or a failover is the session table (`sessions.py`, rebuilt from the
oplog): a session's newest transaction number and whether that transaction committed, which is
what a retried `commitTransaction` needs. In-progress and aborted states live in memory on the
primary only, as in mongod.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

import bson

from mongoemu.errors import CommandError, WriteError
from mongoemu.oplog import NULL_OPTIME, OplogEntry, OpTime
from mongoemu.repl.majority import key
from mongoemu.sessions import SESSION_TIMEOUT_S, session_key
from mongoemu.storage.collection import decode
from mongoemu.storage.engine import raw_of, split_ns
from mongoemu.storage.query import Overlay
from mongoemu.wire import CODEC, MAX_BSON_OBJECT_SIZE

if TYPE_CHECKING:
    from mongoemu.member import Member

# The commands mongod runs inside a transaction (its txnCmdAllowlist, replica-set part).
ALLOWED_COMMANDS = frozenset(
    {"abortTransaction", "aggregate", "commitTransaction", "create", "createIndexes", "delete",
     "distinct", "find", "findAndModify", "getMore", "insert", "killCursors", "update"}
)  # fmt: skip
ENDING_COMMANDS = frozenset({"commitTransaction", "abortTransaction"})
_TXN_COLLECTION_COMMANDS = frozenset({"create", "createIndexes"})


_TXN_READ_CONCERN_LEVELS = frozenset({"local", "majority", "snapshot"})
_NO_TXN_DATABASES = frozenset({"admin", "config", "local"})


def _invalid(message: str) -> CommandError:
    return CommandError(72, message)


def session_options(body: Mapping[str, Any], command: str, db: str) -> bool | None:
    """None when the command runs outside a transaction, else whether it starts one; mongod's
    errors for session fields that do not fit together (initializeOperationSessionInfo)."""
    if "txnNumber" in body and "lsid" not in body:
        raise _invalid("Transaction number requires a session ID to also be specified")
    if "autocommit" not in body:
        if "startTransaction" in body:
            raise _invalid("'startTransaction' field requires 'autocommit' field to also be specified")
        return None
    if "txnNumber" not in body:
        raise _invalid("'autocommit' field requires a transaction number to also be specified")
    if body["autocommit"] is not False:
        raise _invalid("Specifying autocommit=true is not allowed.")
    if "startTransaction" in body and body["startTransaction"] is not True:
        raise _invalid("Specifying startTransaction=false is not allowed.")
    if command not in ALLOWED_COMMANDS:
        raise CommandError(263, f"Cannot run '{command}' in a multi-document transaction.")
    if command not in ENDING_COMMANDS:
        if db in _NO_TXN_DATABASES:
            raise CommandError(263, f"Cannot run command against the '{db}' database in a transaction.")
        if "writeConcern" in body:
            raise _invalid("writeConcern is not allowed within a multi-statement transaction")
    rc = body.get("readConcern")
    if isinstance(rc, Mapping):
        if rc.get("level", "local") not in _TXN_READ_CONCERN_LEVELS:
            raise _invalid(
                "The readConcern level must be either 'local' (default), 'majority' or 'snapshot' in "
                "order to run in a transaction"
            )
        if "atClusterTime" in rc:
            raise CommandError(
                115,
                "readConcern atClusterTime in a transaction is not supported by the emulator",
                code_name="CommandNotSupported",
            )
    return body.get("startTransaction") is True


class TxnState(Enum):
    IN_PROGRESS = "inProgress"
    COMMITTED = "committed"
    ABORTED = "aborted"


@dataclass(slots=True)
class _Op:
    """One buffered write: the oplog operation, and the document it leaves (i and u)."""

    op: str
    ns: str
    o: Mapping[str, Any]
    o2: dict[str, Any] | None = None
    doc: dict[str, Any] | None = None
    raw: bytes | None = None


@dataclass(eq=False)
class Transaction:
    lsid: dict[str, Any]
    session: bytes
    txn_number: int
    term: int
    read_optime: OpTime
    read_concern: dict[str, Any] | None
    expires_at: float
    state: TxnState = TxnState.IN_PROGRESS
    ops: list[_Op] = field(default_factory=list)
    # ns -> id key -> this transaction's version of the document (None: deleted by it).
    writes: dict[str, dict[bytes, dict[str, Any] | None]] = field(default_factory=dict)
    created: set[str] = field(default_factory=set)  # collections this transaction creates
    locked: set[tuple[str, bytes]] = field(default_factory=set)
    commit_optime: OpTime | None = None
    abort_reason: str = ""
    last_use: float = field(default_factory=time.monotonic)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def in_progress(self) -> bool:
        return self.state is TxnState.IN_PROGRESS


class LockedByTransaction(Exception):
    """A write outside transactions met a document an open transaction has written; the
    statement runs again once `holder` has ended."""

    def __init__(self, holder: Transaction) -> None:
        super().__init__(f"document locked by transaction {holder.txn_number}")
        self.holder = holder


def write_conflict() -> CommandError:
    return CommandError(
        112,
        "Caused by :: Write conflict during plan execution and yielding is disabled. :: Please retry "
        "your operation or multi-document transaction.",
    )


def no_such_transaction(message: str) -> CommandError:
    return CommandError(251, message)


class TransactionTable:
    def __init__(self, member: Member) -> None:
        self.member = member
        self._txns: dict[bytes, Transaction] = {}  # the newest transaction of each session
        self._locks: dict[tuple[str, bytes], Transaction] = {}

    def __len__(self) -> int:
        return sum(1 for t in self._txns.values() if t.in_progress)

    # --- starting and continuing --------------------------------------------------------
    def _stale(self, txn: Transaction) -> bool:
        coord = self.member.coordinator
        return txn.term != coord.term or not coord.writable

    def begin_or_continue(
        self, lsid: Mapping[str, Any], txn_number: int, start: bool, command: str, read_concern: Any
    ) -> Transaction:
        """The transaction a command with `autocommit: false` runs in (mongod's beginOrContinue)."""
        coord = self.member.coordinator
        if not coord.writable:
            raise CommandError(10107, "Not primary so we cannot begin or continue a transaction")
        skey = session_key(lsid)
        self.reap()
        txn = self._txns.get(skey)
        durable = self.member.sessions.newest(lsid)
        active = max(txn.txn_number if txn is not None else -1, durable[0] if durable else -1)
        if txn_number < active:
            raise CommandError(
                225,
                f"Cannot start transaction {txn_number} on session {_show(lsid)} because a newer "
                f"transaction with txnNumber {active} has already started on this session.",
            )
        if start:
            if txn_number == active:
                raise CommandError(
                    117,
                    "Only servers in a sharded cluster can start a new transaction at the active "
                    "transaction number",
                )
            if txn is not None and txn.in_progress:
                self.abort(txn, "a newer transaction started on the session")
            txn = self._begin(lsid, skey, txn_number, read_concern)
            return txn
        if txn is None or txn.txn_number != txn_number:
            if durable == (txn_number, True):
                # Committed before a restart or failover: only a commit retry can reach it.
                txn = Transaction(dict(lsid), skey, txn_number, coord.term, coord.last_applied, None, 0.0)
                txn.state = TxnState.COMMITTED
                self._txns[skey] = txn
            else:
                raise no_such_transaction(
                    f"Given transaction number {txn_number} does not match any in-progress transactions. "
                    f"The active transaction number is {active}"
                )
        if txn.state is TxnState.ABORTED:
            raise no_such_transaction(f"Transaction with {{ txnNumber: {txn_number} }} has been aborted.")
        if txn.state is TxnState.COMMITTED and command != "commitTransaction":
            raise CommandError(256, f"Transaction with {{ txnNumber: {txn_number} }} has been committed.")
        if read_concern is not None and command not in ENDING_COMMANDS:
            raise CommandError(72, "Only the first command in a transaction may specify a readConcern")
        txn.last_use = time.monotonic()
        return txn

    def _begin(self, lsid: Mapping[str, Any], skey: bytes, txn_number: int, read_concern: Any) -> Transaction:
        coord = self.member.coordinator
        txn = Transaction(
            lsid=dict(lsid),
            session=skey,
            txn_number=txn_number,
            term=coord.term,
            read_optime=coord.last_applied,
            read_concern=dict(read_concern) if isinstance(read_concern, Mapping) else None,
            # transactionLifetimeLimitSeconds as it is when the transaction starts.
            expires_at=time.monotonic() + float(self.member.parameters["transactionLifetimeLimitSeconds"]),
        )
        coord.majority.pin(txn.read_optime)
        self._txns[skey] = txn
        return txn

    def check_retryable_write(self, lsid: Mapping[str, Any], txn_number: int) -> None:
        """A retryable write on a session: a newer number ends the session's open transaction;
        the number of a transaction cannot be reused for a retryable write."""
        txn = self._txns.get(session_key(lsid))
        durable = self.member.sessions.newest(lsid)
        transaction_number = txn.txn_number if txn is not None else None
        if durable is not None and durable[1]:
            transaction_number = max(transaction_number or -1, durable[0])
        if transaction_number == txn_number:
            raise CommandError(
                217, "Cannot retry a retryable write that has been converted into a transaction"
            )
        if txn is not None and txn.in_progress and txn_number > txn.txn_number:
            self.abort(txn, "a retryable write with a newer txnNumber started on the session")

    # --- ending -------------------------------------------------------------------------
    def abort(self, txn: Transaction, reason: str) -> None:
        if not txn.in_progress:
            return
        txn.state = TxnState.ABORTED
        txn.abort_reason = reason
        self._release(txn)

    def _release(self, txn: Transaction) -> None:
        for lock in txn.locked:
            if self._locks.get(lock) is txn:
                del self._locks[lock]
        txn.locked.clear()
        txn.ops.clear()
        txn.writes.clear()
        self.member.coordinator.majority.unpin(txn.read_optime)
        txn.finished.set()

    def reap(self) -> None:
        """Abort transactions past their lifetime or begun in an older term (a stepdown); forget
        ended ones of sessions unused for the session timeout (the session table keeps what a
        retried commit needs)."""
        now = time.monotonic()
        for skey, txn in list(self._txns.items()):
            if txn.in_progress and (now >= txn.expires_at or self._stale(txn)):
                self.abort(txn, "lifetime limit" if now >= txn.expires_at else "the primary stepped down")
            elif not txn.in_progress and now - txn.last_use > SESSION_TIMEOUT_S:
                del self._txns[skey]

    def kill_all(self) -> None:
        self.kill_sessions(set(self._txns))

    def kill_sessions(self, sessions: set[bytes]) -> None:
        for skey in sessions:
            txn = self._txns.get(skey)
            if txn is not None:
                self.abort(txn, "session killed")

    def commit(self, txn: Transaction) -> OpTime | None:
        """Apply and log the transaction's writes as one applyOps entry; None when it wrote
        nothing (mongod logs nothing for a read-only transaction)."""
        if not txn.ops:
            txn.state = TxnState.COMMITTED
            self._release(txn)
            return None
        member = self.member
        inner = [self._inner(op) for op in txn.ops]
        if len(bson.encode({"applyOps": inner}, codec_options=CODEC)) > MAX_BSON_OBJECT_SIZE:
            self.abort(txn, "too large")
            raise CommandError(
                334,
                "Total size of all transaction operations must be less than 16MB; the emulator logs a "
                "transaction as one applyOps entry (mongod would split it into several)",
            )
        optime = member.coordinator.next_optime()
        applied: list[tuple[OplogEntry, dict[str, Any] | None]] = []
        try:
            for op in txn.ops:
                entry = OplogEntry(op.op, op.ns, op.o, optime, op.o2)  # type: ignore[arg-type]
                applied.append((entry, member.engine.apply(entry, op.doc, raw=op.raw)))
        except CommandError:
            # A collection changed under the transaction (a DDL command ran meanwhile).
            self._undo(applied)
            self.abort(txn, "write conflict at commit")
            raise write_conflict() from None
        inner = [self._inner(op) for op in txn.ops]  # now with the UUIDs of created collections
        entry = OplogEntry(
            "c",
            "admin.$cmd",
            {"applyOps": inner},
            optime,
            lsid=txn.lsid,
            txn_number=txn.txn_number,
            prev_optime=NULL_OPTIME,
        )
        for op_entry, before in applied:
            member.record_pre_image(op_entry, before)
        member.log_applied([entry])
        txn.state = TxnState.COMMITTED
        txn.commit_optime = optime
        self._release(txn)
        return optime

    def _inner(self, op: _Op) -> dict[str, Any]:
        doc: dict[str, Any] = {"op": op.op, "ns": op.ns}
        coll = self.member.engine.collection_ns(op.ns) if op.op != "c" else None
        if coll is not None:
            doc["ui"] = coll.uuid
        doc["o"] = op.o
        if op.o2 is not None:
            doc["o2"] = op.o2
        return doc

    def _undo(self, applied: list[tuple[OplogEntry, dict[str, Any] | None]]) -> None:
        engine = self.member.engine
        for entry, before in reversed(applied):
            if entry.op == "c":
                db, _ = split_ns(entry.ns)
                name = entry.o.get("create")
                if name is not None:
                    engine.databases.get(db, {}).pop(name, None)
                continue
            coll = engine.collection_ns(entry.ns)
            if coll is None:
                continue
            _id = (entry.o2 or entry.o)["_id"]
            coll.delete(_id)
            if before is not None:
                coll.insert(raw_of(before), before, enforce=False)

    # --- what a transaction reads -------------------------------------------------------
    def get(self, txn: Transaction, ns: str, _id: Any) -> dict[str, Any] | None:
        """The transaction's version of one document."""
        own = txn.writes.get(ns, {})
        k = key(_id)
        if k in own:
            return own[k]
        changed, version = self.member.coordinator.majority.version_at(ns, _id, txn.read_optime)
        if changed:
            return version
        return self.member.engine.get_document(ns, _id)

    def overlay(self, txn: Transaction, ns: str) -> Overlay | None:
        versions = self.member.coordinator.majority.overlay(ns, txn.read_optime)
        versions.update(txn.writes.get(ns, {}))
        return Overlay(versions, key) if versions else None

    def collection_exists(self, txn: Transaction, ns: str) -> bool:
        return ns in txn.created or self.member.engine.collection_ns(ns) is not None

    # --- what a transaction writes ------------------------------------------------------
    def write(
        self,
        txn: Transaction,
        op: str,
        ns: str,
        o: Mapping[str, Any],
        *,
        o2: dict[str, Any] | None,
        doc: dict[str, Any] | None,
        raw: bytes | None,
    ) -> dict[str, Any] | None:
        """Buffer one write; return the document's previous version in the transaction."""
        if op == "c":
            self._collection_command(txn, ns, o)
            txn.ops.append(_Op(op, ns, o))
            return None
        if op == "n":
            return None
        _id = (o2 or o)["_id"]
        k = key(_id)
        holder = self._locks.get((ns, k))
        if holder is not None and holder is not txn and holder.in_progress and not self._stale(holder):
            raise write_conflict()
        if self.member.coordinator.majority.changed_after(ns, _id, txn.read_optime):
            raise write_conflict()
        before = self.get(txn, ns, _id)
        if op == "i" and before is not None:
            raise WriteError(
                11000,
                f"E11000 duplicate key error collection: {ns} index: _id_ dup key: {{ _id: {_id!r} }}",
                extra={"keyPattern": {"_id": 1}, "keyValue": {"_id": _id}},
            )
        if doc is None and op == "i":
            doc = dict(o)
        if doc is not None:
            self._check_unique(txn, ns, doc)
        txn.ops.append(_Op(op, ns, o, o2, doc, raw))
        txn.writes.setdefault(ns, {})[k] = doc if op != "d" else None
        self._locks[(ns, k)] = txn
        txn.locked.add((ns, k))
        return before

    def _collection_command(self, txn: Transaction, ns: str, o: Mapping[str, Any]) -> None:
        db, _ = split_ns(ns)
        name = next(iter(o))
        target = f"{db}.{o[name]}"
        if name not in _TXN_COLLECTION_COMMANDS:
            raise CommandError(263, f"Cannot run '{name}' in a multi-document transaction.")
        if name == "create":
            if self.collection_exists(txn, target):
                raise CommandError(48, f"Collection {target} already exists.")
            txn.created.add(target)
        elif target not in txn.created:
            raise CommandError(
                263,
                f"Cannot create new indexes on existing collection {target} in a multi-document transaction.",
            )

    def _check_unique(self, txn: Transaction, ns: str, doc: Mapping[str, Any]) -> None:
        """Unique secondary indexes, against the transaction's view of the collection."""
        coll = self.member.engine.collection_ns(ns)
        if coll is None:
            return
        own = txn.writes.get(ns, {})
        mine = key(doc["_id"])
        for index in coll.indexes.values():
            if not index.spec.unique:
                continue
            for k in index.keys_for(doc):
                others = (decode(raw) for raw in map(coll.raw, index.holders(k)) if raw is not None)
                candidates = [self.get(txn, ns, other["_id"]) for other in others]
                candidates += [d for d in own.values() if d is not None]
                for other in candidates:
                    if other is None or key(other["_id"]) == mine:
                        continue
                    if any(ok.key == k.key for ok in index.keys_for(other)):
                        raise index.duplicate(k)

    def lock_holder(self, ns: str, _id: Any) -> Transaction | None:
        """The open transaction that has written this document, if any."""
        holder = self._locks.get((ns, key(_id)))
        if holder is None or not holder.in_progress or self._stale(holder):
            return None
        return holder


def _show(lsid: Mapping[str, Any]) -> str:
    return str(lsid.get("id"))
