"""`restore`: the point-in-time restore of a backup set into the wiped cluster, as MongoDB's
procedure for a replica set has it: the data is restored into one member started without its
replica set (on another port, so no application reaches it), validated there, then the set is
started and initiated again and the other members initial-sync from it. Elections follow until the
set's term passes the wiped set's, so the application's clients accept its primary again.

`until` is a `mark` step (its restore point: then the restored data is validated against the
mark's reference), an oplog timestamp (`<seconds>:<increment>`) or `latest`. Validation:

- the set is verified before anything is touched (a torn or tampered set is refused);
- every ledger write acknowledged at w:majority by the point is present with its last
  acknowledged value, and no write sent after the point is (the ledger as the shards hold it);
- counts, md5s (and the server's dbHash), indexes with their options and the application
  export equal the mark's reference.

What does not match is a finding (the `backup_integrity` SLO judges it), not a failed step; a
restore that cannot be carried out fails the run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pymongo.database import Database
from pymongo.errors import PyMongoError

from chaos.backends.health import current_primary
from chaos.backup import reference
from chaos.backup.layout import parse_ts, ts_text
from chaos.backup.reference import Reference
from chaos.backup.restore import parse_until, plan_restore, restore
from chaos.runbook.step import STEP_ID, RunbookStep, StepContext, StepFailed
from contract.durations import Duration

LISTED = 20
ELECT_TIMEOUT_S = 120.0  # problems listed one by one in the findings; the count is complete


class Restore(RunbookStep):
    action: Literal["restore"] = "restore"
    colour = "#0072B2"
    service = "up"
    backup: str | None = None  # a backup step's set (default: the only one)
    until: str = "latest"
    timeout: Duration = Field(900.0, gt=0)  # the guide's 15 minutes

    def budget_s(self) -> float:
        return self.timeout + 60.0

    def run(self, ctx: StepContext) -> dict[str, Any]:
        cluster = ctx.cluster
        started = time.monotonic()
        mark = self._mark(ctx)
        until = parse_ts(mark.at.ts) if mark is not None else parse_until(self.until)
        plan = plan_restore(self._folder(ctx), until)  # verified before anything is touched
        seconds = {"verify": time.monotonic() - started}
        running = [m.name for m in cluster.members if cluster.is_running(m.name)]
        if running:
            raise StepFailed(f"a restore goes into a wiped cluster, and {', '.join(running)} still run")
        first = cluster.members[0].name
        with cluster.standalone(first) as client:
            result = restore(client, plan, log=ctx.log)
            seconds |= result.seconds
            validating = time.monotonic()
            problems, checked = validate(client[ctx.database], mark, ctx) if mark is not None else ([], {})
            seconds["validate"] = time.monotonic() - validating
        rejoining = time.monotonic()
        for member in cluster.members:
            cluster.start(member.name)
        cluster.initiate()
        cluster.wait_healthy(timeout=max(30.0, self.timeout - (time.monotonic() - started)))
        term = self._elect_past(ctx, ctx.state.term_wiped)
        seconds["rejoin"] = time.monotonic() - rejoining
        ctx.acted_on([m.name for m in cluster.members])
        return {
            "backup": plan.folder.name,
            "until": ts_text(plan.cut),
            "restored_to": result.point.ts,
            "restored_to_wall": result.point.wall,
            "into": first,
            "term": term,
            "documents": result.documents,
            "bytes": result.bytes,
            "oplog_entries": result.replay.applied,
            "indexes": result.indexes,
            "mb_per_s": round(result.mb_per_s, 2),
            "seconds": {k: round(v, 3) for k, v in seconds.items()},
            "validated_against": self.until if mark is not None else None,
            **checked,
            "problems": problems[:LISTED],
            "problem_count": len(problems),
        }

    def _elect_past(self, ctx: StepContext, wiped: int | None) -> int | None:
        """Elections until the restored set's term passes the wiped set's; its term.

        A re-initiated set starts again at term 1, and drivers ignore a primary whose electionId
        is older than one they have seen (SDAM's stale-primary rule): the application's clients
        would never write again until restarted. Each replSetStepUp of a secondary adds a term."""
        cluster = ctx.cluster
        deadline = time.monotonic() + ELECT_TIMEOUT_S
        while True:
            primary = current_primary(cluster.status())
            if wiped is None or (primary is not None and (primary.term or 0) > wiped):
                return primary.term if primary is not None else None
            if time.monotonic() >= deadline:
                raise StepFailed(f"the restored set did not reach a term above {wiped} (the wiped set's)")
            secondary = next((m for m in cluster.status() if m.state == "SECONDARY"), None)
            if primary is not None and secondary is not None:
                try:
                    cluster.admin_command(secondary.name, {"replSetStepUp": 1})
                except PyMongoError:
                    pass  # another election is under way: looked at again below
            time.sleep(0.5)

    def _mark(self, ctx: StepContext) -> Reference | None:
        if not STEP_ID.match(self.until):
            return None
        mark = ctx.state.marks.get(self.until)
        if mark is None:
            raise StepFailed(f"until {self.until}: no mark step of that id has run")
        return mark

    def _folder(self, ctx: StepContext) -> Path:
        if self.backup is None:
            if len(ctx.state.backups) != 1:
                raise StepFailed(
                    f"name the backup to restore ({', '.join(ctx.state.backups) or 'none taken'})"
                )
            return next(iter(ctx.state.backups.values()))
        found = ctx.state.backups.get(self.backup)
        if found is None and ctx.backups is not None and (ctx.backups / self.backup).is_dir():
            found = ctx.backups / self.backup
        if found is None:
            raise StepFailed(f"backup {self.backup!r}: no such backup set")
        return found


def validate(db: Database[Any], mark: Reference, ctx: StepContext) -> tuple[list[str], dict[str, int]]:
    """The restored database against the mark's reference and the ledger as of the point."""
    # Imported here: reading a scenario (hubchaos validate) loads the actions, and these need pyarrow.
    from locustfiles.merge import current_ledger  # noqa: PLC0415
    from locustfiles.verify import as_of, verify_ledger  # noqa: PLC0415

    problems = reference.compare(db, mark)
    if ctx.run_dir is None or mark.at.wall is None:
        return problems, {}
    ledger = as_of(current_ledger(ctx.run_dir), mark.at.wall)
    found = verify_ledger(db.client, db.name, ledger)
    missing, after = found.acked_missing, found.failed_present
    if missing:
        problems.append(
            f"{len(missing)} writes acknowledged by the point are missing, e.g. {', '.join(missing[:3])}"
        )
    if after:
        problems.append(f"{len(after)} writes sent after the point are present, e.g. {', '.join(after[:3])}")
    return problems, {
        "ledger_writes": len(ledger),
        "acked_missing": len(missing),
        "written_after_present": len(after),
    }
