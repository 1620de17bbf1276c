"""What this member knows about every member of its config: heartbeat results, progress, liveness.

The counterpart of mongod's MemberData and PingStats. Times are monotonic seconds for decisions
and wall-clock datetimes for what `replSetGetStatus` shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bson import Timestamp

from mongoemu.oplog import NULL_OPTIME, OpTime
from mongoemu.repl.config import MemberConfig
from mongoemu.repl.messages import EPOCH, HeartbeatResponse, PositionUpdate
from mongoemu.repl.state import MemberState

# mongod retries a failed heartbeat twice at once before declaring the member down.
MAX_HEARTBEAT_RETRIES = 2


@dataclass(slots=True)
class PingStats:
    average_ms: float | None = None
    started: float = 0.0
    failures_since_start: int = 0
    trying: bool = False

    def start(self, now: float) -> None:
        self.started = now
        self.failures_since_start = 0
        self.trying = True

    def hit(self, millis: float) -> None:
        self.trying = False
        self.average_ms = millis if self.average_ms is None else (self.average_ms * 4 + millis) / 5

    def miss(self) -> None:
        self.failures_since_start += 1
        if self.failures_since_start > MAX_HEARTBEAT_RETRIES:
            self.trying = False

    @property
    def failed(self) -> bool:
        return self.failures_since_start > MAX_HEARTBEAT_RETRIES


@dataclass(slots=True)
class MemberData:
    config: MemberConfig
    is_self: bool = False
    health: float = -1.0
    state: MemberState = MemberState.UNKNOWN
    up_since: float | None = None
    last_heartbeat: datetime | None = None
    last_heartbeat_recv: datetime | None = None
    last_heartbeat_message: str = ""
    # Liveness (monotonic): the last time we heard from the member in any way.
    last_update: float = 0.0
    last_update_stale: bool = False
    updated_since_restart: bool = False
    term: int = -1
    applied: OpTime = NULL_OPTIME
    applied_wall: datetime = EPOCH
    durable: OpTime = NULL_OPTIME
    durable_wall: datetime = EPOCH
    # The optimes the last heartbeat reported (what replSetGetStatus shows).
    hb_applied: OpTime = NULL_OPTIME
    hb_durable: OpTime = NULL_OPTIME
    config_version: int = -1
    config_term: int = -1
    sync_source: str = ""
    election_time: Timestamp | None = None
    electable: bool = False
    ping: PingStats = field(default_factory=PingStats)

    @property
    def id(self) -> int:
        return self.config.id

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def up(self) -> bool:
        return self.health > 0

    def set_up(self, now: float, wall: datetime, hb: HeartbeatResponse) -> tuple[bool, bool]:
        """Record a good heartbeat; return (optime advanced, state changed)."""
        if not self.up:
            self.up_since = now
        self.health = 1.0
        self.last_heartbeat = wall
        self.last_heartbeat_message = ""
        self.updated_since_restart = True
        state_changed = hb.state != self.state
        self.state = hb.state
        self.term = hb.term
        self.hb_applied = hb.applied
        self.hb_durable = hb.durable
        self.config_version = hb.config_version
        self.config_term = hb.config_term
        self.sync_source = hb.sync_source
        self.election_time = hb.election_time if hb.state is MemberState.PRIMARY else None
        self.electable = hb.electable
        advanced = self.advance(hb.applied, hb.applied_wall, hb.durable, hb.durable_wall)
        self.update_liveness(now)
        return advanced, state_changed

    def set_down(self, now: float, wall: datetime, message: str) -> bool:
        """Record that the member is unreachable; return whether it was up before."""
        was_up = self.up
        self.health = 0.0
        self.up_since = None
        self.state = MemberState.DOWN
        self.last_heartbeat = wall
        self.last_heartbeat_message = message
        self.updated_since_restart = True
        self.election_time = None
        return was_up

    def advance(
        self, applied: OpTime, applied_wall: datetime, durable: OpTime, durable_wall: datetime
    ) -> bool:
        advanced = False
        if applied > self.applied:
            self.applied, self.applied_wall, advanced = applied, applied_wall, True
        if durable > self.durable:
            self.durable, self.durable_wall, advanced = durable, durable_wall, True
        return advanced

    def apply_position(self, now: float, update: PositionUpdate) -> bool:
        self.update_liveness(now)
        return self.advance(update.applied, update.applied_wall, update.durable, update.durable_wall)

    def update_liveness(self, now: float) -> None:
        self.last_update = now
        self.last_update_stale = False
