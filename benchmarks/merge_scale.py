"""Time and peak memory of merging a long run's shards into events.parquet and ledger.parquet.

    python benchmarks/merge_scale.py                          # 2M and 20M events
    python benchmarks/merge_scale.py --events 86400000        # a day at 1,000 requests/s

The shards are written as recording processes write them (`locustfiles.shards.ShardSet`, one
Arrow IPC batch per flush in the compact event form), by 4 writers at 1,000 requests/s in all
with random-looking timings (exponential gaps, log-normal durations), one ledger entry per 3
requests, and one flush of each writer recorded twice (a flush cut short and made again, which
the merge must drop). Then `merge_run` runs in a fresh child process, so that its peak RSS is
the merge's alone. The figures: rows merged, seconds, peak RSS, and the bytes of the shards,
of the merged files and of the run directory's largest temporary use.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contract.rundir import EVENTS, LEDGER, LEDGER_SCHEMA
from locustfiles import eventcodec
from locustfiles.shards import Parts, ShardSet

WRITERS = 4
RATE = 1000.0  # requests/s over all writers
FLUSH_S = 1.0
OPS = ["prompts.get", "prompts.create", "prompts.list_by_category", "vectors.query", "usage.ingest"]
T0 = 1_800_000_000.0


def _flush_tables(rng: np.random.Generator, worker: str, start: float, n: int, ids: int) -> Parts:
    gaps = rng.exponential(1e6 * FLUSH_S / n, n).astype(np.int64) + 1
    gaps[0] = int(start * 1e6)
    duration = np.rint(rng.lognormal(8.0, 0.8, n)).astype(np.int64)  # ~3 ms median, in µs
    ops = rng.integers(0, len(OPS), n)
    ok = rng.random(n) > 0.001
    failed = pa.array([None if o else "network" for o in ok], pa.string())
    events = pa.table(
        {
            "t_start_us": gaps,
            "duration_us": duration,
            "t_end_us": np.zeros(n, dtype=np.int64),
            "op": pa.array([OPS[i] for i in ops]).dictionary_encode(),
            "user_class": pa.array(["HubUser"] * n).dictionary_encode(),
            "ok": ok,
            "is_write": ops == 1,
            "error_class": failed.dictionary_encode(),
            "error": pc.binary_join_element_wise("AutoReconnect: ", failed, "").dictionary_encode(),
            "response_size": rng.integers(100, 20_000, n),
            "worker": pa.array([worker] * n).dictionary_encode(),
        },
        schema=eventcodec.SHARD_SCHEMA,
    )
    m = n // 3
    t_start = start + np.sort(rng.random(m)) * FLUSH_S
    write_ids = [f"{worker}-{ids + i + 1}" for i in range(m)]
    ledger = pa.table(
        {
            "write_id": write_ids,
            "collection": ["prompts"] * m,
            "op": ["insert"] * m,
            "doc_id": [f"{rng.integers(1 << 62):024x}" for _ in range(m)],
            "id_type": ["objectid"] * m,
            "write_concern": ["majority"] * m,
            "t_start": t_start,
            "status": ["acked"] * m,
            "t_ack": t_start + 0.004,
            "token": write_ids,
            "seq": pa.nulls(m, pa.int64()),
            "user_class": ["HubUser"] * m,
            "worker": [worker] * m,
        },
        schema=LEDGER_SCHEMA,
    )
    return Parts(events=events, ledger=ledger)


def generate(run_dir: Path, total: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    per_flush = max(1, int(RATE * FLUSH_S / WRITERS))
    flushes = max(1, total // (per_flush * WRITERS))
    for w in range(WRITERS):
        worker = f"worker-{w}"
        shards = ShardSet(run_dir, worker, pid=1000 + w)
        ids = 0
        for f in range(flushes):
            parts = _flush_tables(rng, worker, T0 + f * FLUSH_S, per_flush, ids)
            ids += parts.ledger.num_rows if parts.ledger is not None else 0
            shards.write(parts)
            if f == flushes // 2:
                shards.write(parts)  # recorded twice
        shards.close()


def merge_in_child(run_dir: Path) -> dict[str, float]:
    code = (
        "import json, resource, sys, time\n"
        "from pathlib import Path\n"
        "from locustfiles.merge import merge_run\n"
        "t = time.perf_counter()\n"
        "r = merge_run(Path(sys.argv[1]), wait_s=0)\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'events': r.events, 'ledger': r.ledger,\n"
        "  'duplicate_events': r.duplicate_events, 'duplicates': r.duplicates, 'missing': r.missing,\n"
        "  'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(run_dir)], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.splitlines()[-1])


def _size(paths: list[Path]) -> int:
    return sum(p.stat().st_size for path in paths for p in ([path] if path.is_file() else path.rglob("*")))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, nargs="+", default=[2_000_000, 20_000_000])
    parser.add_argument(
        "--dir", type=Path, default=None, help="where runs are generated (default: a temporary folder)"
    )
    args = parser.parse_args()
    header = ("events", "ledger", "merge s", "peak RSS MB", "shards MB", "merged MB")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (11, 10, 8, 12, 10, 10), strict=True)))
    for total in args.events:
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            run_dir = Path(tmp) / "run"
            run_dir.mkdir()
            started = time.perf_counter()
            generate(run_dir, total)
            generated = time.perf_counter() - started
            shards = _size([run_dir / "events", run_dir / "ledger"])
            r = merge_in_child(run_dir)
            merged = _size([run_dir / EVENTS, run_dir / LEDGER])
            assert r["duplicate_events"] > 0 and r["duplicates"] > 0 and r["missing"] == 0, r
            print(
                f"{r['events']:>11,} {r['ledger']:>10,} {r['seconds']:>8.1f} {r['peak_rss_mb']:>12,.0f} "
                f"{shards / 1e6:>10.0f} {merged / 1e6:>10.0f}   (generated in {generated:.0f} s; "
                f"this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB)"
            )


if __name__ == "__main__":
    main()
