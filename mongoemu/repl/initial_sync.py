"""Initial sync: how a member with no data (or untrustworthy data) gets a copy of the set.

As mongod: note the sync source's newest oplog entry (the begin point), clone every database
but `local` (collections with their options, indexes and documents), then fetch and apply the
source's oplog from the begin point on. Oplog application is idempotent, so changes made while
the clone ran are replayed onto it safely. The member is STARTUP2 throughout and reports no
optimes, so it counts towards no write concern until it is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mongoemu import operation
from mongoemu.operation import Operation, checkpoint
from mongoemu.oplog import NULL_OPTIME, OpTime
from mongoemu.repl.peer import CommandFailed, Peer, PeerError, call, documents
from mongoemu.repl.state import MemberState

if TYPE_CHECKING:
    from mongoemu.repl.coordinator import ReplicationCoordinator

log = logging.getLogger("mongoemu.repl.initialsync")

TIMEOUT_SECS = 30.0
APPLY_BATCH = 1000
RETRY_SECS = 1.0


async def run(coord: ReplicationCoordinator) -> None:
    """Resync until it succeeds; afterwards the member is RECOVERING (then SECONDARY). It is
    an operation of replication's own: cloning yields at every document."""
    await operation.run(Operation("initial sync", user=False), _resync(coord))


async def _resync(coord: ReplicationCoordinator) -> None:
    coord.set_state(MemberState.STARTUP2)
    while True:
        data = coord.sync.choose(NULL_OPTIME)
        if data is None:
            await coord.progress.wait(RETRY_SECS)
            continue
        source = data.host
        coord.member.groundtruth.record("initial_sync", phase="start", source=source)
        coord.sync_source = source
        try:
            applied = await _sync_from(coord, coord.peers.get(source))
        except (PeerError, CommandFailed) as exc:
            log.warning(
                "initial sync attempt failed", extra={"attr": {"syncSource": source, "error": str(exc)}}
            )
            await asyncio.sleep(RETRY_SECS)
            continue
        except Exception:
            log.exception("initial sync attempt failed unexpectedly", extra={"attr": {"syncSource": source}})
            await asyncio.sleep(RETRY_SECS)
            continue
        finally:
            coord.sync_source = ""
        coord.member.groundtruth.record(
            "initial_sync", phase="done", source=source, applied=applied.to_document()
        )
        break
    coord.set_state(MemberState.RECOVERING)
    coord.maybe_go_live()


async def _sync_from(coord: ReplicationCoordinator, peer: Peer) -> OpTime:
    member = coord.member
    coord.meta.initial_sync_pending = True
    coord.meta.rollback_pending = False
    coord.meta_file.save(coord.meta)
    member.storage.drop_all_data()
    coord.oplog_generation += 1
    coord.reset_for_resync()
    top = await call(peer, "local", {"find": "oplog.rs", "sort": {"$natural": -1}, "limit": 1}, TIMEOUT_SECS)
    begin = top["cursor"]["firstBatch"]
    if not begin:
        raise CommandFailed(f"{peer.host} has an empty oplog")
    begin_optime = OpTime.from_document(begin[0])
    log.info(
        "initial sync: cloning", extra={"attr": {"syncSource": peer.host, "beginFetching": str(begin_optime)}}
    )
    listing = await call(peer, "admin", {"listDatabases": 1, "nameOnly": True}, TIMEOUT_SECS)
    for db in sorted(d["name"] for d in listing["databases"] if d["name"] != "local"):
        collections = await call(peer, db, {"listCollections": 1}, TIMEOUT_SECS)
        for info in collections["cursor"]["firstBatch"]:
            if info.get("type", "collection") == "collection":
                await clone_collection(coord, peer, db, info["name"], info.get("options") or {})
    applied = await _apply_oplog_from(coord, peer, begin_optime)
    coord.meta.initial_sync_pending = False
    coord.meta_file.save(coord.meta)
    await member.checkpoint()
    return applied


async def clone_collection(
    coord: ReplicationCoordinator, peer: Peer, db: str, coll: str, options: dict[str, Any] | None = None
) -> None:
    """Copy one collection (options, indexes, documents) from `peer`; absent there, nothing."""
    storage = coord.member.storage
    ns = f"{db}.{coll}"
    if options is None:
        listing = await call(peer, db, {"listCollections": 1, "filter": {"name": coll}}, TIMEOUT_SECS)
        found = listing["cursor"]["firstBatch"]
        if not found:
            return
        options = found[0].get("options") or {}
    storage.create_collection(ns, options)
    indexes = await call(peer, db, {"listIndexes": coll}, TIMEOUT_SECS)
    specs = [spec for spec in indexes["cursor"]["firstBatch"] if spec.get("name") != "_id_"]
    if specs:
        storage.create_indexes(ns, specs)
    async with contextlib.aclosing(documents(peer, db, {"find": coll}, TIMEOUT_SECS)) as docs:
        async for doc in docs:
            storage.restore_document(ns, doc)
            checkpoint()


async def _apply_oplog_from(coord: ReplicationCoordinator, peer: Peer, begin: OpTime) -> OpTime:
    find = {"find": "oplog.rs", "filter": {"ts": {"$gte": begin.ts}}}
    batch: list[Mapping[str, Any]] = []
    first = True
    applied = NULL_OPTIME
    async with contextlib.aclosing(documents(peer, "local", find, TIMEOUT_SECS, APPLY_BATCH)) as entries:
        async for entry in entries:
            if first and OpTime.from_document(entry) != begin:
                raise CommandFailed(f"{peer.host}'s oplog changed under the initial sync (it rolled back)")
            first = False
            batch.append(entry)
            if len(batch) >= APPLY_BATCH:
                applied = await _apply(coord, batch)
                batch = []
    if batch:
        applied = await _apply(coord, batch)
    if applied == NULL_OPTIME:
        raise CommandFailed(f"{peer.host} returned no oplog entries from the begin point")
    return applied


async def _apply(coord: ReplicationCoordinator, batch: list[Mapping[str, Any]]) -> OpTime:
    await coord.member.apply_replicated(batch)
    return OpTime.from_document(batch[-1])
