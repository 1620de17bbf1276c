"""Heal steps: what undoes a fault, as data, so a journal entry can heal it in another process.

A step names its operation, the member and the operation's arguments. Operations are
functions `(cluster, step) -> None` found through `HEAL_STEPS`: the built-in ones below, any
registered in the entry-point group `hubchaos.heal_steps`, or a `module:function` reference as
the op itself, which is how a fault kind from outside the package names its own heal so that
`hubchaos heal` finds it without the scenario.

Every step is idempotent: starting a running member, resuming one that is not paused,
deleting rules that are gone, turning off a fail point that is off all succeed and change
nothing, which is what lets `hubchaos heal` run any entry again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pymongo.errors import OperationFailure, PyMongoError

from chaos.faults import relay, shaping
from chaos.faults.netfilter import delete_labelled
from contract.errors import FaultError, HealError, RunError, UsageError
from contract.registry import Registry
from locustfiles.errortext import describe

if TYPE_CHECKING:
    from chaos.backends.base import Cluster

# replSetFreeze on a primary (or a candidate) fails: there is then nothing to unfreeze.
NOT_SECONDARY = 95


class HealStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    op: str  # a HEAL_STEPS name or a module:function reference
    member: str
    args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _older_journal(cls, data: Any) -> Any:
        """Journal entries written before steps had `args` kept label and shaped at the top."""
        if isinstance(data, dict) and ({"label", "shaped"} & data.keys()):
            data = dict(data)
            args = dict(data.get("args") or {})
            for key in ("label", "shaped"):
                if key in data:
                    args[key] = data.pop(key)
            data["args"] = args
        return data

    def describe(self) -> str:
        return f"{self.op} {self.member}"


HealOperation = Callable[["Cluster", HealStep], None]


def _callable(found: object) -> HealOperation:
    if not callable(found):
        raise TypeError(f"a heal step is a function (cluster, step), not {type(found).__name__}")
    return found  # type: ignore[return-value]


HEAL_STEPS: Registry[HealOperation] = Registry(
    "heal step",
    "hubchaos.heal_steps",
    {
        name: f"chaos.faults.steps:{name}"
        for name in ("start", "resume", "unfreeze", "failpoint_off", "clear_network")
    },
    check=_callable,
)


def run_steps(cluster: Cluster, steps: list[HealStep]) -> list[str]:
    """Carry out every step, also after one failed (undo as much as possible); return one line
    for each step that could not be carried out, saying what and why."""
    errors = []
    for step in steps:
        try:
            HEAL_STEPS.get(step.op)(cluster, step)
        except HealError as exc:
            errors.append(str(exc))
        except PyMongoError as exc:
            errors.append(f"{step.describe()}: {cluster.redact(describe(exc))}")
        except (RunError, UsageError, OSError) as exc:
            errors.append(f"{step.describe()}: {cluster.redact(str(exc))}")
    return errors


# --- the built-in operations ------------------------------------------------------------------


def start(cluster: Cluster, step: HealStep) -> None:
    cluster.start(step.member)


def resume(cluster: Cluster, step: HealStep) -> None:
    cluster.resume(step.member)


def unfreeze(cluster: Cluster, step: HealStep) -> None:
    try:
        cluster.admin_command(step.member, {"replSetFreeze": 0})
    except OperationFailure as exc:
        if exc.code != NOT_SECONDARY:
            raise


def failpoint_off(cluster: Cluster, step: HealStep) -> None:
    cluster.admin_command(step.member, {"configureFailPoint": "failCommand", "mode": "off"})


def clear_network(cluster: Cluster, step: HealStep) -> None:
    """Delete the fault's labelled rules and delay relay; with `shaped`, its root qdiscs too."""
    label = str(step.args.get("label") or "")
    relay.stop(label)
    try:
        prefix = cluster.netns_prefix(step.member)
    except FaultError:
        return  # a stopped container has no namespace: nothing of the fault survives
    delete_labelled(prefix, label)
    if step.args.get("shaped"):
        for iface in shaping.shaped_interfaces(prefix):
            shaping.clear(prefix, iface)
