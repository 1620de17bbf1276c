"""`hubchaos backup` and `hubchaos restore`: the runbook's backup and restore (chaos/backup/) by
hand, against any deployment a URI reaches.

    hubchaos backup --uri mongodb://h1,h2/?replicaSet=rs0 --out backups/monday --continuous 5m
    hubchaos restore backups/monday --to mongodb://127.0.0.1:27100/ --until 2026-05-04T03:12:00Z

A restore verifies the whole set before it connects to the target, so a torn or tampered set is
refused with nothing touched; the target's database must be empty.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
from pymongo import MongoClient
from pymongo.errors import PyMongoError

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
    "--continuous", default="0s", show_default=True, help="tail the oplog this long after the snapshot"
)
@click.option("--slice", "slice_", default="10s", show_default=True, help="one oplog slice per this long")
@click.option("--export/--no-export", "with_export", default=True, help="the application-level export")
def backup_command(
    *, uri: str, out: Path, database: str, tool: str, continuous: str, slice_: str, with_export: bool
) -> None:
    """A consistent snapshot in mongodump's layout, the export, and optionally the oplog."""
    tail_s, slice_s = parse_duration(continuous), parse_duration(slice_)
    try:
        with _client(uri) as client:
            backup = BackupSet.create(out, database, None)
            tailer = None
            if tail_s > 0:
                tailer = OplogTailer(lambda: _client(uri), backup, newest(client), slice_s)
                tailer.start()
            info = snapshot(client, uri, backup, tool=tool, log=click.echo)  # type: ignore[arg-type]
            click.echo(f"snapshot ({info.tool}) consistent at {info.end.ts} in {info.seconds:.1f} s")
            if with_export:
                problems = export.check(export.export_into(client, backup))
                if problems:
                    raise RunError(f"the application export fails its own check: {'; '.join(problems)}")
            if tailer is not None:
                time.sleep(tail_s)
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
def restore_command(backup: Path, target: str, until: str | None) -> None:
    """Restore BACKUP into TARGET as it was at --until: the snapshot, the oplog, the indexes."""
    plan = plan_restore(backup, parse_until(until))  # refuses a bad set before connecting
    try:
        with _client(target) as client:
            result = restore(client, plan, log=click.echo)
    except PyMongoError as exc:
        raise RunError(f"restore into {target}: {exc}") from None
    total = sum(result.seconds.values())
    click.echo(
        f"restored to {result.point.ts}: {result.documents:,} documents, {result.replay.applied:,} oplog "
        f"operations, {result.indexes} indexes in {total:.1f} s ({result.mb_per_s:.2f} MB/s)"
    )
