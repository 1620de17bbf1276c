"""The write ledger as the data-loss checks need it, read in row batches, never all at once.

A soak's ledger holds tens of millions of writes; the checks name few of them. `read_ledger`
keeps the counts (entries, acknowledged, indeterminate, indeterminate that the verification did
not resolve), the acknowledgement times of acknowledged writes (RPO's durable points, sorted),
and in full only the rows the verification or the rollback files name: lost acknowledged writes
and the candidates for rolled-back documents (by token or `_id`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from contract import rundir
from contract.errors import AnalysisError
from contract.rundir import Verification, WriteStatus
from reports.events import cast_table
from reports.rollback import RolledBackDoc

COLUMNS = ("write_id", "collection", "doc_id", "t_start", "status", "t_ack", "token")
NOT_NULL = ("write_id", "status", "t_start")


@dataclass(frozen=True, slots=True)
class Ledger:
    entries: int
    acked: int
    indeterminate: int
    unresolved: int | None  # indeterminate writes in neither verification list; None: no verification
    acked_t_ack: np.ndarray  # acknowledgement times of acknowledged writes, sorted (NaN left out)
    named: pd.DataFrame  # the rows of writes the verification or the rollback files name (COLUMNS)

    def __len__(self) -> int:
        return self.entries


def read_ledger(path: Path, verification: Verification | None, rollback: list[RolledBackDoc]) -> Ledger:
    """One pass over the ledger's row groups (see the module docstring)."""
    lost = pa.array(verification.acked_missing if verification is not None else [], pa.string())
    resolved = pa.array(
        verification.indeterminate_present + verification.indeterminate_absent if verification else [],
        pa.string(),
    )
    tokens = pa.array([d.token for d in rollback if d.token is not None], pa.string())
    ids = pa.array([d.doc_id for d in rollback], pa.string())
    entries = acked = indeterminate = unresolved = 0
    t_ack: list[np.ndarray] = []
    named: list[pa.Table] = []
    for table in _tables(path):
        status = table.column("status")
        is_acked = pc.equal(status, str(WriteStatus.ACKED))
        undecided = pc.equal(status, str(WriteStatus.INDETERMINATE))
        entries += table.num_rows
        acked += pc.sum(is_acked).as_py() or 0
        indeterminate += pc.sum(undecided).as_py() or 0
        if verification is not None:
            undecided_ids = pc.filter(table.column("write_id"), undecided)
            unresolved += len(undecided_ids) - (pc.sum(pc.is_in(undecided_ids, resolved)).as_py() or 0)
        times = pc.filter(table.column("t_ack"), is_acked).to_numpy(zero_copy_only=False)
        t_ack.append(times[~np.isnan(times)])
        if len(lost) or len(tokens) or len(ids):
            wanted = pc.or_(
                pc.or_(pc.is_in(table.column("write_id"), lost), pc.is_in(table.column("token"), tokens)),
                pc.is_in(table.column("doc_id"), ids),
            )
            named.append(table.filter(pc.fill_null(wanted, False)))
    schema = pa.schema([rundir.LEDGER_SCHEMA.field(c) for c in COLUMNS])
    return Ledger(
        entries=entries,
        acked=acked,
        indeterminate=indeterminate,
        unresolved=unresolved if verification is not None else None,
        acked_t_ack=_sorted(t_ack),
        named=pa.concat_tables(named).to_pandas() if named else schema.empty_table().to_pandas(),
    )


def _tables(path: Path) -> Iterator[pa.Table]:
    try:
        names = pq.read_schema(path).names
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise AnalysisError(f"{rundir.LEDGER}: missing column(s) {', '.join(missing)}")
        file = pq.ParquetFile(path)
        for group in range(file.num_row_groups):
            table = file.read_row_group(group, columns=list(COLUMNS))
            yield cast_table(table, rundir.LEDGER, rundir.LEDGER_SCHEMA, not_null=NOT_NULL)
    except (pa.ArrowException, OSError) as exc:
        raise AnalysisError(f"{rundir.LEDGER}: not a readable Parquet file ({exc})") from None


def _sorted(parts: list[np.ndarray]) -> np.ndarray:
    joined = np.concatenate(parts) if parts else np.zeros(0)
    joined.sort()  # in place: no third copy of tens of millions of times
    return joined
