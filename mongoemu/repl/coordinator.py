"""The replication coordinator: this member's replica-set state and the rules that follow from it.

It answers the questions every command asks (may I write? may I read?), supplies the
replica-set fields of `hello`, hands out optimes for local writes and waits for write concern.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bson import Binary, Int64, ObjectId

from mongoemu.errors import CommandError, not_primary_no_secondary_ok, not_writable_primary
from mongoemu.oplog import NULL_OPTIME, OpTime, TimestampClock
from mongoemu.repl.config import ReplSetConfig
from mongoemu.repl.state import MemberState

if TYPE_CHECKING:
    from mongoemu.commands.registry import CommandContext, CommandSpec
    from mongoemu.member import Member

# Databases a secondary may write to and anyone may read without a primary.
LOCAL_DATABASES = frozenset({"local"})


class ReplicationCoordinator:
    def __init__(self, member: Member) -> None:
        self.member = member
        self.set_name = member.options.repl_set
        self.config: ReplSetConfig | None = None
        self.self_id: int | None = None
        self.state = MemberState.STARTUP if self.set_name else MemberState.PRIMARY
        self.term = 0
        self.clock = TimestampClock()
        self.last_applied = NULL_OPTIME
        self.last_durable = NULL_OPTIME
        self.commit_point = NULL_OPTIME
        self._progress = asyncio.Condition()

    # --- identity -------------------------------------------------------------------------
    @property
    def standalone(self) -> bool:
        return self.set_name is None

    @property
    def me(self) -> str:
        if self.config is not None and self.self_id is not None:
            member = self.config.member_by_id(self.self_id)
            if member is not None:
                return member.host
        return f"{self.member.advertised_host}:{self.member.options.port}"

    # --- checks every command goes through ------------------------------------------------
    def can_accept_writes_for(self, db: str) -> bool:
        return db in LOCAL_DATABASES or self.state is MemberState.PRIMARY

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
        if spec.read and ctx.db not in LOCAL_DATABASES and self.state is not MemberState.PRIMARY:
            if not ctx.secondary_ok:
                raise not_primary_no_secondary_ok()
            if not self.state.readable:
                raise CommandError(13436, "node is not in primary or recovering state")

    # --- hello ----------------------------------------------------------------------------
    def hello_fields(self) -> dict[str, Any]:
        if self.standalone:
            return {"isWritablePrimary": True}
        doc: dict[str, Any] = {
            "isWritablePrimary": self.state is MemberState.PRIMARY,
            "secondary": self.state is MemberState.SECONDARY,
        }
        if self.config is None:
            doc["isreplicaset"] = True
            return doc
        visible = [m for m in self.config.members if not m.hidden and not m.arbiter_only]
        doc.update(
            {
                "hosts": [m.host for m in visible if m.priority > 0],
                "setName": self.config.name,
                "setVersion": self.config.version,
                "me": self.me,
            }
        )
        passives = [m.host for m in visible if m.priority == 0]
        if passives:
            doc["passives"] = passives
        primary = self.primary_host()
        if primary is not None:
            doc["primary"] = primary
        if self.state is MemberState.PRIMARY:
            doc["electionId"] = election_id(self.term)
        me = self.config.member_by_id(self.self_id) if self.self_id is not None else None
        if me is not None and me.tags:
            doc["tags"] = dict(me.tags)
        doc["lastWrite"] = {
            "opTime": self.last_applied.to_document(),
            "lastWriteDate": _wall(self.last_applied),
            "majorityOpTime": self.commit_point.to_document(),
            "majorityWriteDate": _wall(self.commit_point),
        }
        return doc

    def primary_host(self) -> str | None:
        return self.me if self.state is MemberState.PRIMARY else None

    def decorate_reply(self, reply: dict[str, Any]) -> None:
        if self.standalone or self.config is None:
            return
        ts = self.clock.last
        reply["$clusterTime"] = {
            "clusterTime": ts,
            "signature": {"hash": Binary(b"\x00" * 20), "keyId": Int64(0)},
        }
        reply.setdefault("operationTime", self.last_applied.ts)

    # --- writes ---------------------------------------------------------------------------
    def next_optime(self) -> OpTime:
        return OpTime(self.clock.next(), self.term if not self.standalone else -1)

    def on_local_write(self, optime: OpTime) -> None:
        """Called after an entry is applied and journaled on this member."""
        self.last_applied = optime
        self.last_durable = optime
        if self._single_voter():
            self.commit_point = optime

    def _single_voter(self) -> bool:
        return self.standalone or (self.config is not None and len(self.config.voting_members) == 1)

    async def await_write_concern(
        self, optime: OpTime, write_concern: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """Wait until `write_concern` holds for `optime`; return a writeConcernError or None."""
        wc = write_concern or {}
        w = wc.get("w", "majority")
        if w in (0, 1) or self._single_voter():
            return None
        raise CommandError(
            100, f"cannot satisfy write concern {wc!r} on this member", code_name="UnsatisfiableWriteConcern"
        )

    # --- replSetInitiate ------------------------------------------------------------------
    async def initiate(self, config_doc: Any) -> None:
        if self.standalone:
            raise CommandError(
                76, "This node was not started with replication enabled.", code_name="NoReplicationEnabled"
            )
        if self.config is not None:
            raise CommandError(23, "already initialized", code_name="AlreadyInitialized")
        config = ReplSetConfig.from_document(config_doc)
        if config.name != self.set_name:
            raise CommandError(
                93,
                f"Rejecting initiate with a set name {config.name!r} that differs from "
                f"the command line set name {self.set_name!r}",
            )
        mine = self.member.find_self(config)
        if mine is None:
            raise CommandError(
                93,
                "No host described in new configuration with "
                f"{{version: {config.version}, term: {config.term}}} for replica set "
                f"{config.name} maps to this node",
                code_name="InvalidReplicaSetConfig",
            )
        if len(config.members) > 1:
            raise CommandError(93, "multi-member replica sets are not supported by this build")
        self.config = config
        self.self_id = mine.id
        self.member.groundtruth.record(
            "config", version=config.version, members=[m.host for m in config.members]
        )
        self._set_state(MemberState.SECONDARY)
        self.term += 1
        self.member.groundtruth.record("election_won", term=self.term)
        self._set_state(MemberState.PRIMARY)

    def _set_state(self, state: MemberState) -> None:
        if state is self.state:
            return
        previous = self.state
        self.state = state
        self.member.groundtruth.record("state", state=state.name, previous=previous.name, term=self.term)

    # --- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        if self.standalone:
            return

    async def stop(self) -> None:
        return


def election_id(term: int) -> ObjectId:
    """mongod's PV1 electionId: 7fffffff followed by the term as a 64-bit big-endian integer."""
    return ObjectId(b"\x7f\xff\xff\xff" + term.to_bytes(8, "big"))


def _wall(optime: OpTime) -> datetime:
    return datetime.fromtimestamp(optime.ts.time, UTC).replace(tzinfo=None)
