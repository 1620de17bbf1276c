"""A fault kind of the orders service: an operator drops one of its indexes by mistake.

Registered through the entry point `hubchaos.faults` (pyproject.toml), so a scenario writes
`kind: drop_index`; `kind: orders_app.faults:DropIndex` would work without the entry point.
The heal step is named by reference, so `hubchaos heal` can rebuild the index from the journal
in another process, even after the drill was killed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator

from chaos.backends.base import Cluster
from chaos.faults.kind import FaultContext, FaultSpec, HealStep
from orders_app.model import INDEXES

REBUILD = f"{__name__}:rebuild_index"


class DropIndex(FaultSpec):
    """Drop one of the service's indexes (queries fall back to scans); healed by building it again."""

    kind: Literal["drop_index"] = "drop_index"
    colour = "#009E73"  # bluish green: not a member fault
    database: str = "orders"
    index: str = "customer_recent"

    @field_validator("index")
    @classmethod
    def _known_index(cls, name: str) -> str:
        if name not in INDEXES:
            raise ValueError(f"unknown index {name!r} (the service's: {', '.join(INDEXES)})")
        return name

    def plan(self, ctx: FaultContext) -> list[HealStep]:
        collection, keys = INDEXES[self.index]
        args = {"database": self.database, "collection": collection, "name": self.index, "keys": keys}
        # One step: the index belongs to the replica set, not to the member the target resolved to.
        return [HealStep(op=REBUILD, member=ctx.members[0], args=args)]

    def apply(self, ctx: FaultContext) -> dict[str, object]:
        collection, _ = INDEXES[self.index]
        with ctx.cluster.client() as client:
            client[self.database][collection].drop_index(self.index)
        return {"collection": collection}


def rebuild_index(cluster: Cluster, step: HealStep) -> None:
    """Build the index again (building an index that exists changes nothing)."""
    args: dict[str, Any] = step.args
    keys = [(field, direction) for field, direction in args["keys"]]
    with cluster.client() as client:
        client[args["database"]][args["collection"]].create_index(keys, name=args["name"])
