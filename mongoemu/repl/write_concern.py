"""Write concern: parsing `writeConcern`, deciding when it holds and the waiters for it.

Writes default to `{w: "majority"}` as in MongoDB 5.0+ when the client sends none. Errors while
waiting are reported as mongod's writeConcernError documents: 64 WriteConcernFailed with
`errInfo.wtimeout` on a timeout, 50 MaxTimeMSExpired when the command's maxTimeMS ends first,
189 PrimarySteppedDown when the primary steps down meanwhile, 91 ShutdownInProgress when the
member shuts down.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bson import Int64

from mongoemu import rwdefaults
from mongoemu.errors import CommandError
from mongoemu.oplog import OpTime
from mongoemu.repl import topology
from mongoemu.repl.state import Role

if TYPE_CHECKING:
    from mongoemu.operation import Operation
    from mongoemu.repl.coordinator import ReplicationCoordinator

MAJORITY = "majority"


@dataclass(frozen=True, slots=True)
class WriteConcern:
    w: int | str = MAJORITY
    j: bool | None = None
    wtimeout_ms: int = 0
    client_supplied: bool = False
    custom: bool = False  # the cluster-wide default set with setDefaultRWConcern

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"w": self.w, "wtimeout": self.wtimeout_ms}
        if self.j is not None:
            doc["j"] = self.j
        if self.client_supplied:
            doc["provenance"] = "clientSupplied"
        else:
            doc["provenance"] = "customDefault" if self.custom else "implicitDefault"
        return doc

    @classmethod
    def parse(cls, doc: Any) -> WriteConcern:
        """Validate a command's `writeConcern` as mongod does; raise CommandError naming the field."""
        if doc is None:
            return cls()
        if not isinstance(doc, dict):
            raise CommandError(14, "writeConcern must be an object", code_name="TypeMismatch")
        if not doc:
            return cls()
        w: int | str = MAJORITY
        if "w" in doc:
            raw = doc["w"]
            if isinstance(raw, bool) or not isinstance(raw, int | float | Int64 | str | dict):
                raise CommandError(9, "w has to be a number, string, or object")
            if isinstance(raw, dict):
                raise CommandError(9, "writeConcern.w as a tag set is not supported by this emulator")
            if isinstance(raw, str):
                w = raw
            else:
                if int(raw) != raw or raw < 0:
                    raise CommandError(9, f"w has to be a non-negative integer, got {raw}")
                if raw > 50:
                    raise CommandError(2, "w has to be less than or equal to 50")
                w = int(raw)
        j = doc.get("j")
        if j is not None and not isinstance(j, bool | int | float):
            raise CommandError(9, "j must be numeric or a boolean value")
        fsync = doc.get("fsync")
        if j is None and fsync:
            j = True
        wtimeout = doc.get("wtimeout", 0)
        if isinstance(wtimeout, bool) or not isinstance(wtimeout, int | float | Int64):
            raise CommandError(9, "wtimeout must be a number")
        return cls(w=w, j=None if j is None else bool(j), wtimeout_ms=int(wtimeout), client_supplied=True)


def timeout_error(wc: WriteConcern) -> dict[str, Any]:
    return {
        "code": 64,
        "codeName": "WriteConcernFailed",
        "errmsg": "waiting for replication timed out",
        "errInfo": {"wtimeout": True, "writeConcern": wc.to_document()},
    }


def max_time_error(wc: WriteConcern) -> dict[str, Any]:
    return {
        "code": 50,
        "codeName": "MaxTimeMSExpired",
        "errmsg": "operation exceeded time limit",
        "errInfo": {"writeConcern": wc.to_document()},
    }


def stepped_down_error(message: str = "Primary stepped down while waiting for replication") -> dict[str, Any]:
    return {"code": 189, "codeName": "PrimarySteppedDown", "errmsg": message}


def shutdown_error() -> dict[str, Any]:
    return {"code": 91, "codeName": "ShutdownInProgress", "errmsg": "Replication is being shut down"}


def unsatisfiable_error(message: str) -> dict[str, Any]:
    return {"code": 100, "codeName": "UnsatisfiableWriteConcern", "errmsg": message}


def unknown_mode_error(mode: str) -> dict[str, Any]:
    return {
        "code": 79,
        "codeName": "UnknownReplWriteConcern",
        "errmsg": f"No write concern mode named '{mode}' found in replica set configuration",
    }


@dataclass(slots=True)
class _Waiter:
    optime: OpTime
    concern: WriteConcern
    future: asyncio.Future[dict[str, Any] | None]


class Waiters:
    """Writes waiting for their write concern; re-checked whenever replication progresses."""

    def __init__(self) -> None:
        self._waiters: list[_Waiter] = []

    def __len__(self) -> int:
        return len(self._waiters)

    def add(self, optime: OpTime, concern: WriteConcern) -> asyncio.Future[dict[str, Any] | None]:
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(_Waiter(optime, concern, future))
        return future

    def remove(self, future: asyncio.Future[dict[str, Any] | None]) -> None:
        self._waiters = [w for w in self._waiters if w.future is not future]

    def release(self, satisfied: Any) -> None:
        """Resolve every waiter for which `satisfied(optime, concern)` is true."""
        if not self._waiters:
            return
        keep: list[_Waiter] = []
        for waiter in self._waiters:
            if waiter.future.done():
                continue
            if satisfied(waiter.optime, waiter.concern):
                waiter.future.set_result(None)
            else:
                keep.append(waiter)
        self._waiters = keep

    def fail_all(self, error: dict[str, Any]) -> None:
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_result(dict(error))
        self._waiters.clear()


class WriteConcerns:
    """The primary's side of write concern: whether one can be met at all, whether it holds
    for an optime now, and waiting until it does."""

    def __init__(self, coordinator: ReplicationCoordinator) -> None:
        self.coord = coordinator
        self.waiters = Waiters()

    async def wait(self, optime: OpTime, doc: dict[str, Any] | None, op: Operation) -> dict[str, Any] | None:
        coord = self.coord
        wc = WriteConcern.parse(doc) if doc else self.default()
        if coord.standalone or (wc.w == 0 and not wc.j):
            return None
        problem = self.unsatisfiable(wc)
        if problem is not None:
            return problem
        if coord.role is not Role.LEADER:
            return stepped_down_error()
        if optime.term != coord.term:
            return stepped_down_error(
                f"Term changed from {optime.term} to {coord.term} while waiting for replication, "
                "indicating that this node must have stepped down."
            )
        if self.satisfied(optime, wc):
            return None
        future = self.waiters.add(optime, wc)
        timeout, deadline_first = op.timeout_for(wc.wtimeout_ms / 1000 if wc.wtimeout_ms > 0 else None)
        try:
            with op.reports_own_deadline():
                return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return max_time_error(wc) if deadline_first else timeout_error(wc)
        finally:
            self.waiters.remove(future)

    def default(self) -> WriteConcern:
        """The cluster-wide default (setDefaultRWConcern), else mongod's implicit w: majority."""
        stored = rwdefaults.default_write_concern(self.coord.member.engine)
        if stored is None:
            return WriteConcern()
        return dataclasses.replace(WriteConcern.parse(dict(stored)), client_supplied=False, custom=True)

    def unsatisfiable(self, wc: WriteConcern) -> dict[str, Any] | None:
        """The writeConcernError of a concern no set of members could ever meet, else None."""
        config = self.coord.config
        assert config is not None
        data_bearing = config.members
        if isinstance(wc.w, int):
            return unsatisfiable_error("Not enough data-bearing nodes") if wc.w > len(data_bearing) else None
        if wc.w == MAJORITY:
            return None
        pattern = config.settings.get_last_error_modes.get(wc.w)
        if pattern is None:
            return unknown_mode_error(wc.w)
        members = self.coord.members
        everyone = [members[m.id] for m in data_bearing if m.id in members]
        if not topology.tag_pattern_satisfied(everyone, pattern):
            return unsatisfiable_error(f'Not enough nodes match write concern mode "{wc.w}"')
        return None

    def satisfied(self, optime: OpTime, wc: WriteConcern) -> bool:
        coord = self.coord
        if coord.last_applied < optime or coord.config is None:
            return False
        if wc.w == MAJORITY:
            return coord.commit_point >= optime
        reached = topology.members_at(coord.members.values(), optime, durable=bool(wc.j))
        if isinstance(wc.w, int):
            return len(reached) >= wc.w
        return topology.tag_pattern_satisfied(reached, coord.config.settings.get_last_error_modes[wc.w])

    def release(self) -> None:
        if self.waiters:
            self.waiters.release(self.satisfied)

    def fail_all(self, error: dict[str, Any]) -> None:
        self.waiters.fail_all(error)
