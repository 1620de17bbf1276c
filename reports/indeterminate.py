"""Indeterminate writes listed one by one for the report: the earliest sent, with the total.

The summary only counts them, so their ids come from `verification.json` (present or absent
after recovery) and when and where they were sent from the ledger, read for those ids alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pyarrow.compute as pc
import pyarrow.parquet as pq

from contract import rundir
from contract.rundir import Verification
from reports.results import Result


class IndeterminateWrite(Result):
    write_id: str
    resolution: Literal["present", "absent"]  # found after recovery, or not
    collection: str | None  # None: not in the ledger (or no ledger)
    doc_id: str | None
    t_start: float | None


class IndeterminateList(Result):
    total: int  # every resolved indeterminate write in the verification
    first: list[IndeterminateWrite]  # the earliest sent, at most the limit


def indeterminate_writes(run_dir: Path, limit: int) -> IndeterminateList | None:
    """None when the run has no verification."""
    path = run_dir / rundir.VERIFICATION
    if not path.exists():
        return None
    verification = rundir.read_json(path, Verification)
    resolution = {w: "present" for w in verification.indeterminate_present}
    resolution.update({w: "absent" for w in verification.indeterminate_absent})
    sent = _ledger_rows(run_dir / rundir.LEDGER, list(resolution))
    ordered = sorted(resolution, key=lambda w: (sent[w][2] if w in sent else float("inf"), w))
    first = [
        IndeterminateWrite(
            write_id=w,
            resolution=resolution[w],  # type: ignore[arg-type]
            collection=sent[w][0] if w in sent else None,
            doc_id=sent[w][1] if w in sent else None,
            t_start=sent[w][2] if w in sent else None,
        )
        for w in ordered[:limit]
    ]
    return IndeterminateList(total=len(resolution), first=first)


def _ledger_rows(path: Path, write_ids: list[str]) -> dict[str, tuple[str, str, float]]:
    """write_id → (collection, doc_id, t_start) of these writes; empty without a ledger."""
    if not write_ids or not path.exists():
        return {}
    table = pq.read_table(
        path,
        columns=["write_id", "collection", "doc_id", "t_start"],
        filters=pc.field("write_id").isin(write_ids),
    )
    rows = zip(*(table[c].to_pylist() for c in ("write_id", "collection", "doc_id", "t_start")), strict=True)
    return {w: (c, d, t) for w, c, d, t in rows}
