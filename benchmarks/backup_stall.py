"""How long a member stops answering while it serves a backup's snapshot read: a 3-member
`mongoemu` set (mongod's default election settings) is filled with `--mb` MB of prompt-like
documents, then the read the backup's export and a restore point's reference make of a
collection (`readConcern: snapshot`, sorted by `_id`, through `chaos.backup.snapshotread`) runs
on the primary while a second connection pings that member every `--interval-ms`.

Prints the longest wait for a ping's reply and the longest silence between two replies, idle and
during the read, and whether the set held an election meanwhile (mongod yields during long scans,
so it would not). A silence longer than the 10 s election timeout gets the primary voted out, and
the read then fails (its next getMore reaches the new primary, which has no such cursor).

    python benchmarks/backup_stall.py [--mb 100] [--doc-kb 1] [--interval-ms 50]

Client and members share this machine's cores; say how busy it was when you report figures.
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator_throughput import percentile
from pymongo import MongoClient
from pymongo.errors import PyMongoError
from replication import PROFILES, start_set

from chaos.backends.processes import MemberProcess, wait_for_primary
from chaos.backup.snapshotread import SnapshotReader

DATABASE, COLLECTION = "aihub", "prompts"
BATCH = 1000
IDLE_S = 2.0
PING_LIMIT = 100_000  # the pinger stops by itself even if the read never ends


@dataclass
class Pings:
    """Ping round trips (send and reply times) of one connection to one member."""

    sent_replied: list[tuple[float, float]] = field(default_factory=list)

    def waits(self, start: float, end: float) -> list[float]:
        """How long each ping answered in [start, end) waited (sent maybe before `start`)."""
        return [r - s for s, r in self.sent_replied if start <= r < end]

    def longest_silence(self, start: float, end: float) -> float:
        """The longest time in [start, end) with no reply, from the last reply before it."""
        before = [r for _, r in self.sent_replied if r < start]
        replies = [
            before[-1] if before else start,
            *(r for _, r in self.sent_replied if start <= r < end),
            end,
        ]
        return max(b - a for a, b in itertools.pairwise(replies))


def ping_every(member: MemberProcess, interval: float, stop: threading.Event, into: Pings) -> None:
    with MongoClient(member.address, directConnection=True, socketTimeoutMS=60_000) as client:
        client.admin.command("ping")
        for _ in range(PING_LIMIT):
            if stop.is_set():
                return
            sent = time.monotonic()
            client.admin.command("ping")
            into.sent_replied.append((sent, time.monotonic()))
            stop.wait(max(0.0, interval - (time.monotonic() - sent)))


def fill(client: MongoClient[Any], mb: float, doc_kb: float) -> int:
    """Prompt-like documents of about `doc_kb` KB until `mb` MB; returns how many."""
    words = ("summarise translate explain classify rewrite draft review answer " * 40).split()
    content = " ".join(words)[: int(doc_kb * 1000)]
    count = int(mb * 1e6 / (len(content) + 100))
    prompts = client[DATABASE][COLLECTION]
    for start in range(0, count, BATCH):
        prompts.insert_many(
            [
                {"_id": i, "userId": f"user-{i % 500}", "title": f"prompt {i}", "content": content}
                for i in range(start, min(start + BATCH, count))
            ]
        )
    return count


def term_of(client: MongoClient[Any]) -> int:
    return int(client.admin.command("replSetGetStatus")["term"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=float, default=100.0, help="documents to load and read (MB)")
    parser.add_argument("--doc-kb", type=float, default=1.0, help="content per document (KB)")
    parser.add_argument("--interval-ms", type=float, default=50.0, help="time between two pings")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="hubchaos-bench-") as tmp:
        members = start_set(Path(tmp), PROFILES["default"])
        try:
            primary = wait_for_primary(members, timeout=60)
            uri = "mongodb://" + ",".join(m.address for m in members) + "/?replicaSet=rs0"
            with MongoClient(uri, w="majority") as client:
                started = time.monotonic()
                documents = fill(client, args.mb, args.doc_kb)
                loaded_s = time.monotonic() - started
                term = term_of(client)
                pings, stop = Pings(), threading.Event()
                pinger = threading.Thread(
                    target=ping_every, args=(primary, args.interval_ms / 1000, stop, pings)
                )
                pinger.start()
                try:
                    idle_start = time.monotonic()
                    time.sleep(IDLE_S)
                    read_start = time.monotonic()
                    read, size, failed = 0, 0, None
                    try:
                        for doc in SnapshotReader(client[DATABASE]).find(COLLECTION, sort={"_id": 1}):
                            read += 1
                            size += len(doc.raw)
                    except PyMongoError as exc:  # a getMore sent to a new primary finds no cursor
                        failed = f"{type(exc).__name__}: {str(exc).split(', full error')[0]}"
                    read_end = time.monotonic()
                finally:
                    stop.set()
                    pinger.join()
                elected = term_of(client) != term
        finally:
            for m in members:
                m.kill()
    read_s, mb = read_end - read_start, size / 1e6
    print(f"{documents:,} documents loaded in {loaded_s:.1f} s; load average {load:.1f} before")
    print(f"snapshot read: {read:,} documents, {mb:.1f} MB in {read_s:.1f} s ({mb / read_s:.1f} MB/s)")
    if failed is not None:
        print(f"the read failed: {failed}")
    for phase, start, end in (("idle", idle_start, read_start), ("during the read", read_start, read_end)):
        waits = pings.waits(start, end)
        print(
            f"{phase:16} {len(waits):5} pings  longest wait {max(waits, default=0) * 1000:8.0f} ms  "
            f"p99 {percentile(waits, 99) * 1000:6.0f} ms  "
            f"longest silence {pings.longest_silence(start, end) * 1000:8.0f} ms"
        )
    print("an election happened during the read" if elected else "no election during the read")


if __name__ == "__main__":
    main()
