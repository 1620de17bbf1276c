"""Throughput, latency and memory of one `mongoemu` member, driven by unmodified PyMongo.

Prints insert_one and find_one ops/s with p50/p99 latency for 1 and 8 client threads (w:1,
hub prompt documents; inserts into a plain collection and into one with the hub's indexes,
including the weighted text index), then loads N hub-sized prompt
documents (content of hundreds of words) into a fresh member with the hub's indexes and
prints its resident memory (now and peak), the load rate and two hub queries' latencies.

    python benchmarks/emulator_throughput.py [--ops 6000] [--docs 100000] [--threads 1,8]

Client and member share this machine's cores; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from pymongo import MongoClient

from chaos.backends.processes import MemberProcess, free_port, initiate, wait_for_primary
from locustfiles.corpus import BASE_TIME, Corpus
from locustfiles.model import INDEXES, PROMPTS
from locustfiles.settings import CorpusSettings

SETTINGS = {"electionTimeoutMillis": 500, "heartbeatIntervalMillis": 100}


def start_member(base: Path, name: str) -> MemberProcess:
    member = MemberProcess(name, "127.0.0.1", free_port(), base / name)
    member.start()
    member.wait_ready()
    initiate([member], SETTINGS)
    wait_for_primary([member])
    return member


def client_for(member: MemberProcess, threads: int) -> MongoClient[dict[str, Any]]:
    return MongoClient(
        f"mongodb://{member.address}/?replicaSet=rs0",
        w=1,
        maxPoolSize=max(threads, 10),
        serverSelectionTimeoutMS=10_000,
    )


def run_threads(threads: int, ops: int, op: Callable[[int, int], None]) -> tuple[float, list[float]]:
    """Run `ops` calls of op(thread, i) spread over `threads` threads; (ops/s, latencies in ms)."""
    per = ops // threads
    latencies: list[list[float]] = [[] for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def worker(t: int) -> None:
        mine = latencies[t]
        barrier.wait()
        for i in range(per):
            start = time.perf_counter()
            op(t, i)
            mine.append((time.perf_counter() - start) * 1000)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    barrier.wait()
    began = time.perf_counter()
    for th in pool:
        th.join()
    elapsed = time.perf_counter() - began
    flat = [x for lst in latencies for x in lst]
    return len(flat) / elapsed, flat


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def row(name: str, threads: int, rate: float, lat: list[float]) -> None:
    print(f"{name:<22} {threads:>7} {rate:>10.0f} {percentile(lat, 50):>9.2f} {percentile(lat, 99):>9.2f}")


def throughput(base: Path, ops: int, thread_counts: list[int], corpus: Corpus) -> None:
    member = start_member(base, "throughput")
    try:
        rng = np.random.default_rng(7)
        docs = [corpus.prompt_doc(rng, int(rng.integers(corpus.spec.users)), BASE_TIME) for _ in range(2000)]
        print(f"{'operation':<22} {'threads':>7} {'ops/s':>10} {'p50 ms':>9} {'p99 ms':>9}")
        for threads in thread_counts:
            with client_for(member, threads) as client:
                for indexed in (False, True):
                    coll = client.bench[f"prompts_{threads}_{int(indexed)}"]
                    if indexed:
                        coll.create_indexes(INDEXES[PROMPTS])
                    ids: list[list[Any]] = [[] for _ in range(threads)]

                    def insert(t: int, i: int, coll: Any = coll, ids: list[list[Any]] = ids) -> None:
                        doc = dict(docs[(t * 7919 + i) % len(docs)])
                        ids[t].append(coll.insert_one(doc).inserted_id)

                    rate, lat = run_threads(threads, ops, insert)
                    row("insert_one" + (" (hub indexes)" if indexed else ""), threads, rate, lat)
                flat_ids = [x for lst in ids for x in lst]

                def find(t: int, i: int, coll: Any = coll, flat_ids: list[Any] = flat_ids) -> None:
                    assert (
                        coll.find_one({"_id": flat_ids[(t * 104_729 + i * 31) % len(flat_ids)]}) is not None
                    )

                rate, lat = run_threads(threads, ops, find)
                row("find_one", threads, rate, lat)
    finally:
        member.kill()


def hub_prompt(corpus: Corpus, rng: np.random.Generator, i: int) -> dict[str, Any]:
    """A prompt as the hub stores it, with content of hundreds of words (three paragraphs)."""
    doc = corpus.prompt_doc(rng, int(rng.integers(corpus.spec.users)), BASE_TIME, corpus.prompt_id(i))
    doc["content"] = " ".join(corpus.content(rng, doc["category"]) for _ in range(3))
    return doc


def memory(base: Path, n_docs: int, corpus: Corpus) -> None:
    member = start_member(base, "memory")
    try:
        proc = psutil.Process(member.pid)
        with client_for(member, 1) as client:
            coll = client.bench.prompts
            coll.create_indexes(INDEXES[PROMPTS])
            rng = np.random.default_rng(11)
            words = 0
            began = time.perf_counter()
            for start in range(0, n_docs, 1000):
                batch = [hub_prompt(corpus, rng, i) for i in range(start, min(start + 1000, n_docs))]
                words += sum(len(d["content"].split()) for d in batch)
                coll.insert_many(batch, ordered=False)
            load_s = time.perf_counter() - began
            assert coll.estimated_document_count() == n_docs
            stats = client.bench.command("collStats", "prompts")
            rss = proc.memory_info().rss
            status = Path(f"/proc/{member.pid}/status").read_text().splitlines()
            peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
            user = corpus.user_id(0)
            q_lat = []
            for category in ("writing", "coding", "marketing", "data", "support") * 20:
                t0 = time.perf_counter()
                list(coll.find({"userId": user, "category": category}).sort("createdAt", -1).limit(20))
                q_lat.append((time.perf_counter() - t0) * 1000)
            t_lat = []
            for term in ("write", "python", "email", "analysis", "customer") * 4:
                t0 = time.perf_counter()
                list(
                    coll.find({"$text": {"$search": term}}, {"score": {"$meta": "textScore"}, "title": 1})
                    .sort([("score", {"$meta": "textScore"})])
                    .limit(20)
                )
                t_lat.append((time.perf_counter() - t0) * 1000)
        print()
        print(f"documents loaded        {n_docs}")
        print(f"mean content words      {words / n_docs:.0f}")
        print(
            f"mean BSON size          {stats['avgObjSize']} bytes "
            f"(stored {stats['storageSize'] / n_docs:.0f} compressed)"
        )
        print(f"load rate (insert_many) {n_docs / load_s:.0f} docs/s")
        print(f"member RSS after load   {rss / 2**20:.0f} MiB")
        print(f"member peak RSS (VmHWM) {peak_kb / 1024:.0f} MiB")
        print(f"list by category p50    {statistics.median(q_lat):.2f} ms (index, limit 20)")
        print(
            f"text search p50         {statistics.median(t_lat):.2f} ms (weighted, sorted by score, limit 20)"
        )
    finally:
        member.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=6000, help="operations per thread count and operation")
    parser.add_argument("--docs", type=int, default=100_000, help="prompt documents for the memory figure")
    parser.add_argument("--threads", default="1,8", help="comma-separated client thread counts")
    args = parser.parse_args()
    corpus = Corpus(CorpusSettings(users=5000, prompts=max(args.docs, 1)), seed=1)
    with tempfile.TemporaryDirectory(prefix="mongoemu-bench-") as tmp:
        base = Path(tmp)
        throughput(base, args.ops, [int(t) for t in args.threads.split(",")], corpus)
        if args.docs:
            memory(base, args.docs, corpus)


if __name__ == "__main__":
    main()
