"""Indeterminate writes listed one by one for the report: the earliest sent, with the total.

The summary only counts them, so their ids come from `verification.json` (present or absent
after recovery) and when and where they were sent from the ledger, read for those ids alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pyarrow as pa
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
    sent = _ledger_rows(run_dir / rundir.LEDGER, list(resolution), limit)
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


def _ledger_rows(path: Path, write_ids: list[str], limit: int) -> dict[str, tuple[str, str, float]]:
    """write_id → (collection, doc_id, t_start) of these writes, at least the `limit` earliest
    sent of those in the ledger; empty without a ledger. The ledger is read a row group at a time,
    and no further once the row groups left (by their statistics) start after the `limit`
    earliest found: a soak's ledger is long, and time-ordered."""
    if not write_ids or not path.exists():
        return {}
    ledger = pq.ParquetFile(path)
    wanted = pa.array(write_ids, pa.string())
    t_start = ledger.schema_arrow.get_field_index("t_start")
    found: dict[str, tuple[str, str, float]] = {}
    for group in range(ledger.num_row_groups):
        stats = ledger.metadata.row_group(group).column(t_start).statistics
        done = 0 < limit <= len(found) and stats is not None and stats.has_min_max
        if done and stats.min > sorted(t for _, _, t in found.values())[limit - 1]:
            break
        table = ledger.read_row_group(group, columns=["write_id", "collection", "doc_id", "t_start"])
        table = table.filter(pc.is_in(table.column("write_id"), wanted))
        rows = zip(
            *(table[c].to_pylist() for c in ("write_id", "collection", "doc_id", "t_start")), strict=True
        )
        found.update({w: (c, d, t) for w, c, d, t in rows})
    return found
