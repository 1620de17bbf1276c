"""`backup`: a backup set of the workload's database under `<run>/backups/<name>/`: a consistent
snapshot (mongodump's layout), optionally the continuous oplog backup from the snapshot's start
(until a wipe or the end of the drill) and the guide's application-level export."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from chaos.backup import export
from chaos.backup.backupset import BackupSet
from chaos.backup.dump import snapshot
from chaos.backup.oplog import newest
from chaos.backup.tail import OplogTailer
from chaos.runbook.step import RunbookStep, StepContext, StepFailed
from contract.durations import Duration


class Backup(RunbookStep):
    action: Literal["backup"] = "backup"
    colour = "#009E73"
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # default: the step id
    tool: Literal["auto", "builtin", "mongodump"] = "auto"
    continuous: bool = True
    slice: Duration = Field(10.0, gt=0)
    export: bool = True

    def budget_s(self) -> float:
        return 1800.0

    def run(self, ctx: StepContext) -> dict[str, Any]:
        if ctx.backups is None:
            raise StepFailed("a backup step writes into the run directory, and there is none")
        cluster = ctx.cluster
        name = self.name or ctx.step_id
        backup = BackupSet.create(ctx.backups / name, ctx.database, cluster.set_name)
        findings: dict[str, Any] = {"set": name}
        with cluster.client(w="majority") as client:
            start = newest(client)
            if self.continuous:
                tailer = OplogTailer(cluster.client, backup, start, self.slice)
                tailer.start()
                ctx.state.continuous[name] = tailer
            info = snapshot(client, cluster.uri(), backup, tool=self.tool, log=ctx.log)
            size = sum(c.bytes for c in info.collections.values())
            findings |= {
                "tool": info.tool,
                "collections": len(info.collections),
                "documents": sum(c.documents for c in info.collections.values()),
                "bytes": size,
                "snapshot_s": round(info.seconds, 3),
                "mb_per_s": round(size / 1e6 / info.seconds, 2) if info.seconds > 0 else None,
                "consistent_at": info.end.ts,
                "continuous": self.continuous,
            }
            if self.export:
                document = export.export_into(client, backup)
                findings["export"] = document["integrity"]["counts"]
                findings["problems"] = export.check(document)
        ctx.state.backups[name] = backup.folder
        return findings
