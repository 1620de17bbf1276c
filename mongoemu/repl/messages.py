"""The internal replication commands as typed messages, with mongod's field names on the wire.

replSetHeartbeat, replSetRequestVotes, replSetUpdatePosition and the `$replData` /
`$oplogQueryData` metadata that rides on replies to other members. Parsing a request that
comes from the network raises CommandError (code 9, FailedToParse) naming the bad field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import Int64, ObjectId, Timestamp

from mongoemu.errors import CommandError
from mongoemu.oplog import NULL_OPTIME, OpTime
from mongoemu.repl.state import MemberState

EPOCH = datetime(1970, 1, 1)


def wall_of(optime: OpTime) -> datetime:
    """mongod's optimeDate: the timestamp's seconds as a date."""
    return seconds_date(optime.ts.time)


def seconds_date(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def now_wall() -> datetime:
    # Milliseconds, as BSON dates hold them, so values round-trip unchanged.
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _field(doc: dict[str, Any], name: str, kind: type | tuple[type, ...], command: str) -> Any:
    if name not in doc:
        raise CommandError(9, f"{command}: missing field '{name}'")
    value = doc[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise CommandError(9, f"{command}: field '{name}' has the wrong type ({type(value).__name__})")
    return value


def _optime(doc: dict[str, Any], name: str, command: str) -> OpTime:
    value = _field(doc, name, dict, command)
    if not isinstance(value.get("ts"), Timestamp):
        raise CommandError(9, f"{command}: field '{name}.ts' must be a timestamp")
    return OpTime.from_document(value)


@dataclass(frozen=True, slots=True)
class HeartbeatRequest:
    set_name: str
    config_version: int
    config_term: int
    sender_id: int
    sender_host: str
    term: int
    # The member id of the primary the sender knows of, -1 for none.
    primary_id: int = -1

    def to_command(self) -> dict[str, Any]:
        return {
            "replSetHeartbeat": self.set_name,
            "configVersion": self.config_version,
            "configTerm": Int64(self.config_term),
            "hbv": 1,
            "from": self.sender_host,
            "fromId": self.sender_id,
            "term": Int64(self.term),
            "primaryId": Int64(self.primary_id),
            "$replData": 1,
        }

    @classmethod
    def from_command(cls, doc: dict[str, Any]) -> HeartbeatRequest:
        name = "replSetHeartbeat"
        return cls(
            set_name=_field(doc, name, str, name),
            config_version=int(_field(doc, "configVersion", (int, Int64), name)),
            config_term=int(doc.get("configTerm", -1)),
            sender_id=int(doc.get("fromId", -1)),
            sender_host=str(doc.get("from", "")),
            term=int(doc.get("term", -1)),
            primary_id=int(doc.get("primaryId", -1)),
        )


@dataclass(frozen=True, slots=True)
class HeartbeatResponse:
    set_name: str
    state: MemberState
    term: int
    config_version: int
    config_term: int
    applied: OpTime = NULL_OPTIME
    applied_wall: datetime = EPOCH
    durable: OpTime = NULL_OPTIME
    durable_wall: datetime = EPOCH
    election_time: Timestamp | None = None
    sync_source: str = ""
    primary_id: int = -1
    electable: bool = False
    config: dict[str, Any] | None = None

    def to_reply(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "ok": 1.0,
            "set": self.set_name,
            "state": int(self.state),
            "term": Int64(self.term),
            "v": self.config_version,
            "configTerm": Int64(self.config_term),
            "opTime": self.applied.to_document(),
            "wallTime": self.applied_wall,
            "durableOpTime": self.durable.to_document(),
            "durableWallTime": self.durable_wall,
            "syncingTo": self.sync_source,
            "primaryId": self.primary_id,
            "electable": self.electable,
        }
        if self.election_time is not None:
            doc["electionTime"] = self.election_time
        if self.config is not None:
            doc["config"] = self.config
        return doc

    @classmethod
    def from_reply(cls, doc: dict[str, Any]) -> HeartbeatResponse:
        name = "replSetHeartbeat reply"
        return cls(
            set_name=str(doc.get("set", "")),
            state=MemberState(int(_field(doc, "state", (int, Int64), name))),
            term=int(doc.get("term", -1)),
            config_version=int(doc.get("v", -2)),
            config_term=int(doc.get("configTerm", -1)),
            applied=_optime(doc, "opTime", name) if "opTime" in doc else NULL_OPTIME,
            applied_wall=doc.get("wallTime", EPOCH),
            durable=_optime(doc, "durableOpTime", name) if "durableOpTime" in doc else NULL_OPTIME,
            durable_wall=doc.get("durableWallTime", EPOCH),
            election_time=doc.get("electionTime"),
            sync_source=str(doc.get("syncingTo", "")),
            primary_id=int(doc.get("primaryId", -1)),
            electable=bool(doc.get("electable", False)),
            config=doc.get("config"),
        )


@dataclass(frozen=True, slots=True)
class VoteRequest:
    set_name: str
    dry_run: bool
    term: int
    candidate_index: int
    config_version: int
    config_term: int
    last_applied: OpTime

    def to_command(self) -> dict[str, Any]:
        return {
            "replSetRequestVotes": 1,
            "setName": self.set_name,
            "dryRun": self.dry_run,
            "term": Int64(self.term),
            "candidateIndex": self.candidate_index,
            "configVersion": self.config_version,
            "configTerm": Int64(self.config_term),
            "lastAppliedOpTime": self.last_applied.to_document(),
        }

    @classmethod
    def from_command(cls, doc: dict[str, Any]) -> VoteRequest:
        name = "replSetRequestVotes"
        return cls(
            set_name=_field(doc, "setName", str, name),
            dry_run=bool(_field(doc, "dryRun", bool, name)),
            term=int(_field(doc, "term", (int, Int64), name)),
            candidate_index=int(_field(doc, "candidateIndex", (int, Int64), name)),
            config_version=int(_field(doc, "configVersion", (int, Int64), name)),
            config_term=int(doc.get("configTerm", -1)),
            last_applied=_optime(doc, "lastAppliedOpTime", name),
        )


@dataclass(frozen=True, slots=True)
class VoteResponse:
    term: int
    vote_granted: bool
    reason: str = ""

    def to_reply(self) -> dict[str, Any]:
        return {"term": Int64(self.term), "voteGranted": self.vote_granted, "reason": self.reason, "ok": 1.0}

    @classmethod
    def from_reply(cls, doc: dict[str, Any]) -> VoteResponse:
        return cls(int(doc.get("term", -1)), bool(doc.get("voteGranted")), str(doc.get("reason", "")))


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    """One member's progress inside replSetUpdatePosition."""

    member_id: int
    config_version: int
    applied: OpTime
    applied_wall: datetime
    durable: OpTime
    durable_wall: datetime

    def to_document(self) -> dict[str, Any]:
        return {
            "durableOpTime": self.durable.to_document(),
            "durableWallTime": self.durable_wall,
            "appliedOpTime": self.applied.to_document(),
            "appliedWallTime": self.applied_wall,
            "memberId": self.member_id,
            "cfgver": self.config_version,
        }

    @classmethod
    def from_document(cls, doc: Any) -> PositionUpdate:
        name = "replSetUpdatePosition"
        if not isinstance(doc, dict):
            raise CommandError(9, f"{name}: each entry of 'optimes' must be a document")
        return cls(
            member_id=int(_field(doc, "memberId", (int, Int64), name)),
            config_version=int(doc.get("cfgver", -1)),
            applied=_optime(doc, "appliedOpTime", name),
            applied_wall=doc.get("appliedWallTime", EPOCH),
            durable=_optime(doc, "durableOpTime", name),
            durable_wall=doc.get("durableWallTime", EPOCH),
        )


@dataclass(frozen=True, slots=True)
class ReplData:
    """`$replData`: the sender's term, commit point and role, attached to internal replies."""

    term: int
    last_committed: OpTime
    last_committed_wall: datetime
    config_version: int
    config_term: int
    replica_set_id: ObjectId | None
    primary_index: int
    sync_source_index: int
    is_primary: bool
    last_applied: OpTime
    rbid: int

    def to_document(self) -> dict[str, Any]:
        return {
            "term": Int64(self.term),
            "lastOpCommitted": self.last_committed.to_document(),
            "lastCommittedWall": self.last_committed_wall,
            "lastOpVisible": self.last_applied.to_document(),
            "configVersion": self.config_version,
            "configTerm": Int64(self.config_term),
            "replicaSetId": self.replica_set_id,
            "primaryIndex": self.primary_index,
            "syncSourceIndex": self.sync_source_index,
            "isPrimary": self.is_primary,
            "rbid": self.rbid,
        }

    @classmethod
    def from_document(cls, doc: Any) -> ReplData | None:
        if not isinstance(doc, dict) or not isinstance(doc.get("lastOpCommitted"), dict):
            return None
        return cls(
            term=int(doc.get("term", -1)),
            last_committed=OpTime.from_document(doc["lastOpCommitted"]),
            last_committed_wall=doc.get("lastCommittedWall", EPOCH),
            config_version=int(doc.get("configVersion", -1)),
            config_term=int(doc.get("configTerm", -1)),
            replica_set_id=doc.get("replicaSetId"),
            primary_index=int(doc.get("primaryIndex", -1)),
            sync_source_index=int(doc.get("syncSourceIndex", -1)),
            is_primary=bool(doc.get("isPrimary", False)),
            last_applied=OpTime.from_document(doc.get("lastOpVisible") or NULL_OPTIME.to_document()),
            rbid=int(doc.get("rbid", 0)),
        )
