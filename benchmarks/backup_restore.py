"""Backup and restore throughput in MB/s: a one-member `mongoemu` set is filled with prompt-like
documents (the hub's prompts indexes, text weights included) up to `--mb` MB of BSON, backed up
with the built-in writer (the snapshot in mongodump's layout) and restored into a fresh one-member set
with `hubchaos restore`'s code path (verify, documents, oplog, indexes). Prints the figures and
the projected time for a 1 GB corpus against the guide's 15-minute restore target.

    python benchmarks/backup_restore.py [--mb 50] [--doc-kb 1]

Client and members share this machine's cores; say how busy it was when you report figures.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import MongoClient

from chaos.backends.processes import MemberProcess, free_port, initiate, wait_for_primary
from chaos.backup.backupset import BackupSet
from chaos.backup.dump import snapshot
from chaos.backup.restore import plan_restore, restore

DATABASE = "aihub"
BATCH = 1000
TARGET_S = 15 * 60


def start_member(base: Path) -> MemberProcess:
    member = MemberProcess("m0", "127.0.0.1", free_port(), base / "m0")
    member.start()
    member.wait_ready()
    initiate([member])
    wait_for_primary([member], timeout=60)
    return member


def fill(client: MongoClient[Any], mb: float, doc_kb: float) -> int:
    """Prompts of about `doc_kb` KB until `mb` MB of BSON; returns the documents written."""
    prompts = client[DATABASE].prompts
    prompts.create_index([("userId", 1), ("category", 1), ("createdAt", -1)])
    prompts.create_index(
        [("title", "text"), ("content", "text"), ("tags", "text")],
        weights={"title": 3, "content": 2, "tags": 1},
    )
    words = ("summarise translate explain classify rewrite draft review answer " * 40).split()
    content = " ".join(words)[: int(doc_kb * 1000)]
    count = int(mb * 1e6 / (len(content) + 150))
    for start in range(0, count, BATCH):
        batch = [
            {
                "_id": ObjectId(),
                "userId": f"user-{i % 500}",
                "category": f"cat-{i % 12}",
                "title": f"prompt {i}",
                "content": content,
                "tags": ["bench", f"t{i % 7}"],
                "createdAt": i,
            }
            for i in range(start, min(start + BATCH, count))
        ]
        prompts.insert_many(batch, ordered=False)
        if (start // BATCH) % 100 == 99:
            print(f"  loaded {start + BATCH:,} of {count:,} documents", flush=True)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=float, default=50.0, help="BSON to back up and restore (MB)")
    parser.add_argument("--doc-kb", type=float, default=1.0, help="content per document (KB)")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="hubchaos-bench-") as tmp:
        base = Path(tmp)
        source, target = start_member(base / "source"), start_member(base / "target")
        try:
            with source.client() as client:
                started = time.monotonic()
                documents = fill(client, args.mb, args.doc_kb)
                fill_s = time.monotonic() - started
                backup = BackupSet.create(base / "set", DATABASE, "rs0")
                started = time.monotonic()
                info = snapshot(client, f"mongodb://{source.address}/", backup, tool="builtin")
                backup_s = time.monotonic() - started
            size = sum(c.bytes for c in info.collections.values())
            with target.client() as client:
                started = time.monotonic()
                result = restore(client, plan_restore(backup.folder, None))
                restore_s = time.monotonic() - started
        finally:
            source.kill()
            target.kill()
    mb = size / 1e6
    print(f"{documents:,} documents, {mb:.1f} MB of BSON (loaded in {fill_s:.1f} s); load average {load:.1f}")
    print(f"backup  (snapshot)               {backup_s:8.1f} s  {mb / backup_s:6.2f} MB/s")
    print(f"restore (verify, data, indexes)  {restore_s:8.1f} s  {mb / restore_s:6.2f} MB/s")
    for phase, seconds in result.seconds.items():
        print(f"  {phase:8} {seconds:8.1f} s")
    projected = 1000 / (mb / restore_s)
    verdict = "within" if projected <= TARGET_S else "over"
    print(f"1 GB restore at this rate: {projected / 60:.1f} min ({verdict} the 15-minute target)")


if __name__ == "__main__":
    main()
