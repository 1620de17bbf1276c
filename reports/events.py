"""The request events, read in row batches from `events.parquet`, never all at once.

A soak records a hundred million events; a frame of them all would not fit. `EventSource`
checks the file when the run is loaded (columns, empty values and the run's bounds from the row
groups' statistics, or one pass over the times when they do not say), then hands the analysis
row batches (`batches`) or the events of one time window (`window`, which reads only the row
groups whose statistics say they may hold it). Frames have the contract's types, operation
names, error classes and workers as categoricals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from contract import rundir
from contract.errors import AnalysisError

COLUMNS = ("t_start", "t_end", "duration_ms", "op", "ok", "is_write", "error_class", "worker")
DICTIONARY = ("op", "error_class", "worker")
NOT_NULL = ("t_start", "t_end", "duration_ms", "op", "ok", "is_write")
# Derived from the error text as row groups are read (the text itself is not kept): the error
# carried mongod's RetryableWriteError label, so the driver could retry that write.
RETRY_LABELLED = "retry_labelled"
_RETRY_LABEL = "RetryableWriteError"
_DICTIONARY_TYPE = pa.dictionary(pa.int32(), pa.string())


def open_dataset(path: Path, label: str, columns: tuple[str, ...], dictionary: tuple[str, ...]) -> ds.Dataset:
    """A Parquet file as a dataset; AnalysisError when it is unreadable or lacks a column."""
    fmt = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(dictionary_columns=list(dictionary)))
    try:
        dataset = ds.dataset(path, format=fmt)
    except (pa.ArrowException, OSError) as exc:
        raise AnalysisError(f"{label}: not a readable Parquet file ({exc})") from None
    missing = [c for c in columns if c not in dataset.schema.names]
    if missing:
        raise AnalysisError(f"{label}: missing column(s) {', '.join(missing)}")
    return dataset


def cast_table(
    table: pa.Table,
    label: str,
    schema: pa.Schema,
    *,
    dictionary: tuple[str, ...] = (),
    not_null: tuple[str, ...] = (),
) -> pa.Table:
    """The table's columns cast to the contract's types; AnalysisError naming a column that
    cannot be, or that has empty values where none may be."""
    cast: dict[str, pa.Array | pa.ChunkedArray] = {}
    for column in table.column_names:
        target = _DICTIONARY_TYPE if column in dictionary else schema.field(column).type
        values = table.column(column)
        try:
            cast[column] = values if values.type == target else values.cast(target)
        except (pa.ArrowException, ValueError):
            raise AnalysisError(f"{label}: column {column} holds {values.type}, expected {target}") from None
        if column in not_null and values.null_count:
            raise AnalysisError(f"{label}: column {column} has {values.null_count} empty value(s)")
    return pa.table(cast)


@dataclass(frozen=True, slots=True)
class Bounds:
    rows: int
    start: float  # the earliest start
    end: float  # the latest completion


class EventSource:
    """The run's request events (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            names = pq.read_schema(path).names
            missing = [c for c in COLUMNS if c not in names]
            if missing:
                raise AnalysisError(f"{rundir.EVENTS}: missing column(s) {', '.join(missing)}")
            self._file = pq.ParquetFile(path, read_dictionary=list(DICTIONARY))
        except (pa.ArrowException, OSError) as exc:
            raise AnalysisError(f"{rundir.EVENTS}: not a readable Parquet file ({exc})") from None
        self._starts = [
            _range(self._file.metadata.row_group(i), names.index("t_start"))
            for i in range(self._file.num_row_groups)
        ]
        self._cache: dict[int, pa.Table] = {}  # the row groups the last window read
        self._error_text = "error" in names
        self._check_nulls(names)
        self.bounds = self._from_statistics(names) or self._survey()

    def _check_nulls(self, names: list[str]) -> None:
        """Empty values where none may be, as far as the row groups' statistics say (every read
        checks its rows again)."""
        meta = self._file.metadata
        for column in NOT_NULL:
            index = names.index(column)
            stats = [meta.row_group(i).column(index).statistics for i in range(meta.num_row_groups)]
            nulls = sum(s.null_count for s in stats if s is not None and s.has_null_count)
            if nulls:
                raise AnalysisError(f"{rundir.EVENTS}: column {column} has {nulls} empty value(s)")

    def _from_statistics(self, names: list[str]) -> Bounds | None:
        """The bounds from the row groups' statistics, when every one has them for times stored
        as the contract's doubles (as every writer of the suite stores them)."""
        schema = self._file.schema_arrow
        if any(schema.field(c).type != pa.float64() for c in ("t_start", "t_end")):
            return None
        meta = self._file.metadata
        ends = [_range(meta.row_group(i), names.index("t_end")) for i in range(meta.num_row_groups)]
        if not meta.num_rows or any(r is None for r in [*self._starts, *ends]):
            return None
        return Bounds(
            meta.num_rows,
            min(r[0] for r in self._starts if r is not None),
            max(r[1] for r in ends if r is not None),
        )

    def _survey(self) -> Bounds:
        """The bounds from one pass over the times, checked as every read checks them."""
        rows, start, end = 0, float("inf"), float("-inf")
        for table in self._tables(range(self._file.num_row_groups), ("t_start", "t_end")):
            if table.num_rows:
                rows += table.num_rows
                start = min(start, pc.min(table.column("t_start")).as_py())
                end = max(end, pc.max(table.column("t_end")).as_py())
        if not rows:
            raise AnalysisError(f"{rundir.EVENTS}: no request events, so there is nothing to analyse")
        return Bounds(rows, start, end)

    def _tables(self, groups: Iterable[int], columns: tuple[str, ...] = COLUMNS) -> Iterator[pa.Table]:
        labelled = columns == COLUMNS
        read = [*columns, "error"] if labelled and self._error_text else list(columns)
        for group in groups:
            try:
                table = self._file.read_row_group(group, columns=read)
            except (pa.ArrowException, OSError) as exc:
                raise AnalysisError(f"{rundir.EVENTS}: not a readable Parquet file ({exc})") from None
            table = cast_table(
                table, rundir.EVENTS, rundir.REQUEST_EVENT_SCHEMA, dictionary=DICTIONARY, not_null=NOT_NULL
            )
            if labelled:
                yield _with_retry_label(table)
            else:
                yield table

    def _groups(self, start: float, end: float) -> list[int]:
        """The row groups that may hold events started in [start, end] (by their statistics)."""
        return [i for i, r in enumerate(self._starts) if r is None or (r[1] >= start and r[0] <= end)]

    def batches(self, after: float | None = None) -> Iterator[pd.DataFrame]:
        """The events in row batches (a row group each), in the file's order; with `after`, only
        the row groups that may hold events started at or after it."""
        groups = range(self._file.num_row_groups) if after is None else self._groups(after, math.inf)
        for table in self._tables(groups):
            yield table.to_pandas()

    def window(self, start: float, end: float) -> pd.DataFrame:
        """The events that started in [start, end], in start order. Row groups are kept from one
        window to the next: a run's faults are analysed in time order, and their windows overlap."""
        groups = self._groups(start, end)
        self._cache = {g: self._cache[g] if g in self._cache else next(self._tables([g])) for g in groups}
        parts = []
        for g in groups:
            table = self._cache[g]
            t = table.column("t_start")
            parts.append(table.filter(pc.and_(pc.greater_equal(t, start), pc.less_equal(t, end))))
        return _frame(parts)

    def read(self) -> pd.DataFrame:
        """Every event, in start order: for small runs and tests."""
        return _frame(list(self._tables(range(self._file.num_row_groups))))

    def __len__(self) -> int:
        return self.bounds.rows


def _with_retry_label(table: pa.Table) -> pa.Table:
    if "error" not in table.column_names:
        return table.append_column(RETRY_LABELLED, pa.array([False] * table.num_rows))
    found = pc.fill_null(pc.match_substring(table.column("error"), _RETRY_LABEL), False)
    return table.append_column(RETRY_LABELLED, found).drop_columns(["error"])


def _frame(tables: list[pa.Table]) -> pd.DataFrame:
    if not tables:
        fields = [
            pa.field(c, _DICTIONARY_TYPE if c in DICTIONARY else rundir.REQUEST_EVENT_SCHEMA.field(c).type)
            for c in COLUMNS
        ]
        fields.append(pa.field(RETRY_LABELLED, pa.bool_()))
        return pa.schema(fields).empty_table().to_pandas()
    frame = pa.concat_tables(tables).to_pandas()
    if not frame["t_start"].is_monotonic_increasing:
        frame = frame.sort_values("t_start", kind="stable", ignore_index=True)
    return frame


def _range(group: pq.RowGroupMetaData, column: int) -> tuple[float, float] | None:
    """The least and greatest value of a column of times in the row group; None when its
    statistics do not say (a column of another type is refused when it is read)."""
    stats = group.column(column).statistics
    if stats is None or not stats.has_min_max or not isinstance(stats.min, float | int):
        return None
    return float(stats.min), float(stats.max)
