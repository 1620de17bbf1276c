"""`hubchaos backup` and `hubchaos restore`: the runbook's backup and restore (chaos/backup/) by
hand, against any deployment a URI reaches.

    hubchaos backup --uri mongodb://h1,h2/?replicaSet=rs0 --out backups/monday --continuous 5m
    hubchaos restore backups/monday --to mongodb://127.0.0.1:27100/ --until 2026-05-04T03:12:00Z

A restore verifies the whole set before it connects to the target, so a torn or tampered set is
refused with nothing touched; the target's database must be empty. It then waits (`--wait`) until
the restored replica set is healthy: one primary, every other member SECONDARY within 10 s.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from chaos.backends.health import MemberStatus, await_healthy, current_primary, set_view, unreachable
from chaos.backup import export
from chaos.backup.backupset import BackupSet
from chaos.backup.dump import snapshot
from chaos.backup.layout import describe
from chaos.backup.oplog import newest
from chaos.backup.restore import parse_until, plan_restore, restore
from chaos.backup.tail import OplogTailer
from contract.durations import parse_duration
from contract.errors import RunError

TIMEOUT_MS = 10_000
MAX_LAG_S = 10.0  # the drills' bound for a healthy secondary


class Duration(click.ParamType):
    """An option given as a duration ('30s', '5m'): a bad one is a usage error naming the option."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _client(uri: str) -> MongoClient[dict[str, Any]]:
    return MongoClient(uri, serverSelectionTimeoutMS=TIMEOUT_MS, w="majority")


@click.command("backup")
@click.option("--uri", required=True, help="the deployment to back up (a replica set)")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="a new folder for the set")
@click.option("--db", "database", default="aihub", show_default=True)
@click.option(
    "--tool", type=click.Choice(["auto", "builtin", "mongodump"]), default="auto", show_default=True
)
@click.option(
    "--continuous",
    type=Duration(),
    default="0s",
    show_default=True,
    help="tail the oplog this long after the snapshot",
)
@click.option(
    "--slice",
    "slice_",
    type=Duration(),
    default="10s",
    show_default=True,
    help="one oplog slice per this long",
)
@click.option("--export/--no-export", "with_export", default=True, help="the application-level export")
def backup_command(
    *, uri: str, out: Path, database: str, tool: str, continuous: float, slice_: float, with_export: bool
) -> None:
    """A consistent snapshot in mongodump's layout, the export, and optionally the oplog."""
    try:
        with _client(uri) as client:
            backup = BackupSet.create(out, database, None)
            tailer = None
            if continuous > 0:
                tailer = OplogTailer(lambda: _client(uri), backup, newest(client), slice_)
                tailer.start()
            info = snapshot(client, uri, backup, tool=tool, log=click.echo)  # type: ignore[arg-type]
            click.echo(f"snapshot ({info.tool}) consistent at {info.end.ts} in {info.seconds:.1f} s")
            if with_export:
                problems = export.check(export.export_into(client, backup))
                if problems:
                    raise RunError(f"the application export fails its own check: {'; '.join(problems)}")
            if tailer is not None:
                time.sleep(continuous)
                tailer.stop()
    except PyMongoError as exc:
        raise RunError(f"backup of {uri}: {exc}") from None
    click.echo(json.dumps(describe(backup.manifest)))


@click.command("restore")
@click.argument("backup", type=click.Path(path_type=Path))
@click.option("--to", "target", required=True, help="the URI of an empty deployment to restore into")
@click.option(
    "--until",
    default=None,
    help="seconds:increment (an oplog timestamp), an ISO time or epoch seconds; default: all the set holds",
)
@click.option(
    "--wait",
    type=Duration(),
    default="5m",
    show_default=True,
    help="until the restored replica set is healthy (0s: not)",
)
def restore_command(backup: Path, target: str, until: str | None, wait: float) -> None:
    """Restore BACKUP into TARGET as it was at --until: the snapshot, the oplog, the indexes."""
    plan = plan_restore(backup, parse_until(until))  # refuses a bad set before connecting
    try:
        with _client(target) as client:
            result = restore(client, plan, log=click.echo)
            total = sum(result.seconds.values())
            click.echo(
                f"restored to {result.point.ts}: {result.documents:,} documents, "
                f"{result.replay.applied:,} oplog operations, {result.indexes} indexes in {total:.1f} s "
                f"({result.mb_per_s:.2f} MB/s)"
            )
            if wait > 0 and client.admin.command("hello").get("setName"):
                _wait_healthy(client, wait)
    except PyMongoError as exc:
        raise RunError(f"restore into {target}: {exc}") from None


def _wait_healthy(client: MongoClient[dict[str, Any]], timeout: float) -> None:
    def read() -> list[MemberStatus]:
        try:
            return set_view(client.admin.command("replSetGetStatus"))
        except PyMongoError as exc:
            return [unreachable("the target", "", None, str(exc))]

    started = time.monotonic()
    statuses, reason = await_healthy(read, timeout, MAX_LAG_S)
    if reason is not None:
        raise RunError(f"the restored deployment was not healthy within {timeout:g} s: {reason}")
    primary = current_primary(statuses)
    click.echo(
        f"healthy after {time.monotonic() - started:.1f} s: primary {primary.name if primary else '?'}, "
        f"{len(statuses) - 1} other member(s)"
    )
