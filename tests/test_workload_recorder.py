"""The recorder's shards and their merge: incremental, crash-tolerant, no duplicates or gaps."""

from __future__ import annotations

import random
import time
from dataclasses import asdict, replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from contract.rundir import (
    DISCOVERY,
    EVENTS,
    EVENTS_SHARDS,
    LEDGER,
    LEDGER_SCHEMA,
    LEDGER_SHARDS,
    REQUEST_EVENT_SCHEMA,
    DiscoveryEvent,
    LedgerEntry,
    RequestEvent,
    read_jsonl,
    to_table,
)
from locustfiles import merge
from locustfiles.eventcodec import SHARD_SCHEMA, encode
from locustfiles.merge import MergeError, merge_run
from locustfiles.recorder import Recorder
from locustfiles.settings import RecorderSettings
from locustfiles.shards import StreamShard, manifests, read_events, read_stream

FAST = RecorderSettings(flush_interval_s=0.05, max_buffered=1000)


def request(recorder: Recorder, name: str, t: float, failed: bool = False) -> None:
    recorder.on_request(
        request_type="mongo",
        name=name,
        response_time=12.5,
        response_length=100,
        exception=RuntimeError("boom") if failed else None,
        context={"user_class": "HubUser", "is_write": False, "error_class": "other" if failed else None},
        start_time=t,
    )


def entry(write_id: str, t: float = 1.0, worker: str = "w") -> LedgerEntry:
    return LedgerEntry(
        write_id=write_id,
        collection="prompts",
        op="insert",
        doc_id=write_id,
        id_type="str",
        write_concern="majority",
        t_start=t,
        status="acked",
        t_ack=t + 0.01,
        token=write_id,
        worker=worker,
    )


def test_events_reach_the_shard_within_the_flush_interval(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, "local", FAST)
    try:
        request(recorder, "prompts.get", 100.0)
        request(recorder, "prompts.get", 101.0, failed=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            (shard,) = (tmp_path / EVENTS_SHARDS).glob("*.arrows")
            table = read_events(shard).table
            if table.num_rows == 2:
                break
            time.sleep(0.02)
        rows = table.to_pylist()
        assert [r["ok"] for r in rows] == [True, False]
        assert rows[1]["error"] == "RuntimeError: boom" and rows[1]["error_class"] == "other"
        assert rows[0]["t_end"] == pytest.approx(100.0125)
        assert rows[0]["worker"] == "local" and rows[0]["user_class"] == "HubUser"
    finally:
        recorder.close()
    (manifest,) = manifests(tmp_path)
    assert manifest.closed and manifest.events == 2


def test_buffer_is_bounded(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, "local", RecorderSettings(flush_interval_s=60, max_buffered=1000))
    try:
        for i in range(2500):
            request(recorder, "prompts.get", float(i))
            assert len(recorder._events) < 1000
        assert recorder.manifest.events == 2000  # two full buffers flushed by the callers themselves
    finally:
        recorder.close()
    assert recorder.manifest.events == 2500


@pytest.fixture(params=[merge.BUCKET_S, 0.7], ids=["one bucket", "many buckets"])
def buckets(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> float:
    """The merge's result is the same whether the run's start times fit one bucket or span many."""
    monkeypatch.setattr(merge, "BUCKET_S", request.param)
    return float(request.param)


@pytest.mark.usefixtures("buckets")
def test_merge_of_two_workers_is_complete_and_ordered(tmp_path: Path) -> None:
    a, b = Recorder(tmp_path, "worker-0", FAST), Recorder(tmp_path, "worker-1", FAST)
    for i in range(1, 301):
        for rec in (a, b):
            request(rec, "prompts.create", float(1000 + i) + (0.5 if rec is b else 0))
            rec.ledger(entry(f"{rec.worker}-{i}", float(i), rec.worker))
    a.discovery(DiscoveryEvent(t=5.0, kind="topology_changed", client="worker-0", primary="h:1"))
    b.discovery(DiscoveryEvent(t=3.0, kind="server_changed", client="worker-1", address="h:1"))
    a.close()
    b.close()
    report = merge_run(tmp_path, expect_workers=["worker-0", "worker-1"], wait_s=1)
    assert report.complete, report
    assert (report.events, report.ledger, report.discovery) == (600, 600, 2)
    assert report.workers == ["worker-0", "worker-1"]
    events = pq.read_table(tmp_path / EVENTS)
    assert events.schema.equals(REQUEST_EVENT_SCHEMA)
    starts = events.column("t_start").to_pylist()
    assert starts == sorted(starts)
    ledger = pq.read_table(tmp_path / LEDGER)
    assert len(set(ledger.column("write_id").to_pylist())) == 600
    assert [e.t for e in read_jsonl(tmp_path / DISCOVERY, DiscoveryEvent)] == [3.0, 5.0]
    again = merge_run(tmp_path, wait_s=0)  # idempotent
    assert (again.events, again.ledger) == (600, 600)
    assert not (tmp_path / merge.SPILL).exists()


@pytest.mark.usefixtures("buckets")
def test_merge_reports_gaps_and_duplicates(tmp_path: Path) -> None:
    (tmp_path / LEDGER_SHARDS).mkdir()
    shard = StreamShard(tmp_path / LEDGER_SHARDS / "w.0.arrows", LEDGER_SCHEMA)
    rows = [entry("w-1", 1.0), entry("w-2", 2.0), entry("w-2", 2.0), entry("w-5", 3.0)]
    shard.append(to_table(rows, LEDGER_SCHEMA))
    shard.close()
    report = merge_run(tmp_path, wait_s=0)
    assert not report.complete
    assert report.duplicate_write_ids == ["w-2"] and report.duplicates == 1
    assert report.missing_write_ids == ["w-3", "w-4"] and report.missing == 2
    assert report.describe() == (
        "2 write id(s) missing from the ledger (w-3, w-4); 1 duplicate ledger row(s) dropped (w-2)"
    )


def test_a_gap_of_a_billion_write_ids_is_counted_without_listing_it(tmp_path: Path) -> None:
    """The gap check holds the numbers seen, not the numbers missing."""
    (tmp_path / LEDGER_SHARDS).mkdir()
    shard = StreamShard(tmp_path / LEDGER_SHARDS / "w.0.arrows", LEDGER_SCHEMA)
    rows = [entry("w-1"), entry("w-2"), entry("w-1000000000"), entry("v-2"), entry("order-a")]
    shard.append(to_table(rows, LEDGER_SCHEMA))
    shard.close()
    report = merge_run(tmp_path, wait_s=0)
    assert report.missing == 999_999_997 + 1
    assert report.missing_write_ids == ["v-1"] + [f"w-{n}" for n in range(3, 102)]


@pytest.mark.usefixtures("buckets")
def test_a_batch_recorded_twice_is_merged_once_and_counted(tmp_path: Path) -> None:
    """A flush cut short by a signal and made again: the ledger keeps one row per write id (the
    acknowledged one when they differ), the events one row per event; the run is still whole."""
    recorder = Recorder(tmp_path, "w", FAST)
    for i in range(1, 4):
        request(recorder, "prompts.create", float(i))
        recorder.ledger(entry(f"w-{i}", float(i)))
    recorder.close()
    events = StreamShard(tmp_path / EVENTS_SHARDS / "again.arrows", REQUEST_EVENT_SCHEMA)
    events.append(read_events(tmp_path / EVENTS_SHARDS / f"{recorder.stem}.arrows").table[:2])
    events.close()
    ledger = StreamShard(tmp_path / LEDGER_SHARDS / "again.arrows", LEDGER_SCHEMA)
    unsure = replace(entry("w-2", 2.0), status="indeterminate")
    ledger.append(to_table([entry("w-1", 1.0), unsure], LEDGER_SCHEMA))
    ledger.close()
    report = merge_run(tmp_path, wait_s=0)
    assert report.complete, report.describe()
    assert (report.events, report.ledger, report.duplicates, report.duplicate_events) == (3, 3, 2, 2)
    assert report.describe() == (
        "2 duplicate ledger row(s) dropped (w-1, w-2); 2 duplicate request event(s) dropped"
    )
    merged = pq.read_table(tmp_path / LEDGER).to_pylist()
    assert [(r["write_id"], r["status"]) for r in merged] == [
        ("w-1", "acked"),
        ("w-2", "acked"),
        ("w-3", "acked"),
    ]
    assert pq.read_table(tmp_path / EVENTS).column("t_start").to_pylist() == [1.0, 2.0, 3.0]


def test_a_killed_writer_loses_only_the_unflushed_tail(tmp_path: Path) -> None:
    path = tmp_path / "torn.arrows"
    shard = StreamShard(path, LEDGER_SCHEMA)
    shard.append(to_table([entry("w-1"), entry("w-2")], LEDGER_SCHEMA))
    shard.append(to_table([entry("w-3")], LEDGER_SCHEMA))
    size_two_batches = path.stat().st_size
    shard.append(to_table([entry("w-4"), entry("w-5")], LEDGER_SCHEMA))
    # No close(): the writer "died". Cut the file inside its last batch.
    with path.open("r+b") as fh:
        fh.truncate(size_two_batches + 40)
    read = read_stream(path, LEDGER_SCHEMA)
    assert read.torn
    assert read.table.column("write_id").to_pylist() == ["w-1", "w-2", "w-3"]


def test_an_unclosed_stream_is_readable_and_merge_reports_it(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, "local", FAST)
    recorder.ledger(entry("local-1", worker="local"))
    recorder.flush()
    report = merge_run(tmp_path, wait_s=0.2)  # the recorder is still open: merge does not wait forever
    assert report.ledger == 1
    assert report.unclosed == [recorder.stem]
    recorder.close()
    assert merge_run(tmp_path, wait_s=0).complete


def test_empty_and_garbage_shards(tmp_path: Path) -> None:
    empty = tmp_path / "empty.arrows"
    empty.write_bytes(b"")
    assert read_stream(empty, REQUEST_EVENT_SCHEMA).table.num_rows == 0
    assert not read_stream(empty, REQUEST_EVENT_SCHEMA).torn
    junk = tmp_path / "junk.arrows"
    junk.write_bytes(b"not arrow at all")
    read = read_stream(junk, REQUEST_EVENT_SCHEMA)
    assert read.torn and read.table.num_rows == 0
    report = merge_run(tmp_path, wait_s=0)
    assert (report.events, report.ledger) == (0, 0)
    with pytest.raises(MergeError, match="nothing does not exist"):
        merge_run(tmp_path / "nothing", wait_s=0)


def test_every_recorder_gets_its_own_shard(tmp_path: Path) -> None:
    first, second = Recorder(tmp_path, "local", FAST), Recorder(tmp_path, "local", FAST)
    assert first.stem != second.stem
    first.close()
    second.close()
    assert len(list((tmp_path / EVENTS_SHARDS).glob("*.arrows"))) == 2


def test_shard_events_round_trip_to_the_microsecond(tmp_path: Path) -> None:
    rng = random.Random(4)
    t = 1_764_000_000.0
    batches = []
    for size in (1, 500, 37):  # one flush each: every batch starts from a whole start time
        batch = []
        for _ in range(size):
            t += rng.expovariate(1000)
            took = rng.lognormvariate(2, 1)
            failed = rng.random() < 0.1
            batch.append(
                RequestEvent(
                    t_start=t,
                    t_end=t + took / 1000,
                    duration_ms=took,
                    op=rng.choice(["prompts.get", "canary.write"]),
                    user_class="HubUser",
                    ok=not failed,
                    is_write=failed,
                    error_class="network" if failed else None,
                    error=f"AutoReconnect: {rng.randrange(3)}" if failed else None,
                    response_size=rng.randrange(10_000),
                    worker="worker-1",
                )
            )
        batches.append(batch)
    shard = StreamShard(tmp_path / "w.arrows", SHARD_SCHEMA)
    for batch in batches:
        shard.append(encode(batch))
    shard.close()
    rows = read_events(tmp_path / "w.arrows").table.to_pylist()
    expected = [asdict(e) for batch in batches for e in batch]
    assert len(rows) == len(expected) == 538
    for got, want in zip(rows, expected, strict=True):
        for key in ("t_start", "t_end"):
            assert abs(got.pop(key) - want.pop(key)) <= 1e-6  # whole microseconds, and float rounding
        assert got.pop("duration_ms") == pytest.approx(want.pop("duration_ms"), abs=5e-4)
        assert got == want
