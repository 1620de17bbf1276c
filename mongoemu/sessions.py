"""The retryable-write session table: (lsid, txnNumber) -> the statements already executed.

It is built only from oplog entries (`lsid`, `txnNumber`, `stmtId` on the entry, as mongod
writes them), so it replicates and survives restarts with the oplog. As in mongod's
`config.transactions`, a session remembers only its newest transaction number; a retry with an
older one fails with TransactionTooOld. findAndModify stores the document it returned in a
no-op (`n`) entry with the same statement id, so its retry can answer with it. A committed
multi-document transaction (an `applyOps` entry with the session's fields) marks its number as
a transaction's: a retried `commitTransaction` then succeeds, on any member that becomes
primary.

A statement is kept as a tuple of strings and BSON bytes, which Python's cycle collector does
not track: a retryable `insert_many` of 100,000 documents leaves 100,000 statements behind,
and tracked objects would make every full collection pass walk them (see oplog.py's window).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import bson

from mongoemu.errors import CommandError
from mongoemu.oplog import OpTime, is_apply_ops
from mongoemu.storage import keystring

# mongod's localLogicalSessionTimeoutMinutes default.
SESSION_TIMEOUT_S = 30 * 60


@dataclass(slots=True)
class StatementResult:
    op: str = "n"  # the write's entry op: i (insert or upsert), u or d
    doc_id: Any = None
    image: Any = None  # findAndModify's returned document


# A statement as stored: (op, {_id} as BSON, findAndModify's image as BSON); op "n" until the
# write itself is seen.
_Stored = tuple[str, bytes | None, bytes | None]


def _pack(value: Any, key: str) -> bytes | None:
    return None if value is None else bson.encode({key: value})


def _unpack(data: bytes | None, key: str) -> Any:
    return None if data is None else bson.decode(data)[key]


@dataclass(slots=True)
class SessionRecord:
    lsid: dict[str, Any]
    txn_number: int
    statements: dict[int, _Stored] = field(default_factory=dict)
    last_use: float = field(default_factory=time.time)
    # (term, seconds, increment) of the newest entry, to forget transactions a rollback removed.
    last_key: tuple[int, int, int] = (0, 0, 0)
    committed_transaction: bool = False  # txn_number is a multi-document transaction's


def session_key(lsid: Mapping[str, Any]) -> bytes:
    return keystring.encode(lsid.get("id")) + keystring.encode(lsid.get("uid"))


class SessionTable:
    def __init__(self) -> None:
        self._sessions: dict[bytes, SessionRecord] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def observe(self, doc: Mapping[str, Any]) -> None:
        """Record one applied oplog entry (as its document) if it belongs to a retryable write."""
        lsid = doc.get("lsid")
        if lsid is None or "txnNumber" not in doc:
            return
        txn = int(doc["txnNumber"])
        key = session_key(lsid)
        rec = self._sessions.get(key)
        if rec is None or txn > rec.txn_number:
            rec = self._sessions[key] = SessionRecord(dict(lsid), txn)
        elif txn < rec.txn_number:
            return
        if is_apply_ops(doc):
            rec.committed_transaction = True
        else:
            stmt = int(doc.get("stmtId", 0))
            op, doc_id, image = rec.statements.get(stmt, ("n", None, None))
            if doc["op"] == "n":
                image = _pack(doc["o"], "image")
            else:
                op = doc["op"]
                doc_id = _pack((doc.get("o2") or doc["o"]).get("_id"), "_id")
            rec.statements[stmt] = (op, doc_id, image)
        rec.last_key = OpTime.from_document(doc).key()
        rec.last_use = time.time()

    def newest(self, lsid: Mapping[str, Any]) -> tuple[int, bool] | None:
        """The session's newest transaction number and whether a transaction committed with it."""
        rec = self._sessions.get(session_key(lsid))
        return None if rec is None else (rec.txn_number, rec.committed_transaction)

    def lookup(self, lsid: Mapping[str, Any], txn_number: int, stmt_id: int) -> StatementResult | None:
        """The stored result of a statement already executed, or None to execute it now."""
        rec = self._sessions.get(session_key(lsid))
        if rec is None:
            return None
        rec.last_use = time.time()
        if txn_number < rec.txn_number:
            raise CommandError(
                225,
                f"Retryable write with txnNumber {txn_number} is prohibited on session because a newer "
                f"retryable write with txnNumber {rec.txn_number} has already started on this session.",
                code_name="TransactionTooOld",
            )
        if txn_number > rec.txn_number:
            return None
        stored = rec.statements.get(stmt_id)
        return _result(stored) if stored is not None and stored[0] != "n" else None

    def forget_after(self, key: tuple[int, int, int]) -> None:
        """Drop sessions whose newest entry a rollback removed (their retries run again)."""
        for k in [k for k, rec in self._sessions.items() if rec.last_key > key]:
            del self._sessions[k]

    def expire(self, now: float | None = None) -> None:
        cutoff = (now or time.time()) - SESSION_TIMEOUT_S
        for k in [k for k, rec in self._sessions.items() if rec.last_use < cutoff]:
            del self._sessions[k]

    def to_documents(self) -> list[dict[str, Any]]:
        return [
            {
                "lsid": rec.lsid,
                "txnNumber": rec.txn_number,
                "lastUse": rec.last_use,
                "lastKey": list(rec.last_key),
                "committedTransaction": rec.committed_transaction,
                # [stmtId, op, {_id} BSON, image BSON]: copied as stored, not decoded.
                "statements": [[s, *stored] for s, stored in rec.statements.items()],
            }
            for rec in self._sessions.values()
        ]

    def load(self, docs: Iterable[Mapping[str, Any]]) -> None:
        self._sessions.clear()
        for d in docs:
            rec = SessionRecord(
                dict(d["lsid"]),
                int(d["txnNumber"]),
                {int(s[0]): (s[1], s[2], s[3]) for s in d["statements"]},
                float(d["lastUse"]),
                tuple(d["lastKey"]),  # type: ignore[arg-type]
                bool(d.get("committedTransaction", False)),
            )
            self._sessions[session_key(rec.lsid)] = rec


def _result(stored: _Stored) -> StatementResult:
    op, doc_id, image = stored
    return StatementResult(op, _unpack(doc_id, "_id"), _unpack(image, "image"))
