"""`wipe`: the complete disaster. Every member is killed and its dbpath deleted; continuous
backups lose their source and keep what the majority had committed (the backup service runs
apart from the cluster, as Atlas's does), which is as far as a restore can then reach."""

from __future__ import annotations

import random
import time
from typing import Any, Literal

from chaos.backup.layout import Point
from chaos.faults.targeting import resolve
from chaos.runbook.step import RunbookStep, StepContext


class Wipe(RunbookStep):
    action: Literal["wipe"] = "wipe"
    colour = "#000000"
    service = "down"
    target: str = "all"

    def run(self, ctx: StepContext) -> dict[str, Any]:
        cluster = ctx.cluster
        names = (
            [m.name for m in cluster.members]
            if self.target == "all"
            else resolve(self.target, cluster.members, cluster.status(), random.Random(0))
        )
        terms = [m.term for m in cluster.status() if m.term is not None]
        ctx.state.term_wiped = max(terms, default=None)
        for name in names:
            cluster.kill(name)
        # A write started while the kills were landing may still be acknowledged by a member
        # not yet killed: recovery counts writes started after the last one died.
        down = time.time()
        ctx.acted_on(names)
        reach: dict[str, Point] = {}
        for set_name, tailer in list(ctx.state.continuous.items()):
            reach[set_name] = tailer.stop(reason="the cluster was wiped").restorable_until
            del ctx.state.continuous[set_name]
        deleted = sum(cluster.wipe(name) for name in names)
        return {
            "members": names,
            "term": ctx.state.term_wiped,
            "bytes_deleted": deleted,
            "t_down": down,
            "backups": {
                n: {"restorable_until": p.ts, "restorable_until_wall": p.wall} for n, p in reach.items()
            },
        }
