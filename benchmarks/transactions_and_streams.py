"""Costs of the emulator's transactions, change streams and `$v: 2` update diffs, each next to a
baseline measured in the same run.

* transactions: a transfer (two `$inc` updates) as a `with_transaction` commit against the same
  two updates without a transaction, both `w: "majority"` on a 3-member set, from N threads
  (disjoint documents per thread, so conflicts do not blur the cost); ops/s, p50/p99, ratio.
* streams: how long after a `w: "majority"` insert is sent a `watch()` sees it (p50/p99), next to
  the insert's own acknowledgement time (the baseline: both wait for the majority commit point),
  with 0 and with 4 other open streams on the same member.
* diffs: the oplog bytes and the member's CPU per update of hub-sized documents (a prompt, a
  vector chunk with a 1536-float embedding) logged as a diff against the whole-document
  replacement it replaces (in-process: `storage/diff.py`, the member's own code).

    python benchmarks/transactions_and_streams.py [transactions|streams|diffs|all]
                                                  [--ops 2000] [--threads 4] [--events 500]

Client and members share this machine's cores; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import bson
import numpy as np
from emulator_throughput import percentile, run_threads
from pymongo import WriteConcern
from replication import PROFILES, set_client, start_set

from mongoemu.storage import diff, update
from mongoemu.wire import CODEC


def transactions(base: Path, ops: int, threads: int) -> None:
    members = start_set(base / "transactions", PROFILES["short"])
    try:
        with set_client(members, maxPoolSize=max(threads, 10), w="majority") as client:
            coll = client.bench.accounts
            coll.insert_many([{"_id": f"{t}-{side}", "n": 0} for t in range(threads) for side in "ab"])
            sessions = [client.start_session() for _ in range(threads)]

            def plain(t: int, i: int) -> None:
                coll.update_one({"_id": f"{t}-a"}, {"$inc": {"n": -1}})
                coll.update_one({"_id": f"{t}-b"}, {"$inc": {"n": 1}})

            def transfer(session: Any) -> None:
                coll.update_one({"_id": f"{session.t}-a"}, {"$inc": {"n": -1}}, session=session.s)
                coll.update_one({"_id": f"{session.t}-b"}, {"$inc": {"n": 1}}, session=session.s)

            def in_transaction(t: int, i: int) -> None:
                holder = argparse.Namespace(t=t, s=sessions[t])
                sessions[t].with_transaction(lambda s, h=holder: transfer(h))

            print(f"{'transfer':<26} {'threads':>7} {'ops/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
            results = {}
            for name, op in (("two updates, no txn", plain), ("with_transaction", in_transaction)):
                run_threads(threads, min(ops, 400), op)  # warm-up
                rate, lat = run_threads(threads, ops, op)
                results[name] = rate
                p50, p99 = percentile(lat, 50), percentile(lat, 99)
                print(f"{name:<26} {threads:>7} {rate:>8.0f} {p50:>8.2f} {p99:>8.2f}")
            ratio = results["with_transaction"] / results["two updates, no txn"]
            print(f"ratio transaction / plain: {ratio:.2f}")
            for s in sessions:
                s.end_session()
    finally:
        for m in members:
            m.kill()


def streams(base: Path, events: int) -> None:
    members = start_set(base / "streams", PROFILES["short"])
    try:
        with set_client(members, w="majority") as client:
            coll = client.bench.get_collection("watched", write_concern=WriteConcern(w="majority"))
            coll.insert_one({"_id": "warm"})
            print(f"{'other open streams':<20} {'events':>7} {'event p50/p99 ms':>17} {'ack p50/p99 ms':>15}")
            for others in (0, 4):
                extra = [client.bench[f"other{i}"].watch(max_await_time_ms=200) for i in range(others)]
                with coll.watch(max_await_time_ms=1000) as stream:
                    sent: dict[int, float] = {}
                    acked: dict[int, float] = {}
                    seen: dict[int, float] = {}
                    done = threading.Event()

                    def read(stream: Any = stream, seen: dict[int, float] = seen, done: Any = done) -> None:
                        while len(seen) < events and not done.is_set():
                            change = stream.try_next()
                            if change is not None and isinstance(change["documentKey"]["_id"], int):
                                seen[change["documentKey"]["_id"]] = time.perf_counter()

                    reader = threading.Thread(target=read)
                    reader.start()
                    base_id = others * events
                    for i in range(events):
                        sent[base_id + i] = time.perf_counter()
                        coll.insert_one({"_id": base_id + i})
                        acked[base_id + i] = time.perf_counter()
                        time.sleep(0.005)
                    reader.join(30)
                    done.set()
                delays = [(seen[k] - sent[k]) * 1000 for k in sent if k in seen]
                acks = [(acked[k] - sent[k]) * 1000 for k in sent]
                for s in extra:
                    s.close()
                event = f"{percentile(delays, 50):.2f} / {percentile(delays, 99):.2f}"
                ack = f"{percentile(acks, 50):.2f} / {percentile(acks, 99):.2f}"
                print(f"{others:<20} {len(delays):>7} {event:>17} {ack:>15}")
    finally:
        for m in members:
            m.kill()


def _cpu_per_call(fn: Any, repeat: int) -> float:
    start = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - start) / repeat * 1e6


def diffs(repeat: int = 300) -> None:
    rng = np.random.default_rng(3)
    prompt = {"_id": 1, "title": "Summarise a meeting", "content": " ".join(["word"] * 400),
              "tags": ["work", "notes"], "usageCount": 7, "updatedAt": 1}  # fmt: skip
    chunk = {"_id": 2, "store": "s1", "text": "chunk " * 120,
             "embedding": [float(x) for x in rng.random(1536)], "version": 1}  # fmt: skip
    cases = [
        ("prompt $inc usageCount", prompt, {"$inc": {"usageCount": 1}, "$set": {"updatedAt": 2}}),
        ("prompt $set title", prompt, {"$set": {"title": "Summarise a long meeting"}}),
        ("chunk $inc version", chunk, {"$inc": {"version": 1}}),
        ("chunk $set embedding", chunk, {"$set": {"embedding": [float(x) for x in rng.random(1536)]}}),
    ]
    print(f"{'update':<24} {'diff B':>7} {'whole B':>8} {'bytes ratio':>11} {'diff µs':>8} {'whole µs':>9}")
    for name, doc, spec in cases:
        after = update.apply(doc, spec, {})
        terminal = diff.operator_terminal(spec)

        def as_diff(after: Any = after, doc: Any = doc, terminal: Any = terminal) -> bytes:
            computed = diff.compute(doc, after, terminal)
            return bson.encode(diff.update_entry(computed or {}), codec_options=CODEC)

        def as_whole(after: Any = after) -> bytes:
            return bson.encode(after, codec_options=CODEC)

        diff_bytes, whole_bytes = len(as_diff()), len(as_whole())
        print(
            f"{name:<24} {diff_bytes:>7} {whole_bytes:>8} {diff_bytes / whole_bytes:>11.3f} "
            f"{_cpu_per_call(as_diff, repeat):>8.1f} {_cpu_per_call(as_whole, repeat):>9.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("part", nargs="?", default="all", choices=["transactions", "streams", "diffs", "all"])
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--events", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hubchaos-txn-bench-") as tmp:
        base = Path(tmp)
        if args.part in ("diffs", "all"):
            diffs()
        if args.part in ("transactions", "all"):
            transactions(base, args.ops, args.threads)
        if args.part in ("streams", "all"):
            streams(base, args.events)


if __name__ == "__main__":
    main()
