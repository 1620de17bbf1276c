"""`mark`: a restore point, and what the data looks like there (counts, dbHash-style md5s, the
indexes with their options, the application export), read at one snapshot: the reference a
later `restore` to this point is validated against."""

from __future__ import annotations

from typing import Any, Literal

from chaos.backup import reference
from chaos.backup.layout import write_file
from chaos.runbook.step import RunbookStep, StepContext

MARKS = "marks"


class Mark(RunbookStep):
    action: Literal["mark"] = "mark"
    colour = "#F0E442"

    def run(self, ctx: StepContext) -> dict[str, Any]:
        with ctx.cluster.client() as client:
            found = reference.take(client[ctx.database])
        ctx.state.marks[ctx.step_id] = found
        if ctx.backups is not None:
            path = ctx.backups / MARKS / f"{ctx.step_id}.json"
            write_file(path, found.model_dump_json(indent=1).encode())
        return {
            "point": found.at.ts,
            "point_wall": found.at.wall,
            "documents": {name: c.count for name, c in found.collections.items()},
            "export": found.export_counts,
        }
