"""Member states, numbered as mongod numbers them in replSetGetStatus."""

from __future__ import annotations

from enum import IntEnum


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
