"""Member states, numbered as mongod numbers them in replSetGetStatus, and the coordinator's role."""

from __future__ import annotations

from enum import Enum, IntEnum


class MemberState(IntEnum):
    STARTUP = 0
    PRIMARY = 1
    SECONDARY = 2
    RECOVERING = 3
    STARTUP2 = 5
    UNKNOWN = 6
    ARBITER = 7
    DOWN = 8
    ROLLBACK = 9
    REMOVED = 10

    @property
    def readable(self) -> bool:
        """May serve reads with secondaryOk."""
        return self in (MemberState.PRIMARY, MemberState.SECONDARY)


class Role(Enum):
    FOLLOWER = "follower"
    CANDIDATE = "candidate"
    LEADER = "leader"


class LeaderMode(Enum):
    NOT_LEADER = "notLeader"
    # Elected: catching up and draining, not yet accepting writes.
    CATCHING_UP = "leaderElect"
    WRITABLE = "writablePrimary"
    ATTEMPTING_STEPDOWN = "attemptingStepDown"
