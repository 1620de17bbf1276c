"""Request events as the recorder writes them to its shard files, and back.

The one place that knows the shards' on-disk form of a request event (`SHARD_SCHEMA`); the
merged `events.parquet` has the run directory's form (`contract.rundir.REQUEST_EVENT_SCHEMA`).
A shard costs a few bytes per event, so that a day-long soak's recordings stay small:

- times are whole microseconds since the epoch (the recorder's start times carry no finer
  truth, and two requests of one process never start in the same microsecond);
- the start is written as the difference from the previous event of the batch (the first event
  of a batch: the whole value), small numbers that zstd packs into a byte or two;
- the completion as what it adds to start + duration: zero for every event the recorder writes;
- operation names, user classes, error classes, error texts and workers as dictionaries.

Shards of the run directory's form (an older recorder's) are read as they are.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contract.rundir import REQUEST_EVENT_SCHEMA, RequestEvent

_TEXT = pa.dictionary(pa.int32(), pa.string())
SHARD_SCHEMA = pa.schema(
    [
        ("t_start_us", pa.int64()),  # difference from the previous row of the batch
        ("duration_us", pa.int64()),
        ("t_end_us", pa.int64()),  # t_end minus (t_start + duration)
        ("op", _TEXT),
        ("user_class", _TEXT),
        ("ok", pa.bool_()),
        ("is_write", pa.bool_()),
        ("error_class", _TEXT),
        ("error", _TEXT),
        ("response_size", pa.int64()),
        ("worker", _TEXT),
    ]
)
_TEXTS = ("op", "user_class", "error_class", "error", "worker")
_FLAGS = ("ok", "is_write", "response_size")


def encode(events: list[RequestEvent]) -> pa.Table:
    """A batch of events in the shards' form."""
    return _encode(
        np.array([e.t_start for e in events], dtype=np.float64),
        np.array([e.duration_ms for e in events], dtype=np.float64),
        np.array([e.t_end for e in events], dtype=np.float64),
        {name: pa.array([getattr(e, name) for e in events], pa.string()) for name in _TEXTS},
        {
            name: pa.array([getattr(e, name) for e in events], SHARD_SCHEMA.field(name).type)
            for name in _FLAGS
        },
    )


def encode_table(table: pa.Table) -> pa.Table:
    """Rows in the run directory's form (`decode`'s), as one batch in the shards' form."""
    return _encode(
        table.column("t_start").to_numpy(),
        table.column("duration_ms").to_numpy(),
        table.column("t_end").to_numpy(),
        {name: table.column(name).combine_chunks() for name in _TEXTS},
        {name: table.column(name).combine_chunks() for name in _FLAGS},
    )


def _encode(
    t_start: np.ndarray,
    duration_ms: np.ndarray,
    t_end: np.ndarray,
    texts: dict[str, pa.Array],
    flags: dict[str, pa.Array],
) -> pa.Table:
    start = np.rint(t_start * 1e6).astype(np.int64)
    duration = np.rint(duration_ms * 1e3).astype(np.int64)
    end = np.rint(t_end * 1e6).astype(np.int64)
    columns: dict[str, pa.Array] = {
        "t_start_us": pa.array(np.diff(start, prepend=0)),
        "duration_us": pa.array(duration),
        "t_end_us": pa.array(end - start - duration),
        **{name: texts[name].dictionary_encode() for name in _TEXTS},
        **flags,
    }
    return pa.table({name: columns[name] for name in SHARD_SCHEMA.names}, schema=SHARD_SCHEMA)


def decode(table: pa.Table) -> pa.Table:
    """Shard rows (either form) in the run directory's form; each record batch of the shards'
    form is one recorder flush, whose first start is whole."""
    if "t_start_us" not in table.column_names:
        return table.select(REQUEST_EVENT_SCHEMA.names).cast(REQUEST_EVENT_SCHEMA)
    batches = []
    for batch in table.to_batches():
        start = np.cumsum(batch.column("t_start_us").to_numpy())
        duration = batch.column("duration_us").to_numpy()
        end = start + duration + batch.column("t_end_us").to_numpy()
        columns = {
            "t_start": pa.array(start / 1e6),
            "t_end": pa.array(end / 1e6),
            "duration_ms": pa.array(duration / 1e3),
            **{name: pc.cast(batch.column(name), pa.string()) for name in _TEXTS},
            **{name: batch.column(name) for name in _FLAGS},
        }
        batches.append(
            pa.record_batch([columns[n] for n in REQUEST_EVENT_SCHEMA.names], schema=REQUEST_EVENT_SCHEMA)
        )
    return pa.Table.from_batches(batches, schema=REQUEST_EVENT_SCHEMA)
