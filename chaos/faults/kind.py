"""What a fault kind is: a spec model that knows how to plan its heal and how to take effect.

A kind is one module (chaos/faults/kinds/ for the built-in ones) holding one `FaultSpec`
subclass; the registry (chaos/faults/kinds/__init__.py) finds it by its `kind` name, by the
entry-point group `hubchaos.faults`, or by a `module:Class` reference in a scenario:

    class SlowDisk(FaultSpec):
        kind: Literal["slow_disk"] = "slow_disk"
        destructive = True                     # refused on external members off the allowlist
        colour = "#CC79A7"                     # how the report shades its windows
        delay_ms: int = Field(100, ge=1)       # the kind's parameters, validated by pydantic

        def plan(self, ctx: FaultContext) -> list[HealStep]:
            return [HealStep(op="orders_faults:undo_slow_disk", member=m) for m in ctx.members]

        def apply(self, ctx: FaultContext) -> dict[str, object]:
            for name in ctx.members:
                ...                            # act on ctx.cluster
            return {}                          # extra fields for the timeline's params

The injector calls `plan` (nothing changes yet), journals the heal steps, then calls `apply`;
a failed apply runs the heal steps at once. Heal steps are data (chaos/faults/steps.py), so
`hubchaos heal` undoes the fault from another process; each must be idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict
from pymongo.errors import AutoReconnect, PyMongoError

from chaos.faults.steps import HealStep
from contract.errors import FaultError
from locustfiles.errortext import describe

if TYPE_CHECKING:
    from chaos.backends.base import Cluster

__all__ = ["FaultContext", "FaultSpec", "HealStep", "admin_command"]


@dataclass(frozen=True, slots=True)
class FaultContext:
    """What a fault acts on: the cluster, the members its target resolved to, and its label
    (`hubchaos:fault:<cluster>:<fault>`, to tag iptables rules and helper processes)."""

    cluster: Cluster
    members: list[str]
    label: str


class FaultSpec(BaseModel):
    """One fault as data. Subclasses add `kind: Literal["name"] = "name"` and their parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    target: str = "primary"

    # Takes a member down or cuts it off: refused on external members off the allowlist.
    destructive: ClassVar[bool] = False
    # Needs the members' network namespaces (iptables, tc): refused where the backend has none.
    network: ClassVar[bool] = False
    # The report's colour for this kind's fault windows (None: the report's default).
    colour: ClassVar[str | None] = None
    # What the fault acts on: two faults of one layer on one member at once do not compose
    # (the inner one's heal would end the outer one too), so the second is refused; faults of
    # different layers (a process and a network fault) may overlap. None: the kind's own name.
    layer: ClassVar[str | None] = None

    @classmethod
    def layer_name(cls) -> str:
        return cls.layer or str(cls.model_fields["kind"].default)

    def params(self) -> dict[str, Any]:
        """The kind's parameters (everything but kind and target), for the fault timeline."""
        return self.model_dump(exclude={"kind", "target"}, exclude_none=True)

    def heals_itself_after(self) -> float | None:
        """Seconds after which the injector heals this fault by itself (None: when told to)."""
        return None

    def plan(self, ctx: FaultContext) -> list[HealStep]:
        """The heal steps, decided before anything changes (they are journalled first)."""
        raise NotImplementedError

    def apply(self, ctx: FaultContext) -> dict[str, object]:
        """Take effect; return extra fields for the timeline event's params."""
        raise NotImplementedError


def admin_command(cluster: Cluster, name: str, command: dict[str, object]) -> None:
    """An admin command on one member, as a fault's action: a failure is one FaultError."""
    try:
        cluster.admin_command(name, command)
    except AutoReconnect:
        pass  # servers before 4.2 close connections on stepdown: the command took effect
    except PyMongoError as exc:
        raise FaultError(f"{next(iter(command))} on {name} failed: {cluster.redact(describe(exc))}") from None
