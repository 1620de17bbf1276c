"""Rollback via refetch: undo this member's oplog entries that the sync source does not have.

mongod's classic algorithm. Walk both oplogs backwards to the newest entry they share (the
common point); every local entry after it is rolled back. The current local versions of the
documents those entries touched are saved to
`<dbpath>/rollback/<db>.<collection>/removed.<time>.bson`, then each document is refetched from
the sync source (or deleted when the source has none); collections created, dropped or
re-indexed after the common point are recopied whole. The oplog is truncated to the common
point, and the member stays RECOVERING until it has applied the source's oplog up to the
source's newest optime at refetch time (minValid), which makes the refetched documents
consistent. Every rolled-back write is logged in the ground-truth log.

A member that dies half-way cannot trust its data: the rollback flag in the replication
metadata makes it resync from scratch on restart.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bson

from mongoemu import operation
from mongoemu.errors import interrupted_by_state_change
from mongoemu.operation import Operation, checkpoint
from mongoemu.oplog import OpTime, expand
from mongoemu.repl import initial_sync
from mongoemu.repl.majority import key
from mongoemu.repl.messages import wall_of
from mongoemu.repl.peer import CommandFailed, Peer, PeerError, call, documents
from mongoemu.repl.state import MemberState

if TYPE_CHECKING:
    from mongoemu.repl.coordinator import ReplicationCoordinator

log = logging.getLogger("mongoemu.repl.rollback")

TIMEOUT_SECS = 30.0
REFETCH_BATCH = 500
# Commands that change a whole collection: rolled back by copying the collection again.
_COLLECTION_COMMANDS = {"create", "drop", "createIndexes", "dropIndexes", "collMod", "renameCollection"}


class NoCommonPoint(Exception):
    """The two oplogs share no entry: this member cannot roll back and must resync."""


def _ts(entry: dict[str, Any]) -> tuple[int, int]:
    return (entry["ts"].time, entry["ts"].inc)


async def _local_newest_first(coord: ReplicationCoordinator) -> AsyncIterator[dict[str, Any]]:
    before: OpTime | None = None
    while True:
        chunk = coord.member.oplog.entries_before(before, 1000)
        if not chunk:
            return
        for entry in chunk:
            yield entry
        before = OpTime.from_document(chunk[-1])


async def find_common_point(coord: ReplicationCoordinator, peer: Peer) -> tuple[OpTime, list[dict[str, Any]]]:
    """The newest entry both oplogs hold, and our entries after it (oldest first)."""
    rolled: list[dict[str, Any]] = []
    find = {"find": "oplog.rs", "sort": {"$natural": -1}}
    async with (
        contextlib.aclosing(documents(peer, "local", find, TIMEOUT_SECS)) as remote_it,
        contextlib.aclosing(_local_newest_first(coord)) as local_it,
    ):
        local = await anext(local_it, None)
        remote = await anext(remote_it, None)
        while local is not None and remote is not None:
            checkpoint()
            if OpTime.from_document(local) == OpTime.from_document(remote):
                rolled.reverse()
                return OpTime.from_document(local), rolled
            if _ts(local) > _ts(remote):
                rolled.append(local)
                local = await anext(local_it, None)
            elif _ts(remote) > _ts(local):
                remote = await anext(remote_it, None)
            else:
                rolled.append(local)
                local = await anext(local_it, None)
                remote = await anext(remote_it, None)
    raise NoCommonPoint(f"no common point with {peer.host}'s oplog")


def affected(entries: list[dict[str, Any]]) -> tuple[dict[str, dict[bytes, Any]], set[str]]:
    """Documents (per namespace) and whole collections the rolled-back entries changed."""
    docs: dict[str, dict[bytes, Any]] = {}
    collections: set[str] = set()
    for entry in (op for e in entries for op in expand(e)):
        checkpoint()
        op, ns = entry["op"], entry.get("ns", "")
        if op in ("i", "d"):
            _id = entry["o"]["_id"]
        elif op == "u":
            _id = (entry.get("o2") or entry["o"])["_id"]
        elif op == "c":
            db = ns.split(".", 1)[0]
            command = entry["o"]
            name = next(iter(command), "")
            if name in _COLLECTION_COMMANDS:
                target = command[name]
                collections.add(target if name == "renameCollection" else f"{db}.{target}")
                if name == "renameCollection":
                    collections.add(str(command.get("to", "")))
            elif name == "dropDatabase":
                collections.add(f"{db}.*")
            continue
        else:
            continue
        docs.setdefault(ns, {})[key(_id)] = _id
    return docs, collections


def write_rollback_files(
    coord: ReplicationCoordinator, docs: dict[str, dict[bytes, Any]], collections: set[str], stamp: str
) -> list[str]:
    """Save the local versions of everything about to change, as mongod's rollback files."""
    storage = coord.member.storage
    files: list[str] = []
    root = Path(coord.member.options.dbpath) / "rollback"
    saved: dict[str, list[dict[str, Any]]] = {}
    for ns, ids in docs.items():
        found = []
        for _id in ids.values():
            checkpoint()
            doc = storage.get_document(ns, _id)
            if doc is not None:
                found.append(doc)
        if found:
            saved[ns] = found
    for ns in _expand(coord, collections):
        if ns not in docs:
            saved[ns] = list(storage.iter_documents(ns))
    for ns, found in saved.items():
        if not found:
            continue
        folder = root / ns
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"removed.{stamp}.bson"
        with path.open("ab") as fh:
            for doc in found:
                fh.write(bson.encode(doc))
                checkpoint()
        files.append(str(path.relative_to(coord.member.options.dbpath)))
    return files


def _expand(coord: ReplicationCoordinator, collections: set[str]) -> list[str]:
    local = coord.member.storage.namespaces()
    out: list[str] = []
    for ns in collections:
        if ns.endswith(".*"):
            db = ns[:-2]
            out.extend(n for n in local if n.startswith(db + "."))
        else:
            out.append(ns)
    return out


async def refetch(coord: ReplicationCoordinator, peer: Peer, docs: dict[str, dict[bytes, Any]]) -> int:
    """Replace each document with the source's version, or delete it when the source has none."""
    storage = coord.member.storage
    changed = 0
    for ns, ids in docs.items():
        db, _, coll = ns.partition(".")
        pending = list(ids.items())
        for start in range(0, len(pending), REFETCH_BATCH):
            chunk = dict(pending[start : start + REFETCH_BATCH])
            find = {"find": coll, "filter": {"_id": {"$in": list(chunk.values())}}}
            async with contextlib.aclosing(documents(peer, db, find, TIMEOUT_SECS)) as remote:
                async for doc in remote:
                    chunk.pop(key(doc["_id"]), None)
                    storage.restore_document(ns, doc)
                    changed += 1
                    checkpoint()
            for _id in chunk.values():
                storage.remove_document(ns, _id)
                changed += 1
                checkpoint()
    return changed


async def recopy_collections(coord: ReplicationCoordinator, peer: Peer, collections: set[str]) -> None:
    """Make whole collections equal to the source's (for rolled-back collection commands)."""
    storage = coord.member.storage
    targets = set(_expand(coord, collections))
    for pattern in collections:
        if pattern.endswith(".*"):
            db = pattern[:-2]
            listing = await call(peer, db, {"listCollections": 1, "nameOnly": True}, TIMEOUT_SECS)
            targets.update(f"{db}.{c['name']}" for c in listing["cursor"]["firstBatch"])
    for ns in sorted(targets):
        db, _, coll = ns.partition(".")
        storage.drop_collection(ns)
        await initial_sync.clone_collection(coord, peer, db, coll)


async def _remote_top(peer: Peer) -> OpTime:
    reply = await call(
        peer, "local", {"find": "oplog.rs", "sort": {"$natural": -1}, "limit": 1}, TIMEOUT_SECS
    )
    return OpTime.from_document(reply["cursor"]["firstBatch"][0])


async def _rbid(peer: Peer) -> int:
    return int((await call(peer, "admin", {"replSetGetRBID": 1}, TIMEOUT_SECS))["rbid"])


async def run(coord: ReplicationCoordinator, peer: Peer) -> None:
    """Roll back to the common point with `peer`'s oplog, as an operation of replication's own
    (its loops over entries and documents are checkpoints)."""
    await operation.run(Operation("rollback", user=False), _rollback(coord, peer))


async def _rollback(coord: ReplicationCoordinator, peer: Peer) -> None:
    coord.set_state(MemberState.ROLLBACK)
    # As mongod, clients' operations in progress end: the data is about to change under them.
    coord.member.operations.interrupt(interrupted_by_state_change())
    started = time.time()
    try:
        rbid = await _rbid(peer)
        common, rolled = await find_common_point(coord, peer)
    except NoCommonPoint as exc:
        log.error("rollback impossible; resyncing", extra={"attr": {"error": str(exc)}})
        await initial_sync.run(coord)
        return
    except (PeerError, CommandFailed) as exc:
        log.info("rollback could not start", extra={"attr": {"error": str(exc)}})
        coord.set_state(MemberState.RECOVERING)
        return
    if common < coord.commit_point:
        log.error(
            "rollback would undo majority-committed writes; resyncing",
            extra={"attr": {"common": str(common)}},
        )
        await initial_sync.run(coord)
        return
    docs, collections = affected(rolled)
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime(started)) + f".{coord.meta.rbid}"
    coord.meta.rollback_pending = True
    coord.meta_file.save(coord.meta)
    try:
        min_valid = await _remote_top(peer)
        files = write_rollback_files(coord, docs, collections, stamp)
        refetched = await refetch(coord, peer, docs)
        await recopy_collections(coord, peer, collections)
        if await _rbid(peer) != rbid:
            raise CommandFailed(f"{peer.host} rolled back while we refetched from it")
    except (PeerError, CommandFailed) as exc:
        log.error("rollback failed half-way; resyncing", extra={"attr": {"error": str(exc)}})
        await initial_sync.run(coord)
        return
    coord.member.truncate_oplog_after(common)
    coord.oplog_generation += 1
    coord.majority.truncate_after(common)
    coord.reset_applied(common, wall_of(common))
    coord.meta.rollback_pending = False
    coord.meta.min_valid = max(min_valid, common)
    coord.meta.rbid += 1
    coord.meta_file.save(coord.meta)
    await coord.member.checkpoint()
    _record(
        coord,
        peer.host,
        common=common,
        rolled=rolled,
        docs=docs,
        files=files,
        refetched=refetched,
        min_valid=min_valid,
    )
    coord.set_state(MemberState.RECOVERING)


def _record(
    coord: ReplicationCoordinator,
    source: str,
    *,
    common: OpTime,
    rolled: list[dict[str, Any]],
    docs: dict[str, dict[bytes, Any]],
    files: list[str],
    refetched: int,
    min_valid: OpTime,
) -> None:
    gt = coord.member.groundtruth
    for entry in (op for e in rolled for op in expand(e)):
        checkpoint()
        if entry["op"] == "n":
            continue
        o = entry["o"]
        _id = (entry.get("o2") or o).get("_id") if entry["op"] in ("i", "u", "d") else None
        gt.record(
            "rolled_back_write",
            ns=entry.get("ns", ""),
            op=entry["op"],
            _id=_id,
            ts=entry["ts"],
            term=int(entry.get("t", -1)),
            wall=entry.get("wall"),
            command=next(iter(o), None) if entry["op"] == "c" else None,
        )
    gt.record(
        "rollback",
        source=source,
        common_point=common.to_document(),
        entries=len(rolled),
        documents=[{"ns": ns, "_id": _id} for ns, ids in docs.items() for _id in ids.values()],
        refetched=refetched,
        files=files,
        min_valid=min_valid.to_document(),
        term=coord.term,
    )
    log.info(
        "rollback finished",
        extra={"attr": {"commonPoint": str(common), "entries": len(rolled), "files": files}},
    )
