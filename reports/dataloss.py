"""Data loss: acknowledged writes missing after recovery, indeterminate writes resolved, rollback
files matched against the ledger, and the RPO.

The verification (`verification.json`) says which ledger writes the recovered cluster lacks; the
ledger says when each was sent and acknowledged.

RPO is the width of the acknowledged history that was lost. A lost write is dated by when it was
sent: the server applied it no earlier, and a primary frozen between applying a write and
answering would otherwise stretch the span by the time it stood frozen. Each lost write is
charged to a fault: the latest one active when it was sent (a cut-off primary acknowledging w:1
writes nobody else will see), else the first one injected after it (a primary that died before
replicating it), else none. Per fault, RPO runs from the last durable point (the latest
acknowledgement of a surviving write, no later than the first lost write was sent) to the
sending of its last lost write. With no durable point before, the span of the lost writes alone
is taken. The run's RPO is the largest per-fault RPO, and 0 when nothing acknowledged was lost.

A rolled-back document is matched to a ledger write by its token (`_w`), otherwise to the latest
ledger write of the same `_id` (in the same collection when the file says which).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contract.rundir import LEDGER, VERIFICATION, Verification, WriteStatus
from reports.faults import Fault
from reports.ledger import Ledger
from reports.results import Result
from reports.rollback import RolledBackDoc

LIST_LIMIT = 1000  # lost writes listed one by one in the summary; the count is always complete


class LostWrite(Result):
    write_id: str
    collection: str | None
    doc_id: str | None
    t_start: float | None  # when it was sent
    t_ack: float | None
    rolled_back: bool


class DataLoss(Result):
    checked_at: float
    read_from: str
    acked_writes: int | None  # None without a ledger
    lost_acked: int
    lost: list[LostWrite]  # in the order they were sent, at most LIST_LIMIT
    indeterminate: int | None
    indeterminate_present: int
    indeterminate_absent: int
    indeterminate_unresolved: int | None  # in the ledger but in neither verification list
    failed_present: int


class FaultLoss(Result):
    fault_id: str | None  # None: lost with no fault injected before or around it
    lost: int
    first_lost_t: float  # when the first lost write was sent
    last_lost_t: float
    last_durable_t: float | None  # the last acknowledgement of a surviving write before them
    rpo_s: float


class RPO(Result):
    rpo_s: float
    per_fault: list[FaultLoss]


class RollbackMatch(Result):
    documents: int
    by_member: dict[str, int]
    matched: int  # documents tied to a ledger write
    unmatched: int
    acked: int  # documents of acknowledged writes
    lost_in_rollback: int  # lost acknowledged writes found in the rollback files
    lost_elsewhere: int  # lost acknowledged writes not in any rollback file
    rolled_back_present: int  # acknowledged, rolled back, yet present after recovery


def verified(verification: Verification | None) -> Verification:
    """The verification, or ValueError saying why there is none to judge by."""
    if verification is None:
        raise ValueError(f"{VERIFICATION} is absent: the ledger was not checked against the cluster")
    if verification.error is not None:
        raise ValueError(f"the ledger could not be verified: {verification.error}")
    return verification


def data_loss(
    verification: Verification | None, ledger: Ledger | None, rollback: list[RolledBackDoc]
) -> DataLoss:
    v = verified(verification)
    lost_ids = pd.Index(v.acked_missing)
    rolled_back = set(_matched_writes(rollback, ledger.named).values()) if ledger is not None else set()
    lost: list[LostWrite] = []
    acked = indeterminate = unresolved = None
    if ledger is not None:
        acked, indeterminate, unresolved = ledger.acked, ledger.indeterminate, ledger.unresolved
        named = ledger.named
        rows = named[named["write_id"].isin(lost_ids)].sort_values("t_start").head(LIST_LIMIT)
        lost = [
            LostWrite(
                write_id=str(r.write_id),
                collection=str(r.collection),
                doc_id=str(r.doc_id),
                t_start=float(r.t_start),
                t_ack=None if pd.isna(r.t_ack) else float(r.t_ack),
                rolled_back=r.write_id in rolled_back,
            )
            for r in rows.itertuples()
        ]
    if len(lost) < min(len(lost_ids), LIST_LIMIT):
        listed = {w.write_id for w in lost}
        lost += [
            LostWrite(
                write_id=w,
                collection=None,
                doc_id=None,
                t_start=None,
                t_ack=None,
                rolled_back=w in rolled_back,
            )
            for w in lost_ids
            if w not in listed
        ][: LIST_LIMIT - len(lost)]
    return DataLoss(
        checked_at=v.checked_at,
        read_from=v.read_from,
        acked_writes=acked,
        lost_acked=len(lost_ids),
        lost=lost,
        indeterminate=indeterminate,
        indeterminate_present=len(v.indeterminate_present),
        indeterminate_absent=len(v.indeterminate_absent),
        indeterminate_unresolved=unresolved,
        failed_present=len(v.failed_present),
    )


def rpo(verification: Verification | None, ledger: Ledger | None, faults: list[Fault]) -> RPO:
    v = verified(verification)
    if not v.acked_missing:
        return RPO(rpo_s=0.0, per_fault=[])
    if ledger is None:
        raise ValueError(f"{LEDGER} is absent, so when the lost writes were sent is unknown")
    named = ledger.named
    lost = named[named["write_id"].isin(pd.Index(v.acked_missing)).to_numpy()]
    unknown = sorted(set(v.acked_missing) - set(lost["write_id"]))
    if unknown:
        raise ValueError(f"{VERIFICATION} names writes the ledger lacks: {', '.join(unknown[:5])}")
    durable = _durable(ledger.acked_t_ack, lost)

    sent = lost["t_start"].to_numpy()
    injected = sorted((f for f in faults if f.injected), key=lambda f: f.t_inject)
    upcoming = np.searchsorted([f.t_inject for f in injected], sent, side="right")
    owner = np.where(upcoming < len(injected), upcoming, -1)
    for i, f in enumerate(injected):  # later injections overwrite: the latest active fault wins
        owner[(sent >= f.t_inject) & (sent < f.active_until)] = i
    per_fault = []
    for i in dict.fromkeys(owner.tolist()):
        fault_id = injected[i].fault_id if i >= 0 else None
        times = np.sort(sent[owner == i])
        before = np.searchsorted(durable, times[0], side="right")
        last_durable = float(durable[before - 1]) if before else None
        start = last_durable if last_durable is not None else float(times[0])
        per_fault.append(
            FaultLoss(
                fault_id=fault_id,
                lost=len(times),
                first_lost_t=float(times[0]),
                last_lost_t=float(times[-1]),
                last_durable_t=last_durable,
                rpo_s=float(times[-1]) - start,
            )
        )
    return RPO(rpo_s=max(f.rpo_s for f in per_fault), per_fault=per_fault)


def _durable(acked_t_ack: np.ndarray, lost: pd.DataFrame) -> np.ndarray:
    """The acknowledgement times of acknowledged writes that survived, sorted: every
    acknowledgement less one occurrence of each lost acknowledged write's."""
    acked = (lost["status"] == WriteStatus.ACKED).to_numpy() & lost["t_ack"].notna().to_numpy()
    gone = np.sort(lost["t_ack"].to_numpy()[acked])
    repeat = np.arange(len(gone)) - np.searchsorted(gone, gone, side="left")  # equal times: the next
    return np.delete(acked_t_ack, np.searchsorted(acked_t_ack, gone, side="left") + repeat)


def match_rollback(
    rollback: list[RolledBackDoc], ledger: Ledger | None, verification: Verification | None
) -> RollbackMatch | None:
    """None when no member left rollback files."""
    if not rollback:
        return None
    if ledger is None:
        raise ValueError(f"{LEDGER} is absent, so rolled-back documents cannot be matched to writes")
    matched = _matched_writes(rollback, ledger.named)
    named = ledger.named
    rows = named[named["write_id"].isin(set(matched.values())).to_numpy()]
    acked_ids = set(rows["write_id"][(rows["status"] == WriteStatus.ACKED).to_numpy()])
    lost = set(verified(verification).acked_missing) if verification is not None else set()
    by_member: dict[str, int] = {}
    for doc in rollback:
        by_member[doc.member] = by_member.get(doc.member, 0) + 1
    return RollbackMatch(
        documents=len(rollback),
        by_member=by_member,
        matched=len(matched),
        unmatched=len(rollback) - len(matched),
        acked=len(acked_ids),
        lost_in_rollback=len(lost & acked_ids),
        lost_elsewhere=len(lost - acked_ids),
        rolled_back_present=len(acked_ids - lost),
    )


def _matched_writes(rollback: list[RolledBackDoc], ledger: pd.DataFrame) -> dict[int, str]:
    """Rolled-back documents (by index in `rollback`) mapped to the ledger write they hold."""
    tokens = {doc.token for doc in rollback if doc.token is not None}
    ids = {doc.doc_id for doc in rollback}
    candidates = ledger[ledger["token"].isin(tokens) | ledger["doc_id"].isin(ids)].sort_values("t_start")
    by_token = dict(zip(candidates["token"], candidates["write_id"], strict=True))
    # The latest write wins for an _id: sorted by start, later rows overwrite earlier ones.
    by_id = dict(
        zip(
            zip(candidates["collection"], candidates["doc_id"], strict=True),
            candidates["write_id"],
            strict=True,
        )
    )
    latest_any = dict(zip(candidates["doc_id"], candidates["write_id"], strict=True))
    matches: dict[int, str] = {}
    for i, doc in enumerate(rollback):
        if doc.token is not None and doc.token in by_token:
            matches[i] = by_token[doc.token]
        elif doc.collection is not None and (doc.collection, doc.doc_id) in by_id:
            matches[i] = by_id[(doc.collection, doc.doc_id)]
        elif doc.collection is None and doc.doc_id in latest_any:
            matches[i] = latest_any[doc.doc_id]
    return matches
