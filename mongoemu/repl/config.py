"""The replica-set configuration document (replSetInitiate / replSetReconfig / replSetGetConfig)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from bson import ObjectId

from mongoemu.errors import CommandError


def _invalid(message: str) -> CommandError:
    return CommandError(93, message)


@dataclass(frozen=True, slots=True)
class MemberConfig:
    id: int
    host: str
    priority: float = 1.0
    votes: int = 1
    hidden: bool = False
    secondary_delay_secs: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    # mongod 4.4+: a voting member a reconfig added counts as a non-voter until the primary sees it
    # SECONDARY, RECOVERING or ROLLBACK (it has synced), so it cannot hold majorities up meanwhile.
    newly_added: bool = False

    @property
    def electable(self) -> bool:
        return self.priority > 0 and self.votes > 0

    @property
    def voter(self) -> bool:
        """mongod's isVoter(): votes, and not newly added."""
        return self.votes > 0 and not self.newly_added

    def to_document(self, include_newly_added: bool = True) -> dict[str, Any]:
        doc: dict[str, Any] = {"_id": self.id, "host": self.host, "arbiterOnly": False}
        if include_newly_added and self.newly_added:
            doc["newlyAdded"] = True
        return doc | {
            "buildIndexes": True,
            "hidden": self.hidden,
            "priority": self.priority,
            "tags": dict(self.tags),
            "secondaryDelaySecs": self.secondary_delay_secs,
            "votes": self.votes,
        }


@dataclass(frozen=True, slots=True)
class Settings:
    election_timeout_millis: int = 10_000
    heartbeat_interval_millis: int = 2_000
    heartbeat_timeout_secs: int = 10
    catch_up_timeout_millis: int = -1
    catch_up_takeover_delay_millis: int = 30_000
    chaining_allowed: bool = True
    replica_set_id: ObjectId = field(default_factory=ObjectId)
    # Custom write concern modes: name -> {tag key: number of distinct tag values}.
    get_last_error_modes: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_document(self) -> dict[str, Any]:
        return {
            "chainingAllowed": self.chaining_allowed,
            "heartbeatIntervalMillis": self.heartbeat_interval_millis,
            "heartbeatTimeoutSecs": self.heartbeat_timeout_secs,
            "electionTimeoutMillis": self.election_timeout_millis,
            "catchUpTimeoutMillis": self.catch_up_timeout_millis,
            "catchUpTakeoverDelayMillis": self.catch_up_takeover_delay_millis,
            "getLastErrorModes": {k: dict(v) for k, v in self.get_last_error_modes.items()},
            "getLastErrorDefaults": {"w": 1, "wtimeout": 0},
            "replicaSetId": self.replica_set_id,
        }


@dataclass(frozen=True, slots=True)
class ReplSetConfig:
    name: str
    version: int
    members: tuple[MemberConfig, ...]
    settings: Settings = field(default_factory=Settings)
    term: int = -1
    protocol_version: int = 1

    @property
    def voting_members(self) -> tuple[MemberConfig, ...]:
        """The members that count for majorities and elections (newly added ones do not)."""
        return tuple(m for m in self.members if m.voter)

    @property
    def majority(self) -> int:
        """Votes needed to elect a primary, and voters that must have a write for w: "majority"
        (mongod's writeMajorityCount, which equals it without arbiters)."""
        return len(self.voting_members) // 2 + 1

    @property
    def version_and_term(self) -> tuple[int, int]:
        return (self.version, self.term)

    def newer_than(self, other: ReplSetConfig | None) -> bool:
        """mongod's ConfigVersionAndTerm order: by term, then version; an unset term (-1, a force
        reconfig) compares by version alone."""
        if other is None:
            return True
        return version_and_term_newer(self.version_and_term, other.version_and_term)

    def priority_rank(self, priority: float) -> int:
        """How many members have a higher priority (0 = the highest)."""
        return sum(1 for m in self.members if m.priority > priority)

    def index_of(self, member_id: int) -> int:
        return next((i for i, m in enumerate(self.members) if m.id == member_id), -1)

    def with_version_and_term(self, version: int, term: int) -> ReplSetConfig:
        return replace(self, version=version, term=term)

    def with_newly_added(self, ids: set[int]) -> ReplSetConfig:
        """The config with exactly the members `ids` marked newly added."""
        return replace(self, members=tuple(replace(m, newly_added=m.id in ids) for m in self.members))

    def member_by_host(self, host: str) -> MemberConfig | None:
        return next((m for m in self.members if m.host == host), None)

    def member_by_id(self, member_id: int) -> MemberConfig | None:
        return next((m for m in self.members if m.id == member_id), None)

    def to_document(self, include_newly_added: bool = True) -> dict[str, Any]:
        """The config document; replSetGetConfig leaves `newlyAdded` out, as mongod does unless
        asked with `$_internalIncludeNewlyAdded`, so that what it returns can be sent back."""
        return {
            "_id": self.name,
            "version": self.version,
            "term": self.term,
            "protocolVersion": 1,
            "writeConcernMajorityJournalDefault": True,
            "members": [m.to_document(include_newly_added) for m in self.members],
            "settings": self.settings.to_document(),
        }

    @classmethod
    def from_document(cls, doc: Any, *, previous: ReplSetConfig | None = None) -> ReplSetConfig:
        if not isinstance(doc, dict):
            raise _invalid("the replica set configuration must be a document")
        name = doc.get("_id")
        if not isinstance(name, str) or not name:
            raise _invalid("replica set configuration must have a string _id naming the set")
        members_doc = doc.get("members")
        if not isinstance(members_doc, list) or not members_doc:
            raise _invalid("replica set configuration must have a non-empty 'members' array")
        if len(members_doc) > 50:
            raise _invalid("replica set configuration has more than 50 members")
        members: list[MemberConfig] = []
        for i, m in enumerate(members_doc):
            if not isinstance(m, dict) or "host" not in m or "_id" not in m:
                raise _invalid(f"members[{i}] must be a document with _id and host")
            priority = float(m.get("priority", 1.0))
            votes = int(m.get("votes", 1))
            if votes not in (0, 1):
                raise _invalid(f"members[{i}].votes must be 0 or 1")
            if not 0 <= priority <= 1000:
                raise _invalid(f"members[{i}].priority must be between 0 and 1000")
            if votes == 0 and priority > 0:
                raise _invalid(f"members[{i}]: priority must be 0 when non-voting (votes:0)")
            hidden = bool(m.get("hidden", False))
            if hidden and priority > 0:
                raise _invalid(f"members[{i}]: priority must be 0 when hidden=true")
            if m.get("arbiterOnly", False):
                raise _invalid(f"members[{i}]: arbiters (arbiterOnly) are not supported by this emulator")
            delay = int(m.get("secondaryDelaySecs", m.get("slaveDelay", 0)))
            if delay < 0:
                raise _invalid(f"members[{i}].secondaryDelaySecs must be at least 0")
            if delay > 0 and priority > 0:
                raise _invalid(f"members[{i}]: priority must be 0 when secondaryDelaySecs is used")
            host = str(m["host"])
            if ":" not in host:
                host = f"{host}:27017"
            tags = m.get("tags", {}) or {}
            if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
                raise _invalid(f"members[{i}].tags must be a document of strings")
            members.append(
                MemberConfig(
                    id=int(m["_id"]),
                    host=host,
                    priority=priority,
                    votes=votes,
                    hidden=hidden,
                    secondary_delay_secs=delay,
                    tags=dict(tags),
                    newly_added=bool(m.get("newlyAdded", False)),
                )
            )
        if len({m.id for m in members}) != len(members):
            raise _invalid("replica set configuration has duplicate member _id values")
        if len({m.host for m in members}) != len(members):
            raise _invalid("replica set configuration has duplicate member hosts")
        voting = sum(1 for m in members if m.voter)
        if voting == 0:
            raise _invalid("replica set configuration must have at least one voting member")
        if voting > 7:
            raise _invalid("replica set configuration has more than 7 voting members")
        if not any(m.electable for m in members):
            raise _invalid("replica set configuration must have at least one electable member")
        s = doc.get("settings", {}) or {}
        base = previous.settings if previous else Settings()
        settings = Settings(
            election_timeout_millis=int(s.get("electionTimeoutMillis", base.election_timeout_millis)),
            heartbeat_interval_millis=int(s.get("heartbeatIntervalMillis", base.heartbeat_interval_millis)),
            heartbeat_timeout_secs=int(s.get("heartbeatTimeoutSecs", base.heartbeat_timeout_secs)),
            catch_up_timeout_millis=int(s.get("catchUpTimeoutMillis", base.catch_up_timeout_millis)),
            catch_up_takeover_delay_millis=int(
                s.get("catchUpTakeoverDelayMillis", base.catch_up_takeover_delay_millis)
            ),
            chaining_allowed=bool(s.get("chainingAllowed", base.chaining_allowed)),
            replica_set_id=s.get("replicaSetId", base.replica_set_id),
            get_last_error_modes=_modes(s.get("getLastErrorModes", base.get_last_error_modes)),
        )
        if settings.election_timeout_millis <= 0 or settings.heartbeat_interval_millis <= 0:
            raise _invalid("electionTimeoutMillis and heartbeatIntervalMillis must be positive")
        return cls(
            name=name,
            version=int(doc.get("version", 1)),
            members=tuple(members),
            settings=settings,
            term=int(doc.get("term", -1)),
        )


def version_and_term_newer(a: tuple[int, int], b: tuple[int, int]) -> bool:
    (va, ta), (vb, tb) = a, b
    if -1 in (ta, tb) or ta == tb:
        return va > vb
    return ta > tb


def _modes(doc: Any) -> dict[str, dict[str, int]]:
    if not isinstance(doc, dict):
        raise _invalid("settings.getLastErrorModes must be a document")
    modes: dict[str, dict[str, int]] = {}
    for name, pattern in doc.items():
        if not isinstance(pattern, dict) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in pattern.values()
        ):
            raise _invalid(f"settings.getLastErrorModes.{name} must map tag names to positive integers")
        modes[name] = dict(pattern)
    return modes
