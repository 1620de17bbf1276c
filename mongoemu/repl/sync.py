"""Steady-state replication: choose a sync source, tail its oplog, apply, report progress.

A secondary (and a new primary while it catches up) reads `local.oplog.rs` on its sync source
with a tailable, awaitData `find` from its last applied optime, then `getMore`s. The first entry
returned must be that optime: if the source's oplog no longer goes back so far, this member is
too stale and resyncs; if the source has another entry there, the histories diverged and this
member rolls back (`rollback.py`). Each batch is applied as an operation that yields at every
entry (`member.apply_replicated`, which also advances the coordinator, which reports progress
upstream, `reporter.py`). Replies keep their entries as raw BSON, decoded one by one as they are
applied, and a batch holds at most FETCH_BATCH entries (and 16 MiB), so neither decoding nor
applying a large write stops the member's heartbeats.

Like mongod, a source that fails is avoided for a while. Unlike mongod, which keeps waiting on
its current getMore, a secondary drops its sync source as soon as it learns of a newer term or
primary, so a frozen old primary does not hold it for the oplog network timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from datetime import UTC
from typing import TYPE_CHECKING, Any

from bson import Int64

from mongoemu.oplog import NULL_OPTIME, OpTime
from mongoemu.repl import initial_sync, rollback, topology
from mongoemu.repl.member_data import MemberData
from mongoemu.repl.messages import ReplData
from mongoemu.repl.peer import Peer, PeerError, command_error
from mongoemu.repl.state import LeaderMode, MemberState, Role

if TYPE_CHECKING:
    from mongoemu.repl.coordinator import ReplicationCoordinator

log = logging.getLogger("mongoemu.repl.sync")

FETCH_BATCH = 1000
# mongod's oplogNetworkTimeoutBufferSeconds: a getMore may take its maxTimeMS plus this.
NETWORK_BUFFER_SECS = 5.0
DENYLIST_SECS = 10.0
# mongod's fail point that stops fetching (tests use it to keep writes from replicating).
STOP_PRODUCER_FAILPOINT = "stopReplProducer"


class SourceFailed(Exception):
    """The sync source answered with an error or a history we cannot follow yet."""


class _Repick(Exception):
    """Drop the current sync source and choose again."""


class SyncLoop:
    def __init__(self, coordinator: ReplicationCoordinator) -> None:
        self.coord = coordinator
        self._task: asyncio.Task[None] | None = None
        self._denylist: dict[str, float] = {}
        self._repick = asyncio.Event()
        self.catch_up_ops = 0

    # --- control --------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = self.coord.spawn(self._run())

    def stop(self) -> None:
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        self._task = None
        self.coord.sync_source = ""

    def start_initial_sync(self) -> None:
        self.stop()
        self._task = self.coord.spawn(self._initial_sync_then_run())

    def on_topology_change(self) -> None:
        """A member went down or a new primary appeared: reconsider the sync source."""
        coord = self.coord
        source = coord.sync_source
        if not source:
            return
        data = next((d for d in coord.members.values() if d.host == source), None)
        primary = coord.primary_id()
        if (
            data is None
            or not data.up
            or (primary is not None and primary != data.id and not data.state.readable)
        ) or (primary is not None and data.id != primary and data.state is not MemberState.SECONDARY):
            self._repick.set()

    def on_new_term(self) -> None:
        if self.coord.sync_source:
            self._repick.set()

    def may_sync(self) -> bool:
        coord = self.coord
        if coord.state in (MemberState.SECONDARY, MemberState.RECOVERING):
            return coord.role is not Role.LEADER
        return coord.role is Role.LEADER and coord.leader_mode is LeaderMode.CATCHING_UP

    # --- the loop -------------------------------------------------------------------------
    async def _initial_sync_then_run(self) -> None:
        await initial_sync.run(self.coord)
        await self._run()

    async def _run(self) -> None:
        coord = self.coord
        while True:
            if not self.may_sync():
                await coord.state_changed.wait(1.0)
                continue
            if self._producer_stopped():
                await asyncio.sleep(0.05)
                continue
            source = self.choose(coord.last_applied)
            if source is None:
                coord.sync_source = ""
                await coord.progress.wait(0.5)
                continue
            coord.sync_source = source.host
            self._repick.clear()
            try:
                await self._tail(source)
            except _Repick:
                log.info("choosing a new sync source", extra={"attr": {"previous": source.host}})
            except PeerError as exc:
                self._avoid(source.host, exc)
            except SourceFailed as exc:
                log.info("sync source failed", extra={"attr": {"syncSource": source.host, "error": str(exc)}})
                self._denylist[source.host] = time.monotonic() + 1.0
            except Exception:
                # A bug must not leave the member without replication: log it and start over.
                log.exception(
                    "replication failed; starting again", extra={"attr": {"syncSource": source.host}}
                )
                await self._recover()
            finally:
                coord.sync_source = ""

    async def _recover(self) -> None:
        coord = self.coord
        if coord.meta.rollback_pending:
            await initial_sync.run(coord)
        elif coord.state is MemberState.ROLLBACK:
            coord.set_state(MemberState.RECOVERING)
            coord.maybe_go_live()
        await asyncio.sleep(1.0)

    def _producer_stopped(self) -> bool:
        point = self.coord.member.failpoints.get(STOP_PRODUCER_FAILPOINT)
        return point is not None and point.active

    def _avoid(self, host: str, exc: PeerError) -> None:
        timed_out = "no answer" in str(exc)
        # A source that stopped answering is avoided for a while; a refused connection briefly.
        self._denylist[host] = time.monotonic() + (DENYLIST_SECS if timed_out else 0.5)
        log.info("sync source unreachable", extra={"attr": {"syncSource": host, "error": str(exc)}})

    def choose(self, last_fetched: OpTime) -> MemberData | None:
        """The member to sync from now (one that is ahead of `last_fetched`), if any."""
        coord = self.coord
        if coord.config is None or coord.self_id is None:
            return None
        now = time.monotonic()
        return topology.choose_sync_source(
            coord.config,
            coord.members,
            self_id=coord.self_id,
            last_fetched=last_fetched,
            primary_id=coord.primary_id(),
            denylist={host for host, until in self._denylist.items() if until > now},
        )

    async def _command(self, peer: Peer, doc: dict[str, Any], timeout: float) -> dict[str, Any]:
        """A command to the source that gives way as soon as we decide to change source."""
        request = asyncio.ensure_future(peer.command("local", doc, timeout, raw_batches=True))
        repick = asyncio.ensure_future(self._repick.wait())
        try:
            done, _ = await asyncio.wait({request, repick}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            repick.cancel()
        if request not in done:
            request.cancel()
            with contextlib.suppress(asyncio.CancelledError, PeerError):
                await request
            raise _Repick
        return request.result()

    async def _tail(self, source: MemberData) -> None:
        coord = self.coord
        peer = coord.peers.get(source.host)
        election_ms, _ = coord.settings_ms
        await_ms = max(100, min(election_ms // 2, 5000))
        timeout = await_ms / 1000 + NETWORK_BUFFER_SECS
        last = coord.last_applied
        reply = await self._command(
            peer,
            {
                "find": "oplog.rs",
                "filter": {"ts": {"$gte": last.ts}},
                "tailable": True,
                "awaitData": True,
                "batchSize": FETCH_BATCH,
                "term": Int64(coord.term),
                "$replData": 1,
            },
            timeout,
        )
        cursor = self._cursor(reply, source.host)
        batch = cursor["firstBatch"]
        if not batch:
            raise SourceFailed(f"its oplog has nothing at or after our last optime {last}")
        if OpTime.from_document(batch[0]) != last:
            await self._diverged(peer, source.host, last, batch[0])
            return
        self._metadata(reply, verified=True)
        await self._hold_back(batch[1:])
        await self._apply(batch[1:])
        cursor_id = cursor["id"]
        while cursor_id:
            if not self.may_sync():
                raise _Repick
            if self._producer_stopped():
                raise _Repick
            reply = await self._command(
                peer,
                {
                    "getMore": cursor_id,
                    "collection": "oplog.rs",
                    "batchSize": FETCH_BATCH,
                    "maxTimeMS": await_ms,
                    "term": Int64(coord.term),
                    "lastKnownCommittedOpTime": coord.commit_point.to_document(),
                    "$replData": 1,
                },
                timeout,
            )
            cursor = self._cursor(reply, source.host)
            self._metadata(reply, verified=True)
            await self._hold_back(cursor["nextBatch"])
            await self._apply(cursor["nextBatch"])
            cursor_id = cursor["id"]
            if self._source_not_ahead(reply):
                raise _Repick

    def _cursor(self, reply: dict[str, Any], host: str) -> dict[str, Any]:
        error = command_error(reply)
        if error:
            raise SourceFailed(error)
        cursor = reply.get("cursor")
        if not isinstance(cursor, dict):
            raise SourceFailed(f"{host} answered without a cursor")
        return cursor

    def _metadata(self, reply: dict[str, Any], verified: bool) -> None:
        data = ReplData.from_document(reply.get("$replData"))
        if data is None:
            return
        coord = self.coord
        if coord.update_term(data.term, "oplog fetcher metadata"):
            return
        if data.is_primary or data.primary_index != -1:
            # mongod's processMetadata: a sync source that knows a primary postpones our election
            # with every batch (and every empty awaitData reply, each electionTimeout / 2).
            coord.elections.reset_timer()
        coord.learn_commit_point(data.last_committed, data.last_committed_wall, from_sync_source=verified)

    def _source_not_ahead(self, reply: dict[str, Any]) -> bool:
        """mongod changes source when it is neither primary nor syncing from anyone nor ahead."""
        data = ReplData.from_document(reply.get("$replData"))
        return (
            data is not None
            and not data.is_primary
            and data.sync_source_index == -1
            and data.last_applied <= self.coord.last_applied
        )

    async def _hold_back(self, docs: list[Mapping[str, Any]]) -> None:
        """A delayed member (secondaryDelaySecs) applies an entry only that long after it was
        written on the primary."""
        me = self.coord.self_config
        if me is None or me.secondary_delay_secs <= 0 or not docs or docs[-1].get("wall") is None:
            return
        due = docs[-1]["wall"].replace(tzinfo=UTC).timestamp() + me.secondary_delay_secs
        if due > time.time():
            await asyncio.sleep(due - time.time())

    async def _apply(self, docs: list[Mapping[str, Any]]) -> None:
        if not docs:
            return
        if not self.may_sync() or self._producer_stopped():
            # A batch that arrives after replication was stopped is dropped and fetched again.
            raise _Repick
        coord = self.coord
        await coord.member.apply_replicated(docs)
        if coord.role is Role.LEADER:
            self.catch_up_ops += len(docs)

    async def _diverged(self, peer: Peer, host: str, last: OpTime, first: dict[str, Any]) -> None:
        oldest = await self._command(peer, {"find": "oplog.rs", "sort": {"$natural": 1}, "limit": 1}, 30.0)
        entries = self._cursor(oldest, host)["firstBatch"]
        if entries and last < OpTime.from_document(entries[0]):
            log.warning(
                "too stale to catch up; resyncing",
                extra={
                    "attr": {"syncSource": host, "ourLastOpTime": str(last), "oldest": str(entries[0]["ts"])}
                },
            )
            self.coord.member.groundtruth.record("too_stale", source=host, last=last.to_document())
            await initial_sync.run(self.coord)
            return
        if self.coord.role is Role.LEADER:
            raise SourceFailed(f"our oplog diverged from {host}'s; a new primary does not roll back")
        log.info(
            "our last optime is not in the sync source's oplog; rolling back",
            extra={
                "attr": {
                    "syncSource": host,
                    "ourLastOpTime": str(last),
                    "theirs": str(OpTime.from_document(first)),
                }
            },
        )
        await rollback.run(self.coord, peer)

    # --- primary catch-up -----------------------------------------------------------------
    async def catch_up(self, term: int) -> OpTime | None:
        """A new primary fetches what the freshest member has before accepting writes.

        It asks every member again and waits for their answers; catch-up ends when it has the
        newest optime any of them reports, or after catchUpTimeoutMillis (bounded by
        electionTimeoutMillis when unlimited, to keep failover short), 0 skips it."""
        coord = self.coord
        config = coord.config
        assert config is not None
        settings = config.settings
        if len(config.members) == 1 or settings.catch_up_timeout_millis == 0:
            return None
        bound_ms = settings.catch_up_timeout_millis
        if bound_ms < 0:
            bound_ms = settings.election_timeout_millis
        deadline = time.monotonic() + bound_ms / 1000
        self.catch_up_ops = 0
        coord.heartbeats.restart_for_catch_up()
        self.start()
        target: OpTime | None = None
        while coord.term == term and coord.role is Role.LEADER:
            latest = _latest_since_restart(coord.members)
            if latest is not None:
                target = latest
                if latest <= coord.last_applied:
                    return target
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.info("Catchup timed out after becoming primary", extra={"attr": {"target": str(target)}})
                return target
            await coord.progress.wait(min(remaining, 0.5))
        return target


def _latest_since_restart(members: dict[int, MemberData]) -> OpTime | None:
    """The newest optime reported since catch-up began; None until every member answered."""
    latest = NULL_OPTIME
    for data in members.values():
        if data.is_self:
            continue
        if not data.updated_since_restart:
            return None
        if data.up:
            latest = max(latest, data.hb_applied)
    return latest
