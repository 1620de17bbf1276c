"""The replication coordinator: this member's replica-set state and the rules that follow from it.

It owns the member state, the term, the config and the replication progress of every member,
answers the questions every command asks (may I write? may I read?), supplies the replica-set
fields of `hello`, hands out optimes for local writes and waits for write concern. Heartbeats,
elections, oplog fetching and progress reports are its components (`heartbeat.py`,
`election.py`, `sync.py`, `reporter.py`); rollback and initial sync run from `sync.py`.

Every change of state, term, config, election, vote and stepdown is written to the member's
ground-truth log with the wall-clock time at which this member made it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bson import Binary, Int64, Timestamp

from mongoemu.errors import (
    CloseConnection,
    CommandError,
    interrupted_by_state_change,
    not_primary_no_secondary_ok,
    not_writable_primary,
)
from mongoemu.oplog import NULL_OPTIME, OplogEntry, OpTime, TimestampClock
from mongoemu.repl import reconfig, status, stepdown, topology
from mongoemu.repl.config import MemberConfig, ReplSetConfig
from mongoemu.repl.election import Elections
from mongoemu.repl.heartbeat import Heartbeats
from mongoemu.repl.majority import MajorityView
from mongoemu.repl.member_data import MemberData
from mongoemu.repl.messages import EPOCH, PositionUpdate, ReplData, now_wall, wall_of
from mongoemu.repl.metadata import MetadataFile, ReplMetadata
from mongoemu.repl.notifier import Notifier
from mongoemu.repl.peer import Peers
from mongoemu.repl.reporter import Reporter
from mongoemu.repl.state import LeaderMode, MemberState, Role
from mongoemu.repl.sync import SyncLoop
from mongoemu.repl.topology_version import ClientTopologyVersion, TopologyVersion
from mongoemu.repl.write_concern import WriteConcern, WriteConcerns, shutdown_error, stepped_down_error

if TYPE_CHECKING:
    from mongoemu.commands.registry import CommandContext, CommandSpec
    from mongoemu.member import Member
    from mongoemu.operation import Operation

log = logging.getLogger("mongoemu.repl")

# Databases a secondary may write to and anyone may read without a primary.
LOCAL_DATABASES = frozenset({"local"})
# "Never committed": the commit point cannot pass it until the new primary's first write.
MAX_OPTIME = OpTime(Timestamp(2**32 - 1, 2**32 - 1), 2**62)
# mongod's periodicNoopIntervalSecs: a primary with no writes writes a no-op this often.
PERIODIC_NOOP_SECS = 10.0


class ReplicationCoordinator:
    def __init__(self, member: Member) -> None:
        self.member = member
        self.set_name = member.options.repl_set
        self.config: ReplSetConfig | None = None
        self.self_id: int | None = None
        self.state = MemberState.STARTUP if self.set_name else MemberState.PRIMARY
        self.role = Role.FOLLOWER
        self._leader_mode = LeaderMode.NOT_LEADER
        self.term = 0
        self.clock = TimestampClock()
        self.last_applied = NULL_OPTIME
        self.last_applied_wall = EPOCH
        self.commit_point = NULL_OPTIME
        self.commit_wall = EPOCH
        # The newest commit point a sync source told us about (ours trails our applied optime).
        self.learned_commit_point = NULL_OPTIME
        self._learned_wall = EPOCH
        self.first_optime_of_term = MAX_OPTIME
        self.election_time: Timestamp | None = None
        self.members: dict[int, MemberData] = {}
        self.sync_source = ""
        # Monotonic time until which this member may not stand (replSetFreeze, after a stepdown).
        self.stepdown_until = 0.0
        # Bumped whenever oplog entries are removed (rollback, resync): open oplog cursors die.
        self.oplog_generation = 0
        self.oplog_written = Notifier()
        self.progress = Notifier()
        self.state_changed = Notifier()
        self.topology_version = TopologyVersion()
        self._topology_key: tuple[Any, ...] | None = None
        self.write_concerns = WriteConcerns(self)
        self.majority = MajorityView()
        self.peers = Peers()
        self.random = random.Random()
        self.meta = ReplMetadata()
        self.meta_file = MetadataFile(member.options.dbpath)
        self.candidate_metrics: dict[str, Any] | None = None
        self.participant_metrics: dict[str, Any] | None = None
        self.heartbeats = Heartbeats(self)
        self.elections = Elections(self)
        self.sync = SyncLoop(self)
        self.reporter = Reporter(self)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_write = time.monotonic()
        self._resumed_at = 0.0
        self.stopping = False
        # `shutdown` with force: true skips the handover a primary otherwise makes.
        self.handoff_on_stop = True

    # --- identity -------------------------------------------------------------------------
    @property
    def standalone(self) -> bool:
        return self.set_name is None

    @property
    def me(self) -> str:
        data = self.members.get(self.self_id) if self.self_id is not None else None
        if data is not None:
            return data.host
        return f"{self.member.advertised_host}:{self.member.options.port}"

    @property
    def self_config(self) -> MemberConfig | None:
        """This member's entry in the current config; None without a config or outside it."""
        if self.config is None or self.self_id is None:
            return None
        return self.config.member_by_id(self.self_id)

    @property
    def leader_mode(self) -> LeaderMode:
        return self._leader_mode

    @leader_mode.setter
    def leader_mode(self, mode: LeaderMode) -> None:
        # Writability is in hello: a stepdown's "no writes" window and the end of a new
        # primary's catch-up are topology changes.
        self._leader_mode = mode
        self.refresh_topology(f"leader mode {mode.value}")

    @property
    def writable(self) -> bool:
        return self.role is Role.LEADER and self.leader_mode is LeaderMode.WRITABLE

    @property
    def last_durable(self) -> OpTime:
        # Storage journals an entry before reporting it applied, so applied entries are durable.
        return self.last_applied

    @property
    def settings_ms(self) -> tuple[int, int]:
        """(electionTimeoutMillis, heartbeatIntervalMillis) of the current config."""
        s = self.config.settings if self.config is not None else None
        return (s.election_timeout_millis, s.heartbeat_interval_millis) if s else (10_000, 2_000)

    def primary_id(self) -> int | None:
        if self.role is Role.LEADER:
            return self.self_id
        best: MemberData | None = None
        for data in self.members.values():
            if (
                not data.is_self
                and data.up
                and data.state is MemberState.PRIMARY
                and (best is None or data.term > best.term)
            ):
                best = data
        return best.id if best is not None else None

    def primary_host(self) -> str | None:
        pid = self.primary_id()
        return self.members[pid].host if pid is not None else None

    def config_index(self, member_id: int | None) -> int:
        return -1 if self.config is None or member_id is None else self.config.index_of(member_id)

    # --- checks every command goes through ------------------------------------------------
    def can_accept_writes_for(self, db: str) -> bool:
        return db in LOCAL_DATABASES or self.writable or self.standalone

    def check_command(self, spec: CommandSpec, ctx: CommandContext) -> None:
        if spec.always_allowed:
            return
        uninitialised = not self.standalone and self.config is None and ctx.db not in LOCAL_DATABASES
        if uninitialised and (spec.write or spec.read):
            raise CommandError(
                94, "node is not yet initialized; run replSetInitiate", code_name="NotYetInitialized"
            )
        if spec.write and not self.can_accept_writes_for(ctx.db):
            raise not_writable_primary()
        if spec.write and not self.standalone and ctx.db not in LOCAL_DATABASES:
            WriteConcern.parse(ctx.write_concern)
        if spec.read and ctx.db not in LOCAL_DATABASES and self.state is not MemberState.PRIMARY:
            if not ctx.secondary_ok:
                raise not_primary_no_secondary_ok()
            if not self.state.readable:
                raise CommandError(13436, "node is not in primary or recovering state")

    # --- hello ----------------------------------------------------------------------------
    def hello_fields(self) -> dict[str, Any]:
        return status.hello_fields(self)

    def refresh_topology(self, reason: str) -> None:
        """Increment topologyVersion, answering waiting monitors, if anything `hello` says about
        the topology changed: state, writability, the primary, the config, our term as primary."""
        config = self.config
        key = (
            self.state,
            self.writable,
            self.primary_host(),
            (config.version, config.term) if config is not None else None,
            self.self_id,
            self.term if self.role is Role.LEADER else None,
        )
        if key != self._topology_key:
            first = self._topology_key is None
            self._topology_key = key
            if not first:
                self.topology_version.increment(reason)

    async def await_hello(
        self,
        awaitable: tuple[ClientTopologyVersion, int] | None,
        peer_gone: Callable[[], asyncio.Future[None]],
    ) -> None:
        """mongod's awaitHelloResponse: return when `hello` may answer. An awaitable hello with
        our process id and current counter waits for the next change or maxAwaitTimeMS; in
        quiesce mode every hello fails with ShutdownInProgress. A client that disconnects ends
        the wait and its connection."""
        version = self.topology_version
        version.check_not_quiescing()
        if awaitable is None:
            return
        client, max_await_ms = awaitable
        if not version.must_wait(client, self.standalone):
            return
        gone = peer_gone()
        await version.wait_for_change(max_await_ms / 1000, gone)
        if gone.done():
            raise CloseConnection("the client disconnected during an awaitable hello")
        version.check_not_quiescing()

    def decorate_reply(self, reply: dict[str, Any], request: dict[str, Any] | None = None) -> None:
        if self.standalone or self.config is None:
            return
        reply["$clusterTime"] = {
            "clusterTime": self.clock.last,
            "signature": {"hash": Binary(b"\x00" * 20), "keyId": Int64(0)},
        }
        reply.setdefault("operationTime", self.last_applied.ts)
        if request is not None and "$replData" in request:
            reply["$replData"] = self.repl_data().to_document()

    def repl_data(self) -> ReplData:
        assert self.config is not None
        return ReplData(
            term=self.term,
            last_committed=self.commit_point,
            last_committed_wall=self.commit_wall,
            config_version=self.config.version,
            config_term=self.config.term,
            replica_set_id=self.config.settings.replica_set_id,
            primary_index=self.config_index(self.primary_id()),
            sync_source_index=self.config_index(self._member_id_of(self.sync_source)),
            is_primary=self.role is Role.LEADER,
            last_applied=self.last_applied,
            rbid=self.meta.rbid,
        )

    def _member_id_of(self, host: str) -> int | None:
        if not host or self.config is None:
            return None
        found = self.config.member_by_host(host)
        return found.id if found is not None else None

    # --- writes ---------------------------------------------------------------------------
    def next_optime(self) -> OpTime:
        """The optime for a client write that passed `check_command`; a primary that stepped down
        meanwhile interrupts the write as mongod's state transition does."""
        if self.standalone:
            return OpTime(self.clock.next(), -1)
        if not self.writable:
            raise interrupted_by_state_change()
        return OpTime(self.clock.next(), self.term)

    def on_local_write(self, optime: OpTime) -> None:
        """Called after an entry is applied and journaled on this member."""
        self._advance_applied(optime, now_wall())
        self._last_write = time.monotonic()
        if self._single_voter():
            self._set_commit_point(optime, self.last_applied_wall)
        self.oplog_written.notify()

    def on_replicated(self, last: dict[str, Any]) -> None:
        """Called by the applier after storage applied and journaled a batch of entries."""
        optime = OpTime.from_document(last)
        self.clock.advance_to(optime.ts)
        self._advance_applied(optime, last.get("wall") or now_wall())
        self._follow_commit_point()
        self.oplog_written.notify()
        self.reporter.trigger()
        self.progress.notify()
        self.maybe_go_live()

    def _advance_applied(self, optime: OpTime, wall: datetime) -> None:
        self.last_applied = optime
        self.last_applied_wall = wall
        data = self.members.get(self.self_id) if self.self_id is not None else None
        if data is not None:
            data.applied = data.durable = optime
            data.applied_wall = data.durable_wall = wall
            data.hb_applied = data.hb_durable = optime

    def reset_for_resync(self) -> None:
        """Forget all progress: storage was emptied for an initial sync."""
        self._advance_applied(NULL_OPTIME, EPOCH)
        self.commit_point = self.learned_commit_point = NULL_OPTIME
        self.commit_wall = EPOCH
        self.majority.reset(NULL_OPTIME)

    def reset_applied(self, optime: OpTime, wall: datetime) -> None:
        """Move the applied optime (backwards after a rollback, anywhere after a resync)."""
        self._advance_applied(optime, wall)
        self.commit_point = min(self.commit_point, optime)
        self.learned_commit_point = min(self.learned_commit_point, optime)
        self.clock.advance_to(optime.ts)

    async def write_noop(self, message: dict[str, Any]) -> OpTime:
        """A no-op `n` entry, as mongod writes on initiate, election and when idle."""
        optime = OpTime(self.clock.next(), self.term)
        self.member.log_applied([OplogEntry(op="n", ns="", o=message, optime=optime)])
        return optime

    def _single_voter(self) -> bool:
        return self.standalone or (self.config is not None and len(self.config.voting_members) == 1)

    async def await_write_concern(
        self, optime: OpTime, write_concern: dict[str, Any] | None, op: Operation
    ) -> dict[str, Any] | None:
        """Wait until `write_concern` holds for `optime`, no longer than `op`'s deadline;
        return a writeConcernError or None."""
        return await self.write_concerns.wait(optime, write_concern, op)

    async def wait_for_read_concern(self, read_concern: dict[str, Any] | None, timeout: float | None) -> None:
        """Block a read until the data it asks for is visible: `afterClusterTime` against the
        applied optime (local) or the commit point (majority)."""
        if self.standalone or not isinstance(read_concern, dict):
            return
        after = read_concern.get("afterClusterTime")
        if not isinstance(after, Timestamp):
            return
        majority = read_concern.get("level") == "majority"
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            seen = self.commit_point if majority else self.last_applied
            if (seen.ts.time, seen.ts.inc) >= (after.time, after.inc):
                return
            remaining = 1.0 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                raise CommandError(50, "operation exceeded time limit")
            await self.progress.wait(min(remaining, 1.0))

    # --- progress and the commit point ----------------------------------------------------
    def on_progress(self) -> None:
        """Another member's optime moved: advance the commit point, release satisfied writes."""
        if self.role is Role.LEADER:
            self._update_commit_point()
        self.write_concerns.release()
        self.progress.notify()

    def _update_commit_point(self) -> None:
        if self.config is None:
            return
        point = topology.commit_point(self.config, self.members, self.first_optime_of_term)
        if point is not None and point > self.commit_point:
            data = next((d for d in self.members.values() if d.durable == point), None)
            self._set_commit_point(point, data.durable_wall if data is not None else now_wall())

    def _set_commit_point(self, point: OpTime, wall: datetime) -> None:
        if point <= self.commit_point:
            return
        self.commit_point = point
        self.commit_wall = wall
        self.majority.advance(point)
        self.write_concerns.release()
        self.progress.notify()  # majority reads and change streams wait for the commit point

    def learn_commit_point(self, point: OpTime, wall: datetime, from_sync_source: bool) -> None:
        """A commit point heard from another member. mongod's rule: one from a different term
        than our last entry is trusted only from the sync source whose oplog we verified, and
        never beyond what we have applied."""
        if self.role is Role.LEADER:
            return
        if point.term != self.last_applied.term and not from_sync_source:
            return
        if point > self.learned_commit_point:
            self.learned_commit_point = point
            self._learned_wall = wall
        self._follow_commit_point()

    def _follow_commit_point(self) -> None:
        if self.role is Role.LEADER:
            return
        point = min(self.learned_commit_point, self.last_applied)
        if point > self.commit_point:
            self._set_commit_point(point, self._learned_wall)

    def handle_update_position(self, updates: list[PositionUpdate], repl_data: ReplData | None) -> None:
        self.require_config()
        if self.self_id is None:
            raise CommandError(13436, "Received replSetUpdatePosition command but we are in state REMOVED")
        if repl_data is not None:
            self.update_term(repl_data.term, "replSetUpdatePosition")
        now = time.monotonic()
        changed = False
        for update in updates:
            data = self.members.get(update.member_id)
            if data is None:
                raise CommandError(
                    74,
                    "Received replSetUpdatePosition for node which doesn't exist in our config, "
                    f"memberId: {update.member_id}",
                )
            if not data.is_self:
                changed = data.apply_position(now, update) or changed
        if changed:
            self.on_progress()
            if self.role is not Role.LEADER:
                self.reporter.trigger()

    def position_updates(self) -> list[PositionUpdate]:
        version = self.config.version if self.config is not None else -1
        return [
            PositionUpdate(d.id, version, d.applied, d.applied_wall, d.durable, d.durable_wall)
            for d in self.members.values()
            if d.applied != NULL_OPTIME and (d.is_self or not d.last_update_stale)
        ]

    # --- state and term -------------------------------------------------------------------
    def set_state(self, state: MemberState) -> None:
        if state is self.state:
            return
        previous = self.state
        self.state = state
        log.info(
            "Replica set state transition",
            extra={"attr": {"newState": state.name, "oldState": previous.name}},
        )
        self.member.groundtruth.record("state", state=state.name, previous=previous.name, term=self.term)
        if previous is MemberState.SECONDARY:
            self.elections.cancel_takeovers()
        self.elections.reset_timer()
        self.state_changed.notify()
        self.refresh_topology(f"state {state.name}")
        single = self.config is not None and len(self.config.members) == 1
        if state is MemberState.SECONDARY and previous is not MemberState.PRIMARY and single:
            # A one-member set needs no election timeout (mongod's single-node prompt election).
            self.elections.begin("singleNodePromptElection")

    def update_term(self, term: int, reason: str) -> bool:
        """Adopt a higher term seen in any message; a primary steps down first."""
        if term <= self.term:
            return False
        if self.role is Role.LEADER:
            self.step_down_now(f"saw a higher term {term} ({reason})")
        previous = self.term
        self.term = term
        self.meta.term = term
        self.meta_file.save(self.meta)
        self.member.groundtruth.record("term", term=term, previous=previous, reason=reason)
        # mongod's _updateTerm_inlock: a new term reschedules the election timeout with a fresh
        # random offset and cancels a pending priority takeover.
        self.elections.cancel_takeovers()
        self.elections.reset_timer()
        self.sync.on_new_term()
        self.state_changed.notify()
        return True

    def record_vote(self, term: int, candidate_index: int) -> None:
        """Persist a vote before it is granted: one vote per term, across restarts."""
        self.meta.last_vote_term = term
        self.meta.last_vote_candidate = candidate_index
        self.meta.term = max(self.meta.term, term)
        self.meta_file.save(self.meta)

    def win_election(self, term: int, reason: str, votes: int, responders: set[str]) -> None:
        assert self.config is not None
        now = time.monotonic()
        for data in self.members.values():
            if data.host in responders:
                data.update_liveness(now)
        self.role = Role.LEADER
        self._leader_mode = LeaderMode.CATCHING_UP
        self.election_time = self.clock.next()
        self.first_optime_of_term = MAX_OPTIME
        self.member.groundtruth.record("election", outcome="won", term=term, reason=reason, votes=votes)
        self.set_state(MemberState.PRIMARY)
        me = self.self_config
        self.candidate_metrics = {
            "lastElectionReason": reason,
            "lastElectionDate": now_wall(),
            "electionTerm": Int64(term),
            "lastCommittedOpTimeAtElection": self.commit_point.to_document(),
            "lastSeenOpTimeAtElection": self.last_applied.to_document(),
            "numVotesNeeded": self.config.majority,
            "priorityAtElection": me.priority if me is not None else 0.0,
            "electionTimeoutMillis": Int64(self.config.settings.election_timeout_millis),
            "numCatchUpOps": Int64(0),
        }
        self.spawn(self._become_writable(term))

    async def _become_writable(self, term: int) -> None:
        """Catch up to the freshest member, drain, write the term's first entry, accept writes."""
        target = await self.sync.catch_up(term)
        if self.term != term or self.role is not Role.LEADER:
            return
        self.sync.stop()
        optime = await self.write_noop({"msg": "new primary"})
        if self.term != term or self.role is not Role.LEADER:
            return
        self.first_optime_of_term = optime
        if self.leader_mode is LeaderMode.CATCHING_UP:
            self.leader_mode = LeaderMode.WRITABLE
        if self.candidate_metrics is not None:
            self.candidate_metrics["newTermStartDate"] = now_wall()
            self.candidate_metrics["numCatchUpOps"] = Int64(self.sync.catch_up_ops)
            if target is not None:
                self.candidate_metrics["targetCatchupOpTime"] = target.to_document()
        self.member.groundtruth.record("writable", term=term, optime=optime.to_document())
        log.info(
            "Transition to primary complete; database writes are now permitted",
            extra={"attr": {"term": term}},
        )
        assert self.config is not None
        if self.config.term != term:
            self.install_config(self.config.with_version_and_term(self.config.version, term), "election")
        self._update_commit_point()
        self.heartbeats.wake_all()

    def step_down_now(self, reason: str) -> None:
        """Leave the primary role at once: pending write concern waits fail with PrimarySteppedDown."""
        if self.role is not Role.LEADER:
            return
        self.role = Role.FOLLOWER
        self._leader_mode = LeaderMode.NOT_LEADER
        self.election_time = None
        self.first_optime_of_term = MAX_OPTIME
        self.write_concerns.fail_all(stepped_down_error())
        # As mongod, writes in progress end at their next checkpoint; reads go on.
        self.member.operations.interrupt(interrupted_by_state_change(), writes_only=True)
        self.member.groundtruth.record("stepdown", term=self.term, reason=reason)
        log.info("Stepping down from primary", extra={"attr": {"reason": reason}})
        self.set_state(MemberState.SECONDARY)
        self.sync.start()

    def maybe_go_live(self) -> None:
        """RECOVERING becomes SECONDARY once the data is consistent (minValid reached)."""
        if self.state is MemberState.RECOVERING and self.last_applied >= self.meta.min_valid:
            if self.meta.min_valid != NULL_OPTIME:
                self.meta.min_valid = NULL_OPTIME
                self.meta_file.save(self.meta)
            self.set_state(MemberState.SECONDARY)

    @property
    def frozen(self) -> bool:
        return time.monotonic() < self.stepdown_until

    def unelectable_reasons(self, priority_takeover: bool = False) -> list[str]:
        if self.config is None:
            return ["node is not a member of a valid replica set configuration"]
        return topology.unelectable_reasons(
            self.config,
            self.members,
            self_id=self.self_id,
            state=self.state,
            last_applied=self.last_applied,
            frozen=self.frozen,
            priority_takeover=priority_takeover,
        )

    # --- config ---------------------------------------------------------------------------
    def require_config(self) -> ReplSetConfig:
        """The current config; NotYetInitialized before replSetInitiate or a heartbeat brought one."""
        if self.config is None:
            raise CommandError(94, "no replset config has been received", code_name="NotYetInitialized")
        return self.config

    def install_config(self, config: ReplSetConfig, source: str) -> None:
        """Persist and adopt `config`, rebuilding the member table (progress of kept members stays)."""
        first = self.config is None
        was_member = self.self_id is not None
        self.meta.config = config.to_document()
        self.meta_file.save(self.meta)
        self._adopt(config)
        self.member.groundtruth.record(
            "config",
            version=config.version,
            term=config.term,
            source=source,
            members=[
                {"_id": m.id, "host": m.host, "priority": m.priority, "votes": m.votes, "tags": dict(m.tags)}
                | ({"newlyAdded": True} if m.newly_added else {})
                for m in config.members
            ],
        )
        me = self.self_config
        if self.role is Role.LEADER and (me is None or not me.electable):
            self.step_down_now("no longer electable in the new config")
        if first or (not was_member and self.self_id is not None):
            self.start_replication()
        elif self.self_id is None:
            self.sync.stop()
            self.set_state(MemberState.REMOVED)
            self.heartbeats.restart()
        else:
            self.heartbeats.restart()
            self.elections.reset_timer()
        self.refresh_topology(f"config version {config.version}")

    def _adopt(self, config: ReplSetConfig) -> None:
        mine = self.member.find_self(config)
        self.config = config
        self.self_id = mine.id if mine is not None else None
        now = time.monotonic()
        old = self.members
        members: dict[int, MemberData] = {}
        for m in config.members:
            data = old.get(m.id)
            if data is None or data.host != m.host:
                data = MemberData(m, is_self=m.id == self.self_id)
                data.update_liveness(now)
            data.config = m
            data.is_self = m.id == self.self_id
            members[m.id] = data
        self.members = members
        if self.self_id is not None:
            self._advance_applied(self.last_applied, self.last_applied_wall)
            me = members[self.self_id]
            me.health, me.state = 1.0, self.state
            me.config_version, me.config_term = config.version, config.term

    def start_replication(self) -> None:
        """After a config is installed: heartbeats, then initial sync or steady replication."""
        self.heartbeats.restart()
        if self.self_id is None:
            self.set_state(MemberState.REMOVED)
            return
        self.set_state(MemberState.STARTUP2)
        if self.last_applied == NULL_OPTIME or self.meta.initial_sync_pending or self.meta.rollback_pending:
            self.sync.start_initial_sync()
            return
        self.set_state(MemberState.RECOVERING)
        self.sync.start()
        self.maybe_go_live()

    async def initiate(self, config_doc: Any) -> None:
        await reconfig.initiate(self, config_doc)

    # --- lifecycle ------------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and not self.stopping:
            log.error("replication task failed", exc_info=task.exception())

    async def start(self) -> None:
        if self.standalone:
            return
        self.meta = self.meta_file.load()
        self.term = self.meta.term
        last = self.member.oplog.entries_before(None, 1)
        if last:
            self.clock.advance_to(last[0]["ts"])
            optime = OpTime.from_document(last[0])
            self._advance_applied(optime, last[0].get("wall") or wall_of(optime))
            self.term = max(self.term, optime.term)
        if self.meta.config is not None:
            self._adopt(ReplSetConfig.from_document(self.meta.config))
            self.start_replication()
        self.spawn(self._liveness_loop())
        self.spawn(self._noop_writer())

    async def stop(self, timeout_secs: float) -> None:
        """Shut replication down within `timeout_secs`, as mongod's shutdownTask: a primary
        steps down (waiting for a caught-up secondary, then forced) and hands over, unless
        `shutdown` was forced; a secondary then spends what is left in quiesce mode, still
        serving but answering every hello with ShutdownInProgress so that drivers route away
        before its connections close. From the start it stands for no election and grants no vote."""
        if self.standalone:
            return
        self.stopping = True
        deadline = time.monotonic() + timeout_secs
        if self.handoff_on_stop and self.writable:
            try:
                successor = await stepdown.step_down(
                    self, step_down_secs=timeout_secs, catch_up_secs=timeout_secs, force=True
                )
                await stepdown.hand_over(self, successor)
            except CommandError as exc:
                log.info("no stepdown before shutdown", extra={"attr": {"reason": str(exc)}})
        quiesce = deadline - time.monotonic()
        if self.state is MemberState.SECONDARY and quiesce > 0:
            self.topology_version.enter_quiesce()
            self.member.groundtruth.record("quiesce", seconds=round(quiesce, 3))
            log.info(
                "Entering quiesce mode for shutdown",
                extra={"attr": {"quiesceTimeMillis": int(quiesce * 1000)}},
            )
            await asyncio.sleep(quiesce)
            log.info("Exiting quiesce mode for shutdown")
        self.write_concerns.fail_all(shutdown_error())
        self.elections.cancel_timer()
        self.elections.cancel_takeovers()
        self.sync.stop()
        self.heartbeats.stop()
        self.reporter.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.peers.close()

    async def _liveness_loop(self) -> None:
        """A primary that has not heard from a majority within electionTimeoutMillis steps down."""
        while True:
            election_ms, heartbeat_ms = self.settings_ms
            tick = max(0.02, min(heartbeat_ms, election_ms) / 4000)
            before = time.monotonic()
            await asyncio.sleep(tick)
            late = time.monotonic() - before - tick
            if late > self.pause_threshold:
                self.on_resumed(late)
            else:
                self.check_member_timeouts()

    @property
    def pause_threshold(self) -> float:
        """A timer this late means the process itself was not running (SIGSTOP, a frozen VM)."""
        return max(1.0, self.settings_ms[0] / 2000)

    def on_resumed(self, paused_secs: float) -> None:
        """After this process was paused, silence is our own doing: give every member a fresh
        election timeout before judging it, so that what arrived meanwhile (a newer term, say)
        is heard first. mongod leaves this to a race between its threads."""
        now = time.monotonic()
        if now - self._resumed_at > self.pause_threshold:
            log.info("the process was paused", extra={"attr": {"seconds": round(paused_secs, 3)}})
            self.member.groundtruth.record("resumed", paused_secs=round(paused_secs, 3))
        self._resumed_at = now
        for data in self.members.values():
            data.update_liveness(now)
        self.elections.reset_timer()

    def check_member_timeouts(self) -> None:
        if self.config is None or self.self_id is None:
            return
        now = time.monotonic()
        timeout = self.config.settings.election_timeout_millis / 1000
        wall = now_wall()
        for data in self.members.values():
            if data.is_self or data.last_update_stale or now - data.last_update < timeout:
                continue
            data.last_update_stale = True
            if self.role is Role.LEADER:
                data.set_down(now, wall, "no response within election timeout period")
        if self.role is Role.LEADER and not topology.majority_seems_up(
            self.config, self.members, self.self_id
        ):
            self.step_down_now("can't see a majority of the set")

    async def _noop_writer(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.writable and time.monotonic() - self._last_write >= PERIODIC_NOOP_SECS:
                await self.write_noop({"msg": "periodic noop"})
