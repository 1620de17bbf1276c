"""Read concern as mongod checks it before a command runs; snapshot and linearizable reads.

Levels are validated for every command (9 FailedToParse for an unknown one); `snapshot`
outside a transaction is refused by the commands that cannot read at a snapshot (72
InvalidOptions). A snapshot read reads at `atClusterTime` (by default the commit point, which it
reports as `atClusterTime`): the version history keeps what a read at that time needs for
`minSnapshotHistoryWindowInSeconds` (300 s) after the read, as mongod's history window does, so
the later reads of a snapshot session see the same data; a time older than the history kept is
refused with 239 SnapshotTooOld. A
`linearizable` read runs on the primary only and, as mongod's, confirms that the member is
still primary with a majority-acknowledged no-op write before it answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bson import Timestamp

from mongoemu.commands.registry import CommandContext
from mongoemu.errors import CommandError
from mongoemu.writes import WriteBatch

LEVELS = ("local", "majority", "linearizable", "available", "snapshot")
# Commands that read at a snapshot outside a transaction (MongoDB 5.0+).
SNAPSHOT_COMMANDS = frozenset({"find", "aggregate", "distinct", "getMore"})


def check(name: str, ctx: CommandContext) -> None:
    rc = ctx.read_concern
    if rc is None:
        return
    if not isinstance(rc, Mapping):
        raise CommandError(14, "readConcern must be an object")
    level = rc.get("level")
    if level is not None and level not in LEVELS:
        raise CommandError(
            9, f"readConcern.level must be one of {', '.join(repr(x) for x in LEVELS)}, not '{level}'"
        )
    if level == "snapshot" and not _in_transaction(ctx) and name not in SNAPSHOT_COMMANDS:
        raise CommandError(72, f'Command {name} does not support {{ readConcern: {{ level: "snapshot" }} }}')


async def linearizable(ctx: CommandContext) -> None:
    """Confirm with a majority-acknowledged no-op that this member is still the primary."""
    coordinator = ctx.member.coordinator
    if not coordinator.writable:
        raise CommandError(10107, "cannot satisfy linearizable read concern on non-primary node")
    batch = WriteBatch(ctx)
    try:
        batch.write("n", "", {"msg": "linearizable read"})
    finally:
        batch.flush()
    concern: dict[str, Any] = {"w": "majority", "wtimeout": ctx.max_time_ms or 0}
    assert batch.last_optime is not None
    wce = await coordinator.await_write_concern(batch.last_optime, concern, ctx.op)
    if wce is not None:
        raise CommandError(int(wce.get("code", 64)), str(wce.get("errmsg", "linearizable read failed")))


def _in_transaction(ctx: CommandContext) -> bool:
    return "autocommit" in ctx.body or "startTransaction" in ctx.body


async def snapshot_time(ctx: CommandContext) -> Timestamp | None:
    """For a snapshot read outside a transaction: the time it reads at, once the commit point
    has reached the time asked for (`atClusterTime` or `afterClusterTime`); else None."""
    rc = ctx.read_concern
    if not isinstance(rc, Mapping) or rc.get("level") != "snapshot" or _in_transaction(ctx):
        return None
    if ctx.name not in ("find", "aggregate", "distinct"):
        return None
    at, after = rc.get("atClusterTime"), rc.get("afterClusterTime")
    if at is not None and after is not None:
        raise CommandError(
            72, "Specifying a timestamp for readConcern snapshot together with afterClusterTime"
        )
    wanted = at if at is not None else after
    coordinator = ctx.member.coordinator
    if wanted is not None:
        if not isinstance(wanted, Timestamp):
            raise CommandError(14, "readConcern.atClusterTime must be a timestamp")
        timeout = ctx.max_time_ms / 1000 if ctx.max_time_ms else None
        await coordinator.wait_for_read_concern({"level": "majority", "afterClusterTime": wanted}, timeout)
    history = coordinator.majority
    read_at = at if at is not None else coordinator.commit_point.ts
    if not history.readable(read_at):
        oldest = Timestamp(*history.horizon)
        raise CommandError(
            239,
            f"Read timestamp {read_at} is older than the oldest available timestamp {oldest} "
            "(the emulator keeps history only as far back as open snapshots need it)",
            code_name="SnapshotTooOld",
        )
    history.lease(read_at, float(ctx.member.parameters["minSnapshotHistoryWindowInSeconds"]))
    ctx.read_at = read_at
    return read_at


def report_snapshot_time(reply: dict[str, Any], at: Timestamp) -> None:
    """mongod reports a snapshot read's time in the cursor (find, aggregate) or the reply (distinct)."""
    cursor = reply.get("cursor")
    if isinstance(cursor, dict):
        cursor["atClusterTime"] = at
    elif reply.get("ok"):
        reply["atClusterTime"] = at
