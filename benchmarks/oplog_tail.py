"""What a secondary's oplog fetch costs the primary as its oplog window grows: `records_from`
at the newest entries (where secondaries tail), against walking the window from its oldest
entry (how it read before; the baseline, measured in the same run).

    python benchmarks/oplog_tail.py [--entries 10000 100000 300000] [--batch 100]
"""

from __future__ import annotations

import argparse
import itertools
import time

import bson
from bson.raw_bson import RawBSONDocument
from bson.timestamp import Timestamp

from mongoemu.oplog import OplogWindow, OpTime, Record


def from_oldest(window: OplogWindow, start: int, limit: int) -> list[Record]:
    """The baseline: every deque walked from its oldest entry to `start`."""
    queues = (window._keys, window._docs, window._sizes)
    parts = (itertools.islice(q, start, start + limit) for q in queues)
    return [(OpTime.from_key(k), RawBSONDocument(d), n) for k, d, n in zip(*parts, strict=True)]


def per_call_us(read: object, window: OplogWindow, start: int, limit: int, calls: int = 200) -> float:
    began = time.perf_counter()
    for _ in range(calls):
        read(window, start, limit)  # type: ignore[operator]
    return 1e6 * (time.perf_counter() - began) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, nargs="+", default=[10_000, 100_000, 300_000])
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    doc = bson.encode({"op": "i", "ns": "aihub.prompts", "o": {"_id": 1, "text": "x" * 200}})
    print("| window entries | tail fetch now | from the oldest (before) | ratio |")
    print("| ---: | ---: | ---: | ---: |")
    for entries in args.entries:
        window = OplogWindow(max_bytes=1 << 40)
        for i in range(entries):
            window.append(OpTime(Timestamp(1_000_000 + i // 1000, i % 1000 + 1), 1), doc, len(doc))
        start = entries - args.batch
        assert window.records_from(start, args.batch)[0][0] == from_oldest(window, start, args.batch)[0][0]
        now = per_call_us(OplogWindow.records_from, window, start, args.batch)
        before = per_call_us(from_oldest, window, start, args.batch)
        print(f"| {entries:,} | {now:,.0f} µs | {before:,.0f} µs | {before / now:,.1f} x |")


if __name__ == "__main__":
    main()
