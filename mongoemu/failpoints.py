"""Fail points, as `configureFailPoint` sets them in mongod's test builds.

Only the fail points whose effect the emulator implements can be set (`IMPLEMENTED`); another
of mongod's names is refused with 115 saying so, and a name mongod does not have with 2 BadValue,
as mongod refuses it. The implemented ones, as drivers' test suites use them:

- `failCommand`: matches external clients' commands by name (and optionally appName), then
  blocks (`blockConnection`/`blockTimeMS`), closes the connection, fails with `errorCode`
  (and `errorLabels`) or attaches a `writeConcernError`;
- `onPrimaryTransactionalWrite`: on a retryable write statement, the primary closes the
  connection (`closeConnection`, default true) and fails the statement before it commits with
  `failBeforeCommitExceptionCode`, or else lets it commit without answering;
- `maxTimeAlwaysTimeOut`: every operation with a time limit (a command's `maxTimeMS`, a getMore
  spending what its cursor inherited) fails with 50 MaxTimeMSExpired where it checks it;
- `failGetMoreAfterCursorCheckout`: a getMore fails with `errorCode` and its cursor is killed;
- `stopReplProducer`: a secondary stops fetching oplog entries from its sync source.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from bson import Int64

from mongoemu.errors import CommandError, bad_value


@dataclass(slots=True)
class FailPoint:
    name: str
    mode: str = "off"  # off | alwaysOn | times | skip | activationProbability
    remaining: int = 0
    skip: int = 0
    probability: float = 1.0
    data: dict[str, Any] = field(default_factory=dict)
    times_entered: int = 0

    @property
    def active(self) -> bool:
        return self.mode != "off"

    def fire(self) -> bool:
        """Count one evaluation and say whether the fail point triggers for it."""
        if self.mode == "off":
            return False
        if self.mode == "skip":
            if self.skip > 0:
                self.skip -= 1
                return False
            self.mode = "alwaysOn"
        if self.mode == "activationProbability" and random.random() >= self.probability:
            return False
        if self.mode == "times":
            if self.remaining <= 0:
                self.mode = "off"
                return False
            self.remaining -= 1
            if self.remaining == 0:
                self.mode = "off"
        self.times_entered += 1
        return True


@dataclass(frozen=True, slots=True)
class CommandFault:
    """What `failCommand` decided for one command."""

    block_ms: int = 0
    close_connection: bool = False
    error: CommandError | None = None
    write_concern_error: dict[str, Any] | None = None
    # The reply's errorLabels when the fail point names them (they replace mongod's own).
    labels: tuple[str, ...] | None = None


IMPLEMENTED = frozenset(
    {"failCommand", "onPrimaryTransactionalWrite", "maxTimeAlwaysTimeOut", "failGetMoreAfterCursorCheckout",
     "stopReplProducer"}
)  # fmt: skip
# Fail points of mongod that drivers' and mongod's test suites set, whose effect the emulator lacks.
NOT_IMPLEMENTED = frozenset(
    """hangAfterCollectionInserts hangBeforeCommitTransaction hangBeforeAbortingTransaction
    rsSyncApplyStop stopReplProducerOnDocument skipWriteConflictRetries
    failCollectionUpdates failAllInserts failAllUpdates failAllRemoves failAllFindAndModify
    hangBeforeWritingDecision hangAfterInsertingDocuments setYieldAllLocksHang
    hangInGetMore hangBeforeShardingCollection failNonIntentLocksIfWaitNeeded
    throwWCEDuringTxnCollCreate waitInFindBeforeMakingBatch hangBeforeLoggingCreateCollection
    blockHeartbeatStepdown hangWhileBuildingIndex failIndexBuildOnCommit
    hangAfterPreallocateSnapshot failTimeseriesInsert""".split()  # noqa: SIM905
)


class FailPoints:
    def __init__(self) -> None:
        self._points: dict[str, FailPoint] = {}

    def configure(self, name: str, mode: Any, data: dict[str, Any] | None) -> int:
        """Apply a `configureFailPoint` request; return the previous hit count (mongod's `count`)."""
        if name not in IMPLEMENTED:
            if name in NOT_IMPLEMENTED:
                raise CommandError(115, f"fail point {name} is not implemented by the emulator")
            raise bad_value(f"Cannot find FailPoint {name}")
        point = self._points.setdefault(name, FailPoint(name))
        previous = point.times_entered
        point.data = dict(data or {})
        point.times_entered = 0
        if mode in ("off", "alwaysOn"):
            point.mode = mode
        elif isinstance(mode, dict) and len(mode) == 1:
            ((key, value),) = mode.items()
            if key == "times":
                point.mode, point.remaining = "times", int(value)
            elif key == "skip":
                point.mode, point.skip = "skip", int(value)
            elif key == "activationProbability":
                p = float(value)
                if not 0.0 <= p <= 1.0:
                    raise bad_value("activationProbability must be between 0 and 1")
                point.mode, point.probability = "activationProbability", p
            else:
                raise bad_value(f"unknown fail point mode {key!r}")
        else:
            raise bad_value(f"invalid fail point mode {mode!r}")
        return previous

    def get(self, name: str) -> FailPoint | None:
        return self._points.get(name)

    def fires(self, name: str) -> dict[str, Any] | None:
        """Evaluate fail point `name` once: its data when it triggers, else None."""
        point = self._points.get(name)
        if point is None or not point.active or not point.fire():
            return None
        return point.data

    def max_time_always_times_out(self) -> bool:
        """`maxTimeAlwaysTimeOut`, asked as an operation checks its deadline."""
        return self.fires("maxTimeAlwaysTimeOut") is not None

    def check_command(self, command_name: str, app_name: str | None, internal: bool) -> CommandFault | None:
        point = self._points.get("failCommand")
        if point is None or not point.active:
            return None
        data = point.data
        if command_name not in data.get("failCommands", ()):
            return None
        if internal and not data.get("failInternalCommands", False):
            return None
        if "appName" in data and data["appName"] != app_name:
            return None
        if not point.fire():
            return None
        error = None
        if "errorCode" in data:
            code = int(data["errorCode"])
            error = CommandError(
                code,
                f"Failing command {command_name!r} via 'failCommand' failpoint",
                labels=tuple(data.get("errorLabels", ())),
                explicit_labels="errorLabels" in data,
            )
        return CommandFault(
            block_ms=int(data.get("blockTimeMS", 0)) if data.get("blockConnection") else 0,
            close_connection=bool(data.get("closeConnection")),
            error=error,
            write_concern_error=data.get("writeConcernError"),
            labels=tuple(data["errorLabels"]) if "errorLabels" in data else None,
        )


def count_document(count: int) -> dict[str, Any]:
    return {"count": Int64(count), "ok": 1.0}
