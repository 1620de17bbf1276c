"""What a member reports about its set: the replica-set fields of `hello` and `replSetGetStatus`,
shaped as mongod's (TopologyCoordinator::fillHelloForReplSet and prepareStatusResponse)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bson import Int64, ObjectId

from mongoemu.errors import CommandError
from mongoemu.repl.member_data import MemberData
from mongoemu.repl.messages import EPOCH, now_wall, seconds_date, wall_of
from mongoemu.repl.state import MemberState, Role

if TYPE_CHECKING:
    from mongoemu.repl.coordinator import ReplicationCoordinator


def _date(value: datetime | None) -> datetime:
    return value if value is not None else EPOCH


def _sync_fields(coord: ReplicationCoordinator, host: str, is_primary: bool) -> dict[str, Any]:
    if not host or is_primary or coord.config is None:
        return {"syncSourceHost": "", "syncSourceId": -1}
    found = coord.config.member_by_host(host)
    return {"syncSourceHost": host, "syncSourceId": found.id if found is not None else -1}


def _self_entry(coord: ReplicationCoordinator, data: MemberData) -> dict[str, Any]:
    assert coord.config is not None
    entry: dict[str, Any] = {
        "_id": data.id,
        "name": data.host,
        "health": 1.0,
        "state": int(coord.state),
        "stateStr": coord.state.name,
        "uptime": int(coord.member.uptime()),
        "optime": coord.last_applied.to_document(),
        "optimeDate": wall_of(coord.last_applied),
        "lastAppliedWallTime": coord.last_applied_wall,
        "lastDurableWallTime": coord.last_applied_wall,
        **_sync_fields(coord, coord.sync_source, coord.role is Role.LEADER),
        "infoMessage": "",
    }
    if coord.role is Role.LEADER and coord.election_time is not None:
        entry["electionTime"] = coord.election_time
        entry["electionDate"] = seconds_date(coord.election_time.time)
    entry.update(
        {
            "configVersion": Int64(coord.config.version),
            "configTerm": Int64(coord.config.term),
            "self": True,
            "lastHeartbeatMessage": "",
        }
    )
    return entry


def _other_entry(coord: ReplicationCoordinator, data: MemberData, now: float) -> dict[str, Any]:
    state = data.state
    entry: dict[str, Any] = {
        "_id": data.id,
        "name": data.host,
        "health": data.health,
        "state": int(state),
        "stateStr": "(not reachable/healthy)" if data.health == 0 else state.name,
        "uptime": int(now - data.up_since) if data.up_since is not None else 0,
        "optime": data.hb_applied.to_document(),
        "optimeDurable": data.hb_durable.to_document(),
        "optimeDate": wall_of(data.hb_applied),
        "optimeDurableDate": wall_of(data.hb_durable),
        "lastAppliedWallTime": data.applied_wall,
        "lastDurableWallTime": data.durable_wall,
        "lastHeartbeat": _date(data.last_heartbeat),
        "lastHeartbeatRecv": _date(data.last_heartbeat_recv),
        "pingMs": Int64(round(data.ping.average_ms)) if data.ping.average_ms is not None else Int64(0),
        "lastHeartbeatMessage": data.last_heartbeat_message,
        **_sync_fields(coord, data.sync_source, state is MemberState.PRIMARY),
        "infoMessage": "",
    }
    if state is MemberState.PRIMARY and data.election_time is not None:
        entry["electionTime"] = data.election_time
        entry["electionDate"] = seconds_date(data.election_time.time)
    entry["configVersion"] = Int64(data.config_version)
    entry["configTerm"] = Int64(data.config_term)
    return entry


def status_document(coord: ReplicationCoordinator) -> dict[str, Any]:
    config = coord.require_config()
    if coord.self_id is None:
        raise CommandError(93, "Our replica set config is invalid or we are not a member of it")
    now = time.monotonic()
    members = [
        _self_entry(coord, data) if data.is_self else _other_entry(coord, data, now)
        for data in sorted(coord.members.values(), key=lambda d: d.id)
    ]
    doc: dict[str, Any] = {
        "set": config.name,
        "date": now_wall(),
        "myState": int(coord.state),
        "term": Int64(coord.term),
        **_sync_fields(coord, coord.sync_source, coord.role is Role.LEADER),
        "heartbeatIntervalMillis": Int64(config.settings.heartbeat_interval_millis),
        "majorityVoteCount": config.majority,
        "writeMajorityCount": config.majority,
        "votingMembersCount": len(config.voting_members),
        "writableVotingMembersCount": len(config.voting_members),
        "optimes": {
            "lastCommittedOpTime": coord.commit_point.to_document(),
            "lastCommittedWallTime": coord.commit_wall,
            "readConcernMajorityOpTime": coord.commit_point.to_document(),
            "appliedOpTime": coord.last_applied.to_document(),
            "durableOpTime": coord.last_durable.to_document(),
            "lastAppliedWallTime": coord.last_applied_wall,
            "lastDurableWallTime": coord.last_applied_wall,
        },
    }
    if coord.candidate_metrics is not None:
        doc["electionCandidateMetrics"] = dict(coord.candidate_metrics)
    if coord.participant_metrics is not None:
        doc["electionParticipantMetrics"] = dict(coord.participant_metrics)
    doc["members"] = members
    doc["ok"] = 1.0
    return doc


def hello_fields(coord: ReplicationCoordinator) -> dict[str, Any]:
    """The replica-set fields of `hello` (and of serverStatus.repl), as mongod's fillHelloForReplSet."""
    if coord.standalone:
        return {"isWritablePrimary": True}
    doc: dict[str, Any] = {
        "isWritablePrimary": coord.writable,
        "secondary": coord.state is MemberState.SECONDARY,
    }
    config = coord.config
    if config is None or coord.self_id is None:
        doc["isreplicaset"] = True
        if config is not None:
            doc["info"] = "Does not have a valid replica set config"
        return doc
    visible = [m for m in config.members if not m.hidden and m.secondary_delay_secs == 0]
    doc["hosts"] = [m.host for m in visible if m.electable]
    passives = [m.host for m in visible if not m.electable]
    if passives:
        doc["passives"] = passives
    doc["setName"] = config.name
    doc["setVersion"] = config.version
    primary = coord.primary_host()
    if primary is not None:
        doc["primary"] = primary
    me = coord.self_config
    assert me is not None
    if me.priority == 0:
        doc["passive"] = True
    if me.hidden:
        doc["hidden"] = True
    if me.secondary_delay_secs > 0:
        doc["secondaryDelaySecs"] = me.secondary_delay_secs
    if me.tags:
        doc["tags"] = dict(me.tags)
    doc["me"] = me.host
    if coord.role is Role.LEADER:
        doc["electionId"] = election_id(coord.term)
    doc["lastWrite"] = {
        "opTime": coord.last_applied.to_document(),
        "lastWriteDate": coord.last_applied_wall,
        "majorityOpTime": coord.commit_point.to_document(),
        "majorityWriteDate": coord.commit_wall,
    }
    return doc


def election_id(term: int) -> ObjectId:
    """mongod's PV1 electionId: 7fffffff followed by the term as a 64-bit big-endian integer."""
    return ObjectId(b"\x7f\xff\xff\xff" + term.to_bytes(8, "big"))
