"""Checking the write ledger against a cluster after a run (Jepsen-style).

Every written document has one writer (users edit only what they created), and each write that
stores a token sets `_w` to its write id, so the document's final state names the last write
that reached it. Per document, the last acknowledged write must be visible unless an
indeterminate write after it is; indeterminate writes are resolved as present or absent; a
definitely failed write that is visible is reported too (a retry applied it).

Writes that store no token (logins, which many users make to one account) only require the
document to exist. Indeterminate writes overwritten by a later acknowledged write cannot be
resolved and appear in neither indeterminate list.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from bson import ObjectId
from pymongo import MongoClient, ReadPreference
from pymongo.read_concern import ReadConcern

from contract.rundir import TOKEN_FIELD, LedgerEntry, Verification, WriteStatus

FETCH_BATCH = 1000


@dataclass(frozen=True, slots=True)
class DocState:
    present: bool
    token: str | None = None  # the `_w` a present document carries


ABSENT = DocState(False)


def effect(entry: LedgerEntry) -> DocState:
    return ABSENT if entry.op == "delete" else DocState(True, entry.token)


def shows(expected: DocState, observed: DocState) -> bool:
    if not expected.present:
        return not observed.present
    return observed.present and (expected.token is None or expected.token == observed.token)


def _order(entry: LedgerEntry) -> tuple[float, int]:
    return entry.t_start, int(entry.write_id.rpartition("-")[2])


@dataclass(slots=True)
class Findings:
    acked_missing: list[str]
    indeterminate_present: list[str]
    indeterminate_absent: list[str]
    failed_present: list[str]


def judge(entries: Sequence[LedgerEntry], observed: DocState) -> Findings:
    """The findings for one document: its ledger entries (any order) and its final state."""
    found = Findings([], [], [], [])
    ordered = sorted(entries, key=_order)
    acked = [i for i, e in enumerate(ordered) if e.status == WriteStatus.ACKED]
    start = acked[-1] + 1 if acked else 0
    later = [e for e in ordered[start:] if e.status == WriteStatus.INDETERMINATE]
    if acked:
        last = ordered[acked[-1]]
        if not shows(effect(last), observed) and not any(shows(effect(e), observed) for e in later):
            found.acked_missing.append(last.write_id)
    for e in later:
        resolved = found.indeterminate_present if shows(effect(e), observed) else found.indeterminate_absent
        resolved.append(e.write_id)
    deleted = any(e.op == "delete" and e.status != WriteStatus.FAILED for e in ordered)
    # A document whose every insert failed never existed: its absence shows no failed delete.
    inserts = [e for e in ordered if e.op == "insert"]
    never_made = bool(inserts) and all(e.status == WriteStatus.FAILED for e in inserts)
    for e in ordered:
        if e.status != WriteStatus.FAILED:
            continue
        visible = (e.op == "delete" and not observed.present and not deleted and not never_made) or (
            e.op != "delete" and e.token is not None and observed.token == e.token
        )
        if visible:
            found.failed_present.append(e.write_id)
    return found


def as_of(entries: Iterable[LedgerEntry], until: float, tolerance: float = 0.002) -> list[LedgerEntry]:
    """The ledger as a restore to `until` (wall clock) must show it: a w:majority write
    acknowledged by then is acknowledged; one sent later must not be visible (checked as
    failed); any other write (answered after `until`, or not at w:majority) may or may not be
    (indeterminate). `tolerance` covers the oplog's millisecond wall times."""
    judged = []
    for e in entries:
        if e.t_start > until + tolerance:
            status = WriteStatus.FAILED
        elif e.status == WriteStatus.ACKED and e.write_concern == "majority" and (e.t_ack or 0.0) <= until:
            status = WriteStatus.ACKED
        else:
            status = WriteStatus.INDETERMINATE
        judged.append(replace(e, status=status.value))
    return judged


def read_ledger(path: Path) -> list[LedgerEntry]:
    """The entries of a merged `ledger.parquet`."""
    return [LedgerEntry(**row) for row in pq.read_table(path).to_pylist()]


def parse_id(text: str, id_type: str) -> Any:
    if id_type == "oid":
        return ObjectId(text)
    if id_type == "int":
        return int(text)
    return text


def fetch_states(
    client: MongoClient[Any], database: str, keys: Iterable[tuple[str, str, str]]
) -> dict[tuple[str, str], DocState]:
    """Final states of (collection, doc_id, id_type) documents, read from the primary at majority."""
    by_collection: dict[str, dict[Any, str]] = defaultdict(dict)
    for collection, doc_id, id_type in keys:
        by_collection[collection][parse_id(doc_id, id_type)] = doc_id
    db = client.get_database(
        database, read_concern=ReadConcern("majority"), read_preference=ReadPreference.PRIMARY
    )
    states: dict[tuple[str, str], DocState] = {}
    for collection, ids in by_collection.items():
        wanted = list(ids)
        for start in range(0, len(wanted), FETCH_BATCH):
            batch = wanted[start : start + FETCH_BATCH]
            for doc in db[collection].find({"_id": {"$in": batch}}, {TOKEN_FIELD: 1}):
                states[(collection, ids[doc["_id"]])] = DocState(True, doc.get(TOKEN_FIELD))
    return states


def verify_ledger(client: MongoClient[Any], database: str, entries: Iterable[LedgerEntry]) -> Verification:
    """The ledger checked against the cluster `client` reaches."""
    per_doc: dict[tuple[str, str], list[LedgerEntry]] = defaultdict(list)
    id_types: dict[tuple[str, str], str] = {}
    for e in entries:
        per_doc[(e.collection, e.doc_id)].append(e)
        id_types[(e.collection, e.doc_id)] = e.id_type
    states = fetch_states(client, database, ((c, d, id_types[(c, d)]) for c, d in per_doc))
    result = Verification(
        checked_at=time.time(),
        read_from=_address(client),
        acked_missing=[],
        indeterminate_present=[],
        indeterminate_absent=[],
        failed_present=[],
    )
    for key, doc_entries in per_doc.items():
        found = judge(doc_entries, states.get(key, ABSENT))
        result.acked_missing += found.acked_missing
        result.indeterminate_present += found.indeterminate_present
        result.indeterminate_absent += found.indeterminate_absent
        result.failed_present += found.failed_present
    return result


def _address(client: MongoClient[Any]) -> str:
    primary = client.primary
    return f"{primary[0]}:{primary[1]}" if primary else "unknown"
