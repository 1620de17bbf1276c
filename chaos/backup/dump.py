"""A consistent snapshot in mongodump's layout, taken under load: the built-in writer through
the driver, or `mongodump --oplog` when it is installed (`tool: auto|builtin|mongodump`).

As mongodump --oplog does: note the oplog's newest entry, copy every collection (the copy is
fuzzy: writes go on meanwhile), note the newest entry again, and save the entries between the
two as `oplog.bson`; a restore that replays them reaches the data as it was at the end. The
end is then waited for until a majority has it, so the snapshot holds nothing a rollback could
undo. Each collection's `<coll>.metadata.json` carries its options and its indexes as
listIndexes gives them (text indexes with their weights), in Extended JSON as mongodump writes
it, so mongorestore reads the built-in writer's output and `bson` reads its `.bson` files.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from bson import decode_file_iter, json_util
from bson.json_util import CANONICAL_JSON_OPTIONS
from pymongo import MongoClient

from chaos.backup.backupset import BackupSet
from chaos.backup.layout import (
    DUMP_OPLOG,
    SNAPSHOT,
    AtomicFile,
    CollectionDump,
    Point,
    SnapshotInfo,
    write_file,
)
from chaos.backup.oplog import RAW, entries, newest, point_of, wait_committed
from contract.errors import UsageError

Tool = Literal["auto", "builtin", "mongodump"]
COMMIT_TIMEOUT_S = 60.0
BATCH = 1000


def choose_tool(tool: Tool) -> str:
    """`auto`: mongodump when it is on PATH, else the built-in writer."""
    found = shutil.which("mongodump")
    if tool == "mongodump" and found is None:
        raise UsageError("tool: mongodump is not on PATH (install MongoDB's database tools, or use builtin)")
    if tool == "auto":
        return "mongodump" if found else "builtin"
    return tool


def mongodump_command(uri: str, database: str, out: Path) -> list[str]:
    return ["mongodump", f"--uri={uri}", f"--db={database}", "--oplog", f"--out={out}"]


def snapshot(
    client: MongoClient[Any],
    uri: str,
    backup: BackupSet,
    *,
    tool: Tool = "auto",
    log: Callable[[str], None] = lambda line: None,
) -> SnapshotInfo:
    """Write the set's `snapshot/` (built in a temporary folder, renamed when complete) and add
    it to the manifest."""
    chosen = choose_tool(tool)
    folder, database = backup.folder, backup.manifest.database
    final = folder / SNAPSHOT
    if final.exists():
        raise UsageError(f"{final} exists: a backup set holds one snapshot")
    work = folder / (SNAPSHOT + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    started = time.time()
    if chosen == "mongodump":
        start, end, collections = _mongodump(client, uri, database, work)
    else:
        start, end, collections = _builtin(client, database, work, log)
    info = SnapshotInfo(
        tool=chosen,
        started_at=started,
        seconds=time.time() - started,
        start=start,
        end=end,
        collections=collections,
    )
    wait_committed(client, info.end.timestamp, COMMIT_TIMEOUT_S)
    work.rename(final)
    files = [p.relative_to(folder).as_posix() for p in sorted(final.rglob("*")) if p.is_file()]
    backup.add(files, lambda m: setattr(m, "snapshot", info))
    return info


Dumped = tuple[Point, Point, dict[str, CollectionDump]]  # the oplog at the start and end, the collections


def _builtin(client: MongoClient[Any], database: str, work: Path, log: Callable[[str], None]) -> Dumped:
    db = client.get_database(database)
    start = newest(client)
    collections: dict[str, CollectionDump] = {}
    for info in db.list_collections(filter={"type": "collection"}):
        name = info["name"]
        if name.startswith("system."):
            continue
        coll = db.get_collection(name, codec_options=RAW)
        indexes = [{k: v for k, v in spec.items() if k != "ns"} for spec in db[name].list_indexes()]
        metadata = {
            "indexes": indexes,
            "uuid": info["info"]["uuid"].hex() if "uuid" in info.get("info", {}) else "",
            "collectionName": name,
            "type": "collection",
            "options": info.get("options", {}),
        }
        write_file(
            work / database / f"{name}.metadata.json",
            json_util.dumps(metadata, json_options=CANONICAL_JSON_OPTIONS).encode(),
        )
        out = AtomicFile(work / database / f"{name}.bson")
        documents = 0
        try:
            for doc in coll.find({}, batch_size=BATCH):
                out.write(doc.raw)
                documents += 1
        except BaseException:
            out.abandon()
            raise
        out.commit()
        collections[f"{database}.{name}"] = CollectionDump(
            documents=documents, bytes=out.bytes, indexes=[ix["name"] for ix in indexes]
        )
        log(f"dumped {database}.{name}: {documents:,} documents")
    end = newest(client)
    out = AtomicFile(work / DUMP_OPLOG)
    try:
        for entry in entries(client, start.timestamp, end.timestamp):
            out.write(entry.raw)
    except BaseException:
        out.abandon()
        raise
    out.commit()
    return start, end, collections


def _mongodump(client: MongoClient[Any], uri: str, database: str, work: Path) -> Dumped:
    start = newest(client)
    result = subprocess.run(
        mongodump_command(uri, database, work), capture_output=True, text=True, check=False, timeout=24 * 3600
    )
    if result.returncode != 0:
        raise UsageError(f"mongodump failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    last = None
    with (work / DUMP_OPLOG).open("rb") as fh:
        for entry in decode_file_iter(fh):
            last = entry
    end = point_of(last) if last is not None else start
    collections: dict[str, CollectionDump] = {}
    for path in sorted((work / database).glob("*.bson")):
        meta = json_util.loads(path.with_name(path.stem + ".metadata.json").read_text())
        with path.open("rb") as fh:
            count = sum(1 for _ in decode_file_iter(fh))
        collections[f"{database}.{path.stem}"] = CollectionDump(
            documents=count, bytes=path.stat().st_size, indexes=[ix["name"] for ix in meta.get("indexes", [])]
        )
    return start, end, collections
