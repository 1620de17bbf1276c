"""replSetInitiate and replSetReconfig: validating a config and installing it.

replSetInitiate needs every proposed member up and without a config of its own (mongod's quorum
check); the initiating member writes the set's first oplog entry and the others fetch the
config through heartbeats, then initial-sync from it.

mongod's rules for a normal reconfig: only a writable primary runs it; the version must grow;
the set name and replicaSetId stay; a host keeps its member _id; at most one voting member is
added or removed at a time; the primary must stay electable; the config takes the current term.
As mongod 4.4+, a voting member the reconfig adds is marked `newlyAdded` (the user may not give
the field): it counts as a non-voter, for majorities and elections, until the primary hears in
a heartbeat that it is SECONDARY, RECOVERING or ROLLBACK, and then removes the mark with a
reconfig of its own (`remove_newly_added`). The primary then waits until a majority of the new
config's voters have the config (bounded, see `PROPAGATION_SECS`). With `force: true` any
member installs the config, with a version raised by a large random amount and no term, every
voter counting at once, and heartbeats spread it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from mongoemu.errors import CommandError
from mongoemu.oplog import NULL_OPTIME
from mongoemu.repl.config import ReplSetConfig
from mongoemu.repl.state import LeaderMode, Role

if TYPE_CHECKING:
    from mongoemu.repl.coordinator import ReplicationCoordinator

PROPAGATION_SECS = 10.0


async def initiate(coord: ReplicationCoordinator, doc: Any) -> None:
    if coord.standalone:
        raise CommandError(
            76, "This node was not started with replication enabled.", code_name="NoReplicationEnabled"
        )
    if coord.config is not None:
        raise CommandError(23, "already initialized", code_name="AlreadyInitialized")
    config = ReplSetConfig.from_document(doc)
    if config.name != coord.set_name:
        raise CommandError(
            93,
            f"Rejecting initiate with a set name {config.name!r} that differs from "
            f"the command line set name {coord.set_name!r}",
        )
    mine = coord.member.find_self(config)
    if mine is None:
        raise CommandError(
            93,
            "No host described in new configuration with "
            f"{{version: {config.version}, term: {config.term}}} for replica set "
            f"{config.name} maps to this node",
            code_name="InvalidReplicaSetConfig",
        )
    if not mine.electable:
        raise CommandError(93, "This node, the one receiving replSetInitiate, must be electable")
    await coord.heartbeats.check_initiate_quorum(config, mine.host)
    if coord.config is not None:
        raise CommandError(23, "already initialized", code_name="AlreadyInitialized")
    if coord.last_applied == NULL_OPTIME:
        await coord.write_noop({"msg": "initiating set"})
    coord.install_config(config.with_version_and_term(config.version, 0), "initiate")


def _incompatible(message: str) -> CommandError:
    return CommandError(103, message, code_name="NewReplicaSetConfigurationIncompatible")


def validate(old: ReplSetConfig, new: ReplSetConfig, self_host: str | None, force: bool) -> None:
    if new.name != old.name:
        raise _incompatible(
            "New and old configurations differ in replica set name; "
            f"old was {old.name}, and new is {new.name}"
        )
    if new.settings.replica_set_id != old.settings.replica_set_id:
        raise _incompatible(
            "New and old configurations differ in replica set ID; old was "
            f"{old.settings.replica_set_id}, and new is {new.settings.replica_set_id}"
        )
    if not force and new.version <= old.version:
        raise _incompatible(
            f"New replica set configuration version must be greater than old, but {new.version} is not "
            f"greater than {old.version} for replica set {old.name}"
        )
    for member in new.members:
        before = old.member_by_host(member.host)
        if before is not None and before.id != member.id:
            raise _incompatible(
                f"New and old configurations both have members with host of {member.host} but in the new "
                f"configuration the _id field is {member.id} and in the old configuration it is {before.id} "
                f"for replica set {old.name}"
            )
    me = new.member_by_host(self_host) if self_host is not None else None
    if me is None:
        raise CommandError(
            74,
            f"No host described in new configuration with version {new.version} maps to this node",
            code_name="NodeNotFound",
        )
    if force:
        return
    # Configured votes: a member still newly added counts as the voter the user configured.
    old_voters = {m.host for m in old.members if m.votes > 0}
    new_voters = {m.host for m in new.members if m.votes > 0}
    if len(old_voters ^ new_voters) > 1:
        raise _incompatible("Non force replica set reconfig can only add or remove at most 1 voting member.")
    if not me.electable:
        raise _incompatible(
            f"This node, {me.host}, with _id {me.id} is not electable under the new configuration with "
            f"{{version: {new.version}, term: {new.term}}} for replica set {new.name}"
        )


async def reconfig(coord: ReplicationCoordinator, doc: Any, force: bool) -> dict[str, Any]:
    old = coord.require_config()
    if not force and not (coord.role is Role.LEADER and coord.leader_mode is LeaderMode.WRITABLE):
        raise CommandError(
            10107,
            f"replSetReconfig should only be run on a writable PRIMARY. Current state {coord.state.name};",
            code_name="NotWritablePrimary",
        )
    members = doc.get("members") if isinstance(doc, dict) else None
    if isinstance(members, list) and any(isinstance(m, dict) and "newlyAdded" in m for m in members):
        raise CommandError(93, "Cannot provide newlyAdded field to member config during reconfig.")
    new = ReplSetConfig.from_document(doc, previous=old)
    validate(old, new, coord.me if coord.self_id is not None else _self_host(coord, new), force)
    if force:
        new = new.with_version_and_term(old.version + 10_000 + coord.random.randrange(100_000), -1)
    else:
        new = new.with_newly_added(_newly_added(old, new)).with_version_and_term(new.version, coord.term)
    coord.install_config(new, "force reconfig" if force else "replSetReconfig")
    coord.heartbeats.wake_all()
    if not force and coord.role is Role.LEADER:
        await _wait_for_propagation(coord, new)
    return {"ok": 1.0}


def _newly_added(old: ReplSetConfig, new: ReplSetConfig) -> set[int]:
    """New voting members, and those still newly added in the old config (by member _id)."""
    marked = set()
    for m in new.members:
        before = old.member_by_id(m.id)
        if m.votes > 0 and (before is None or before.newly_added):
            marked.add(m.id)
    return marked


async def remove_newly_added(coord: ReplicationCoordinator, member_id: int, version: tuple[int, int]) -> None:
    """The primary's own reconfig that makes a newly added member a voter, once it has synced;
    nothing when the config changed meanwhile or the member is no longer newly added."""
    config = coord.config
    if config is None or config.version_and_term != version or coord.role is not Role.LEADER:
        return
    member = config.member_by_id(member_id)
    if member is None or not member.newly_added:
        return
    still = {m.id for m in config.members if m.newly_added and m.id != member_id}
    new = config.with_newly_added(still).with_version_and_term(config.version + 1, coord.term)
    coord.install_config(new, f"newlyAdded removed from member {member_id}")
    coord.heartbeats.wake_all()


def _self_host(coord: ReplicationCoordinator, config: ReplSetConfig) -> str | None:
    mine = coord.member.find_self(config)
    return mine.host if mine is not None else None


async def _wait_for_propagation(coord: ReplicationCoordinator, config: ReplSetConfig) -> None:
    """Until a majority of the new config's voters report it in their heartbeats."""
    deadline = time.monotonic() + PROPAGATION_SECS
    while time.monotonic() < deadline and coord.config is config:
        have = sum(
            1
            for m in config.voting_members
            if (data := coord.members.get(m.id)) is not None
            and (data.is_self or (data.config_version, data.config_term) == config.version_and_term)
        )
        if have >= config.majority:
            return
        await coord.progress.wait(min(deadline - time.monotonic(), 0.25))
